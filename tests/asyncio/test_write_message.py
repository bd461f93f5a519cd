"""Tests for wskit.speedups.write_message: ``send()`` of a whole message in one call.

Every case runs against the pure-Python twin and, when it was built, the C
one, on a connection over a transport that records what it is asked: the
same result, the same bytes written or joined to a burst, the same burst
state and statistics, the same callbacks scheduled, or, when it declines,
nothing done at all.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from tests.c_extension import C_SPEEDUPS as _speedups
from tests.c_extension import needs_c
from tests.core.test_message_path_deflate import negotiated
from tests.core.test_protocol import unmasked
from wskit import _purepython_asyncio, speedups
from wskit.asyncio.connection import BURST_WRITE_SIZE, Connection
from wskit.protocol import CLOSING, Protocol, Side
from wskit.receiving import _LONG_PAYLOAD
from wskit.speedups import parse_header

SERVER, CLIENT = Side.SERVER, Side.CLIENT

IMPLEMENTATIONS = [
    pytest.param(_purepython_asyncio, id="python"),
    pytest.param(_speedups, id="c", marks=needs_c),
]


class Transport(asyncio.Transport):
    """A transport that records writes, with a buffer size that tests set."""

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self.connection = connection
        self.writes: list[bytes] = []
        self.buffered = 0
        self.pause_on_write = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        if self.pause_on_write:
            self.connection.pause_writing()


class Loop:
    """Records call_soon(); the rest is the running loop's."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.scheduled: list[Any] = []

    def call_soon(self, callback: Any, *args: Any) -> None:
        self.scheduled.append(callback)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)


def connection(protocol: Protocol) -> tuple[Connection, Transport, Loop]:
    """An open connection over a recording transport and loop."""
    ws = Connection(protocol)
    transport = Transport(ws)
    ws.connection_made(transport)
    loop = ws.loop = Loop(ws.loop)  # type: ignore[assignment]
    return ws, transport, loop


def split(chunk: bytes) -> list[tuple[bytes, bool, bytes]]:
    """The frames of a chunk written, each unmasked (see unmasked)."""
    frames, offset = [], 0
    while offset < len(chunk):
        header = parse_header(chunk, offset)
        assert header is not None
        _, length, start, _ = header
        frames.append(unmasked(chunk[offset : start + length]))
        offset = start + length
    return frames


def outcome(ws: Connection, transport: Transport, loop: Loop) -> tuple[Any, ...]:
    """What a send leaves behind, with masked frames unmasked (the keys are random)."""

    def frames(chunks: list[bytes] | None) -> Any:
        if chunks is None or ws.protocol.side is SERVER:
            return chunks
        return [split(chunk) for chunk in chunks]

    return (
        frames(transport.writes),
        frames(ws.burst),
        ws.burst_size,
        ws.sent_since_read,
        ws.writing_paused,
        [callback == ws._write_burst for callback in loop.scheduled],
        ws.protocol.bytes_sent,
        ws.protocol.frames_sent,
        list(ws.protocol._writes),  # what the core queued, left in place
    )


# Each case prepares a connection, then sends (message, text, compress).
Case = tuple[Callable[[Connection, Transport], None], Any, bool | None, bool | None]


def nothing(ws: Connection, transport: Transport) -> None:
    pass


def after_a_send(ws: Connection, transport: Transport) -> None:
    ws.sent_since_read = True


def after_a_send_buffered(ws: Connection, transport: Transport) -> None:
    ws.sent_since_read = True
    transport.buffered = 10


def in_a_burst(ws: Connection, transport: Transport) -> None:
    ws.burst, ws.burst_size = [b"\x82\x01a"], 3


def in_a_nearly_full_burst(ws: Connection, transport: Transport) -> None:
    ws.burst, ws.burst_size = [b"\x82\x01a"], ws.burst_limit - 10


def with_a_float_limit(ws: Connection, transport: Transport) -> None:
    ws.burst_limit = float(ws.burst_limit)  # type: ignore[assignment]  # from write_limit
    ws.sent_since_read = True


def pausing(ws: Connection, transport: Transport) -> None:
    transport.pause_on_write = True


def paused(ws: Connection, transport: Transport) -> None:
    ws.writing_paused = True


def sending_fragments(ws: Connection, transport: Transport) -> None:
    ws._begin_fragmented_send()


def fragmented_in_the_core(ws: Connection, transport: Transport) -> None:
    ws.protocol.send_text(b"a", fin=False)
    transport.writes += ws.protocol.data_to_send()


def closing(ws: Connection, transport: Transport) -> None:
    ws.protocol.state = CLOSING


def debugging(ws: Connection, transport: Transport) -> None:
    ws.protocol.debug = True


def bytes_pending(ws: Connection, transport: Transport) -> None:
    ws.protocol.send_ping(b"")


SENT: list[Case] = [
    (nothing, "text", None, None),
    (nothing, "κόσμε", None, None),
    (nothing, b"binary", None, None),
    (nothing, bytearray(b"binary"), None, None),
    (nothing, memoryview(b"binary"), None, None),
    (nothing, memoryview(b"abcd").cast("H"), None, None),
    (nothing, b"text", True, None),
    (nothing, "binary", False, None),
    (nothing, b"", None, None),
    (nothing, "x" * 200, None, False),
    (after_a_send, "starts a burst", None, None),
    (after_a_send_buffered, "the buffer holds bytes", None, None),
    (in_a_burst, "joins the burst", None, None),
    (in_a_nearly_full_burst, "fills the burst", None, None),
    (in_a_burst, b"x" * 2**15, None, None),  # longer than a burst (write_limit)
    (nothing, b"x" * BURST_WRITE_SIZE, None, None),  # a long frame, no burst
    (after_a_send, b"x" * BURST_WRITE_SIZE, None, None),
    (after_a_send_buffered, b"x" * BURST_WRITE_SIZE, None, None),
    (nothing, b"x" * (_LONG_PAYLOAD - 1), None, None),
    (with_a_float_limit, "compared as Python compares", None, None),
    (pausing, "pauses writing", None, None),
    (paused, "writing was paused", None, None),
]

DECLINED: list[Case] = [
    (nothing, 42, None, None),
    (nothing, ["frag", "ments"], None, None),
    (nothing, {"a": "mapping"}, None, None),
    (nothing, "\udcff", None, None),
    (nothing, memoryview(b"abcdef")[::2], None, None),
    (sending_fragments, "waits", None, None),
    (fragmented_in_the_core, "waits", None, None),
    (closing, "closing", None, None),
    (debugging, "logged", None, None),
    (bytes_pending, "after a ping", None, None),
]


def run_case(impl: Any, side: Side, case: Case, protocol: Protocol | None = None) -> Any:
    prepare, message, text, compress = case
    ws, transport, loop = connection(Protocol(side) if protocol is None else protocol)
    prepare(ws, transport)
    before = outcome(ws, transport, loop)
    result = impl.write_message(ws, message, text, compress)
    return before, result, outcome(ws, transport, loop)


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("case", SENT)
async def test_twins_send_alike(side: Side, case: Case) -> None:
    python = run_case(_purepython_asyncio, side, case)
    before, result, after = python
    assert result is (not after[4])  # False when writing is paused
    assert after != before
    if _speedups is not None:  # pragma: no branch - the extension is built in CI and here
        assert run_case(_speedups, side, case) == python


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("case", DECLINED)
async def test_declined_messages_are_left_alone(impl: Any, side: Side, case: Case) -> None:
    before, result, after = run_case(impl, side, case)
    assert result is None
    assert after == before


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("prepare", [nothing, in_a_burst, after_a_send_buffered])
async def test_a_servers_long_payload_goes_after_its_header(impl: Any, prepare: Any) -> None:
    # Through _write_long_payload(), as send()'s general path writes it.
    message = b"x" * _LONG_PAYLOAD
    before, result, after = run_case(impl, SERVER, (prepare, message, None, None))
    ws, transport, loop = connection(Protocol(SERVER))
    prepare(ws, transport)
    await ws.send(message)
    # Not the general path: nothing in the core's queue.
    assert after == outcome(ws, transport, loop)
    header = b"\x82\x7f" + _LONG_PAYLOAD.to_bytes(8, "big")
    assert b"".join(after[0]).endswith(header + message)  # after a burst, if any
    assert result is True
    # send() then waits for the buffer to drain.
    _, result, after = run_case(impl, SERVER, (pausing, message, None, None))
    assert (result, after[4]) == (False, True)
    # Another type is copied into one frame by the general path.
    before, result, after = run_case(impl, SERVER, (nothing, bytearray(message), None, None))
    assert result is None
    assert after == before
    # A client's goes as one frame, after any burst.
    before, result, after = run_case(impl, CLIENT, (in_a_burst, b"x" * _LONG_PAYLOAD, None, None))
    assert result is True
    [burst, [frame]] = after[0]
    assert burst == [(b"\x82\x01", False, b"a")]  # the burst, written first
    assert frame[2] == b"x" * _LONG_PAYLOAD


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("compress", [None, False])
async def test_twins_compress_alike(side: Side, compress: bool | None) -> None:
    case: Case = (nothing, "compressible " * 20, None, compress)
    python = run_case(_purepython_asyncio, side, case, negotiated(side))
    [written] = python[2][0]
    [(header, _, payload)] = written if side is CLIENT else [unmasked(written)]
    assert bool(header[0] & 0x40) is (compress is None)  # RSV1: compressed
    assert (len(payload) < 260) is (compress is None)
    if _speedups is not None:  # pragma: no branch - the extension is built in CI and here
        assert run_case(_speedups, side, case, negotiated(side)) == python


@needs_c
async def test_c_twin_reads_the_slots_of_any_layout() -> None:
    # A subclass that keeps an attribute in its instance dict: read by name.
    class Shadowed(Connection):
        burst_limit = 0  # shadows the slot: every frame is "long"

    ws = Shadowed(Protocol(SERVER))
    transport = Transport(ws)
    ws.connection_made(transport)
    assert vars(ws)["burst_limit"] == min(BURST_WRITE_SIZE, ws.write_limit[0])
    assert _speedups is not None
    assert _speedups.write_message(ws, "hello", None, None) is True
    assert transport.writes == [bytes([0x81, 5]) + b"hello"]
    assert ws.sent_since_read is True


@needs_c
async def test_a_clients_long_frame_is_written_as_a_view_in_the_one_call() -> None:
    # With no burst before it, the C twin writes it without _write_frame(),
    # as a view (asyncio's transport copies from a view what waits).
    ws, transport, _ = connection(Protocol(CLIENT))
    views: list[bool] = []
    write = transport.write

    def recording(data: Any) -> None:
        views.append(isinstance(data, memoryview))
        write(data)

    transport.write = recording  # type: ignore[method-assign]
    ws._write_frame = None  # type: ignore[assignment,method-assign]  # not to be called
    message = b"x" * BURST_WRITE_SIZE
    assert _speedups is not None
    assert _speedups.write_message(ws, message, None, None) is True
    assert views == [True]
    assert ws.sent_since_read is True
    header = b"\x82\xff" + BURST_WRITE_SIZE.to_bytes(8)
    assert split(transport.writes[0]) == [(header, True, message)]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_write_errors_propagate_after_the_frame_is_counted(impl: Any) -> None:
    ws, transport, _ = connection(Protocol(SERVER))

    def broken(data: Any) -> None:
        raise RuntimeError("broken transport")

    transport.write = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="broken transport"):
        impl.write_message(ws, "hello", None, None)
    assert ws.protocol.frames_sent == 1


async def test_send_state_is_in_slots() -> None:
    # What the C write_message() reads in place, rather than by name.
    ws, _, _ = connection(Protocol(SERVER))
    for owner, names in [
        (ws, ["protocol", "transport", "loop", "fragmented_send_waiter", "writing_paused"]),
        (ws, ["burst", "burst_limit", "burst_size", "sent_since_read"]),
        (ws.protocol, ["state", "side", "debug", "extensions", "_writes"]),
        (ws.protocol, ["expect_continuation_frame", "eof_sent"]),
    ]:
        for name in names:
            assert any(name in vars(cls).get("__slots__", ()) for cls in type(owner).__mro__), name
        assert not set(names) & set(vars(owner))
    # The counters, in the core's Counters base (C integers with the C twin).
    assert isinstance(ws.protocol, speedups.Counters)


async def test_send_stays_a_coroutine_function() -> None:
    # Drop-in, as websockets' send(): create_task() takes it, and a
    # forgotten await warns, before anything is sent.
    ws, transport, _ = connection(Protocol(SERVER))
    assert inspect.iscoroutinefunction(ws.send)
    sending = ws.send("hello")
    assert inspect.iscoroutine(sending)
    assert transport.writes == []
    await asyncio.create_task(sending)
    assert transport.writes == [bytes([0x81, 5]) + b"hello"]
