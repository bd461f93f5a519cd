"""wskit's compiled transport as its own reader handle (_speedups_transport_reader.c).

Given a context, as a server's transports are, the transport registers itself
with the loop's selector where asyncio registers a handle of its
``_read_ready()``: no ``asyncio.Handle``, bound method and context copy per
open connection. The loop must see what it saw: reads run in that context,
pausing and resuming cancel and restore the reader, closing unregisters it,
and debug mode (where the loop formats and times its handles) and other
loops keep asyncio's handles. Its write buffer's list and its
``TransportSocket`` are made when needed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import os
import selectors
import socket
from asyncio.trsock import TransportSocket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from wskit.asyncio.server import serve
from wskit.asyncio.transport import SocketTransport, make_socket_transport, reads_as_asyncio

from .test_server_footprint import open_raw

pytestmark = pytest.mark.skipif(
    SocketTransport is None or os.environ.get("WSKIT_TEST_LOOP", "asyncio") != "asyncio",
    reason="wskit's compiled transport, on asyncio's own loop",
)


def out_of_debug_mode(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """The tests' loops run in debug mode, where the transport uses a handle."""

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        debug = loop.get_debug()
        loop.set_debug(False)
        try:
            await test(*args, **kwargs)
        finally:
            loop.set_debug(debug)

    return run


seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


class Recorder(asyncio.Protocol):
    """Records what it receives, and the context variable each read sees."""

    def __init__(self) -> None:
        self.data = b""
        self.seen: list[str] = []
        self.made_in = ""
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.made_in = seen.get()

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.seen.append(seen.get())

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


def in_context(value: str) -> contextvars.Context:
    context = contextvars.copy_context()
    context.run(seen.set, value)
    return context


async def started(
    protocol: asyncio.Protocol, context: contextvars.Context | None
) -> tuple[Any, socket.socket]:
    loop = asyncio.get_running_loop()
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    waiter = loop.create_future()
    transport = make_socket_transport(loop, ours, protocol, waiter, context=context)
    await waiter
    return transport, peer


def reader(transport: Any) -> Any:
    loop = asyncio.get_running_loop()
    key = loop._selector.get_key(transport._sock_fd)  # type: ignore[attr-defined]
    assert key.events & selectors.EVENT_READ
    return key.data[0]


async def until(condition: Any) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never")


@out_of_debug_mode
async def test_a_transport_given_a_context_is_its_own_reader_and_reads_there() -> None:
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    assert reader(transport) is transport
    assert transport._cancelled is False
    assert protocol.made_in == "server"  # its callbacks too, not only reads
    peer.sendall(b"hello")
    await until(lambda: protocol.data == b"hello")
    assert protocol.seen == ["server"]
    assert seen.get() == "unset"  # the loop's own context is left as it was
    transport.close()
    peer.close()
    await protocol.lost


@out_of_debug_mode
async def test_pausing_cancels_the_reader_and_resuming_restores_it() -> None:
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    loop = asyncio.get_running_loop()
    transport.pause_reading()
    assert transport._cancelled is True
    with pytest.raises(KeyError):
        loop._selector.get_key(transport._sock_fd)  # type: ignore[attr-defined]
    peer.sendall(b"held")
    for _ in range(5):
        await asyncio.sleep(0)
    assert protocol.data == b""
    transport.resume_reading()
    assert reader(transport) is transport
    assert transport._cancelled is False
    await until(lambda: protocol.data == b"held")
    transport.close()
    peer.close()
    await protocol.lost


@out_of_debug_mode
async def test_paused_and_resumed_within_one_pass_reads_once_ready() -> None:
    # The loop may hold the transport in its ready queue when it is
    # cancelled: the cancel mustn't outlive a resume, nor lose a read.
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    peer.sendall(b"a")
    await until(lambda: protocol.data == b"a")
    peer.sendall(b"b")
    transport.pause_reading()
    transport.resume_reading()
    await until(lambda: protocol.data == b"ab")
    transport.close()
    peer.close()
    await protocol.lost


@out_of_debug_mode
async def test_a_writer_beside_the_reader_keeps_both() -> None:
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport.pause_reading()
    transport.write(b"x" * 1_000_000)  # more than the socket takes: a writer waits
    loop = asyncio.get_running_loop()
    key = loop._selector.get_key(transport._sock_fd)  # type: ignore[attr-defined]
    assert key.events == selectors.EVENT_WRITE
    transport.resume_reading()
    key = loop._selector.get_key(transport._sock_fd)  # type: ignore[attr-defined]
    assert key.events == selectors.EVENT_READ | selectors.EVENT_WRITE
    assert key.data[0] is transport
    assert key.data[1] is not None
    peer.sendall(b"both")
    await until(lambda: protocol.data == b"both")
    transport.abort()
    peer.close()
    await protocol.lost


@out_of_debug_mode
async def test_without_a_context_or_in_debug_mode_reads_go_through_a_handle() -> None:
    loop = asyncio.get_running_loop()
    protocol = Recorder()
    transport, peer = await started(protocol, None)
    assert isinstance(reader(transport), asyncio.Handle)
    transport.close()
    peer.close()
    await protocol.lost
    debug = loop.get_debug()
    loop.set_debug(True)
    try:
        protocol = Recorder()
        transport, peer = await started(protocol, in_context("server"))
        assert isinstance(reader(transport), asyncio.Handle)
        peer.sendall(b"debug")
        await until(lambda: protocol.data == b"debug")
        assert protocol.seen == ["server"]  # the handle's: a copy of the transport's
        transport.close()
        peer.close()
        await protocol.lost
    finally:
        loop.set_debug(debug)


@out_of_debug_mode
async def test_debug_mode_turned_on_later_names_the_transport_as_a_slow_callback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A transport registered out of debug mode stays the reader; in debug
    # mode the loop reads a handle's _callback to name a slow one.
    loop = asyncio.get_running_loop()
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    assert reader(transport) is transport
    slow = loop.slow_callback_duration
    loop.set_debug(True)
    loop.slow_callback_duration = 0
    try:
        with caplog.at_level("WARNING", logger="asyncio"):
            peer.sendall(b"slow")
            await until(lambda: protocol.data == b"slow")
    finally:
        loop.slow_callback_duration = slow
        loop.set_debug(False)
    assert transport._callback == transport._read_ready
    assert any(
        "Executing" in record.getMessage() and "SocketTransport" in record.getMessage()
        for record in caplog.records
    )
    transport.close()
    peer.close()
    await protocol.lost


@out_of_debug_mode
async def test_what_escapes_a_read_is_reported_as_a_handle_would_report_it() -> None:
    # The transport reports the protocol's failures itself; what escapes
    # its read (here, that report failing, which leaves the transport open,
    # as asyncio's) is the reader handle's to report.
    loop = asyncio.get_running_loop()
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    reports: list[dict[str, Any]] = []
    broken = RuntimeError("the report failed")

    def report(details: dict[str, Any]) -> None:
        reports.append(details)
        if len(reports) == 1:
            raise broken

    def fail(data: bytes) -> None:
        raise ValueError("protocol")

    loop.call_exception_handler = report  # type: ignore[method-assign,assignment]
    protocol.data_received = fail  # type: ignore[method-assign]
    try:
        peer.sendall(b"x")
        await until(lambda: len(reports) == 2)
        assert reports[1] == {
            "message": "Exception in callback SocketTransport._read_ready()",
            "exception": broken,
            "handle": transport,
        }
    finally:
        del loop.call_exception_handler
        transport.abort()
        peer.close()


@out_of_debug_mode
async def test_keyboard_interrupt_goes_through() -> None:
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    transport.pause_reading()
    peer.sendall(b"x")

    def interrupt(data: bytes) -> None:
        raise KeyboardInterrupt

    protocol.data_received = interrupt  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        transport._run()
    transport.abort()
    peer.close()
    await protocol.lost


@out_of_debug_mode
async def test_a_context_must_be_a_context() -> None:
    loop = asyncio.get_running_loop()
    ours, peer = socket.socketpair()
    with pytest.raises(TypeError, match="context"):
        SocketTransport(loop, ours, Recorder(), context={})  # type: ignore[arg-type,misc]
    ours.close()
    peer.close()


@out_of_debug_mode
async def test_a_servers_transports_are_their_own_readers_in_the_callers_context() -> None:
    handlers_saw: list[str] = []

    async def handler(websocket: Any) -> None:
        handlers_saw.append(seen.get())
        await websocket.wait_closed()

    loop = asyncio.get_running_loop()
    assert reads_as_asyncio(loop)
    token = seen.set("serving")
    try:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            seen.set("later")  # the server's context was copied before
            clients = [await open_raw(port) for _ in range(2)]
            await until(lambda: len(server.handlers) == 2)
            transports = [connection.transport for connection in server.handlers]
            assert all(reader(transport) is transport for transport in transports)
            await until(lambda: len(handlers_saw) == 2)
            for client in clients:
                client.close()
    finally:
        seen.reset(token)
    assert handlers_saw == ["serving", "serving"]


@out_of_debug_mode
async def test_a_loop_that_overrides_how_it_reads_keeps_asyncios_handles() -> None:
    class Loop(asyncio.SelectorEventLoop):
        def _add_reader(self, fd: Any, callback: Any, *args: Any) -> Any:
            return super()._add_reader(fd, callback, *args)  # type: ignore[misc]

    loop = Loop()
    try:
        assert not reads_as_asyncio(loop)
    finally:
        loop.close()


@out_of_debug_mode
async def test_the_socket_info_is_made_when_asked_for() -> None:
    protocol = Recorder()
    transport, peer = await started(protocol, in_context("server"))
    (extra,) = (o for o in gc.get_referents(transport) if type(o) is dict)
    assert "socket" not in extra
    assert sorted(extra) == ["peername", "sockname"]
    sock = transport.get_extra_info("socket")
    assert isinstance(sock, TransportSocket)
    assert transport.get_extra_info("socket") is sock
    assert transport._extra["socket"] is sock
    transport.close()
    peer.close()
    await protocol.lost
    assert transport.get_extra_info("socket") is sock
    assert sock.fileno() == -1


@out_of_debug_mode
async def test_the_socket_info_is_whole_when_read_as_a_dict() -> None:
    protocol = Recorder()
    transport, peer = await started(protocol, None)
    assert isinstance(transport._extra["socket"], TransportSocket)
    transport.close()
    peer.close()
    await protocol.lost
