"""Interoperability of wskit.trio with websockets' trio, asyncio and sync
implementations and with wskit's asyncio and sync layers, both directions.

Each peer echoes or sends the same messages: text, binary, a long
compressible text (permessage-deflate is negotiated on every pair) and a
fragmented message. asyncio and threading peers run in a thread of their
own, with their own event loop or server thread; trio peers run in the
test's trio.run().
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import trio
import websockets.asyncio.client
import websockets.asyncio.server
import websockets.sync.client
import websockets.sync.server
import websockets.trio.client
import websockets.trio.server

import wskit.asyncio.client
import wskit.asyncio.server
import wskit.sync.client
import wskit.sync.server
import wskit.trio.client
import wskit.trio.server

from .helpers import LOCALHOST

MESSAGES: list[Any] = ["hello", b"\x00\xff", "compressible " * 10_000, b"\x01" * 70_000]
# Sent in fragments, echoed whole.
FRAGMENTS = ["frag", "ment", "ed"]
EXPECTED = [*MESSAGES, "fragmented"]

# Bounds every wait on a peer in another thread.
WAIT = 10

Result = tuple[list[Any], bool, int | None]  # echoes, compression negotiated, close code


def extensions_of(websocket: Any) -> bool:
    return bool(websocket.protocol.extensions)


# Clients: each sends the messages, reads the echoes and closes.


async def trio_client(module: Any, uri: str) -> Result:
    options = {"proxy": None} if module is websockets.trio.client else {}
    async with module.connect(uri, **options) as websocket:
        echoes = []
        for message in MESSAGES:
            await websocket.send(message)
            echoes.append(await websocket.recv())
        await websocket.send(FRAGMENTS)
        echoes.append(await websocket.recv())
        compressed = extensions_of(websocket)
    return echoes, compressed, websocket.protocol.close_code


def asyncio_client(module: Any, uri: str) -> Result:
    async def run() -> Result:
        options = {"proxy": None} if module is websockets.asyncio.client else {}
        async with module.connect(uri, **options) as websocket:
            echoes = []
            for message in MESSAGES:
                await websocket.send(message)
                echoes.append(await websocket.recv())
            await websocket.send(FRAGMENTS)
            echoes.append(await websocket.recv())
            compressed = extensions_of(websocket)
        return echoes, compressed, websocket.protocol.close_code

    return asyncio.run(asyncio.wait_for(run(), WAIT))


def sync_client(module: Any, uri: str) -> Result:
    options = {"proxy": None} if module is websockets.sync.client else {}
    with module.connect(uri, open_timeout=WAIT, **options) as websocket:
        echoes = []
        for message in MESSAGES:
            websocket.send(message)
            echoes.append(websocket.recv(timeout=WAIT))
        websocket.send(FRAGMENTS)
        echoes.append(websocket.recv(timeout=WAIT))
        compressed = extensions_of(websocket)
    return echoes, compressed, websocket.protocol.close_code


# Servers: each echoes every message and records whether it compressed.


@contextlib.asynccontextmanager
async def trio_server(module: Any, compressed: list[bool]) -> AsyncIterator[int]:
    async def echo(websocket: Any) -> None:
        compressed.append(extensions_of(websocket))
        async for message in websocket:
            await websocket.send(message)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: module.serve(echo, 0, host=LOCALHOST, task_status=task_status)
        )
        async with server:
            yield server.listeners[0].socket.getsockname()[1]


@contextlib.contextmanager
def asyncio_server(module: Any, compressed: list[bool]) -> Iterator[int]:
    ports: queue.Queue[int] = queue.Queue()
    stop = threading.Event()

    async def echo(websocket: Any) -> None:
        compressed.append(extensions_of(websocket))
        async for message in websocket:
            await websocket.send(message)

    async def run() -> None:
        async with module.serve(echo, LOCALHOST, 0) as server:
            ports.put(next(iter(server.sockets)).getsockname()[1])
            while not stop.is_set():
                await asyncio.sleep(0.01)

    thread = threading.Thread(target=asyncio.run, args=(run(),))
    thread.start()
    try:
        yield ports.get(timeout=WAIT)
    finally:
        stop.set()
        thread.join(WAIT)


@contextlib.contextmanager
def sync_server(module: Any, compressed: list[bool]) -> Iterator[int]:
    def echo(websocket: Any) -> None:
        compressed.append(extensions_of(websocket))
        for message in websocket:
            websocket.send(message)

    with module.serve(echo, LOCALHOST, 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(WAIT)


ThreadClient = Callable[[Any, str], Result]

PEER_CLIENTS: list[tuple[str, Any, ThreadClient | None]] = [
    ("websockets.trio", websockets.trio.client, None),
    ("websockets.asyncio", websockets.asyncio.client, asyncio_client),
    ("websockets.sync", websockets.sync.client, sync_client),
    ("wskit.asyncio", wskit.asyncio.client, asyncio_client),
    ("wskit.sync", wskit.sync.client, sync_client),
]

PEER_SERVERS: list[tuple[str, Any, Any]] = [
    ("websockets.trio", websockets.trio.server, None),
    ("websockets.asyncio", websockets.asyncio.server, asyncio_server),
    ("websockets.sync", websockets.sync.server, sync_server),
    ("wskit.asyncio", wskit.asyncio.server, asyncio_server),
    ("wskit.sync", wskit.sync.server, sync_server),
]


@pytest.mark.parametrize(
    ("name", "module", "client"), PEER_CLIENTS, ids=[p[0] for p in PEER_CLIENTS]
)
async def test_wskit_trio_server_with(name: str, module: Any, client: ThreadClient | None) -> None:
    compressed: list[bool] = []
    async with trio_server(wskit.trio.server, compressed) as port:
        uri = f"ws://{LOCALHOST}:{port}/"
        if client is None:
            result = await trio_client(module, uri)
        else:
            result = await trio.to_thread.run_sync(client, module, uri)
    echoes, client_compressed, close_code = result
    assert echoes == EXPECTED
    assert client_compressed
    assert compressed == [True]
    assert close_code == 1000


@pytest.mark.parametrize(
    ("name", "module", "server"), PEER_SERVERS, ids=[p[0] for p in PEER_SERVERS]
)
async def test_wskit_trio_client_with(name: str, module: Any, server: Any) -> None:
    compressed: list[bool] = []
    if server is None:
        async with trio_server(module, compressed) as port:
            result = await trio_client(wskit.trio.client, f"ws://{LOCALHOST}:{port}/")
    else:
        with server(module, compressed) as port:
            result = await trio_client(wskit.trio.client, f"ws://{LOCALHOST}:{port}/")
    echoes, client_compressed, close_code = result
    assert echoes == EXPECTED
    assert client_compressed
    assert compressed == [True]
    assert close_code == 1000
