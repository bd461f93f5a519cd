"""Send every message back to whoever sent it, with a thread per connection.

Run it with ``python examples/sync/echo_server.py [PORT]`` (or ``PORT=...``)
and talk to it with any WebSocket client, for example from Python::

    from wskit.sync.client import connect

    with connect("ws://127.0.0.1:8765") as websocket:
        websocket.send("Is anybody out there?")
        print(websocket.recv())

Text comes back as text, binary as binary. Stop it with Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from wskit.sync.server import ServerConnection, serve


def echo(websocket: ServerConnection) -> None:
    # The loop ends when the client closes the connection.
    for message in websocket:
        websocket.send(message)


def main(port: int) -> None:
    with serve(echo, "127.0.0.1", port) as server:
        # As in hello_server.py: shut down from a thread on SIGINT or SIGTERM.
        def stop(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=server.shutdown).start()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)

        print(f"Serving on ws://127.0.0.1:{port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765")))
