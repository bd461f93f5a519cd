"""Greet whoever connects, with threads: a client sends a name, the server says hello.

The client sends "Alice", the server answers "Hello Alice!". This is the
threaded twin of ``examples/hello_server.py``: each connection runs
``hello()`` in a thread of its own, so the handler is a plain function.

Run it with ``python examples/sync/hello_server.py [PORT]`` (or ``PORT=...``),
then ``python examples/sync/hello_client.py Alice`` in another terminal. Stop
it with Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from wskit.sync.server import ServerConnection, serve


def hello(websocket: ServerConnection) -> None:
    name = websocket.recv(decode=True)
    assert isinstance(name, str)  # decode=True always gives text
    websocket.send(f"Hello {name}!")


def main(port: int) -> None:
    with serve(hello, "127.0.0.1", port) as server:
        # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM: shutdown() makes
        # serve_forever() return. Signal handlers run in the main thread, in
        # the middle of serve_forever(): call shutdown() from another thread.
        def stop(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=server.shutdown).start()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)

        print(f"Serving on ws://127.0.0.1:{port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765")))
