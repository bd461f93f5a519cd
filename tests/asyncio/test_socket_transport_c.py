"""What only wskit's compiled socket transport has (wskit/_speedups_transport*.c).

test_socket_transport*.py hold it equal to asyncio's own transport; these
tests hold what asyncio's doesn't do: reading again while reads fill the
buffer (bounded), writelines() in one system call, a connection's read path
called on a ReadPath protocol (its methods replaced on an instance still
seen), the transport wskit's asyncio connections get on asyncio's loop, and
no reference cycle left behind by a closed transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import warnings
import weakref
from typing import Any

import pytest

from wskit.asyncio.connection import gathers_writes
from wskit.asyncio.long_payloads import own_socket_fd
from wskit.asyncio.transport import SocketTransport, make_socket_transport

from .test_connection import ws_pair

pytestmark = pytest.mark.skipif(
    SocketTransport is None or os.environ.get("WSKIT_TEST_LOOP", "asyncio") != "asyncio",
    reason="wskit's compiled transport, on asyncio's own loop",
)

# As _speedups_transport_io.c: reads per wake-up while each fills the buffer.
MAX_READS = 4


class SmallBuffers(asyncio.BufferedProtocol):
    """Reads into a buffer of ``size`` bytes; records each read's size."""

    def __init__(self, size: int) -> None:
        self.buffer = bytearray(size)
        self.reads: list[int] = []
        self.transport: Any = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.reads.append(nbytes)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def started(protocol: asyncio.BaseProtocol) -> tuple[Any, socket.socket]:
    """A transport of ``protocol`` on one end of a socket pair, started, and the other end."""
    loop = asyncio.get_running_loop()
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    waiter = loop.create_future()
    transport = make_socket_transport(loop, ours, protocol, waiter)
    await waiter
    return transport, peer


async def test_a_read_that_fills_the_buffer_is_followed_by_another_up_to_a_bound() -> None:
    protocol = SmallBuffers(10)
    transport, peer = await started(protocol)
    peer.sendall(b"x" * 80)
    transport._read_ready()  # one wake-up of the loop
    assert protocol.reads == [10] * MAX_READS
    transport._read_ready()
    assert protocol.reads == [10] * 2 * MAX_READS
    # Exactly what was there: no read for nothing, no get_buffer() for nothing.
    protocol.reads.clear()
    peer.sendall(b"x" * 20)
    calls = []
    get_buffer = protocol.get_buffer

    def recording(hint: int) -> bytearray:
        calls.append(hint)
        return get_buffer(hint)

    protocol.get_buffer = recording  # type: ignore[method-assign,assignment]
    transport._read_ready()
    assert protocol.reads == [10, 10]
    assert calls == [-1, -1]
    transport.close()
    await protocol.lost
    peer.close()


async def test_reading_again_stops_with_a_short_read_or_when_paused() -> None:
    protocol = SmallBuffers(10)
    transport, peer = await started(protocol)
    peer.sendall(b"x" * 15)
    transport._read_ready()
    assert protocol.reads == [10, 5]

    def pausing(nbytes: int) -> None:
        protocol.reads.append(nbytes)
        transport.pause_reading()

    protocol.buffer_updated = pausing  # type: ignore[method-assign]
    peer.sendall(b"x" * 30)
    transport._read_ready()
    assert protocol.reads == [10, 5, 10]
    transport.close()
    await protocol.lost
    peer.close()


async def test_writelines_sends_its_buffers_in_one_system_call() -> None:
    protocol = SmallBuffers(10)
    transport, peer = await started(protocol)
    header, payload = b"head", memoryview(b"payload" * 1000)
    transport.writelines((header, payload))
    assert transport.get_write_buffer_size() == 0
    # A stream socket pair gives one recv() what one sendmsg() sent.
    assert peer.recv(1 << 16) == header + payload
    # What the socket doesn't take waits, uncopied, and follows.
    big = b"y" * (1 << 23)
    transport.writelines((header, big))
    assert 0 < transport.get_write_buffer_size() < len(big)
    received = bytearray()
    peer.setblocking(False)
    while len(received) < len(header) + len(big):
        await asyncio.sleep(0)
        with contextlib.suppress(BlockingIOError):
            received += peer.recv(1 << 20)
    assert received == header + big
    transport.close()
    await protocol.lost
    peer.close()


async def test_connections_gather_writes_and_leave_reading_again_to_it() -> None:
    async with ws_pair("server") as (ws, peer):
        for connection in (ws, peer):
            assert type(connection.transport) is SocketTransport
            assert gathers_writes(connection.transport)
            assert own_socket_fd(connection.transport) is None
            assert connection.transport.get_extra_info("socket") is not None


async def test_a_read_path_replaced_on_the_instance_is_called() -> None:
    # The transport calls ReadPath's methods directly, unless replaced.
    async with ws_pair("server") as (ws, peer):
        calls: list[int] = []
        buffer_updated = ws.buffer_updated

        def recording(nbytes: int) -> None:
            calls.append(nbytes)
            buffer_updated(nbytes)

        ws.buffer_updated = recording  # type: ignore[method-assign]
        await peer.send("hello")
        assert await ws.recv() == "hello"
        assert calls


async def test_closed_transports_leave_no_garbage() -> None:
    """Made, used and closed, then aborted, transports are freed by reference
    counting alone: no cycle waits for the garbage collector."""
    with warnings.catch_warnings():  # what earlier tests left is theirs
        warnings.simplefilter("ignore")
        gc.collect()
    gc.disable()
    try:
        refs = []
        for close in ("close", "abort") * 20:
            protocol = SmallBuffers(1024)
            transport, peer = await started(protocol)
            peer.sendall(b"ping")
            transport.write(b"pong")
            await asyncio.sleep(0)
            getattr(transport, close)()
            await protocol.lost
            peer.close()
            refs.append(weakref.ref(transport))
            protocol.transport = None
            del transport, protocol
        assert [ref for ref in refs if ref() is not None] == []
    finally:
        gc.enable()


async def test_an_unclosed_transport_warns_and_closes_its_socket() -> None:
    protocol = SmallBuffers(1024)
    transport, peer = await started(protocol)
    transport.pause_reading()  # the loop's reader no longer holds it
    sock = transport.get_extra_info("socket")
    protocol.transport = None
    # No cycle holds it: freed at once.
    with pytest.warns(ResourceWarning, match="unclosed transport <SocketTransport"):
        del transport
    assert sock.fileno() == -1
    peer.close()


async def test_repr_says_the_state_and_keeps_nothing() -> None:
    """A transport's repr says its state, and once its connection is lost
    (no loop left to ask) building it leaves no memory behind."""
    import tracemalloc  # noqa: PLC0415 (this test only)

    protocol = SmallBuffers(1024)
    transport, peer = await started(protocol)
    assert repr(transport).endswith("read=polling write=<idle, bufsize=0>>")
    transport.close()
    await protocol.lost
    peer.close()
    assert repr(transport).startswith("<SocketTransport closed fd=")
    tracemalloc.start()
    try:
        repr(transport)
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(10_000):
            repr(transport)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 10_000  # each leaked repr head was ~60 bytes
