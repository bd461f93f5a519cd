"""Echo server for ``wstest -m fuzzingclient``: wskit.trio.server.

Usage: ``python trio_server.py [PORT]``. It binds 127.0.0.1 (port 0 by
default, i.e. a free one), prints the port it got on a line of its own, then
sends every message back until SIGTERM or SIGINT.
"""

from __future__ import annotations

import signal
import sys

import trio

from wskit.exceptions import ConnectionClosed
from wskit.trio.server import Server, ServerConnection, serve

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
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                lambda task_status: serve(
                    echo,
                    port,
                    host="127.0.0.1",
                    max_size=MAX_SIZE,
                    ping_interval=None,
                    task_status=task_status,
                )
            )
            print(server.listeners[0].socket.getsockname()[1], flush=True)
            async for _ in signals:
                await server.aclose()
                return


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
