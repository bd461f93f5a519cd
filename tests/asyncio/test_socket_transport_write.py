"""A socket transport on asyncio's selector loop: writing.

As in test_socket_transport.py, each test runs on asyncio's transport and on
wskit's, held to what asyncio's does on the Python running it. Buffering
tests write more than an AF_UNIX socket's send buffer (~200 KiB) with a peer
that doesn't read yet: what doesn't fit stays in the transport.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from typing import Any

import pytest

from .socket_transports import (
    WAIT,
    WRITELINES_PAUSES,
    Maker,
    Recorder,
    Sockets,
    caught_exceptions,
    fixed_or_asyncio,
    loop_passes,
    payload,
    read_exactly,
    read_to_eof,
    started,
)

MiB = 1 << 20


async def closed(transport: Any, protocol: Recorder) -> None:
    transport.close()
    await protocol.wait_lost()


# Data types.


async def test_write_takes_bytes_like_objects(make_transport: Maker, socket_pairs: Sockets) -> None:
    """bytes, bytearray and memoryview are sent, in order; an empty write
    sends nothing and buffers nothing."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.write(b"one ")
    transport.write(b"")
    transport.write(bytearray(b"two "))
    transport.write(memoryview(b"(three) ")[1:6])
    transport.write(memoryview(b""))
    assert transport.get_write_buffer_size() == 0
    await closed(transport, protocol)
    assert await read_to_eof(peer) == b"one two three"


@pytest.mark.parametrize("data", ["text", 42, None, [b"list"], bytes])
async def test_write_rejects_other_types(
    make_transport: Maker, socket_pairs: Sockets, data: Any
) -> None:
    """Anything else is a TypeError, with asyncio's message, and sends nothing."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    message = f"data argument must be a bytes-like object, not {type(data).__name__!r}"
    with pytest.raises(TypeError) as raised:
        transport.write(data)
    assert str(raised.value) == message
    transport.write(b"after")
    await closed(transport, protocol)
    assert await read_to_eof(peer) == b"after"


async def test_write_after_write_eof(make_transport: Maker, socket_pairs: Sockets) -> None:
    """After write_eof(), write() raises RuntimeError, even with no data; a
    bad type is still a TypeError first."""
    transport, protocol, _ = await started(make_transport, socket_pairs)
    transport.write_eof()
    for data in [b"data", b""]:
        with pytest.raises(RuntimeError, match=r"^Cannot call write\(\) after write_eof\(\)$"):
            transport.write(data)
    with pytest.raises(TypeError):
        transport.write("text")
    await closed(transport, protocol)


async def test_writes_after_connection_lost_are_counted(
    make_transport: Maker, socket_pairs: Sockets, caplog: pytest.LogCaptureFixture
) -> None:
    """Writes once the connection is lost are dropped; from the fifth on,
    each logs "socket.send() raised exception." on asyncio's logger. Empty
    writes don't count."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    transport, protocol, peer = await started(make_transport, socket_pairs)
    await closed(transport, protocol)

    def warnings() -> int:
        messages = [record.getMessage() for record in caplog.records]
        return messages.count("socket.send() raised exception.")

    for _ in range(4):
        transport.write(b"dropped")
        transport.write(b"")
    assert warnings() == 0
    transport.write(b"dropped")
    assert warnings() == 1
    transport.write(b"dropped")
    assert warnings() == 2
    assert all(record.name == "asyncio" for record in caplog.records)
    assert transport.get_write_buffer_size() == 0
    assert await read_to_eof(peer) == b""


async def test_writes_after_close_before_connection_lost(
    make_transport: Maker, socket_pairs: Sockets, caplog: pytest.LogCaptureFixture
) -> None:
    """close() with nothing buffered counts as the connection lost for writes
    at once, before connection_lost() runs."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.close()
    for _ in range(5):
        transport.write(b"dropped")
    assert [record.getMessage() for record in caplog.records] == ["socket.send() raised exception."]
    assert await protocol.wait_lost() is None
    assert await read_to_eof(peer) == b""


async def test_write_error_is_fatal(make_transport: Maker, socket_pairs: Sockets) -> None:
    """A write to a peer that's gone: connection_lost() with the error (an
    OSError, so nothing for the exception handler)."""
    caught = caught_exceptions()
    transport, protocol, peer = await started(make_transport, socket_pairs)
    peer.close()
    transport.write(b"data")
    assert transport.is_closing()
    assert isinstance(await protocol.wait_lost(), BrokenPipeError | ConnectionResetError)
    assert caught == []


# Buffering.


async def test_large_write_is_buffered_then_delivered(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """What the socket doesn't take at once is buffered, then sent as the
    peer reads, whole and in order."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    data = payload(4 * MiB)
    transport.write(data)
    buffered = transport.get_write_buffer_size()
    assert 0 < buffered < len(data)
    transport.write(b"end")
    assert transport.get_write_buffer_size() == buffered + 3
    assert await read_exactly(peer, len(data) + 3) == data + b"end"
    await protocol.wait(lambda: transport.get_write_buffer_size() == 0)
    await closed(transport, protocol)


async def test_write_after_close_with_data_buffered(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """close() with data still buffered leaves writing open until it's
    flushed: a write then is buffered and sent too."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    data = payload(2 * MiB)
    transport.write(data)
    transport.close()
    transport.write(b"after close")
    assert await read_to_eof(peer) == data + b"after close"
    assert await protocol.wait_lost() is None


async def test_flow_control_at_the_water_marks(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """pause_writing() once the buffer grows above the high-water mark (not
    at it), once; resume_writing() once it drains to the low one or below."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.set_write_buffer_limits(high=4 * MiB)
    transport.write(payload(1 * MiB))
    buffered = transport.get_write_buffer_size()
    assert buffered > 0
    high, low = buffered + 1000, buffered // 2
    transport.set_write_buffer_limits(high=high, low=low)
    assert transport.get_write_buffer_limits() == (low, high)
    transport.write(b"x" * 1000)
    assert transport.get_write_buffer_size() == high
    assert protocol.paused_at == []
    transport.write(b"y")
    assert protocol.paused_at == [high + 1]
    transport.write(b"z" * 100_000)
    assert protocol.paused_at == [high + 1]
    await read_exactly(peer, 1 * MiB + 101_001)
    await protocol.wait(lambda: transport.get_write_buffer_size() == 0)
    assert len(protocol.resumed_at) == 1
    assert protocol.resumed_at[0] <= low
    assert protocol.events == ["made", "pause_writing", "resume_writing"]
    await closed(transport, protocol)


async def test_default_water_marks(make_transport: Maker, socket_pairs: Sockets) -> None:
    """The defaults are 16 KiB and 64 KiB, answered (low, high)."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    assert transport.get_write_buffer_limits() == (16384, 65536)
    transport.write(payload(1 * MiB))
    assert len(protocol.paused_at) == 1
    assert protocol.paused_at[0] > 65536
    await read_exactly(peer, 1 * MiB)
    await protocol.wait(lambda: protocol.resumed_at != [])
    assert protocol.resumed_at[0] <= 16384
    await closed(transport, protocol)


@pytest.mark.parametrize(
    ("high", "low", "limits"),
    [
        (None, None, (16384, 65536)),
        (100, None, (25, 100)),
        (None, 100, (100, 400)),
        (100, 100, (100, 100)),
        (0, 0, (0, 0)),
    ],
)
async def test_set_write_buffer_limits(
    make_transport: Maker,
    socket_pairs: Sockets,
    high: int | None,
    low: int | None,
    limits: tuple[int, int],
) -> None:
    """A missing mark is made from the other: low = high // 4, high = 4 * low."""
    transport, protocol, _ = await started(make_transport, socket_pairs)
    transport.set_write_buffer_limits(high=high, low=low)
    assert transport.get_write_buffer_limits() == limits
    await closed(transport, protocol)


@pytest.mark.parametrize(
    ("high", "low", "message"),
    [
        (10, 20, "high (10) must be >= low (20) must be >= 0"),
        (None, -1, "high (-4) must be >= low (-1) must be >= 0"),
        (-4, None, "high (-4) must be >= low (-1) must be >= 0"),
    ],
)
async def test_set_write_buffer_limits_checks_them(
    make_transport: Maker, socket_pairs: Sockets, high: int | None, low: int | None, message: str
) -> None:
    """Marks out of order or below 0 are a ValueError, and change nothing."""
    transport, protocol, _ = await started(make_transport, socket_pairs)
    transport.set_write_buffer_limits(high=1000)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        transport.set_write_buffer_limits(high=high, low=low)
    assert transport.get_write_buffer_limits() == (250, 1000)
    await closed(transport, protocol)


async def test_changing_limits_pauses_but_never_resumes(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """Lowering the high-water mark under the buffer pauses the protocol at
    once; raising it again doesn't resume it: only draining does."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.set_write_buffer_limits(high=4 * MiB)
    transport.write(payload(1 * MiB))
    buffered = transport.get_write_buffer_size()
    assert protocol.paused_at == []
    transport.set_write_buffer_limits(high=buffered - 1)
    assert protocol.paused_at == [buffered]
    transport.set_write_buffer_limits(high=4 * MiB)
    assert protocol.resumed_at == []
    await read_exactly(peer, 1 * MiB)
    await protocol.wait(lambda: protocol.resumed_at != [])
    await closed(transport, protocol)


@pytest.mark.parametrize("method", ["pause_writing", "resume_writing"])
async def test_flow_control_error_is_reported(
    make_transport: Maker, socket_pairs: Sockets, method: str
) -> None:
    """An exception from pause_writing() or resume_writing() goes to the
    exception handler; the transport goes on."""
    caught = caught_exceptions()
    ours, peer = socket_pairs.unix()
    error = ValueError("flow control failed")

    class Failing(Recorder):
        pass

    def fail(self: Recorder) -> None:
        self._record(method)
        raise error

    setattr(Failing, method, fail)
    protocol = Failing()
    transport = make_transport(ours, protocol)
    await protocol.made
    data = payload(1 * MiB)
    transport.write(data)
    assert await read_exactly(peer, len(data)) == data
    await protocol.wait(lambda: transport.get_write_buffer_size() == 0)
    assert caught == [
        {
            "message": f"protocol.{method}() failed",
            "exception": error,
            "transport": transport,
            "protocol": protocol,
        }
    ]
    assert not transport.is_closing()
    await closed(transport, protocol)


# writelines().


async def test_writelines_in_order(make_transport: Maker, socket_pairs: Sockets) -> None:
    """writelines() sends its buffers in order, from any iterable, also
    behind buffered data; an empty list does nothing."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.writelines([b"one ", bytearray(b"two "), memoryview(b"three ")])
    transport.writelines([])
    transport.writelines(word for word in [b"(", b"any iterable", b") "])
    big = payload(2 * MiB)
    transport.write(big)
    assert transport.get_write_buffer_size() > 0
    transport.writelines([b"four ", b"", memoryview(b"five")])
    transport.write(b" six")
    expected = b"one two three (any iterable) " + big + b"four five six"
    assert await read_exactly(peer, len(expected)) == expected
    await closed(transport, protocol)


async def test_writelines_pauses(make_transport: Maker, socket_pairs: Sockets) -> None:
    """writelines() calls pause_writing() above the high-water mark
    (asyncio's own forgot to on 3.12 until gh-127655)."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.writelines([payload(1 * MiB), b"end"])
    assert transport.get_write_buffer_size() > 65536
    pauses = fixed_or_asyncio(make_transport, WRITELINES_PAUSES)
    assert len(protocol.paused_at) == (1 if pauses else 0)
    assert await read_exactly(peer, 1 * MiB + 3) == payload(1 * MiB) + b"end"
    await closed(transport, protocol)


@pytest.mark.parametrize("count", [1, 100])
async def test_writelines_rejects_other_types(
    make_transport: Maker, socket_pairs: Sockets, count: int
) -> None:
    """A buffer that isn't bytes-like is a TypeError, and nothing is sent,
    even of the buffers before it."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    with pytest.raises(TypeError):
        transport.writelines([b"sent? "] * count + ["text"])
    assert transport.get_write_buffer_size() == 0
    transport.write(b"after")
    await closed(transport, protocol)
    assert await read_to_eof(peer) == b"after"


async def test_writelines_after_write_eof(make_transport: Maker, socket_pairs: Sockets) -> None:
    """After write_eof(), writelines() raises RuntimeError (3.11's is
    write()'s)."""
    transport, protocol, _ = await started(make_transport, socket_pairs)
    transport.write_eof()
    name = "write" if sys.version_info < (3, 12) else "writelines"
    with pytest.raises(RuntimeError) as raised:
        transport.writelines([b"data"])
    assert str(raised.value) == f"Cannot call {name}() after write_eof()"
    await closed(transport, protocol)


# write_eof().


async def test_write_eof_with_nothing_buffered(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """write_eof() shuts down writing at once; reading goes on. Twice is
    the same as once."""
    loop = asyncio.get_running_loop()
    transport, protocol, peer = await started(make_transport, socket_pairs)
    assert transport.can_write_eof()
    transport.write(b"data")
    transport.write_eof()
    transport.write_eof()
    assert await read_to_eof(peer) == b"data"
    assert not transport.is_closing()
    await loop.sock_sendall(peer, b"reply")
    assert await protocol.receive(5) == b"reply"
    await closed(transport, protocol)


async def test_write_eof_with_data_buffered(make_transport: Maker, socket_pairs: Sockets) -> None:
    """write_eof() with data buffered shuts down writing once it's sent: the
    peer sees all of it, then EOF."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    data = payload(2 * MiB)
    transport.write(data)
    transport.write_eof()
    assert transport.get_write_buffer_size() > 0
    assert await read_to_eof(peer) == data
    assert not transport.is_closing()
    peer.send(b"reply")
    assert await protocol.receive(5) == b"reply"
    await closed(transport, protocol)


async def test_write_eof_when_closing_does_nothing(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """write_eof() once closing is ignored: later writes aren't refused."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    data = payload(2 * MiB)
    transport.write(data)
    transport.close()
    transport.write_eof()
    transport.write(b"end")
    assert await read_to_eof(peer) == data + b"end"
    await protocol.wait_lost()


async def test_peer_reads_while_paused(make_transport: Maker, socket_pairs: Sockets) -> None:
    """Writing doesn't depend on reading: a transport paused for reading
    still flushes its buffer."""
    transport, protocol, peer = await started(make_transport, socket_pairs)
    transport.pause_reading()
    data = payload(2 * MiB)
    transport.write(data)
    async with asyncio.timeout(WAIT):
        assert await read_exactly(peer, len(data)) == data
    await loop_passes(1)
    assert transport.get_write_buffer_size() == 0
    await closed(transport, protocol)


async def test_loop_sendfile(make_transport: Maker, socket_pairs: Sockets, tmp_path: Any) -> None:
    """loop.sendfile() sends a file over the transport, behind what was
    written, then gives the transport back to its protocol."""
    loop = asyncio.get_running_loop()
    transport, protocol, peer = await started(make_transport, socket_pairs)
    data = payload(3 * MiB)
    path = tmp_path / "file"
    path.write_bytes(data)
    transport.write(b"head ")
    with path.open("rb") as file:
        async with asyncio.timeout(WAIT):
            sending = asyncio.ensure_future(loop.sendfile(transport, file))
            assert await read_exactly(peer, 5 + len(data)) == b"head " + data
            assert await sending == len(data)
    assert transport.get_protocol() is protocol
    assert transport.is_reading()
    peer.send(b"reply")
    assert await protocol.receive(5) == b"reply"
    await closed(transport, protocol)


async def test_protocol_writes_from_resume_writing(
    make_transport: Maker, socket_pairs: Sockets
) -> None:
    """A producer that writes until paused, and again from resume_writing():
    everything arrives, in order."""
    ours, peer = socket_pairs.unix()
    chunks = [payload(100_000)[i:] + bytes([i]) for i in range(40)]

    class Producer(Recorder):
        def produce(self) -> None:
            while chunks and not self.paused_at[len(self.resumed_at) :]:
                self.transport.write(chunks.pop(0))

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self.produce()

        def resume_writing(self) -> None:
            super().resume_writing()
            self.produce()

    expected = b"".join(chunks)
    protocol = Producer()
    transport = make_transport(ours, protocol)
    assert await read_exactly(peer, len(expected)) == expected
    assert chunks == []
    assert protocol.resumed_at != []
    await closed(transport, protocol)
