"""The per-message path in one call with permessage-deflate, C and Python.

With permessage-deflate negotiated, ``Protocol.receive_messages()`` also takes
whole compressed messages in one frame, inflated by the extension, and
``Protocol.send_message()`` compresses. The tests hold both implementations
to the general rules: the same frames, bytes, statistics and compression
state, the same failure (1009 for a bomb, 1007, 1002) when inflating fails,
and nothing taken or changed when they decline.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.test_message_path import (
    IMPLEMENTATIONS,
    MESSAGES,
    Queue,
    counters,
    general_events,
    read_alike,
    use,
)
from tests.core.test_protocol import frame_specs, unmasked, wire
from wskit import _purepython, _purepython_messages
from wskit.exceptions import PayloadTooBig, ProtocolError
from wskit.extensions.base import Extension
from wskit.extensions.permessage_deflate import PerMessageDeflate
from wskit.frames import BINARY, CONT, PING, TEXT, CloseCode, Frame, Opcode
from wskit.protocol import Protocol, Side
from wskit.receiving import InvalidUTF8, _deflate_bound
from wskit.shared.messages import encode

SERVER, CLIENT = Side.SERVER, Side.CLIENT


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The implementation under test, which the core calls."""
    module: ModuleType = request.param
    use(monkeypatch, module)
    return module


def deflate(no_context_takeover: bool = False, bits: int = 12) -> PerMessageDeflate:
    return PerMessageDeflate(no_context_takeover, no_context_takeover, bits, bits)


def negotiated(side: Side, max_size: Any = 100, **options: Any) -> Protocol:
    """A protocol with permessage-deflate, as its handshake leaves it."""
    protocol = Protocol(side, max_size=max_size)
    protocol.extensions.append(deflate(**options))
    return protocol


class Peer:
    """The other side, compressing what it sends with the same parameters."""

    def __init__(self, side: Side, **options: Any) -> None:
        self.masked = side is SERVER
        self.extension = deflate(**options)

    def send(self, opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
        frame = self.extension.encode(Frame(opcode, data, fin))
        return wire(frame.opcode, bytes(frame.data), fin=fin, rsv1=frame.rsv1, masked=self.masked)

    def plain(self, opcode: Opcode, data: bytes, **flags: bool) -> bytes:
        return wire(opcode, data, masked=self.masked, **flags)


def decoding_state(protocol: Protocol) -> tuple[Any, ...]:
    extension = protocol.extensions[0]
    assert isinstance(extension, PerMessageDeflate)
    return extension._received_window, extension._unflushed, extension._decoder is None


# receive_messages


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_receive_messages_inflates_whole_messages(
    impl: ModuleType, side: Side, no_context_takeover: bool
) -> None:
    peer = Peer(side, no_context_takeover=no_context_takeover)
    specs = [(TEXT, "κόσμε".encode() * 3), (BINARY, b"\x00\xff" * 20), (BINARY, b"")]
    specs += specs  # the second time, with context takeover, back-references
    data = b"".join(peer.send(opcode, payload) for opcode, payload in specs)
    data += peer.plain(BINARY, b"plain")
    fast = negotiated(side, no_context_takeover=no_context_takeover)
    general = negotiated(side, no_context_takeover=no_context_takeover)
    queue = Queue()
    assert fast.receive_messages(memoryview(data), queue) == len(data)
    general.receive_data(data)
    assert list(queue.frames) == general.events_received()
    assert [bytes(frame.data) for frame in queue.frames] == [
        *(payload for _, payload in specs),
        b"plain",
    ]
    assert counters(fast) == counters(general) == (len(data), 7, 7, 0, 0, 0)
    assert decoding_state(fast) == decoding_state(general)
    assert fast.events_received() == []
    assert fast.data_to_send() == []


def test_receive_messages_without_limits(impl: ModuleType) -> None:
    peer = Peer(SERVER)
    data = peer.send(BINARY, bytes(200_000))
    protocol = negotiated(SERVER, max_size=None)
    queue = Queue()
    assert protocol.receive_messages(data, queue) == len(data)
    assert queue.frames[0].data == bytes(200_000)


def test_receive_messages_bounds_a_compressed_frame_by_the_fragment_limit(
    impl: ModuleType,
) -> None:
    # As _check_header() does: the fragment limit, deflate's overhead on top.
    data = bytes(range(256)) * 4  # doesn't compress
    frame = Peer(SERVER).send(BINARY, data)
    assert len(frame) - 6 > _deflate_bound(100)
    for max_size in [(2000, 100), 100]:
        protocol = negotiated(SERVER, max_size=max_size)
        assert protocol.receive_messages(frame, Queue()) == 0
        assert counters(protocol) == (0, 0, 0, 0, 0, 0)
    assert negotiated(SERVER, max_size=(2000, 1000)).receive_messages(frame, Queue()) == len(frame)


@pytest.mark.parametrize("max_size", [-1, -5, -100, (100, -5)])
def test_a_negative_limit_refuses_a_compressed_frame_as_a_plain_one(
    impl: ModuleType, max_size: Any
) -> None:
    # As websockets does: every frame, even a small compressed one, is over
    # a negative limit (PayloadTooBig, 1009), rather than inflated against it.
    frame = Peer(SERVER).send(BINARY, b"hi")
    fast, general = negotiated(SERVER, max_size=max_size), negotiated(SERVER, max_size=max_size)
    assert fast.receive_messages(frame, Queue()) == 0
    assert counters(fast) == (0, 0, 0, 0, 0, 0)
    general.receive_data(frame)
    assert isinstance(general.parser_exc, PayloadTooBig)
    assert general.close_sent is not None
    assert general.close_sent.code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize(
    "data",
    [
        wire(PING, b"?", rsv1=True),  # the general rules fail it
        wire(BINARY, b"\x02\x00", rsv1=True, fin=False),
        wire(CONT, b"\x02\x00", rsv1=True),
        wire(BINARY, b"\x02\x00", rsv1=True)[:-1],  # incomplete
        wire(BINARY, b"\x02\x00", rsv1=True)[:1],
        wire(BINARY, b"\x02\x00", rsv1=True, masked=False),
        bytes([0xE2]) + wire(BINARY, b"\x02\x00")[1:],  # RSV1 and RSV2
        bytes([0xC2, 0xFF]) + b"\xff" * 8 + b"\x01\x02\x03\x04",  # length's top bit
        bytes([0xC3]) + wire(BINARY, b"\x02\x00")[1:],  # opcode 3
    ],
)
def test_receive_messages_takes_no_other_compressed_frame(impl: ModuleType, data: bytes) -> None:
    protocol = negotiated(SERVER)
    queue = Queue()
    before = decoding_state(protocol)
    assert protocol.receive_messages(data, queue) == 0
    assert not queue.frames
    assert counters(protocol) == (0, 0, 0, 0, 0, 0)
    assert decoding_state(protocol) == before
    assert protocol.parser_exc is None


@pytest.mark.parametrize(
    "extensions",
    [
        [deflate(), Extension()],
        [type("Subclass", (PerMessageDeflate,), {})(False, False, 12, 12)],
    ],
)
def test_the_one_call_paths_take_permessage_deflate_alone(
    impl: ModuleType, extensions: list[Extension]
) -> None:
    protocol = Protocol(SERVER)
    protocol.extensions = extensions
    assert protocol.receive_messages(Peer(SERVER).send(BINARY, b"x"), Queue()) == 0
    assert protocol.send_message(b"x", None) is None
    assert counters(protocol) == (0, 0, 0, 0, 0, 0)


def bomb(peer: Peer) -> bytes:
    return peer.send(BINARY, bytes(100_000))


def invalid_text(peer: Peer) -> bytes:
    return peer.send(TEXT, b"valid, then \xff")


def corrupt(peer: Peer) -> bytes:
    return peer.plain(BINARY, b"\xff\xff\xff\xff", rsv1=True)


@pytest.mark.parametrize(
    ("failing", "code", "error"),
    [
        (bomb, CloseCode.MESSAGE_TOO_BIG, PayloadTooBig),
        (invalid_text, CloseCode.INVALID_DATA, InvalidUTF8),
        (corrupt, CloseCode.PROTOCOL_ERROR, ProtocolError),
    ],
)
@pytest.mark.parametrize("hold_failures", [False, True])
def test_receive_messages_fails_as_the_general_rules_do(
    impl: ModuleType, failing: Any, code: CloseCode, error: type[Exception], hold_failures: bool
) -> None:
    peer = Peer(SERVER)
    before = peer.send(TEXT, b"before")
    data = before + failing(peer) + peer.send(BINARY, b"after")
    fast, general = negotiated(SERVER, max_size=1000), negotiated(SERVER, max_size=1000)
    fast.hold_failures = general.hold_failures = hold_failures
    queue = Queue()
    # The frames before it are taken; the failure is the core's already.
    assert fast.receive_messages(data, queue) == len(before)
    assert isinstance(fast.parser_exc, error)
    fast.receive_data(data[len(before) :])
    general.receive_data(data)
    expected = general_events(general)
    assert [(frame.opcode, frame.data, frame.fin) for frame in queue.frames] == expected[:1]
    assert general_events(fast) == expected[1:]
    assert fast.data_to_send() == general.data_to_send()
    assert counters(fast) == counters(general)
    assert repr(fast.parser_exc) == repr(general.parser_exc)
    closing = fast.held_failure if hold_failures else fast.close_sent
    assert closing is not None
    assert closing.code == code


def test_receive_messages_takes_what_was_inflated_when_reading_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Memory runs out after a compressed message: it is taken, the rest not.
    use(monkeypatch, _purepython_messages)
    read_messages = _purepython.read_messages
    calls = iter([read_messages, read_messages])

    def failing_later(*args: Any) -> int:
        return next(calls, _out_of_memory)(*args)

    monkeypatch.setattr(_purepython_messages, "read_messages", failing_later)
    peer = Peer(SERVER)
    first = peer.send(BINARY, b"plain?") + peer.send(BINARY, b"compressed")
    data = first + peer.plain(BINARY, b"plain") + peer.send(BINARY, b"compressed")
    protocol, queue = negotiated(SERVER), Queue()
    assert protocol.receive_messages(data, queue) == len(first)
    assert [frame.data for frame in queue.frames] == [b"plain?", b"compressed"]


def _out_of_memory(*args: Any) -> Any:
    raise MemoryError


def test_receive_messages_leaves_a_payload_that_memory_lacks_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use(monkeypatch, _purepython_messages)
    whole_message_frame = _purepython._whole_message_frame

    def failing_if_compressed(*args: Any) -> Any:
        return (_out_of_memory if args[3] else whole_message_frame)(*args)

    monkeypatch.setattr(_purepython_messages, "_whole_message_frame", failing_if_compressed)
    peer = Peer(SERVER)
    plain = peer.plain(BINARY, b"plain")
    protocol, queue = negotiated(SERVER), Queue()
    assert protocol.receive_messages(plain + peer.send(BINARY, b"x"), queue) == len(plain)
    assert [frame.data for frame in queue.frames] == [b"plain"]
    assert decoding_state(protocol) == decoding_state(negotiated(SERVER))


payloads = st.sampled_from(
    [b"", b"ok", "κόσμε".encode(), b"\xce", b"\xff", b"x" * 130, bytes(5000), bytes(range(256)) * 2]
)
message_specs = st.one_of(
    st.tuples(
        st.sampled_from(["deflate", "plain", "fragments"]),
        st.sampled_from([TEXT, BINARY]),
        payloads,
    ),
    st.tuples(st.just("raw"), frame_specs),
)


def stream_of(peer: Peer, specs: list[Any]) -> bytes:
    chunks = []
    for kind, *spec in specs:
        if kind == "deflate":
            chunks.append(peer.send(*spec))
        elif kind == "plain":
            chunks.append(peer.plain(*spec))
        elif kind == "fragments":
            opcode, data = spec
            middle = len(data) // 2
            chunks += [peer.send(opcode, data[:middle], False), peer.send(CONT, data[middle:])]
        else:
            [(opcode, fin, rsv1, data)] = spec
            chunks.append(peer.plain(opcode, data, fin=fin, rsv1=rsv1))
    return b"".join(chunks)


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(message_specs, max_size=8),
    cuts=st.lists(st.integers(0, 300), max_size=3),
    no_context_takeover=st.booleans(),
)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_receive_messages_agrees_with_general_rules(
    implementation: ModuleType, specs: list[Any], cuts: list[int], no_context_takeover: bool
) -> None:
    # What the asyncio layer does with each read, with and without the
    # one-call path: the same frames, failure, answers, statistics, state.
    stream = stream_of(Peer(SERVER, no_context_takeover=no_context_takeover), specs)
    fast = negotiated(SERVER, no_context_takeover=no_context_takeover)
    general = negotiated(SERVER, no_context_takeover=no_context_takeover)
    read_alike(implementation, fast, general, stream, cuts)
    if fast.parser_exc is None:
        assert decoding_state(fast) == decoding_state(general)


# send_message


def general_compressed_frame(
    protocol: Protocol, message: Any, text: bool | None, compress: bool | None = None
) -> bytes:
    is_text, data = encode(message, text)
    if is_text:
        protocol.send_text(data, compress=compress)
    else:
        protocol.send_binary(data, compress=compress)
    [sent] = protocol.data_to_send()
    return sent


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_send_message_compresses_as_the_core_does(
    impl: ModuleType, side: Side, no_context_takeover: bool
) -> None:
    fast = negotiated(side, no_context_takeover=no_context_takeover)
    general = negotiated(side, no_context_takeover=no_context_takeover)
    receiver = Peer(side, no_context_takeover=no_context_takeover).extension
    for message, text in MESSAGES * 2:  # the second time, with back-references
        frame = fast.send_message(message, text)
        assert isinstance(frame, bytes)
        assert unmasked(frame) == unmasked(general_compressed_frame(general, message, text))
        header, masked, payload = unmasked(frame)
        assert header[0] & 0x40  # RSV1
        assert masked is (side is CLIENT)
        inflated = receiver.decode(Frame(BINARY, payload, rsv1=True)).data
        assert inflated == bytes(encode(message, text)[1])
    assert counters(fast) == counters(general)
    assert counters(fast)[4:] == (len(MESSAGES) * 2,) * 2
    assert fast.data_to_send() == []


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_send_message_without_compression_leaves_the_compressor(
    impl: ModuleType, side: Side
) -> None:
    fast, general = negotiated(side), negotiated(side)
    for message, compress in [(b"a" * 70_000, True), (b"b" * 70_000, False), (b"a" * 100, None)]:
        frame = fast.send_message(message, None, compress)
        assert isinstance(frame, bytes)
        expected = general_compressed_frame(general, message, None, compress)
        assert unmasked(frame) == unmasked(expected)
        assert bool(frame[0] & 0x40) is (compress is not False)
    assert counters(fast) == counters(general)


def test_send_message_declines_a_strided_view_before_compressing(impl: ModuleType) -> None:
    protocol = negotiated(CLIENT)
    assert protocol.send_message(memoryview(b"abcdef")[::2], None) is None
    extension = protocol.extensions[0]
    assert isinstance(extension, PerMessageDeflate)
    assert extension._encoder is None
    assert extension._sent_window == b""
