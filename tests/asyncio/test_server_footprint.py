"""What an open server connection leaves for the garbage collector to track.

With many connections at once, the cyclic GC walks every tracked object they
hold, over and over: its share of a handshake's CPU grows with their number
(see ARCHITECTURE.md, Performance devices).
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import cast

from wskit.asyncio.messages import Assembler
from wskit.asyncio.server import ServerConnection, serve
from wskit.asyncio.transport import SocketTransport

from .test_connection import eventually

REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"User-Agent: test\r\n\r\n"
)
CONNECTIONS = 20
# 68 before the devices, 51 with the first ones, 43 with wskit's transport
# as its own reader (the client's socket included); some room for what a
# change of Python or asyncio adds. On another loop than asyncio's, or
# without the accelerator, asyncio's transport keeps its handle, context,
# buffer and socket wrapper.
MAX_OBJECTS_PER_CONNECTION = 46 if SocketTransport is not None else 55


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def open_raw(port: int) -> socket.socket:
    """Open a WebSocket connection with a bare socket, which holds nothing else."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, REQUEST)
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 4096)
    assert response.startswith(b"HTTP/1.1 101 ")
    return sock


def tracked_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


async def test_an_open_server_connection_holds_few_tracked_objects() -> None:
    # Out of debug mode, where futures and handles keep a traceback each.
    loop = asyncio.get_running_loop()
    debug = loop.get_debug()
    loop.set_debug(False)
    try:
        await check_held_objects()
    finally:
        loop.set_debug(debug)


async def check_held_objects() -> None:
    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]

        def all_waiting(count: int) -> bool:
            handlers = server.handlers
            return len(handlers) == count and all(
                cast(Assembler, connection.recv_messages).waiter is not None
                for connection in handlers
            )

        # The first connection makes what a server makes once (timers...).
        sockets = [await open_raw(port)]
        await eventually(lambda: all_waiting(1))
        before = tracked_objects()
        sockets += [await open_raw(port) for _ in range(CONNECTIONS)]
        await eventually(lambda: all_waiting(CONNECTIONS + 1))
        held = (tracked_objects() - before) / CONNECTIONS
        for sock in sockets:
            sock.close()
        assert held <= MAX_OBJECTS_PER_CONNECTION
        # Each connection's request and response are still there, whole.
        for connection in server.handlers:
            assert connection.request is not None
            assert connection.request.headers["Sec-WebSocket-Version"] == "13"
            assert connection.response is not None
            assert connection.response.headers["Upgrade"] == "websocket"
