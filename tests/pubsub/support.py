"""WebSocket servers whose clients sit in hub rooms, for the tests of wskit.pubsub."""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.pubsub import Hub

TIMEOUT = 10.0  # seconds, for any single wait


@asynccontextmanager
async def hub_server(hub: Hub, **kwargs: Any) -> AsyncIterator[int]:
    """Serve on a free port of 127.0.0.1; yield the port.

    A client connecting to ``/a,b`` joins rooms ``a`` and ``b``, then gets
    ``"joined"``: from then on, it receives what's published there.
    """

    async def handler(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        for room in websocket.request.path.strip("/").split(","):
            await hub.join(websocket, room)
        await websocket.send("joined")
        await websocket.wait_closed()

    kwargs.setdefault("close_timeout", 1)
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port: int = server.sockets[0].getsockname()[1]
        yield port


async def join(port: int, *rooms: str, **kwargs: Any) -> ClientConnection:
    """Connect a client to a :func:`hub_server` and wait until it's in ``rooms``."""
    client = await connect(f"ws://127.0.0.1:{port}/{','.join(rooms)}", close_timeout=1, **kwargs)
    async with asyncio.timeout(TIMEOUT):
        assert await client.recv() == "joined"
    return client


async def join_slowly(port: int, *rooms: str, **kwargs: Any) -> ClientConnection:
    """Like :func:`join`, for a client that won't read until the test says so.

    Its socket has a small receive buffer, so that the server's write buffer
    fills up after a few hundred KiB, not after megabytes of kernel buffers.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await join(port, *rooms, sock=sock, max_queue=1, compression=None, **kwargs)


async def receive(client: ClientConnection, count: int) -> list[str | bytes]:
    """Receive ``count`` messages, waiting at most :data:`TIMEOUT` for each."""
    return [await asyncio.wait_for(client.recv(), TIMEOUT) for _ in range(count)]


async def eventually(check: Callable[[], Any], timeout: float = TIMEOUT) -> None:
    """Poll ``check`` (a function or a coroutine function) until it returns something true."""
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
