"""The end of a long binary message straight to the queue, C and Python.

``Protocol.receive_payload_end()`` does what ``receive_into()``,
``events_received()`` and the queue's ``put()`` do with the last bytes of a
long unfragmented binary frame, through ``receive_payload_end()`` of
wskit.speedups, and declines the rest. The tests hold both implementations
to those rules: same frames, same statistics, same state afterwards, and
nothing taken or changed when they decline.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import wskit.receiving
from tests.c_extension import C_SPEEDUPS as _speedups
from tests.core.test_message_path import IMPLEMENTATIONS, Queue, counters
from tests.core.test_protocol import to_client, to_server
from wskit.extensions.base import Extension
from wskit.frames import BINARY, PONG, TEXT, CloseCode, Frame
from wskit.protocol import Protocol, Side
from wskit.receiving import _LONG_PAYLOAD

SERVER, CLIENT = Side.SERVER, Side.CLIENT
PAYLOAD = bytes(range(256)) * (_LONG_PAYLOAD // 128)  # 128 KiB


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The implementation under test, which the core calls."""
    module: ModuleType = request.param
    monkeypatch.setattr(wskit.receiving, "receive_payload_end", module.receive_payload_end)
    return module


def start(protocol: Protocol, frame: bytes, before: bytes = b"") -> bytes:
    """Receive the start of ``frame`` as a first read does; return the rest,
    written into the payload's window, as an I/O layer reads it there."""
    cut = len(frame) // 2
    protocol.receive_data(before + frame[:cut])
    payload = protocol.incoming_payload
    assert payload is not None
    rest = frame[cut:]
    payload.window()[: len(rest)] = rest
    return rest


def frame_to(side: Side, opcode: Any, data: bytes, *, fin: bool = True) -> bytes:
    return (to_server if side is SERVER else to_client)(opcode, data, fin=fin)


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("length", [_LONG_PAYLOAD, 3 * _LONG_PAYLOAD + 1])
def test_receive_payload_end_agrees_with_general_rules(
    impl: ModuleType, side: Side, length: int
) -> None:
    data = (PAYLOAD * 4)[:length]
    frame = frame_to(side, BINARY, data)
    fast, general = Protocol(side), Protocol(side)
    rest = start(fast, frame)
    start(general, frame)
    queue = Queue()
    assert fast.receive_payload_end(len(rest), queue)
    general.receive_into(len(rest))
    events = general.events_received()
    assert list(queue.frames) == events
    assert isinstance(events[0], Frame)
    assert bytes(events[0].data) == data
    assert counters(fast) == counters(general) == (len(frame), 1, 1, 0, 0, 0)
    assert fast.incoming_payload is general.incoming_payload is None
    assert fast.events_received() == [] == fast.data_to_send() == general.data_to_send()
    # What follows is parsed alike.
    following = frame_to(side, TEXT, b"next")
    fast.receive_data(following)
    general.receive_data(following)
    assert fast.events_received() == general.events_received()
    assert counters(fast) == counters(general)
    assert fast.state is general.state


def test_receive_payload_end_pauses_reading_past_the_high_mark(impl: ModuleType) -> None:
    protocol, queue = Protocol(SERVER), Queue(high=0)
    rest = start(protocol, to_server(BINARY, PAYLOAD))
    assert protocol.receive_payload_end(len(rest), queue)
    assert (len(queue), queue.paused, queue.pauses) == (1, True, 1)


def text_payload(protocol: Protocol) -> bytes:
    return start(protocol, to_server(TEXT, PAYLOAD[:1] * len(PAYLOAD)))


def fragment(protocol: Protocol) -> bytes:
    return start(protocol, to_server(BINARY, PAYLOAD, fin=False))


def not_the_end(protocol: Protocol) -> bytes:
    return start(protocol, to_server(BINARY, PAYLOAD))[:-1]


def event_pending(protocol: Protocol) -> bytes:
    return start(protocol, to_server(BINARY, PAYLOAD), before=to_server(PONG, b"!"))


def write_pending(protocol: Protocol) -> bytes:
    rest = start(protocol, to_server(BINARY, PAYLOAD))
    protocol.send_binary(b"unsent")
    return rest


def not_open(protocol: Protocol) -> bytes:
    rest = start(protocol, to_server(BINARY, PAYLOAD))
    protocol.send_close(CloseCode.NORMAL_CLOSURE)
    protocol.data_to_send()
    return rest


def extension(protocol: Protocol) -> bytes:
    rest = start(protocol, to_server(BINARY, PAYLOAD))
    protocol.extensions.append(Extension())
    return rest


def debug(protocol: Protocol) -> bytes:
    rest = start(protocol, to_server(BINARY, PAYLOAD))
    protocol.debug = True
    return rest


def no_payload(protocol: Protocol) -> bytes:
    return b"x" * 10


@pytest.mark.parametrize(
    "prepare",
    [
        text_payload,
        fragment,
        not_the_end,
        event_pending,
        write_pending,
        not_open,
        extension,
        debug,
        no_payload,
    ],
)
def test_receive_payload_end_declines_unless_ready(impl: ModuleType, prepare: Any) -> None:
    protocol = Protocol(SERVER)
    rest = prepare(protocol)
    payload = protocol.incoming_payload
    missing = None if payload is None else payload.missing
    before = counters(protocol)
    queue = Queue()
    assert not protocol.receive_payload_end(len(rest), queue)
    assert not queue.frames
    assert counters(protocol) == before
    assert protocol.incoming_payload is payload
    assert (None if payload is None else payload.missing) == missing


def test_receive_payload_end_argument_count() -> None:
    if _speedups is None:
        pytest.skip("C extension not built")
    with pytest.raises(TypeError, match="4 arguments"):
        _speedups.receive_payload_end(Protocol(SERVER), None, 0)


# The start of a long payload, after the run of whole messages of receive_messages().


def payload_state(protocol: Protocol) -> tuple[Any, ...]:
    payload = protocol.incoming_payload
    return (
        None if payload is None else (type(payload), payload.missing),
        protocol._payload_header if payload is not None else None,
        counters(protocol),
        protocol.events_received(),
        protocol.data_to_send(),
    )


@pytest.fixture(params=IMPLEMENTATIONS)
def run_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The implementation of receive_messages() under test, which the core calls."""
    module: ModuleType = request.param
    monkeypatch.setattr(wskit.receiving, "receive_messages", module.receive_messages)
    return module


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("before", [b"", b"short"])
@pytest.mark.parametrize("cut", [8, len(PAYLOAD) // 32 + 14, len(PAYLOAD) // 2, len(PAYLOAD) + 9])
def test_receive_messages_starts_a_long_payload_as_the_general_rules_do(
    run_impl: ModuleType, side: Side, before: bytes, cut: int
) -> None:
    # Taken whole when enough of the payload has arrived (1/32), else none
    # of the long frame: the general rules meet it in the buffer.
    first = frame_to(side, BINARY, before) if before else b""
    data = first + frame_to(side, BINARY, PAYLOAD)[:cut]
    fast, general = Protocol(side), Protocol(side)
    queue = Queue()
    taken = fast.receive_messages(data, queue)
    fast.receive_data(data[taken:])
    general.receive_data(data)
    assert list(queue.frames) + fast.events_received() == general.events_received()
    assert payload_state(fast) == payload_state(general)
    started = general.incoming_payload is not None
    assert taken == (len(data) if started else len(first))
    # The same payload, once the rest arrives.
    rest = frame_to(side, BINARY, PAYLOAD)[cut:]
    fast.receive_data(rest)
    general.receive_data(rest)
    assert payload_state(fast) == payload_state(general)


@pytest.mark.parametrize(
    ("frame", "options"),
    [
        (to_server(TEXT, PAYLOAD[:1] * len(PAYLOAD)), {}),
        (to_server(BINARY, PAYLOAD, fin=False), {}),
        (to_client(BINARY, PAYLOAD), {}),  # unmasked, to a server
        (to_server(BINARY, PAYLOAD), {"max_size": len(PAYLOAD) - 1}),
        (to_server(BINARY, PAYLOAD), {"max_size": (None, len(PAYLOAD) - 1)}),
    ],
)
def test_receive_messages_leaves_other_long_frames(
    run_impl: ModuleType, frame: bytes, options: dict[str, Any]
) -> None:
    data = frame[: len(frame) // 2]
    fast, general = Protocol(SERVER, **options), Protocol(SERVER, **options)
    assert fast.receive_messages(data, Queue()) == 0
    fast.receive_data(data)
    general.receive_data(data)
    assert payload_state(fast) == payload_state(general)


def test_receive_messages_leaves_a_length_with_its_top_bit_set(run_impl: ModuleType) -> None:
    header = b"\x82\xff" + (2**63 + 2**16).to_bytes(8, "big") + b"\x00" * 4
    protocol = Protocol(SERVER)
    assert protocol.receive_messages(header + b"x" * 100, Queue()) == 0
    assert protocol.incoming_payload is None
