"""Three legacy-style programs, unchanged but for the import, run as a reader would run them.

Each runs in a subprocess on 127.0.0.1, with Python's default warning
filters, which show the :exc:`DeprecationWarning` raised in ``__main__``;
every wait is bounded, and the tests stop the servers. Their clients are
the hello tutorial's own and the ``websockets`` package's (17.4) threading
client, a real peer.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import ClientConnection, connect

from .support import HERE, LOCALHOST, TIMEOUT, Script, http_get, running

PROGRAMS = HERE / "programs"


def port_of(server: Script) -> int:
    line = server.next_line()
    assert line is not None, server.errors()
    assert line.startswith("listening on port "), server.errors()
    return int(line.rsplit(" ", 1)[1])


def warnings_of(script: Script) -> list[str]:
    """The warnings from wskit that a script printed, without their source lines.

    From Python 3.12, the tutorials' asyncio.get_event_loop() warns too.
    """
    return [
        line.split(": ", 1)[1]
        for line in script.errors().splitlines()
        if "Warning: " in line and "There is no current event loop" not in line
    ]


def assert_no_error(script: Script) -> None:
    assert "Traceback" not in script.errors(), script.errors()
    assert "Error" not in script.errors(), script.errors()


def test_hello_server_and_client() -> None:
    with running(PROGRAMS / "hello_server.py", LOCALHOST, "0") as server:
        uri = f"ws://{LOCALHOST}:{port_of(server)}"
        with running(PROGRAMS / "hello_client.py", uri, stdin="Ada\n") as client:
            assert client.next_line() == "What's your name? > Ada", client.errors()
            assert client.next_line() == "< Hello Ada!"
            assert client.next_line() is None
            assert client.wait() == 0
            assert_no_error(client)
        assert server.next_line() == "< Ada"
        assert server.next_line() == "> Hello Ada!"
        # The server still serves: a second visitor.
        with running(PROGRAMS / "hello_client.py", uri, stdin="Grace\n") as client:
            assert client.next_line() == "What's your name? > Grace"
            assert client.next_line() == "< Hello Grace!"
        assert server.next_line() == "< Grace"
        assert server.process.poll() is None
        server.stop()
        assert_no_error(server)
        assert (
            "DeprecationWarning: handler(websocket, path) is deprecated: define handler(websocket) "
            "and read websocket.request.path"
        ) in warnings_of(server)


def test_health_check_server() -> None:
    with running(PROGRAMS / "health_server.py", LOCALHOST, "0") as server:
        port = port_of(server)
        status, headers, body = asyncio.run(http_get(port, "/healthz"))
        assert (status, body) == (200, b"OK\n")
        assert "X-Served-By" not in headers  # extra_headers go to handshakes only

        with connect(f"ws://{LOCALHOST}:{port}/", open_timeout=TIMEOUT) as websocket:
            assert websocket.response is not None
            assert websocket.response.headers["X-Served-By"] == "echo-1"
            websocket.send("ping")
            assert websocket.recv(timeout=TIMEOUT) == "ping"

            # SIGTERM: the server closes connections with 1001 and exits.
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosedOK) as raised:
                websocket.recv(timeout=TIMEOUT)
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == 1001
        assert server.next_line() == "stopped"
        assert server.wait() == 0
        assert_no_error(server)
        # The handler takes a path: the warning points at the call to serve().
        assert warnings_of(server) == [
            "DeprecationWarning: handler(websocket, path) is deprecated: define handler(websocket) "
            "and read websocket.request.path"
        ]


def events(websocket: ClientConnection, count: int) -> list[Any]:
    return [json.loads(websocket.recv(timeout=TIMEOUT)) for _ in range(count)]


def test_chat_server() -> None:
    with running(PROGRAMS / "chat_server.py", LOCALHOST, "0") as server:
        port = port_of(server)
        uri = f"ws://{LOCALHOST}:{port}/chat"
        status, _, body = asyncio.run(http_get(port, "/elsewhere"))
        assert (status, body) == (404, b"Not found\n")

        alice = connect(uri, additional_headers={"X-Name": "alice"}, open_timeout=TIMEOUT)
        with alice:
            assert events(alice, 1) == [{"type": "users", "count": 1}]
            assert server.next_line() == "alice joined from 127.0.0.1"
            with connect(uri, additional_headers={"X-Name": "bob"}, open_timeout=TIMEOUT) as bob:
                assert events(alice, 1) == events(bob, 1) == [{"type": "users", "count": 2}]
                assert server.next_line() == "bob joined from 127.0.0.1"
                alice.send("hi all")
                message = {"type": "message", "from": "alice", "text": "hi all"}
                assert events(alice, 1) == events(bob, 1) == [message]
            assert events(alice, 1) == [{"type": "users", "count": 1}]
            assert server.next_line() == "bob left (code 1000)"
        assert server.next_line() == "alice left (code 1000)"
        assert server.process.poll() is None
        server.stop()
        assert_no_error(server)
        assert warnings_of(server) == [
            "DeprecationWarning: wskit.WebSocketServerProtocol is deprecated",
            "DeprecationWarning: handler(websocket, path) is deprecated: define handler(websocket) "
            "and read websocket.request.path",
            "DeprecationWarning: serve() with create_protocol runs the legacy API, which is "
            "deprecated; see wskit.legacy to upgrade",
        ]
