"""Long payloads on the socket under asyncio's own transports.

asyncio's own socket transports read once per pass of the loop. When a read
fills the read buffer with the start of a long payload, the connection reads
what has arrived of the rest straight away, into the payload, as libuv reads
again when a read fills its buffer. On Python 3.11, where their
``writelines()`` joins its buffers, a server writes a long payload and its
header in one ``writev()`` when the transport has nothing to write first.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import termios
from typing import Any

import pytest

from tests.asyncio.conftest import watches_transport_calls
from tests.asyncio.test_connection import WAIT, eventually, raw_pair, ws_pair
from wskit.asyncio import transport
from wskit.asyncio.connection import READ_BUFFER_SIZE, Connection
from wskit.asyncio.long_payloads import own_socket_fd
from wskit.exceptions import ConnectionClosedError
from wskit.frames import BINARY, CloseCode, Frame

SIDES = ["server", "client"]


@pytest.fixture(autouse=True)
def asyncios_own_transports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections get asyncio's own transports here, as where wskit doesn't
    make them itself (a client connecting to a host name): wskit's reads
    again and gathers by itself (tests/asyncio/test_socket_transport_c.py)."""
    monkeypatch.setattr(transport, "SocketTransport", None)


def wire(ws: Connection, *frames: Frame) -> bytes:
    """``frames`` as the peer of ``ws`` sends them (masked to a server)."""
    mask = ws.protocol.side.name == "SERVER"
    return b"".join(frame.serialize(mask=mask) for frame in frames)


def unread(ws: Connection) -> int:
    """Bytes waiting in the socket of ``ws``."""
    fd = ws.transport.get_extra_info("socket").fileno()
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), "little")


async def arrived(ws: Connection, peer: Any, data: bytes) -> None:
    """Have ``data`` wait, whole, in the socket of ``ws``, which reads once it's there."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2**20)
    ws.transport.pause_reading()
    peer.writer.write(data)
    await peer.writer.drain()
    await eventually(lambda: unread(ws) == len(data))


def count_reads(ws: Connection) -> list[int]:
    """Record the size of each read that the transport hands to ``ws``."""
    reads: list[int] = []
    buffer_updated = ws.buffer_updated

    def spy(nbytes: int) -> None:
        reads.append(nbytes)
        buffer_updated(nbytes)

    ws.buffer_updated = spy  # type: ignore[method-assign]
    return reads


def reads_again(ws: Connection) -> None:
    if own_socket_fd(ws.transport) is None:
        pytest.skip("the transport reads again by itself")


@watches_transport_calls
@pytest.mark.parametrize("side", SIDES)
async def test_the_rest_of_a_long_payload_is_read_with_its_start(side: str) -> None:
    async with raw_pair(side, max_size=None) as (ws, peer):
        reads_again(ws)
        payload = os.urandom(2**17)
        data = wire(ws, Frame(BINARY, b"before"), Frame(BINARY, payload))
        await arrived(ws, peer, data)
        reads = count_reads(ws)
        ws.transport.resume_reading()
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == b"before"
            assert await ws.recv() == payload
        # One read by the transport, one by the connection: one pass of the loop.
        assert reads == [READ_BUFFER_SIZE]
        assert ws.protocol.bytes_received >= len(data)


@watches_transport_calls
async def test_a_read_that_does_not_fill_the_buffer_is_not_followed_by_another() -> None:
    async with raw_pair("server", max_size=None) as (ws, peer):
        reads_again(ws)
        data = wire(ws, Frame(BINARY, bytes(2**17)))
        reads = count_reads(ws)
        peer.writer.write(data[: READ_BUFFER_SIZE - 1])
        await eventually(lambda: ws.protocol.incoming_payload is not None)
        assert reads[-1] < READ_BUFFER_SIZE
        peer.writer.write(data[READ_BUFFER_SIZE - 1 :])
        async with asyncio.timeout(WAIT):
            assert len(await ws.recv()) == 2**17


async def test_the_end_of_the_stream_after_a_full_buffer_is_left_to_the_transport() -> None:
    async with raw_pair("server", max_size=None) as (ws, peer):
        reads_again(ws)
        start = wire(ws, Frame(BINARY, bytes(2**17)))[:READ_BUFFER_SIZE]
        await arrived(ws, peer, start)
        peer.writer.write_eof()
        ws.transport.resume_reading()
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_a_failed_read_of_the_rest_fails_as_the_transports_read_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What came before the failed read is handled first; then the transport
    # closes the connection with the error, as when its own read fails.
    async with raw_pair("server", max_size=None) as (ws, peer):
        reads_again(ws)
        reset = ConnectionResetError("reset while reading the rest")

        def readv(fd: int, buffers: Any) -> int:
            raise reset

        await arrived(ws, peer, wire(ws, Frame(BINARY, b"before"), Frame(BINARY, bytes(2**17))))
        monkeypatch.setattr(os, "readv", readv)
        ws.transport.resume_reading()
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == b"before"
            with pytest.raises(ConnectionClosedError) as raised:
                await ws.recv()
        assert raised.value.__cause__ is reset
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE


def record_writes(ws: Connection, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Record the writes of ``ws``: on its socket (``writev``) or through its transport."""
    calls: list[tuple[str, Any]] = []
    writev, write = os.writev, ws.transport.write

    def recording_writev(fd: int, buffers: Any) -> int:
        calls.append(("writev", buffers))
        return writev(fd, buffers)

    def recording_write(data: Any) -> None:
        calls.append(("write", data))
        write(data)

    monkeypatch.setattr(os, "writev", recording_writev)
    ws.transport.write = recording_write  # type: ignore[method-assign]
    return calls


def writes_apart(ws: Connection) -> None:
    if own_socket_fd(ws.transport) is None or ws.gathers_writes:
        pytest.skip("the transport gathers buffers, or isn't asyncio's own")


OPTIONS = {"max_size": None, "compression": None}


@watches_transport_calls
async def test_a_long_payload_and_its_header_go_out_in_one_system_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ws_pair("server", OPTIONS, OPTIONS) as (ws, peer):
        writes_apart(ws)
        calls = record_writes(ws, monkeypatch)
        message = os.urandom(2**17)
        await ws.send(message)
        # Uncopied; whatever the socket didn't take, through the transport.
        [(name, (header, payload)), *rest] = calls
        assert name == "writev"
        assert header == Frame(BINARY, message).serialize_header()
        assert payload is message
        assert all(name == "write" and data.obj is message for name, data in rest)
        async with asyncio.timeout(WAIT):
            assert await peer.recv() == message


@watches_transport_calls
async def test_a_long_payload_waits_behind_what_the_transport_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Written on the socket, it would overtake the bytes buffered before it.
    async with ws_pair("server", OPTIONS, OPTIONS) as (ws, peer):
        writes_apart(ws)
        ws.transport.pause_reading()
        peer.transport.pause_reading()
        # Until the kernel's buffers are full and the transport holds the
        # rest: how much they take depends on the kernel's tuning.
        messages: list[bytes] = []
        while not ws.transport.get_write_buffer_size():
            assert len(messages) < 256, "the kernel took 64 MiB"
            messages.append(os.urandom(2**18))
            ws.transport.write(Frame(BINARY, messages[-1]).serialize(mask=False))
        messages.append(os.urandom(2**18))
        calls = record_writes(ws, monkeypatch)
        send = asyncio.create_task(ws.send(messages[-1]))
        await asyncio.sleep(0)
        assert [name for name, _ in calls] == ["write", "write"]
        peer.transport.resume_reading()
        async with asyncio.timeout(WAIT):
            await send
            for message in messages:
                assert await peer.recv() == message


@watches_transport_calls
async def test_a_failed_gathered_write_is_left_to_the_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ws_pair("server", OPTIONS, OPTIONS) as (ws, peer):
        writes_apart(ws)

        def writev(fd: int, buffers: Any) -> int:
            raise BlockingIOError

        monkeypatch.setattr(os, "writev", writev)
        message = os.urandom(2**17)
        await ws.send(message)
        async with asyncio.timeout(WAIT):
            assert await peer.recv() == message


class Transport(asyncio.BaseTransport):
    def __init__(self, **extra: object) -> None:
        super().__init__(extra)


def test_only_asyncios_socket_transports_are_read_again() -> None:
    with socket.socket() as tcp:
        # libuv (uvloop) and aiofastnet read again by themselves.
        assert own_socket_fd(Transport(socket=tcp)) is None
        selector = type("Selector", (Transport,), {"__module__": "asyncio.selector_events"})
        assert own_socket_fd(selector(socket=tcp)) == tcp.fileno()
        assert own_socket_fd(selector()) is None
