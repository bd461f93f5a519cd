"""ReadPath, what asyncio calls on every read, in C and in Python: held equal.

Each scenario feeds reads to a connection through ``get_buffer()`` and
``buffer_updated()``, as a transport does, once with each twin, and compares
everything observable: the frames queued, the core's counters and state,
what was written back, reading paused, and which reads skipped the core's
``receive_data()`` (the fast path only takes what the general rules accept).
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from wskit import _purepython_asyncio, speedups
from wskit.asyncio.connection import READ_BUFFER_SIZE, Connection
from wskit.extensions.permessage_deflate import PerMessageDeflate
from wskit.frames import BINARY, CONT, PING, PONG, TEXT, Frame
from wskit.protocol import Protocol
from wskit.server import ServerProtocol
from wskit.states import CLOSING, HOLD, OPEN

try:
    from wskit import _speedups
except ImportError:  # pragma: no cover - the extension is built in CI and here
    _speedups = None  # type: ignore[assignment]

TWINS: dict[str, type] = {"python": _purepython_asyncio.ReadPath}
if _speedups is not None:  # pragma: no branch
    TWINS["c"] = _speedups.ReadPath


class Transport(asyncio.Transport):
    """Records what the connection writes and whether it reads."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.reading = True

    def write(self, data: Any) -> None:
        self.written += data

    def writelines(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.written += b"<EOF>"

    def close(self) -> None:
        self.written += b"<closed>"


def frame(opcode: Any, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=True)


MESSAGES = frame(TEXT, b"hello") + frame(BINARY, b"\x00" * 100)
LONG = frame(BINARY, bytes(range(256)) * 400)  # 100 KiB: received in place
LONG_TEXT = frame(TEXT, b"text" * 25600)
LONG_FRAGMENT = frame(BINARY, bytes(range(256)) * 400, fin=False)
# Misses the bytes for which a read low-water mark is set (WHOLE_PAYLOAD_MISSING).
LONGER = frame(BINARY, bytes(600_000))

# Each scenario: the reads, connection options, and what to do before reading.
SCENARIOS: dict[str, tuple[list[bytes], dict[str, Any], Callable[[Connection], Any] | None]] = {
    "whole messages": ([MESSAGES, frame(TEXT, b"again")], {}, None),
    "empty message": ([frame(BINARY, b"")], {}, None),
    "partial header": ([MESSAGES[:1], MESSAGES[1:]], {}, None),
    "partial payload": ([MESSAGES[:9], MESSAGES[9:]], {}, None),
    "whole then partial": ([MESSAGES + MESSAGES[:3], MESSAGES[3:]], {}, None),
    "ping among messages": ([frame(TEXT, b"a") + frame(PING, b"p") + frame(TEXT, b"b")], {}, None),
    "fragments": ([frame(TEXT, b"fra", fin=False) + frame(CONT, b"gment")], {}, None),
    "queue full": ([MESSAGES * 4], {"max_queue": 3}, None),
    "writing paused": ([MESSAGES], {}, Connection.pause_writing),
    "too big": ([MESSAGES, frame(BINARY, b"x" * 200)], {"max_size": 150}, None),
    # Every frame, even an empty one, is over a negative limit.
    "negative max_size": ([frame(BINARY, b"") + MESSAGES], {"max_size": -1}, None),
    "negative max_fragment_size": ([MESSAGES], {"max_size": (100, -5)}, None),
    "invalid UTF-8": ([frame(TEXT, b"\xff") + MESSAGES], {}, None),
    "long payload": ([LONG[:20000], LONG[20000:60000], LONG[60000:] + MESSAGES], {}, None),
    "long payload, its end alone": ([LONG[:20000], LONG[20000:]], {}, None),
    "messages, then a long payload": ([MESSAGES + LONG[:20000], LONG[20000:]], {}, None),
    # Twice: the socket under the transport is sought at the first one.
    "long payload, the read buffer full": (
        [LONG[:READ_BUFFER_SIZE], LONG[READ_BUFFER_SIZE:]] * 2,
        {},
        None,
    ),
    "long payload, missing the mark's bytes": ([LONGER[:20000], LONGER[20000:]], {}, None),
    # Reading the end of a long payload sets the read low-water mark back.
    "long payload, low-water mark raised": (
        [LONG[:20000], LONG[20000:]],
        {},
        lambda connection: setattr(connection, "read_low_water", 2**19),
    ),
    "long text payload": ([LONG_TEXT[:20000], LONG_TEXT[20000:]], {}, None),
    "long fragment": ([LONG_FRAGMENT[:20000], LONG_FRAGMENT[20000:] + frame(CONT, b"!")], {}, None),
    "long payload, writing paused": ([LONG[:20000], LONG[20000:]], {}, Connection.pause_writing),
    "not open": ([MESSAGES], {}, lambda connection: setattr(connection.protocol, "state", CLOSING)),
}


def deflate() -> PerMessageDeflate:
    return PerMessageDeflate(False, False, 15, 15)


def compressed(*frames: Frame) -> bytes:
    encoder = deflate()
    return b"".join(encoder.encode(frame).serialize(mask=True) for frame in frames)


class Deflate(PerMessageDeflate):
    """A subclass: it may decode otherwise, so the one-call paths leave it alone."""


class OwnReceiveMessages(ServerProtocol):
    """A core with its own receive_messages(), which ReadPath calls."""

    def receive_messages(self, data: Any, queue: Any) -> int:
        return 0


def prepare_core(**attributes: Any) -> Callable[[Connection], None]:
    def prepare(connection: Connection) -> None:
        for name, value in attributes.items():
            setattr(connection.protocol, name, value() if callable(value) else value)

    return prepare


def own_receive_messages(connection: Connection) -> None:
    connection.protocol.__class__ = OwnReceiveMessages


class OwnPayloadEnd(ServerProtocol):
    """A core with its own receive_payload_end(), which ReadPath calls."""

    ends: ClassVar[list[int]] = []

    def receive_payload_end(self, nbytes: int, queue: Any) -> bool:
        self.ends.append(nbytes)
        return super().receive_payload_end(nbytes, queue)


def own_payload_end(connection: Connection) -> None:
    connection.protocol.__class__ = OwnPayloadEnd


# Whole messages, compressed and not; one that compresses badly.
COMPRESSED = compressed(Frame(TEXT, b"hello" * 50), Frame(BINARY, b"\x01" * 500)) + MESSAGES
INCOMPRESSIBLE = compressed(Frame(BINARY, random.Random(0).randbytes(1200)))

# The reads that the core's receive_messages() takes, with permessage-deflate.
SCENARIOS["deflate"] = ([COMPRESSED], {}, prepare_core(extensions=lambda: [deflate()]))
# The bound on a compressed frame: from max_fragment_size, else from
# max_message_size, negative limits included, or none.
for max_size in [(4000, 1000), (1000, None), (None, 4000), (None, None), (-100, None)]:
    SCENARIOS[f"deflate, compressed frame, max_size={max_size}"] = (
        [INCOMPRESSIBLE + MESSAGES],
        {"max_size": max_size},
        prepare_core(extensions=lambda: [deflate()]),
    )

# Each condition of the core's receive_messages() that declines a read,
# when ReadPath itself doesn't (protocol.incoming_payload, checked first):
# every read goes whole to the general path.
DECLINED: dict[str, tuple[list[bytes], dict[str, Any], Callable[[Connection], Any] | None]] = {
    "reading held": ([MESSAGES], {}, prepare_core(_reading=HOLD)),
    "message in progress": ([frame(TEXT, b"fra", fin=False), MESSAGES], {}, None),
    "partial frame buffered": ([MESSAGES], {}, prepare_core(_buffer=lambda: bytearray(b"\x81"))),
    "text checked": ([MESSAGES], {}, prepare_core(_text_checked=1)),
    "debug": ([MESSAGES], {}, prepare_core(debug=True)),
    "event pending": ([MESSAGES], {}, prepare_core(_events=lambda: [Frame(TEXT, b"first")])),
    "write pending": ([MESSAGES], {}, prepare_core(_writes=lambda: [b"pending"])),
    "extension subclass": (
        [MESSAGES],
        {},
        prepare_core(extensions=lambda: [Deflate(False, False, 15, 15)]),
    ),
    "two extensions": ([MESSAGES], {}, prepare_core(extensions=lambda: [deflate(), deflate()])),
    "own receive_messages": ([MESSAGES], {}, own_receive_messages),
}
SCENARIOS.update(DECLINED)
# The core's rule for the end of a long payload, in C: what declines it.
SCENARIOS["long payload, debug"] = ([LONG[:20000], LONG[20000:]], {}, prepare_core(debug=True))
SCENARIOS["long payload, an extension"] = (
    [LONG[:20000], LONG[20000:]],
    {},
    prepare_core(extensions=lambda: [deflate()]),
)
SCENARIOS["long payload, own receive_payload_end"] = (
    [LONG[:20000], LONG[20000:]],
    {},
    own_payload_end,
)


def record_general_path(protocol: Any) -> list[int]:
    """Record the size of each read ``protocol.receive_data()`` gets: the general path's."""
    general: list[int] = []
    receive_data = protocol.receive_data

    def recording(data: Any) -> None:
        general.append(len(data))
        receive_data(data)

    protocol.receive_data = recording
    return general


def run(twin: type, reads: list[bytes], options: dict[str, Any], prepare: Any) -> Any:
    """Feed ``reads`` to a connection with ``twin`` as its ReadPath; return what is observable."""
    # Connection's own, or the other twin ahead of it.
    cls = Connection if twin in Connection.__mro__ else type("Tested", (twin, Connection), {})

    async def main() -> Any:
        max_size = options.pop("max_size", 2**20)
        protocol = ServerProtocol(state=OPEN, max_size=max_size)
        connection = cls(protocol, **options)
        transport = Transport()
        connection.connection_made(transport)
        if prepare is not None:
            prepare(connection)
        general = record_general_path(protocol)
        woken: list[int] = []

        class Waiter:  # the reader's, recording when it is woken
            def wake(self) -> None:
                woken.append(len(general))

        for read in reads:
            connection.recv_messages.waiter = Waiter()
            rest = read
            while rest:
                buffer = connection.get_buffer(-1)
                size = min(len(buffer), len(rest))
                buffer[:size] = rest[:size]
                connection.buffer_updated(size)
                rest = rest[size:]
        connection.transport = Transport()  # what closing writes, apart
        queued = [(f.opcode, bytes(f.data), f.fin) for f in connection.recv_messages.queue.frames]
        return (
            queued,
            general,
            woken,
            protocol.state,
            protocol.bytes_received,
            protocol.frames_received,
            protocol.held_failure,
            bytes(transport.written),
            transport.reading,
            connection.sent_since_read,
        )

    return asyncio.run(main())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_twins_agree(scenario: str) -> None:
    reads, options, prepare = SCENARIOS[scenario]
    results = {name: run(twin, reads, dict(options), prepare) for name, twin in TWINS.items()}
    assert len(set(map(repr, results.values()))) == 1, results


@pytest.mark.parametrize("twin", TWINS.values(), ids=TWINS)
def test_a_core_class_given_its_own_receive_messages_later_is_seen(twin: type) -> None:
    # ReadPath remembers, per core class, whether it has the core's own
    # receive_messages(): a change of the class after reads is seen.
    class Core(ServerProtocol):
        pass

    cls = Connection if twin in Connection.__mro__ else type("Tested", (twin, Connection), {})

    async def main() -> list[int]:
        protocol = Core(state=OPEN)
        connection = cls(protocol)
        connection.connection_made(Transport())
        general = record_general_path(protocol)

        def read() -> None:
            buffer = connection.get_buffer(-1)
            buffer[: len(MESSAGES)] = MESSAGES
            connection.buffer_updated(len(MESSAGES))

        read()
        Core.receive_messages = OwnReceiveMessages.receive_messages  # type: ignore[method-assign,assignment]
        read()
        del Core.receive_messages
        read()
        return general

    assert asyncio.run(main()) == [len(MESSAGES)]


@pytest.mark.parametrize("scenario", DECLINED)
def test_the_core_declines(scenario: str) -> None:
    reads, options, prepare = DECLINED[scenario]
    for twin in TWINS.values():
        _, general, *_ = run(twin, reads, dict(options), prepare)
        assert general == [len(read) for read in reads]


def test_compressed_messages_skip_the_core() -> None:
    for twin in TWINS.values():
        queued, general, *_ = run(twin, *SCENARIOS["deflate"])
        assert [data for _, data, _ in queued] == [
            b"hello" * 50,
            b"\x01" * 500,
            b"hello",
            b"\x00" * 100,
        ]
        assert general == []


def test_whole_messages_skip_the_core() -> None:
    for twin in TWINS.values():
        queued, general, *_ = run(twin, [MESSAGES], {}, None)
        assert queued == [(TEXT, b"hello", True), (BINARY, b"\x00" * 100, True)]
        assert general == []


@pytest.mark.parametrize(
    ("scenario", "skipped"),
    [
        ("long payload, its end alone", True),
        ("long payload, low-water mark raised", True),
        ("long text payload", False),
        ("long fragment", False),
        ("long payload, writing paused", False),
    ],
)
def test_the_end_of_a_long_binary_message_skips_the_core(
    scenario: str, skipped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # receive_into() is the core's general path for a read into the payload.
    calls: list[int] = []
    receive_into = ServerProtocol.receive_into

    def recording(protocol: Protocol, nbytes: int) -> None:
        calls.append(nbytes)
        receive_into(protocol, nbytes)

    monkeypatch.setattr(ServerProtocol, "receive_into", recording)
    for twin in TWINS.values():
        calls.clear()
        queued, _, woken, *_ = run(twin, *SCENARIOS[scenario])
        assert (calls == []) is skipped
        assert len(queued) in (1, 2)
        assert woken or not skipped


def test_the_mark_is_set_back_before_the_reader_wakes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The woken reader may send at once: the answer must not find the
    # socket's read low-water mark still raised (a slower wake-up).
    waiting: list[bool] = []

    def wait_for_payload(connection: Connection) -> None:
        assembler: Any = connection.recv_messages
        waiting.append(assembler.waiter is not None)

    monkeypatch.setattr(Connection, "_wait_for_payload", wait_for_payload)
    for twin in TWINS.values():
        waiting.clear()
        queued, _, woken, *_ = run(twin, *SCENARIOS["long payload, low-water mark raised"])
        assert len(queued) == 1
        assert woken
        assert waiting
        assert all(waiting)


@pytest.mark.parametrize(
    ("scenario", "started"),
    [
        ("long payload, its end alone", []),
        ("messages, then a long payload", []),
        ("long payload, the read buffer full", [READ_BUFFER_SIZE]),  # the socket sought
        ("long payload, missing the mark's bytes", [20000]),
        ("long payload, low-water mark raised", [20000]),
    ],
)
@pytest.mark.skipif(_speedups is None, reason="the C extension isn't built")
def test_a_long_payload_starts_in_c_unless_something_is_due(
    scenario: str, started: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # _payload_started() runs only to read the rest now, or to set the read
    # low-water mark; the C twin does the rest (the reader woken if messages
    # came first), as test_twins_agree holds.
    calls: list[int] = []
    payload_started = Connection._payload_started

    def recording(connection: Connection, nbytes: int) -> None:
        calls.append(nbytes)
        payload_started(connection, nbytes)

    monkeypatch.setattr(Connection, "_payload_started", recording)
    queued, _, woken, *_ = run(TWINS["c"], *SCENARIOS[scenario])
    assert calls == started
    assert queued
    assert woken


@pytest.mark.skipif(_speedups is None, reason="the C extension isn't built")
def test_the_end_of_a_long_binary_message_runs_no_python() -> None:
    # The core's rule is checked in C, as receive_messages()'s is.
    called: set[str] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            called.add(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        queued, _, woken, *_ = run(TWINS["c"], *SCENARIOS["long payload, its end alone"])
    finally:
        sys.setprofile(None)
    assert len(queued) == 1
    assert woken
    assert not called & {"receive_payload_end", "_payload_started", "receive_into"}


@pytest.mark.parametrize("twin", TWINS.values(), ids=TWINS)
def test_a_core_with_its_own_receive_payload_end_gets_it_called(twin: type) -> None:
    OwnPayloadEnd.ends.clear()
    queued, *_ = run(twin, *SCENARIOS["long payload, own receive_payload_end"])
    assert len(queued) == 1
    assert OwnPayloadEnd.ends == [len(LONG) - 20000]


def test_what_the_fast_path_leaves_reaches_the_core() -> None:
    for twin in TWINS.values():
        # The ping and what follows it: 7 bytes of ping, 7 of "b".
        queued, general, woken, *_, written, _, _ = run(
            twin, *SCENARIOS["ping among messages"][:2], None
        )
        assert [data for _, data, _ in queued] == [b"a", b"b"]
        assert general == [14]
        assert woken == [1]  # once the core has seen the rest
        assert written == Frame(PONG, b"p").serialize(mask=False)


def test_read_state_is_in_slots() -> None:
    # What the C ReadPath and the core's rule in C (wskit_receive_messages)
    # read in place on every read, rather than by name.
    async def main() -> None:
        connection = Connection(ServerProtocol(state=OPEN))
        connection.connection_made(Transport())
        protocol, assembler = connection.protocol, connection.recv_messages
        for owner, names in [
            (connection, ["protocol", "read_buffer", "recv_messages", "sent_since_read"]),
            (connection, ["writing_paused", "read_low_water", "payload_socket_sought"]),
            (connection, ["socket_fd"]),
            (assembler, ["queue", "waiter"]),
            (assembler.queue, ["frames", "high", "paused"]),
            (protocol, ["state", "_reading", "incoming_payload", "_message_opcode", "_buffer"]),
            (protocol, ["_text_checked", "debug", "_events", "_writes", "extensions", "side"]),
            (protocol, ["max_message_size", "max_fragment_size"]),
        ]:
            for name in names:
                slots = (vars(cls).get("__slots__", ()) for cls in type(owner).__mro__)
                assert any(name in declared for declared in slots), name
            assert not set(names) & set(getattr(owner, "__dict__", {}))
        # The counters, in the core's Counters base (C integers with the C twin).
        assert isinstance(protocol, speedups.Counters)

    asyncio.run(main())
