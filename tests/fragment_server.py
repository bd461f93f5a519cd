"""A server for tests/test_fragment_memory.py, run in a process of its own.

``python -m tests.fragment_server LAYER MAX_SIZE`` serves on 127.0.0.1 with
wskit.asyncio or wskit.sync, answers each message with its length, prints
its port and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from wskit.asyncio.server import ServerConnection as AsyncioConnection
from wskit.asyncio.server import serve as asyncio_serve
from wskit.sync.server import ServerConnection as SyncConnection
from wskit.sync.server import serve as sync_serve


async def answer_lengths(ws: AsyncioConnection) -> None:
    async for message in ws:
        await ws.send(str(len(message)))


def answer_lengths_sync(ws: SyncConnection) -> None:
    for message in ws:
        ws.send(str(len(message)))


async def serve_asyncio(max_size: int) -> None:
    async with asyncio_serve(
        answer_lengths, "127.0.0.1", 0, max_size=max_size, ping_interval=None
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


def main() -> None:
    layer, max_size = sys.argv[1], int(sys.argv[2])
    if layer == "asyncio":
        asyncio.run(serve_asyncio(max_size))
    else:
        with sync_serve(
            answer_lengths_sync, "127.0.0.1", 0, max_size=max_size, ping_interval=None
        ) as server:
            print(server.socket.getsockname()[1], flush=True)
            server.serve_forever()


if __name__ == "__main__":
    main()
