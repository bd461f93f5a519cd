"""An older tutorial's echo server and client run with ``import wskit`` for ``import websockets``.

Both scripts run in subprocesses, as a reader of the tutorial would run
them: with their own event loop (``asyncio.get_event_loop()``, then
``run_until_complete()`` and ``run_forever()``) and Python's default
warning filters, which show a :exc:`DeprecationWarning` raised in
``__main__``.
"""

from __future__ import annotations

import signal

from .support import HERE, running


def test_tutorial_echo_server_and_client() -> None:
    with running(HERE / "tutorial_server.py", "0") as server:
        line = server.next_line()
        assert line is not None
        assert line.startswith("listening on port "), server.errors()
        port = int(line.rsplit(" ", 1)[1])

        with running(HERE / "tutorial_client.py", f"ws://127.0.0.1:{port}/chat?room=1") as client:
            assert client.next_line() == "< Hello world!", client.errors()
            assert client.next_line() == "pong"
            # The handler got the request's path, query included.
            assert server.next_line() == "connection on /chat?room=1"

            # The server goes away without a closing handshake: the client
            # catches wskit.exceptions.ConnectionClosedError.
            server.process.send_signal(signal.SIGTERM)
            assert server.wait() == -signal.SIGTERM
            assert client.next_line() == "connection lost: code 1006"
            assert client.next_line() is None
            assert client.wait() == 0
            # exc.code is deprecated since websockets 13.1: a warning, as there.
            assert "DeprecationWarning: ConnectionClosed.code is deprecated" in client.errors()

        # The deprecation is reported once, at the tutorial's call to wskit.serve().
        warning = (
            f"{HERE / 'tutorial_server.py'}:23: DeprecationWarning: handler(websocket, path)"
            " is deprecated: define handler(websocket) and read websocket.request.path\n"
            '  start_server = wskit.serve(echo, "127.0.0.1", PORT)\n'
        )
        assert server.errors() == warning
