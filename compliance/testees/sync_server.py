"""Echo server for ``wstest -m fuzzingclient``: wskit.sync.server.

Usage: ``python sync_server.py [PORT]``. It binds 127.0.0.1 (port 0 by
default, i.e. a free one), prints the port it got on a line of its own, then
sends every message back, from a thread per connection, until SIGTERM or
SIGINT.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from wskit.exceptions import ConnectionClosed
from wskit.sync.server import ServerConnection, serve

# As in asyncio_server.py: compression on (the default), room for the 16 MiB
# messages of the 9.x cases, no keepalive pings among the frames checked.
MAX_SIZE = 2**25


def echo(websocket: ServerConnection) -> None:
    try:
        for message in websocket:
            websocket.send(message)
    except ConnectionClosed:
        # Most failure cases end here: the suite breaks the protocol on purpose.
        pass


def main(port: int) -> None:
    with serve(echo, "127.0.0.1", port, max_size=MAX_SIZE, ping_interval=None) as server:
        # shutdown() waits for serve_forever() to return: call it from a thread.
        def stop(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=server.shutdown).start()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop)
        print(server.socket.getsockname()[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
