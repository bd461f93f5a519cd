"""send(compress=...) and broadcast(compress=...): the bytes on the wire."""

from __future__ import annotations

import asyncio
import socket

from tests.raw_peers import RawPeer, inflate
from wskit.asyncio.client import connect
from wskit.asyncio.server import ServerConnection, broadcast, serve

MESSAGE = "compressible " * 40


async def test_send_compress_false_and_true() -> None:
    ours, theirs = socket.socketpair()
    peer = RawPeer(theirs)
    with theirs:
        accepting = asyncio.create_task(asyncio.to_thread(peer.accept))
        async with connect("ws://peer/", sock=ours) as websocket:
            await accepting
            await websocket.send(MESSAGE, compress=False)
            await websocket.send(MESSAGE, compress=True)
            await websocket.send([MESSAGE, MESSAGE], compress=False)  # fragments follow
            plain, forced, first, second = [
                await asyncio.to_thread(peer.read_frame) for _ in range(4)
            ]
            theirs.close()  # the peer leaves: close() needn't wait close_timeout for it
            assert plain == (False, MESSAGE.encode())
            assert forced[0]
            assert inflate(forced[1]) == MESSAGE.encode()
            assert first == second == (False, MESSAGE.encode())


async def test_broadcast_compress_false() -> None:
    connected = asyncio.Event()
    connections: list[ServerConnection] = []

    async def handler(websocket: ServerConnection) -> None:
        connections.append(websocket)
        connected.set()
        await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as sock:
            peer = RawPeer(sock)
            await asyncio.to_thread(peer.connect, f"ws://127.0.0.1:{port}/")
            await connected.wait()
            broadcast(connections, MESSAGE, compress=False)
            broadcast(connections, MESSAGE)
            plain, compressed = [await asyncio.to_thread(peer.read_frame) for _ in range(2)]
    assert plain == (False, MESSAGE.encode())
    assert compressed[0]
    assert inflate(compressed[1]) == MESSAGE.encode()
