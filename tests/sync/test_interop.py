"""Interoperability of wskit.sync with wskit.asyncio and with the ``websockets`` package.

Pairs, server first:

- wskit.sync server with a ``websockets.sync`` client, a ``websockets.asyncio``
  client and a wskit.asyncio client;
- wskit.asyncio server and ``websockets.sync`` server with a wskit.sync client.

The libraries share their API, so one handler serves on either threaded
server (a coroutine twin serves on the asyncio one), and each check is written
once for threaded clients and once for asyncio clients, which run with
``asyncio.run()`` in the test's thread. Servers dispatch on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import websockets.asyncio.client as ws_asyncio_client
import websockets.exceptions as ws_exceptions
import websockets.sync.client as ws_sync_client
import websockets.sync.server as ws_sync_server

import wskit.asyncio.client as wk_asyncio_client
import wskit.asyncio.server as wk_asyncio_server
import wskit.exceptions as wk_exceptions
import wskit.sync.client as wk_sync_client
import wskit.sync.server as wk_sync_server

from .support import LOCALHOST, WAIT, running, until

ConnectionClosed = (wk_exceptions.ConnectionClosed, ws_exceptions.ConnectionClosed)
ConnectionClosedError = (wk_exceptions.ConnectionClosedError, ws_exceptions.ConnectionClosedError)

# Keep the libraries' own timers out of the way.
QUIET: dict[str, Any] = {"ping_interval": None, "close_timeout": 2, "open_timeout": WAIT}

MiB = 2**20
# Room for 1 MiB messages: websockets checks the size of a frame on the wire,
# and deflate makes random bytes a little larger.
LIMITS: dict[str, Any] = {**QUIET, "max_size": MiB + 2**16}

FRAGMENTS = ["frag", "ment", "ed"]
BINARY_FRAGMENTS = [b"\x00", b"\x01\x02", b"", b"\x03"]

# Recorded by the servers: how clients closed, (code, reason).
Closes = list[tuple[int | None, str | None]]


# Handlers, one per request path.


def sync_handler(closes: Closes) -> Callable[[Any], None]:
    """A handler for wskit.sync and websockets.sync servers."""

    def handler(ws: Any) -> None:
        path = ws.request.path
        if path == "/echo":
            for message in ws:
                ws.send(message)
        elif path == "/fragments-in":
            fragments = list(ws.recv_streaming())
            ws.send(json.dumps(fragments))  # text fragments
            ws.recv()  # until the client closes
        elif path == "/fragments-out":
            ws.send(FRAGMENTS)
            ws.send(BINARY_FRAGMENTS)
            ws.recv()
        elif path == "/info":
            ws.send(info(ws))
            ws.recv()
        elif path == "/close":
            code, reason = str(ws.recv()).split(" ", 1)
            ws.close(int(code), reason)
        elif path == "/record-close":
            with contextlib.suppress(*ConnectionClosed):
                ws.recv()
            closes.append((ws.close_code, ws.close_reason))

    return handler


def async_handler(closes: Closes) -> Callable[[Any], Any]:
    """The same handler, for the wskit.asyncio server."""

    async def handler(ws: Any) -> None:
        path = ws.request.path
        if path == "/echo":
            async for message in ws:
                await ws.send(message)
        elif path == "/fragments-in":
            fragments = [fragment async for fragment in ws.recv_streaming()]
            await ws.send(json.dumps(fragments))
            await ws.recv()
        elif path == "/fragments-out":
            await ws.send(FRAGMENTS)
            await ws.send(BINARY_FRAGMENTS)
            await ws.recv()
        elif path == "/info":
            await ws.send(info(ws))
            await ws.recv()
        elif path == "/close":
            code, reason = str(await ws.recv()).split(" ", 1)
            await ws.close(int(code), reason)
        elif path == "/record-close":
            with contextlib.suppress(*ConnectionClosed):
                await ws.recv()
            closes.append((ws.close_code, ws.close_reason))

    return handler


def info(ws: Any) -> str:
    """What the server negotiated, and which library it is."""
    return json.dumps(
        {
            "library": type(ws).__module__,
            "extensions": [extension.name for extension in ws.protocol.extensions],
        }
    )


# Servers.


@contextlib.contextmanager
def wskit_sync_server(closes: Closes) -> Iterator[str]:
    with (
        wk_sync_server.serve(sync_handler(closes), LOCALHOST, 0, **LIMITS) as server,
        running(server),
    ):
        yield f"ws://{LOCALHOST}:{server.socket.getsockname()[1]}"


@contextlib.contextmanager
def websockets_sync_server(closes: Closes) -> Iterator[str]:
    with ws_sync_server.serve(sync_handler(closes), LOCALHOST, 0, **LIMITS) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"ws://{LOCALHOST}:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(WAIT)
            assert not thread.is_alive()


@contextlib.contextmanager
def wskit_asyncio_server(closes: Closes) -> Iterator[str]:
    """Run the asyncio server on an event loop of its own, in a thread."""
    started: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = queue.Queue()

    async def main() -> None:
        stop = asyncio.Event()
        async with wk_asyncio_server.serve(async_handler(closes), LOCALHOST, 0, **LIMITS) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            started.put((asyncio.get_running_loop(), stop, port))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    try:
        loop, stop, port = started.get(timeout=WAIT)
        try:
            yield f"ws://{LOCALHOST}:{port}"
        finally:
            loop.call_soon_threadsafe(stop.set)
    finally:
        thread.join(WAIT)
        assert not thread.is_alive()


SERVERS: dict[str, Callable[[Closes], contextlib.AbstractContextManager[str]]] = {
    "wskit.sync": wskit_sync_server,
    "wskit.asyncio": wskit_asyncio_server,
    "websockets.sync": websockets_sync_server,
}


# Clients.

SYNC_CLIENTS: dict[str, Callable[..., Any]] = {
    "wskit.sync": wk_sync_client.connect,
    # No proxy from the environment: the server is on 127.0.0.1.
    "websockets.sync": lambda uri, **kwargs: ws_sync_client.connect(uri, proxy=None, **kwargs),
}

ASYNC_CLIENTS: dict[str, Callable[..., Any]] = {
    "wskit.asyncio": wk_asyncio_client.connect,
    "websockets.asyncio": lambda uri, **kwargs: ws_asyncio_client.connect(
        uri, proxy=None, **kwargs
    ),
}

PAIRS = pytest.mark.parametrize(
    ("server", "client"),
    [
        ("wskit.sync", "websockets.sync"),
        ("wskit.sync", "websockets.asyncio"),
        ("wskit.sync", "wskit.asyncio"),
        ("wskit.asyncio", "wskit.sync"),
        ("websockets.sync", "wskit.sync"),
    ],
)


@contextlib.contextmanager
def sync_client(kind: str, uri: str, **kwargs: Any) -> Iterator[Any]:
    with SYNC_CLIENTS[kind](uri, **{**LIMITS, **kwargs}) as ws:
        assert type(ws).__module__.startswith(kind)
        yield ws


@contextlib.asynccontextmanager
async def async_client(kind: str, uri: str, **kwargs: Any) -> AsyncIterator[Any]:
    async with ASYNC_CLIENTS[kind](uri, **{**LIMITS, **kwargs}) as ws:
        assert type(ws).__module__.startswith(kind)
        yield ws


def check(
    server: str,
    client: str,
    sync_check: Callable[[Any, str], None],
    async_check: Callable[[Any, str], Any],
) -> Closes:
    """Run a server of one kind and a check with a client of the other.

    Returns how clients closed their connections, as the server saw it.
    """
    closes: Closes = []
    with SERVERS[server](closes) as base:
        if client in SYNC_CLIENTS:
            sync_check(client, base)
        else:

            async def bounded() -> None:
                async with asyncio.timeout(WAIT * 2):
                    await async_check(client, base)

            asyncio.run(bounded())
    return closes


# Messages.


def echo_sync(client: str, base: str) -> None:
    with sync_client(client, f"{base}/echo") as ws:
        for message in ["Hello", "caf\u00e9 \u2603", "", b"\x00\xff", b""]:
            ws.send(message)
            assert ws.recv(timeout=WAIT) == message
        ws.send(bytearray(b"array"))
        assert ws.recv(timeout=WAIT) == b"array"
        ws.send(b"text after all", text=True)
        assert ws.recv(timeout=WAIT) == "text after all"


async def echo_async(client: str, base: str) -> None:
    async with async_client(client, f"{base}/echo") as ws:
        for message in ["Hello", "caf\u00e9 \u2603", "", b"\x00\xff", b""]:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(bytearray(b"array"))
        assert await ws.recv() == b"array"
        await ws.send(b"text after all", text=True)
        assert await ws.recv() == "text after all"


@PAIRS
def test_text_and_binary_echo(server: str, client: str) -> None:
    check(server, client, echo_sync, echo_async)


LARGE = ["\u00e9" * (MiB // 2), os.urandom(MiB), b"\x00" * MiB]  # 1 MiB each


def large_sync(client: str, base: str) -> None:
    with sync_client(client, f"{base}/echo") as ws:
        for message in LARGE:
            ws.send(message)
            assert ws.recv(timeout=WAIT) == message


async def large_async(client: str, base: str) -> None:
    async with async_client(client, f"{base}/echo") as ws:
        for message in LARGE:
            await ws.send(message)
            assert await ws.recv() == message


@PAIRS
def test_one_mebibyte_messages(server: str, client: str) -> None:
    # Exactly max_size, the default limit of every side; compressed or not.
    assert all(len(m.encode() if isinstance(m, str) else m) == MiB for m in LARGE)
    check(server, client, large_sync, large_async)


def fragments(message: Any) -> list[Any]:
    """The fragments of a message, without empty ones.

    Senders of an iterable may end the message with an empty frame, as they
    can't know which fragment is the last one before the iterator ends.
    """
    return [fragment for fragment in message if fragment]


def fragments_sync(client: str, base: str) -> None:
    with sync_client(client, f"{base}/fragments-in") as ws:
        ws.send(FRAGMENTS)
        assert fragments(json.loads(ws.recv(timeout=WAIT))) == FRAGMENTS
    with sync_client(client, f"{base}/fragments-out") as ws:
        assert fragments(ws.recv_streaming()) == FRAGMENTS
        assert fragments(ws.recv_streaming()) == fragments(BINARY_FRAGMENTS)
        ws.send(FRAGMENTS)  # while the server waits: arrives whole


async def fragments_async(client: str, base: str) -> None:
    async with async_client(client, f"{base}/fragments-in") as ws:
        await ws.send(FRAGMENTS)
        assert fragments(json.loads(await ws.recv())) == FRAGMENTS
    async with async_client(client, f"{base}/fragments-out") as ws:
        assert fragments([f async for f in ws.recv_streaming()]) == FRAGMENTS
        binary = [f async for f in ws.recv_streaming()]
        assert fragments(binary) == fragments(BINARY_FRAGMENTS)
        await ws.send(FRAGMENTS)


@PAIRS
def test_fragmented_messages(server: str, client: str) -> None:
    check(server, client, fragments_sync, fragments_async)


# Negotiation.


def negotiated_extensions(ws: Any) -> list[str]:
    return [extension.name for extension in ws.protocol.extensions]


def compression_sync(client: str, base: str) -> None:
    with sync_client(client, f"{base}/info") as ws:
        server_info = json.loads(ws.recv(timeout=WAIT))
        assert negotiated_extensions(ws) == ["permessage-deflate"]
        assert server_info["extensions"] == ["permessage-deflate"]
    with sync_client(client, f"{base}/info", compression=None) as ws:
        assert negotiated_extensions(ws) == []
        assert json.loads(ws.recv(timeout=WAIT))["extensions"] == []


async def compression_async(client: str, base: str) -> None:
    async with async_client(client, f"{base}/info") as ws:
        server_info = json.loads(await ws.recv())
        assert negotiated_extensions(ws) == ["permessage-deflate"]
        assert server_info["extensions"] == ["permessage-deflate"]
    async with async_client(client, f"{base}/info", compression=None) as ws:
        assert negotiated_extensions(ws) == []
        assert json.loads(await ws.recv())["extensions"] == []


@PAIRS
def test_compression_negotiated(server: str, client: str) -> None:
    check(server, client, compression_sync, compression_async)


# Closing.


@PAIRS
def test_close_code_and_reason_from_client(server: str, client: str) -> None:
    answers: Closes = []

    def client_closes_sync(client: str, base: str) -> None:
        with sync_client(client, f"{base}/record-close") as ws:
            ws.close(4000, "client reason")
            answers.append((ws.close_code, ws.close_reason))

    async def client_closes_async(client: str, base: str) -> None:
        async with async_client(client, f"{base}/record-close") as ws:
            await ws.close(4000, "client reason")
            answers.append((ws.close_code, ws.close_reason))

    closes = check(server, client, client_closes_sync, client_closes_async)
    until(lambda: len(closes) == 1)
    assert closes == [(4000, "client reason")]
    # The server answers with the same code and reason, as websockets does.
    assert answers == [(4000, "client reason")]


def server_closes_sync(client: str, base: str) -> None:
    with sync_client(client, f"{base}/close") as ws:
        ws.send("4001 server reason \u2603")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=WAIT)
        assert (ws.close_code, ws.close_reason) == (4001, "server reason \u2603")
    with sync_client(client, f"{base}/close") as ws:
        ws.send("1001 going away")
        with pytest.raises(ConnectionClosed) as raised:
            ws.recv(timeout=WAIT)
        assert not isinstance(raised.value, ConnectionClosedError)  # 1001 is normal
        assert (ws.close_code, ws.close_reason) == (1001, "going away")


async def server_closes_async(client: str, base: str) -> None:
    async with async_client(client, f"{base}/close") as ws:
        await ws.send("4001 server reason \u2603")
        with pytest.raises(ConnectionClosedError):
            await ws.recv()
        assert (ws.close_code, ws.close_reason) == (4001, "server reason \u2603")
    async with async_client(client, f"{base}/close") as ws:
        await ws.send("1001 going away")
        with pytest.raises(ConnectionClosed) as raised:
            await ws.recv()
        assert not isinstance(raised.value, ConnectionClosedError)
        assert (ws.close_code, ws.close_reason) == (1001, "going away")


@PAIRS
def test_close_code_and_reason_from_server(server: str, client: str) -> None:
    check(server, client, server_closes_sync, server_closes_async)
