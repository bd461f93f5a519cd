"""A socket transport on asyncio's selector loop: starting and reading.

Each test runs on asyncio's own ``_SelectorSocketTransport`` and on wskit's
compiled one (the ``make_transport`` fixture) and holds both to what
asyncio's does on the Python running it (see socket_transports.py). Writing
is in test_socket_transport_write.py; closing, switching protocols and whole
WebSocket connections in test_socket_transport_close.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import sys
from asyncio import trsock
from typing import Any

import pytest

from .socket_transports import (
    PAUSE_IN_CONNECTION_MADE_HOLDS,
    WAIT,
    BufferedRecorder,
    Maker,
    Recorder,
    Sockets,
    caught_exceptions,
    fixed_or_asyncio,
    loop_passes,
    payload,
    started,
)

# Start.


async def test_start_is_deferred_to_the_next_pass(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """The constructor calls nothing; on the loop's next pass come
    connection_made(), then reading, then the waiter's result; data already
    there arrives on the pass after."""
    loop = asyncio.get_running_loop()
    ours, peer = socket_pairs.unix()
    peer.send(b"early")
    waiter = loop.create_future()
    waiter_done_at_made: list[bool] = []

    class Checking(Recorder):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            waiter_done_at_made.append(waiter.done())
            super().connection_made(transport)

    protocol = Checking()
    transport = make_transport(ours, protocol, waiter)
    assert protocol.events == []
    assert not waiter.done()
    assert transport.is_reading()
    await loop_passes(1)
    assert protocol.events == ["made"]
    assert protocol.transport is transport
    assert waiter_done_at_made == [False]
    assert waiter.done()
    assert waiter.result() is None
    assert await protocol.receive(5) == b"early"
    assert protocol.events == ["made", "data"]
    transport.close()
    await protocol.wait_lost()


async def test_cancelled_waiter_is_left_alone(make_transport: Maker, socket_pairs: Sockets) -> None:
    """A waiter cancelled before the transport starts stays cancelled, and
    the transport starts and reads all the same."""
    loop = asyncio.get_running_loop()
    caught = caught_exceptions()
    ours, peer = socket_pairs.unix()
    waiter = loop.create_future()
    protocol = Recorder()
    transport = make_transport(ours, protocol, waiter)
    waiter.cancel()
    peer.send(b"data")
    assert await protocol.receive(4) == b"data"
    assert waiter.cancelled()
    assert caught == []
    transport.close()
    await protocol.wait_lost()


@pytest.mark.parametrize(
    ("proto", "nodelay"),
    [
        pytest.param(socket.IPPROTO_TCP, True, id="IPPROTO_TCP"),
        # asyncio sets it only where the socket says it's TCP: a socket made
        # with proto 0 keeps Nagle's algorithm.
        pytest.param(0, False, id="proto-0"),
    ],
)
async def test_nodelay_on_tcp(
    make_transport: Maker, socket_pairs: Sockets, proto: int, nodelay: bool
) -> None:
    """TCP_NODELAY is set, at once, on a socket made with IPPROTO_TCP, as
    create_connection()'s and create_server()'s are."""
    ours, _ = socket_pairs.tcp(proto)
    assert not ours.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    assert bool(ours.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)) is nodelay
    transport.close()
    await protocol.wait_lost()


async def test_unix_socket_starts_cleanly(make_transport: Maker, socket_pairs: Sockets) -> None:
    """On AF_UNIX, where TCP_NODELAY doesn't exist, the transport starts
    without an error, reads and writes."""
    caught = caught_exceptions()
    ours, peer = socket_pairs.unix()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    peer.send(b"ping")
    assert await protocol.receive(4) == b"ping"
    transport.write(b"pong")
    assert await asyncio.wait_for(asyncio.get_running_loop().sock_recv(peer, 4), WAIT) == b"pong"
    assert caught == []
    transport.close()
    await protocol.wait_lost()


async def test_extra_info_on_tcp(make_transport: Maker, socket_pairs: Sockets) -> None:
    """``socket`` is a TransportSocket over the socket; ``sockname`` and
    ``peername`` are the socket's; an unknown name gives the default."""
    ours, peer = socket_pairs.tcp()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    sock = transport.get_extra_info("socket")
    assert isinstance(sock, trsock.TransportSocket)
    assert sock.fileno() == ours.fileno()
    assert transport.get_extra_info("sockname") == ours.getsockname() == peer.getpeername()
    assert transport.get_extra_info("peername") == ours.getpeername() == peer.getsockname()
    assert transport.get_extra_info("sslcontext") is None
    assert transport.get_extra_info("unknown") is None
    assert transport.get_extra_info("unknown", "default") == "default"
    assert transport.get_extra_info("unknown", default="default") == "default"
    assert transport.get_extra_info(name="sockname", default=None) == ours.getsockname()
    transport.close()
    await protocol.wait_lost()


async def test_extra_info_given(make_transport: Maker, socket_pairs: Sockets) -> None:
    """A ``peername`` given in ``extra`` is kept (an accepting server gives
    accept()'s address); other given names are answered too."""
    ours, _ = socket_pairs.tcp()
    protocol = Recorder()
    extra = {"peername": ("192.0.2.1", 4321), "custom": "value"}
    transport = make_transport(ours, protocol, extra=extra)
    assert transport.get_extra_info("peername") == ("192.0.2.1", 4321)
    assert transport.get_extra_info("custom") == "value"
    assert transport.get_extra_info("sockname") == ours.getsockname()
    transport.close()
    await protocol.wait_lost()


async def test_extra_info_on_unix(make_transport: Maker, socket_pairs: Sockets) -> None:
    """An unnamed AF_UNIX socket's names are empty strings, as the socket says."""
    ours, _ = socket_pairs.unix()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    assert transport.get_extra_info("sockname") == ours.getsockname() == ""
    assert transport.get_extra_info("peername") == ours.getpeername() == ""
    transport.close()
    await protocol.wait_lost()


async def test_loop_knows_the_transport_of_its_fd(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """The loop registers the transport under its fd: while it is open, the
    loop refuses its own readers and writers there."""
    loop: Any = asyncio.get_running_loop()
    ours, _ = socket_pairs.unix()
    fd = ours.fileno()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    assert loop._transports[fd] is transport
    with pytest.raises(RuntimeError, match="is used by transport"):
        loop.add_reader(fd, lambda: None)
    with pytest.raises(RuntimeError, match="is used by transport"):
        loop.add_writer(fd, lambda: None)
    transport.close()
    # Closing, it no longer owns the fd.
    loop.add_reader(fd, lambda: None)
    loop.remove_reader(fd)
    await protocol.wait_lost()


@pytest.mark.parametrize("end", ["close", "abort"])
async def test_server_waits_for_its_transports(
    make_transport: Maker, socket_pairs: Sockets, end: str
) -> None:
    """A transport made with ``server=`` is attached to it:
    Server.wait_closed() returns only after its connection_lost() ran."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    ours, _ = socket_pairs.unix()
    protocol = Recorder()
    transport = make_transport(ours, protocol, server=server)
    await protocol.made
    # Waiting before close(): Python 3.11's returns at once once closed.
    closed = asyncio.ensure_future(server.wait_closed())
    await loop_passes(1)
    server.close()
    await loop_passes(3)
    assert not closed.done()
    getattr(transport, end)()
    async with asyncio.timeout(WAIT):
        await closed
    assert protocol.events[-1] == "lost"


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Server.close_clients() is new in 3.13")
@pytest.mark.parametrize(("method", "delivered"), [("close_clients", 1), ("abort_clients", 0)])
async def test_server_closes_its_transports(
    make_transport: Maker, socket_pairs: Sockets, method: str, delivered: int
) -> None:
    """Server.close_clients() closes the transports attached to it (buffered
    data is still sent), abort_clients() aborts them (it's dropped)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    ours, peer = socket_pairs.unix()
    protocol = Recorder()
    transport = make_transport(ours, protocol, server=server)
    await protocol.made
    data = payload(1 << 20)
    transport.write(data)
    assert transport.get_write_buffer_size() > 0
    getattr(server, method)()
    assert transport.is_closing()
    received = bytearray()
    async with asyncio.timeout(WAIT):
        while chunk := await loop.sock_recv(peer, 1 << 20):
            received += chunk
    assert await protocol.wait_lost() is None
    assert (received == data) is bool(delivered)
    server.close()
    async with asyncio.timeout(WAIT):
        await server.wait_closed()


# Reading.


@pytest.mark.parametrize("kind", [Recorder, BufferedRecorder])
async def test_large_data_arrives_whole_and_in_order(
    make_transport: Maker, socket_pairs: Sockets, kind: type[AnyRecorder]
) -> None:
    """Data larger than any read arrives over several reads, whole and in order."""
    loop = asyncio.get_running_loop()
    ours, peer = socket_pairs.unix()
    protocol = kind()
    transport = make_transport(ours, protocol)
    data = payload(3 << 20)
    sending = asyncio.ensure_future(loop.sock_sendall(peer, data))
    assert await protocol.receive(len(data)) == data
    await sending
    assert protocol.events.count("data") > 1
    transport.close()
    await protocol.wait_lost()


async def test_data_received_at_most_max_size(make_transport: Maker, socket_pairs: Sockets) -> None:
    """A plain protocol's data_received() gets bytes, at most 256 KiB at a
    time (asyncio's max_size)."""
    loop = asyncio.get_running_loop()
    ours, peer = socket_pairs.tcp()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    await protocol.made
    transport.pause_reading()
    data = payload(2 << 20)
    # Several reads' worth on the socket, then read it all.
    sending = asyncio.ensure_future(loop.sock_sendall(peer, data))
    await loop_passes(5)
    transport.resume_reading()
    assert await protocol.receive(len(data)) == data
    await sending
    assert all(type(chunk) is bytes for chunk in protocol.chunks)
    assert max(map(len, protocol.chunks)) <= 256 * 1024
    transport.close()
    await protocol.wait_lost()


@pytest.mark.parametrize("size", [1, 1000, 1 << 20])
async def test_buffered_protocol_reads_into_its_buffer(
    make_transport: Maker, socket_pairs: Sockets, size: int
) -> None:
    """A BufferedProtocol is asked get_buffer(-1) before each read, told
    buffer_updated(n) with n at most its buffer's size, never 0 (a read
    that finds nothing more asks for a buffer it doesn't fill)."""
    loop = asyncio.get_running_loop()
    ours, peer = socket_pairs.unix()
    protocol = BufferedRecorder(size)
    transport = make_transport(ours, protocol)
    data = payload(2500)
    await loop.sock_sendall(peer, data)
    assert await protocol.receive(len(data)) == data
    assert set(protocol.size_hints) == {-1}
    assert len(protocol.size_hints) >= len(protocol.updates)
    assert all(0 < n <= size for n in protocol.updates)
    assert sum(protocol.updates) == len(data)
    transport.close()
    await protocol.wait_lost()


# A recording protocol of either kind.
AnyRecorder = Recorder | BufferedRecorder


class Failing:
    """Protocols whose ``method`` raises ``error``."""

    @staticmethod
    def plain(method: str, error: BaseException) -> AnyRecorder:
        class FailingRecorder(Recorder):
            pass

        return Failing._make(FailingRecorder, method, error)

    @staticmethod
    def buffered(method: str, error: BaseException) -> AnyRecorder:
        class FailingBufferedRecorder(BufferedRecorder):
            pass

        return Failing._make(FailingBufferedRecorder, method, error)

    @staticmethod
    def _make(protocol_class: type[AnyRecorder], method: str, error: BaseException) -> AnyRecorder:
        def fail(self: Any, *args: Any) -> Any:
            self._record(method)
            raise error

        setattr(protocol_class, method, fail)
        return protocol_class()


@pytest.mark.parametrize(
    ("make_protocol", "method", "message"),
    [
        (Failing.plain, "data_received", "Fatal error: protocol.data_received() call failed."),
        (Failing.buffered, "get_buffer", "Fatal error: protocol.get_buffer() call failed."),
        (Failing.buffered, "buffer_updated", "Fatal error: protocol.buffer_updated() call failed."),
        (Failing.plain, "eof_received", "Fatal error: protocol.eof_received() call failed."),
        (Failing.buffered, "eof_received", "Fatal error: protocol.eof_received() call failed."),
    ],
)
async def test_protocol_error_is_fatal(
    make_transport: Maker, socket_pairs: Sockets, make_protocol: Any, method: str, message: str
) -> None:
    """An exception from the protocol's reading methods goes to the loop's
    exception handler, with asyncio's message, and closes the transport:
    connection_lost(exc) on a later pass."""
    caught = caught_exceptions()
    ours, peer = socket_pairs.unix()
    error = ValueError("protocol failed")
    protocol = make_protocol(method, error)
    transport = make_transport(ours, protocol)
    if method == "eof_received":
        peer.shutdown(socket.SHUT_WR)
    else:
        peer.send(b"data")
    await protocol.wait(lambda: method in protocol.events)
    assert transport.is_closing()
    assert not protocol.lost.done()
    assert await protocol.wait_lost() is error
    assert protocol.events[-2:] == [method, "lost"]
    assert caught == [
        {"message": message, "exception": error, "transport": transport, "protocol": protocol}
    ]


async def test_empty_buffer_is_fatal(make_transport: Maker, socket_pairs: Sockets) -> None:
    """get_buffer() returning an empty buffer is an error from get_buffer()."""
    caught = caught_exceptions()
    ours, peer = socket_pairs.unix()
    protocol = BufferedRecorder(0)
    transport = make_transport(ours, protocol)
    peer.send(b"data")
    exc = await protocol.wait_lost()
    assert isinstance(exc, RuntimeError)
    assert str(exc) == "get_buffer() returned an empty buffer"
    assert protocol.updates == []
    assert caught == [
        {
            "message": "Fatal error: protocol.get_buffer() call failed.",
            "exception": exc,
            "transport": transport,
            "protocol": protocol,
        }
    ]


async def test_os_error_from_protocol_is_not_reported(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """An OSError, even one the protocol raises, closes the transport with
    connection_lost(exc) but doesn't reach the exception handler."""
    caught = caught_exceptions()
    ours, peer = socket_pairs.unix()
    error = ConnectionAbortedError("protocol gave up")
    protocol = Failing.plain("data_received", error)
    transport = make_transport(ours, protocol)
    peer.send(b"data")
    assert await protocol.wait_lost() is error
    assert transport.is_closing()
    assert caught == []


def debug_logs(caplog: pytest.LogCaptureFixture, transport: Any) -> list[tuple[Any, ...]]:
    """What asyncio's logger said of ``transport``: format, other arguments, exception."""
    return [
        (r.msg, r.args[1:], r.exc_info and r.exc_info[1])
        for r in caplog.records
        if r.name == "asyncio" and isinstance(r.args, tuple) and r.args[:1] == (transport,)
    ]


@pytest.mark.parametrize("debug", [False, True])
async def test_reset_by_peer(
    make_transport: Maker, socket_pairs: Sockets, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    """A connection reset by the peer: connection_lost(ConnectionResetError),
    nothing for the exception handler; in the loop's debug mode, a DEBUG log
    on asyncio's logger, with the traceback."""
    asyncio.get_running_loop().set_debug(debug)
    caplog.set_level(logging.DEBUG, logger="asyncio")
    caught = caught_exceptions()
    ours, peer = socket_pairs.tcp()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    await protocol.made
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # with a zero linger time: a reset
    exc = await protocol.wait_lost()
    assert isinstance(exc, ConnectionResetError)
    assert transport.is_closing()
    assert "eof" not in protocol.events
    assert caught == []
    logged = [("%r: %s", ("Fatal read error on socket transport",), exc)]
    assert debug_logs(caplog, transport) == (logged if debug else [])


async def test_debug_mode_logs_reading_and_eof(
    make_transport: Maker, socket_pairs: Sockets, caplog: pytest.LogCaptureFixture
) -> None:
    """In the loop's debug mode, pausing and resuming reading and the peer's
    EOF are logged at DEBUG on asyncio's logger."""
    asyncio.get_running_loop().set_debug(True)
    caplog.set_level(logging.DEBUG, logger="asyncio")
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.pause_reading()
    transport.resume_reading()
    peer.shutdown(socket.SHUT_WR)
    assert await protocol.wait_lost() is None
    assert debug_logs(caplog, transport) == [
        ("%r pauses reading", (), None),
        ("%r resumes reading", (), None),
        ("%r received EOF", (), None),
    ]


@pytest.mark.parametrize("kind", [Recorder, BufferedRecorder])
async def test_eof_closes_unless_kept_open(
    make_transport: Maker, socket_pairs: Sockets, kind: type[AnyRecorder]
) -> None:
    """The peer's EOF: eof_received(), then, as it returns a false value,
    the transport closes: connection_lost(None) on a later pass."""
    ours, peer = socket_pairs.unix()
    protocol = kind()
    transport = make_transport(ours, protocol)
    peer.send(b"last")
    peer.shutdown(socket.SHUT_WR)
    await protocol.eof
    assert transport.is_closing()
    assert await protocol.wait_lost() is None
    assert protocol.events == ["made", "data", "eof", "lost"]
    assert protocol.received == b"last"


@pytest.mark.parametrize("kind", [Recorder, BufferedRecorder])
async def test_eof_kept_open(
    make_transport: Maker, socket_pairs: Sockets, kind: type[AnyRecorder]
) -> None:
    """eof_received() returning True keeps the transport open for writing;
    it stops reading, though is_reading() still says it reads (it's neither
    paused nor closing)."""
    loop = asyncio.get_running_loop()
    ours, peer = socket_pairs.unix()
    protocol = kind()
    protocol.keep_open = True
    transport = make_transport(ours, protocol)
    peer.shutdown(socket.SHUT_WR)
    await protocol.eof
    await loop_passes(3)
    assert not transport.is_closing()
    assert transport.is_reading()
    assert protocol.events == ["made", "eof"]
    transport.write(b"reply")
    transport.close()
    assert await asyncio.wait_for(loop.sock_recv(peer, 100), WAIT) == b"reply"
    assert await protocol.wait_lost() is None
    assert protocol.events == ["made", "eof", "lost"]


async def test_pause_and_resume_reading(make_transport: Maker, socket_pairs: Sockets) -> None:
    """While paused, data waits on the socket; it arrives after resume.
    Pausing or resuming twice changes nothing."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.pause_reading()
    transport.pause_reading()
    assert not transport.is_reading()
    peer.send(b"held")
    await loop_passes(5)
    assert protocol.events == ["made"]
    transport.resume_reading()
    transport.resume_reading()
    assert transport.is_reading()
    assert await protocol.receive(4) == b"held"
    peer.send(b" more")
    assert await protocol.receive(9) == b"held more"
    transport.close()
    await protocol.wait_lost()


async def test_reading_state_after_close(make_transport: Maker, socket_pairs: Sockets) -> None:
    """Once closing, a transport doesn't read: is_reading() is False, and
    pause_reading() and resume_reading() do nothing."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.pause_reading()
    transport.close()
    assert not transport.is_reading()
    transport.resume_reading()
    assert not transport.is_reading()
    transport.pause_reading()
    peer.send(b"late")
    await protocol.wait_lost()
    assert not transport.is_reading()
    transport.resume_reading()
    transport.pause_reading()
    assert protocol.events == ["made", "lost"]


async def test_pause_reading_in_connection_made(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """pause_reading() in connection_made() holds: reading, which starts
    after it, doesn't (fixed in asyncio in 3.11.4 and 3.12)."""
    ours, peer = socket_pairs.unix()

    class Pausing(Recorder):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            transport.pause_reading()  # type: ignore[attr-defined]

    protocol = Pausing()
    transport = make_transport(ours, protocol)
    peer.send(b"held")
    await protocol.made
    await loop_passes(5)
    assert not transport.is_reading()
    holds = fixed_or_asyncio(make_transport, PAUSE_IN_CONNECTION_MADE_HOLDS)
    assert protocol.events == (["made"] if holds else ["made", "data"])
    transport.resume_reading()
    assert await protocol.receive(4) == b"held"
    transport.close()
    await protocol.wait_lost()


# What the protocol does while it's given data.


@pytest.mark.parametrize("action", ["pause_reading", "close", "abort"])
async def test_protocol_stops_reading_from_its_callback(
    make_transport: Maker, socket_pairs: Sockets, action: str
) -> None:
    """pause_reading(), close() or abort() called while given data hold at
    once: nothing more is given, though more is there (small buffers: many
    reads' worth)."""
    ours, peer = socket_pairs.unix()

    class Stopping(BufferedRecorder):
        def buffer_updated(self, nbytes: int) -> None:
            super().buffer_updated(nbytes)
            if len(self.updates) == 1:
                getattr(self.transport, action)()

    protocol = Stopping(1000)
    transport = make_transport(ours, protocol)
    await protocol.made
    transport.pause_reading()
    data = payload(100_000)
    peer.send(data)
    transport.resume_reading()
    await protocol.wait(lambda: "data" in protocol.events)
    await loop_passes(5)
    assert protocol.updates == [1000]
    if action == "pause_reading":
        assert not transport.is_reading()
        transport.resume_reading()
        assert await protocol.receive(len(data)) == data
        transport.close()
    assert await protocol.wait_lost() is None
    if action != "pause_reading":
        assert protocol.events == ["made", "data", "lost"]


@pytest.mark.parametrize("kind", [Recorder, BufferedRecorder])
async def test_set_protocol_from_its_callback(
    make_transport: Maker, socket_pairs: Sockets, kind: type[AnyRecorder]
) -> None:
    """A protocol handing the transport over to another while given data:
    what's read next goes to the other, whatever its kind."""
    ours, peer = socket_pairs.unix()
    second = kind()

    class Handing(BufferedRecorder):
        def buffer_updated(self, nbytes: int) -> None:
            super().buffer_updated(nbytes)
            if self.transport.get_protocol() is self:
                self.transport.set_protocol(second)

    first = Handing(10)
    transport = make_transport(ours, first)
    await first.made
    transport.pause_reading()
    data = payload(100_000)
    peer.send(data)
    transport.resume_reading()
    assert await second.receive(len(data) - 10) == data[10:]
    assert first.received == data[:10]
    transport.close()
    assert await second.wait_lost() is None


async def test_buffer_not_writable(make_transport: Maker, socket_pairs: Sockets) -> None:
    """get_buffer() returning a buffer that can't be written to fails the
    read: a TypeError, reported as a read error."""
    caught = caught_exceptions()
    ours, peer = socket_pairs.unix()

    class ReadOnly(BufferedRecorder):
        def get_buffer(self, sizehint: int) -> Any:
            return b"read-only"

    protocol = ReadOnly()
    transport = make_transport(ours, protocol)
    peer.send(b"data")
    exc = await protocol.wait_lost()
    assert isinstance(exc, TypeError)
    assert caught == [
        {
            "message": "Fatal read error on socket transport",
            "exception": exc,
            "transport": transport,
            "protocol": protocol,
        }
    ]
