"""A socket transport on asyncio's selector loop: closing, switching
protocols, TLS over it, and whole WebSocket connections on it.

As in test_socket_transport.py, each test runs on asyncio's transport and on
wskit's, held to what asyncio's does on the Python running it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sys
import weakref
from asyncio import selector_events
from typing import Any

import pytest

from wskit.asyncio.client import connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.exceptions import ConnectionClosedError

from .socket_transports import (
    WAIT,
    BufferedRecorder,
    Maker,
    Recorder,
    Sockets,
    caught_exceptions,
    loop_passes,
    payload,
    read_to_eof,
    started,
)
from .test_client import client_tls, server_tls
from .test_server import LOCALHOST, uri_of

MiB = 1 << 20


async def test_close_then_connection_lost_later(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """close() makes the transport closing at once; connection_lost(None)
    comes on a later pass, once; closing again changes nothing."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    assert not transport.is_closing()
    transport.close()
    assert transport.is_closing()
    transport.close()
    assert protocol.events == ["made"]
    assert await protocol.wait_lost() is None
    transport.close()
    transport.abort()
    await loop_passes(3)
    assert protocol.events == ["made", "lost"]
    assert transport.is_closing()
    assert await read_to_eof(peer) == b""


async def test_close_flushes_the_buffer(make_transport: Maker, socket_pairs: Sockets) -> None:
    """close() with data buffered sends it all, then the peer sees EOF and
    the protocol connection_lost(None)."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    data = payload(4 * MiB)
    transport.write(data)
    transport.close()
    assert transport.get_write_buffer_size() > 0
    await loop_passes(3)
    assert not protocol.lost.done()
    assert await read_to_eof(peer) == data
    assert await protocol.wait_lost() is None
    assert transport.get_write_buffer_size() == 0


@pytest.mark.parametrize("after_close", [False, True])
async def test_abort_drops_the_buffer(
    make_transport: Maker, socket_pairs: Sockets, after_close: bool
) -> None:
    """abort() drops what's buffered, even after close(), and calls
    connection_lost(None) on a later pass."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    data = payload(4 * MiB)
    transport.write(data)
    sent = len(data) - transport.get_write_buffer_size()
    if after_close:
        transport.close()
    transport.abort()
    assert transport.is_closing()
    assert transport.get_write_buffer_size() == 0
    assert await protocol.wait_lost() is None
    # Writing was paused; dropping the buffer doesn't resume it.
    assert protocol.events == ["made", "pause_writing", "lost"]
    assert await read_to_eof(peer) == data[:sent]


async def test_socket_closed_after_connection_lost(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """The socket is still open during connection_lost(), closed (the
    socket object given, not only its fd) right after."""
    ours, _ = socket_pairs.unix()
    fd = ours.fileno()
    during: list[int] = []

    class Watching(Recorder):
        def connection_lost(self, exc: BaseException | None) -> None:
            during.append(ours.fileno())
            super().connection_lost(exc)

    protocol = Watching()
    transport = make_transport(ours, protocol)
    await protocol.made
    transport.close()
    await protocol.wait_lost()
    assert during == [fd]
    assert ours.fileno() == -1


async def test_nothing_read_after_close(make_transport: Maker, socket_pairs: Sockets) -> None:
    """Data on the socket, not read yet when close() is called, never reaches
    the protocol."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    peer.send(b"unread")
    transport.close()
    peer.send(b"later")
    await protocol.wait_lost()
    await loop_passes(3)
    assert protocol.events == ["made", "lost"]


async def test_extra_info_after_close(make_transport: Maker, socket_pairs: Sockets) -> None:
    """After connection_lost(), extra info still answers: the same ``socket``,
    now closed, and the names."""
    ours, _ = socket_pairs.tcp()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    sock = transport.get_extra_info("socket")
    sockname, peername = ours.getsockname(), ours.getpeername()
    transport.close()
    await protocol.wait_lost()
    assert transport.get_extra_info("socket") is sock
    assert sock.fileno() == -1
    assert transport.get_extra_info("sockname") == sockname
    assert transport.get_extra_info("peername") == peername


async def test_unclosed_transport_warns(make_transport: Maker, socket_pairs: Sockets) -> None:
    """A transport collected unclosed says so in a ResourceWarning and
    closes its socket."""
    ours, _ = socket_pairs.unix()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    await protocol.made
    # A transport that reads is held by the loop's reader: pause it.
    transport.pause_reading()
    protocol.transport = None
    # Freed at once without a cycle, by the garbage collector with one.
    with pytest.warns(ResourceWarning, match="^unclosed transport "):  # noqa: PT031
        del transport
        gc.collect()
    assert ours.fileno() == -1
    assert not protocol.lost.done()


@pytest.mark.parametrize("end", ["close", "abort"])
async def test_closed_transport_freed_without_gc(
    make_transport: Maker, socket_pairs: Sockets, end: str
) -> None:
    """Once connection_lost() ran, the transport is freed by reference
    counting: no cycle left for the garbage collector. asyncio's own holds
    bound methods of itself (its read and write callbacks), a cycle that
    close() breaks since 3.12 and abort() never does: there, it is only
    checked that the garbage collector frees it."""
    ours, _ = socket_pairs.unix()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    await protocol.made
    getattr(transport, end)()
    await protocol.wait_lost()
    assert transport.get_protocol() is None  # the protocol is let go
    await loop_passes(2)
    freed = weakref.ref(transport)
    protocol.transport = None
    without_gc = make_transport.kind == "wskit" or (end == "close" and sys.version_info >= (3, 12))
    gc.collect()
    gc.disable()
    try:
        del transport
        if without_gc:
            assert freed() is None
    finally:
        gc.enable()
    gc.collect()
    assert freed() is None


# Protocols.


@pytest.mark.parametrize("kind", [Recorder, BufferedRecorder])
async def test_set_protocol(
    make_transport: Maker, socket_pairs: Sockets, kind: type[Recorder | BufferedRecorder]
) -> None:
    """After set_protocol(), get_protocol() answers the new protocol, which
    gets what's read next, buffered or not, and connection_lost()."""
    loop = asyncio.get_running_loop()
    ours, peer = socket_pairs.unix()
    first = Recorder()
    transport = make_transport(ours, first)
    assert transport.get_protocol() is first
    peer.send(b"first")
    assert await first.receive(5) == b"first"
    second = kind()
    transport.set_protocol(second)
    assert transport.get_protocol() is second
    await loop.sock_sendall(peer, b"second")
    assert await second.receive(6) == b"second"
    peer.shutdown(socket.SHUT_WR)
    assert await second.wait_lost() is None
    assert second.events == ["data", "eof", "lost"]
    assert first.events == ["made", "data"]
    assert first.received == b"first"


async def test_start_tls(make_transport: Maker) -> None:
    """loop.start_tls() takes the transport over: TLS runs on top of it."""
    loop = asyncio.get_running_loop()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, LOCALHOST, 0, ssl=server_tls())
    try:
        sock = socket.create_connection(server.sockets[0].getsockname())
        sock.setblocking(False)
        protocol = Recorder()
        transport = make_transport(sock, protocol)
        await protocol.made
        over_tls = Recorder()
        async with asyncio.timeout(WAIT):
            tls = await loop.start_tls(
                transport, over_tls, client_tls(), server_hostname="localhost"
            )
        assert tls is not None
        over_tls.connection_made(tls)
        tls.write(b"hello")
        assert await over_tls.receive(5) == b"hello"
        tls.close()
        await over_tls.wait_lost()
        assert protocol.events == ["made"]
    finally:
        server.close()
        async with asyncio.timeout(WAIT):
            await server.wait_closed()


# A whole connection.


@pytest.fixture
def wskit_transports(make_transport: Maker, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every socket transport asyncio's selector loop makes during the test,
    wskit's servers' and clients' included, made by ``make_transport``;
    yields the list of them."""
    made: list[Any] = []

    def make_socket_transport(
        loop: Any,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        server: asyncio.Server | None = None,
    ) -> Any:
        transport = make_transport(sock, protocol, waiter, extra=extra, server=server)
        made.append(transport)
        return transport

    # wskit.asyncio.accept and .connect call the loop's, as asyncio does.
    monkeypatch.setattr(
        selector_events.BaseSelectorEventLoop, "_make_socket_transport", make_socket_transport
    )
    return made


async def test_websocket_connection(make_transport: Maker, wskit_transports: list[Any]) -> None:
    """A wskit server and client, each on a transport made by the maker:
    text, a 1 MiB binary message, a close with a code and a reason."""
    served: asyncio.Future[ServerConnection] = asyncio.get_running_loop().create_future()

    async def echo(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosedError):  # closed with 4000, not OK
            async for message in ws:
                await ws.send(message)
        served.set_result(ws)

    big = payload(MiB)
    async with serve(echo, LOCALHOST, 0) as server:
        async with asyncio.timeout(WAIT), connect(uri_of(server)) as client:
            await client.send("hello")
            assert await client.recv() == "hello"
            await client.send(big)
            assert await client.recv() == big
            await client.close(4000, "bye")
        assert (client.close_code, client.close_reason) == (4000, "bye")
        async with asyncio.timeout(WAIT):
            connection = await served
        assert (connection.close_code, connection.close_reason) == (4000, "bye")
    assert len(wskit_transports) == 2
    assert {id(client.transport), id(connection.transport)} == set(map(id, wskit_transports))
    assert all(transport.is_closing() for transport in wskit_transports)


async def test_connection_lost_raising(make_transport: Maker, socket_pairs: Sockets) -> None:
    """An exception from connection_lost() goes to the exception handler;
    the socket is closed and the server let go all the same."""
    loop = asyncio.get_running_loop()
    caught = caught_exceptions()
    server = await loop.create_server(asyncio.Protocol, LOCALHOST, 0)
    ours, _ = socket_pairs.unix()
    error = ValueError("connection_lost failed")

    class Failing(Recorder):
        def connection_lost(self, exc: BaseException | None) -> None:
            super().connection_lost(exc)
            raise error

    protocol = Failing()
    transport = make_transport(ours, protocol, server=server)
    await protocol.made
    server.close()
    transport.close()
    await protocol.wait_lost()
    async with asyncio.timeout(WAIT):
        await server.wait_closed()
    assert ours.fileno() == -1
    assert [context["exception"] for context in caught] == [error]
