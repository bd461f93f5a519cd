"""Echo server for ``wstest -m fuzzingclient``: wskit.asyncio.server.

Usage: ``python asyncio_server.py [PORT]``. It binds 127.0.0.1 (port 0 by
default, i.e. a free one), prints the port it got on a line of its own, then
sends every message back until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from wskit.asyncio.server import ServerConnection, serve
from wskit.exceptions import ConnectionClosed

# Compression is on ("deflate" is the default). The 9.x cases send messages
# of up to 16 MiB; keepalive pings would show up in the frames the suite
# checks, so they are off.
MAX_SIZE = 2**25


async def echo(websocket: ServerConnection) -> None:
    try:
        async for message in websocket:
            await websocket.send(message)
    except ConnectionClosed:
        # Most failure cases end here: the suite breaks the protocol on purpose.
        pass


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port, max_size=MAX_SIZE, ping_interval=None) as server:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.close)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
