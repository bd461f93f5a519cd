"""The per-message path of an open connection in one call, C and Python.

``Protocol.receive_messages()`` and ``Protocol.send_message()`` do what the
core's general rules do for whole plain messages, through
``receive_messages()`` and ``send_message()`` of wskit.speedups, and decline
the rest. The tests hold both implementations to those rules: same frames,
same bytes, same statistics, same state afterwards, and nothing taken or
changed when they decline.
"""

from __future__ import annotations

import itertools
import logging
import sys
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wskit.protocol
import wskit.receiving
from tests.c_extension import C_SPEEDUPS as _speedups
from tests.c_extension import needs_c
from tests.core.test_protocol import frame_specs, to_client, to_server, unmasked
from wskit import _purepython_messages
from wskit.exceptions import PayloadTooBig
from wskit.extensions.base import Extension
from wskit.frames import BINARY, PING, PONG, TEXT, CloseCode, Frame
from wskit.protocol import HeldFailure, Protocol, Side
from wskit.receiving import _LONG_PAYLOAD
from wskit.shared.messages import FrameQueue, encode

SERVER, CLIENT = Side.SERVER, Side.CLIENT

IMPLEMENTATIONS = [
    pytest.param(_purepython_messages, id="python"),
    pytest.param(_speedups, id="c", marks=needs_c),
]


def use(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> None:
    """Have the core call ``module``'s twins."""
    monkeypatch.setattr(wskit.receiving, "receive_messages", module.receive_messages)
    monkeypatch.setattr(wskit.protocol, "send_message", module.send_message)


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The implementation under test, which the core calls:
    ``wskit._purepython_messages`` or ``wskit._speedups``."""
    module: ModuleType = request.param
    use(monkeypatch, module)
    return module


class Queue(FrameQueue):
    """A FrameQueue that records its pauses."""

    def __init__(self, high: int | None = None, low: int = 0) -> None:
        self.pauses = 0
        super().__init__(high, low, self.record_pause, lambda: None)

    def record_pause(self) -> None:
        self.pauses += 1


def counters(protocol: Protocol) -> tuple[int, ...]:
    return (
        protocol.bytes_received,
        protocol.frames_received,
        protocol.messages_received,
        protocol.bytes_sent,
        protocol.frames_sent,
        protocol.messages_sent,
    )


def frames_in(side: Side, *specs: tuple[Any, bytes]) -> bytes:
    """Whole messages as the peer of ``side`` sends them."""
    encode_frame = to_server if side is SERVER else to_client
    return b"".join(encode_frame(opcode, data) for opcode, data in specs)


# receive_messages


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_receive_messages_takes_whole_messages(impl: ModuleType, side: Side) -> None:
    data = frames_in(side, (TEXT, "κόσμε".encode()), (BINARY, b"\x00\xff"), (BINARY, b""))
    fast, general = Protocol(side), Protocol(side)
    queue = Queue()
    assert fast.receive_messages(memoryview(data), queue) == len(data)
    general.receive_data(data)
    assert list(queue.frames) == general.events_received()
    assert counters(fast) == counters(general) == (len(data), 3, 3, 0, 0, 0)
    assert fast.events_received() == []
    assert fast.data_to_send() == []


def test_receive_messages_stops_where_the_general_rules_start(impl: ModuleType) -> None:
    message = to_server(TEXT, b"ok")
    data = message + to_server(PING, b"?") + to_server(BINARY, b"later")
    protocol = Protocol(SERVER)
    queue = Queue()
    assert protocol.receive_messages(data, queue) == len(message)
    assert list(queue.frames) == [Frame(TEXT, b"ok")]
    assert counters(protocol)[:3] == (len(message), 1, 1)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        to_server(TEXT, b"ok")[:-1],  # incomplete
        to_server(PING, b"?"),
        to_server(TEXT, b"frag", fin=False),
        to_server(TEXT, b"\xff"),  # invalid UTF-8: the general rules fail it
        to_server(BINARY, b"x", rsv1=True),
        to_client(BINARY, b"unmasked"),
        to_server(BINARY, b"x" * 101),  # over max_size
    ],
)
def test_receive_messages_takes_nothing_else(impl: ModuleType, data: bytes) -> None:
    protocol = Protocol(SERVER, max_size=100)
    queue = Queue()
    assert protocol.receive_messages(data, queue) == 0
    assert not queue.frames
    assert counters(protocol) == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize("max_size", [-1, (-1, None), (None, -1), (100, -5), (-100, 100)])
def test_receive_messages_takes_nothing_within_a_negative_limit(
    impl: ModuleType, max_size: Any
) -> None:
    # The general rules, as websockets', compare a frame's length with each
    # limit: every frame, even an empty one, is over a negative limit.
    data = to_server(BINARY, b"") + to_server(TEXT, b"ok")
    fast, general = Protocol(SERVER, max_size=max_size), Protocol(SERVER, max_size=max_size)
    queue = Queue()
    assert fast.receive_messages(data, queue) == 0
    assert not queue.frames
    assert counters(fast) == (0, 0, 0, 0, 0, 0)
    general.receive_data(data)
    assert isinstance(general.parser_exc, PayloadTooBig)


def test_receive_messages_pauses_reading_past_a_negative_high_mark(impl: ModuleType) -> None:
    # As FrameQueue.put() compares the queue's length with it.
    queue = Queue(high=-1)
    assert Protocol(SERVER).receive_messages(to_server(BINARY, b"1"), queue)
    assert (queue.paused, queue.pauses) == (True, 1)


def not_open(protocol: Protocol) -> None:
    protocol.send_close(CloseCode.NORMAL_CLOSURE)


def discarding(protocol: Protocol) -> None:
    protocol.discard()


def long_payload(protocol: Protocol) -> None:
    frame = to_server(BINARY, b"x" * _LONG_PAYLOAD)
    protocol.receive_data(frame[: len(frame) // 2])
    assert protocol.incoming_payload is not None


def message_in_progress(protocol: Protocol) -> None:
    protocol.receive_data(to_server(BINARY, b"frag", fin=False))
    protocol.events_received()


def bytes_buffered(protocol: Protocol) -> None:
    protocol.receive_data(to_server(BINARY, b"abc")[:3])


def text_checked(protocol: Protocol) -> None:
    protocol.receive_data(to_server(TEXT, b"abcdef")[:8])
    assert protocol._text_checked


def extension(protocol: Protocol) -> None:
    protocol.extensions.append(Extension())


def debug(protocol: Protocol) -> None:
    protocol.debug = True


def event_pending(protocol: Protocol) -> None:
    protocol.receive_data(to_server(PONG, b"!"))  # nothing to answer
    assert protocol._events
    assert not protocol._writes


def write_pending(protocol: Protocol) -> None:
    protocol.send_binary(b"unsent")


@pytest.mark.parametrize(
    "prepare",
    [
        not_open,
        discarding,
        long_payload,
        message_in_progress,
        bytes_buffered,
        text_checked,
        extension,
        debug,
        event_pending,
        write_pending,
    ],
)
def test_receive_messages_declines_unless_ready(impl: ModuleType, prepare: Any) -> None:
    protocol = Protocol(SERVER)
    prepare(protocol)
    before = counters(protocol)
    queue = Queue()
    assert protocol.receive_messages(to_server(BINARY, b"message"), queue) == 0
    assert not queue.frames
    assert counters(protocol) == before


def test_receive_messages_pauses_reading_past_the_high_mark(impl: ModuleType) -> None:
    queue = Queue(high=2)
    protocol = Protocol(SERVER)
    assert protocol.receive_messages(to_server(BINARY, b"1"), queue)
    assert (queue.paused, queue.pauses) == (False, 0)
    data = to_server(BINARY, b"2") + to_server(BINARY, b"3") + to_server(BINARY, b"4")
    assert protocol.receive_messages(data, queue) == len(data)
    assert (queue.paused, queue.pauses) == (True, 1)
    assert protocol.receive_messages(to_server(BINARY, b"5"), queue)
    assert (len(queue), queue.paused, queue.pauses) == (5, True, 1)


def test_receive_messages_without_a_queue_limit(impl: ModuleType) -> None:
    queue = Queue(high=None)
    data = to_server(BINARY, b"1") * 100
    assert Protocol(SERVER).receive_messages(data, queue) == len(data)
    assert (len(queue), queue.paused, queue.pauses) == (100, False, 0)


def test_counters_up_to_a_machine_word(impl: ModuleType) -> None:
    # The core's counters are C integers with the C twin (Counters): both
    # twins count up to sys.maxsize, and refuse to count past it.
    protocol = Protocol(SERVER)
    edge = sys.maxsize - 100
    protocol.bytes_received = protocol.frames_received = edge
    protocol.bytes_sent = protocol.frames_sent = edge
    data = to_server(BINARY, b"x")
    assert protocol.receive_messages(data, Queue()) == len(data)
    frame = protocol.send_message(b"y", None)
    assert frame is not None
    assert counters(protocol) == (
        edge + len(data),
        edge + 1,
        edge + 1,
        edge + len(frame),
        edge + 1,
        edge + 1,
    )
    with pytest.raises(OverflowError):
        protocol._count_received(100, 0)
    with pytest.raises(OverflowError):
        protocol._count_sent(0, 100)


def test_receive_messages_takes_nothing_when_the_run_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The general path meets the error again and fails the connection.
    def out_of_memory(*args: Any) -> int:
        raise MemoryError

    use(monkeypatch, _purepython_messages)
    monkeypatch.setattr(_purepython_messages, "read_messages", out_of_memory)
    protocol, queue = Protocol(SERVER), Queue()
    assert protocol.receive_messages(to_server(BINARY, b"x"), queue) == 0
    assert counters(protocol) == (0, 0, 0, 0, 0, 0)


def test_receive_messages_argument_count() -> None:
    if _speedups is None:
        pytest.skip("C extension not built")
    with pytest.raises(TypeError, match="8 arguments"):
        _speedups.receive_messages(Protocol(SERVER), b"", Queue())


def general_events(protocol: Protocol) -> list[Any]:
    return [
        (event.opcode, bytes(event.data), event.fin)
        if isinstance(event, Frame)
        else (type(event), event.close)
        for event in protocol.events_received()
        if isinstance(event, (Frame, HeldFailure))
    ]


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(frame_specs, max_size=8), cuts=st.lists(st.integers(0, 200), max_size=3))
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_receive_messages_agrees_with_general_rules(
    implementation: ModuleType, specs: list[tuple[Any, bool, bool, bytes]], cuts: list[int]
) -> None:
    # What the asyncio and threading layers do with each read, with and without the
    # one-call path: the same frames in the same order, the same failure
    # after them, the same answers, statistics and state.
    stream = b"".join(
        to_server(opcode, data, fin=fin, rsv1=rsv1) for opcode, fin, rsv1, data in specs
    )
    fast, general = Protocol(SERVER, max_size=100), Protocol(SERVER, max_size=100)
    read_alike(implementation, fast, general, stream, cuts)


def read_alike(
    implementation: ModuleType, fast: Protocol, general: Protocol, stream: bytes, cuts: list[int]
) -> None:
    """Feed ``stream``, cut at ``cuts``, to both; require the same outcome.

    ``fast`` reads as the asyncio and threading layers do, ``receive_messages()`` first;
    ``general`` through ``receive_data()`` alone.
    """
    chunks = [stream[start:end] for start, end in itertools.pairwise([0, *sorted(cuts), None])]
    fast.hold_failures = general.hold_failures = True
    queue = Queue(high=4)
    received: list[Any] = []
    answers: list[bytes] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        use(monkeypatch, implementation)
        for chunk in chunks:
            taken = fast.receive_messages(chunk, queue)
            received += [(frame.opcode, bytes(frame.data), frame.fin) for frame in queue.frames]
            queue.frames.clear()
            if taken < len(chunk):
                fast.receive_data(chunk[taken:])
            received += general_events(fast)
            answers += fast.data_to_send()
    expected: list[Any] = []
    for chunk in chunks:
        general.receive_data(chunk)
        expected += general_events(general)
    assert received == expected
    assert answers == general.data_to_send()
    assert counters(fast) == counters(general)
    assert (fast.state, fast.close_sent, fast.close_rcvd, fast.held_failure) == (
        general.state,
        general.close_sent,
        general.close_rcvd,
        general.held_failure,
    )
    assert repr(fast.parser_exc) == repr(general.parser_exc)


# send_message


def general_frame(side: Side, message: Any, text: bool | None) -> tuple[bytes, Protocol]:
    protocol = Protocol(side)
    is_text, data = encode(message, text)
    if is_text:
        protocol.send_text(data)
    else:
        protocol.send_binary(data)
    [frame] = protocol.data_to_send()
    return frame, protocol


MESSAGES = [
    ("text", None),
    ("κόσμε", None),
    ("text as binary", False),
    ("", True),
    (b"binary", None),
    (b"bytes as text", True),
    (bytearray(b"bytearray"), None),
    (memoryview(b"memoryview"), False),
    (memoryview(bytes(range(8))).cast("I"), None),  # 2 items, 8 bytes
    (b"x" * 200, None),
    (b"x" * 70_000, None),
]


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize(("message", "text"), MESSAGES)
def test_send_message_builds_what_the_core_sends(
    impl: ModuleType, side: Side, message: Any, text: bool | None
) -> None:
    if side is SERVER and len(message) >= _LONG_PAYLOAD:
        pytest.skip("a server's long payload goes after its header: see below")
    protocol = Protocol(side)
    frame = protocol.send_message(message, text)
    assert isinstance(frame, bytes)
    expected, general = general_frame(side, message, text)
    # Mask keys are random: compare what they hide.
    assert unmasked(frame) == unmasked(expected)
    assert unmasked(frame)[1] is (side is CLIENT)
    assert counters(protocol) == counters(general)
    assert counters(protocol)[3:] == (len(frame), 1, 1)
    assert protocol.data_to_send() == []


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (b"x" * _LONG_PAYLOAD, None),
        (b"y" * 2**20, True),
        ("z" * _LONG_PAYLOAD, None),
        ("z" * _LONG_PAYLOAD, False),
    ],
)
def test_send_message_puts_a_servers_long_payload_after_its_header(
    impl: ModuleType, message: Any, text: bool | None
) -> None:
    # As send_frame() queues it: the payload itself, uncopied, if bytes.
    protocol, general = Protocol(SERVER), Protocol(SERVER)
    header, payload = protocol.send_message(message, text)  # type: ignore[misc]
    is_text, data = encode(message, text)
    (general.send_text if is_text else general.send_binary)(data)
    assert [header, payload] == general.data_to_send()
    if isinstance(message, bytes):
        assert payload is message
    assert counters(protocol) == counters(general)
    assert protocol.data_to_send() == []


def test_send_message_leaves_a_servers_long_payload_of_another_type(impl: ModuleType) -> None:
    protocol = Protocol(SERVER)
    assert protocol.send_message(b"x" * (_LONG_PAYLOAD - 1), None) is not None
    assert protocol.send_message(bytearray(_LONG_PAYLOAD), None) is None
    # 2**14 items of 4 bytes: its bytes count, as the core counts them.
    assert protocol.send_message(memoryview(bytes(_LONG_PAYLOAD)).cast("I"), None) is None
    assert counters(protocol)[4] == 1


def test_send_message_within_a_negative_length_limit(impl: ModuleType) -> None:
    # Every message, even an empty one, has max_length bytes or more: bytes
    # after the header, anything else declined.
    protocol = Protocol(SERVER)
    assert impl.send_message(protocol, bytearray(), None, False, -1, None) is None
    assert counters(protocol) == (0, 0, 0, 0, 0, 0)
    assert impl.send_message(protocol, b"", None, False, -1, None) == (b"\x82\x00", b"")
    assert counters(protocol)[3:5] == (2, 1)


def fragmenting(protocol: Protocol) -> None:
    protocol.send_binary(b"first", fin=False)
    protocol.data_to_send()


def eof_sent(protocol: Protocol) -> None:
    protocol.fail(CloseCode.ABNORMAL_CLOSURE)  # a server sends EOF, stays OPEN
    protocol.data_to_send()


@pytest.mark.parametrize(
    "prepare", [not_open, fragmenting, extension, debug, eof_sent, write_pending]
)
def test_send_message_declines_unless_ready(impl: ModuleType, prepare: Any) -> None:
    protocol = Protocol(SERVER)
    prepare(protocol)
    before = counters(protocol)
    assert protocol.send_message(b"message", None) is None
    assert counters(protocol) == before


@pytest.mark.parametrize(
    "message",
    [
        "\ud800",  # a lone surrogate: encode() raises
        memoryview(b"abcdef")[::2],  # strided: build_frame() raises
        42,
        ["a", "list"],
    ],
)
def test_send_message_declines_what_the_general_path_handles(
    impl: ModuleType, message: Any
) -> None:
    protocol = Protocol(CLIENT)
    assert protocol.send_message(message, None) is None
    assert counters(protocol) == (0, 0, 0, 0, 0, 0)


def test_send_message_argument_count() -> None:
    if _speedups is None:
        pytest.skip("C extension not built")
    with pytest.raises(TypeError, match="6 arguments"):
        _speedups.send_message(Protocol(SERVER), b"", None)


def test_logging_debug_takes_the_general_path(impl: ModuleType) -> None:
    logger = logging.getLogger("wskit.test.message_path")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    protocol = Protocol(SERVER, logger=logger)
    assert protocol.receive_messages(to_server(BINARY, b"x"), Queue()) == 0
    assert protocol.send_message(b"x", None) is None
