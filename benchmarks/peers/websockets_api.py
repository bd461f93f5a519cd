"""Peers for libraries with the API of the ``websockets`` package.

wskit mirrors that API, and so does ``picows.websockets``: one implementation
serves all three, given the package name. The server and the client are
written the way a user writes them, ``async for message in websocket: await
websocket.send(message)`` and ``await websocket.send(message); await
websocket.recv()`` (and the same with threads). Compression is off unless a
server is asked to accept it. Broadcasts go through the package's own
``broadcast()``.
"""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any

from .base import (
    BROADCAST_PATH,
    CONTROL_PATH,
    COUNT_PATH,
    COUNT_REQUEST,
    MAX_SIZE,
    Connection,
    Peer,
    SyncConnection,
    SyncPeer,
    ThreadedPeer,
    check_count,
    check_reply,
    listen_options,
    run_broadcasts_on_loop,
)

__all__ = ["AsyncioPeer", "ThreadsPeer", "make_peer"]


def _options(compression: bool) -> dict[str, Any]:
    return {"compression": "deflate" if compression else None, "max_size": MAX_SIZE}


class _Handler:
    """The server's handler; ``/broadcast`` and ``/control`` use the package's ``broadcast()``."""

    def __init__(self, broadcast: Any) -> None:
        self.broadcast = broadcast
        self.subscribers: set[Any] = set()

    async def __call__(self, websocket: Any) -> None:
        path = websocket.request.path
        if path == BROADCAST_PATH:
            self.subscribers.add(websocket)
            try:
                await websocket.wait_closed()
            finally:
                self.subscribers.discard(websocket)
        elif path == CONTROL_PATH:
            async for command in websocket:
                answer = await run_broadcasts_on_loop(command, self.subscribers, self.broadcast)
                await websocket.send(answer)
        else:
            await _handler(websocket)


async def _handler(websocket: Any) -> None:
    if websocket.request.path == COUNT_PATH:
        count = 0
        async for message in websocket:
            if isinstance(message, str):
                await websocket.send(str(count))
                count = 0
            else:
                count += len(message)
    else:
        async for message in websocket:
            await websocket.send(message)


def _sync_handler(websocket: Any) -> None:
    if websocket.request.path == COUNT_PATH:
        count = 0
        for message in websocket:
            if isinstance(message, str):
                websocket.send(str(count))
                count = 0
            else:
                count += len(message)
    else:
        for message in websocket:
            websocket.send(message)


class _AsyncioConnection(Connection):
    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket

    async def round_trips(self, message: bytes, deadline: float) -> int:
        websocket = self.websocket
        count = 0
        while True:
            await websocket.send(message)
            reply = await websocket.recv()
            count += 1
            if time.perf_counter() >= deadline:
                break
        check_reply(reply, message)
        return count

    async def stream(self, message: bytes, deadline: float) -> int:
        websocket = self.websocket
        count = 0
        while True:
            await websocket.send(message)
            count += 1
            if time.perf_counter() >= deadline:
                break
        await websocket.send(COUNT_REQUEST)
        check_count(int(await websocket.recv()), count * len(message))
        return count

    async def close(self) -> None:
        await self.websocket.close()


class AsyncioPeer(Peer):
    """A websockets-API library on an event loop (``<package>.asyncio``)."""

    def __init__(self, package: str) -> None:
        self.server_module: Any = importlib.import_module(f"{package}.asyncio.server")
        self.client_module: Any = importlib.import_module(f"{package}.asyncio.client")
        self.server: Any = None

    async def serve(self, compression: bool, backlog: int | None = None) -> int:
        handler = _Handler(self.server_module.broadcast)
        self.server = await self.server_module.serve(
            handler, "127.0.0.1", 0, **_options(compression), **listen_options(backlog)
        )
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def connect(self, port: int, path: str) -> Connection:
        websocket = await self.client_module.connect(
            f"ws://127.0.0.1:{port}{path}", **_options(False)
        )
        return _AsyncioConnection(websocket)


class _ThreadsConnection(SyncConnection):
    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket

    def round_trips(self, message: bytes, deadline: float) -> int:
        websocket = self.websocket
        count = 0
        while True:
            websocket.send(message)
            reply = websocket.recv()
            count += 1
            if time.perf_counter() >= deadline:
                break
        check_reply(reply, message)
        return count

    def stream(self, message: bytes, deadline: float) -> int:
        websocket = self.websocket
        count = 0
        while True:
            websocket.send(message)
            count += 1
            if time.perf_counter() >= deadline:
                break
        websocket.send(COUNT_REQUEST)
        check_count(int(websocket.recv()), count * len(message))
        return count

    def close(self) -> None:
        self.websocket.close()


class ThreadsPeer(SyncPeer):
    """A websockets-API library on threads (``<package>.sync``)."""

    def __init__(self, package: str) -> None:
        self.server_module: Any = importlib.import_module(f"{package}.sync.server")
        self.client_module: Any = importlib.import_module(f"{package}.sync.client")

    def serve(self, compression: bool, backlog: int | None = None) -> int:
        options = {**_options(compression), **listen_options(backlog)}
        server = self.server_module.serve(_sync_handler, "127.0.0.1", 0, **options)
        # The server process ends with os._exit(): the thread needs no join.
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port: int = server.socket.getsockname()[1]
        return port

    def connect(self, port: int, path: str) -> SyncConnection:
        websocket = self.client_module.connect(f"ws://127.0.0.1:{port}{path}", **_options(False))
        return _ThreadsConnection(websocket)


def make_peer(package: str, loop: str) -> Peer:
    """Return the peer of ``package`` for ``loop`` (``threads`` or an event loop)."""
    if loop == "threads":
        return ThreadedPeer(ThreadsPeer(package))
    return AsyncioPeer(package)
