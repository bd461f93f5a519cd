"""Tests for wskit.protocol: framing, fragmentation, limits, UTF-8 and closing."""

from __future__ import annotations

import dis
import enum
import itertools
import logging
import os
import struct
import sys
import tracemalloc
import types
import uuid
import zlib
from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.instance_layout import COMPACT_ATTRIBUTES
from wskit.client import ClientProtocol
from wskit.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from wskit.extensions.base import Extension
from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from wskit.frames import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
    parse_header,
)
from wskit.http11 import Request
from wskit.protocol import (
    CLOSING,
    MAX_EMPTY_FRAGMENTS,
    OPEN,
    SEND_EOF,
    HeldFailure,
    Protocol,
    Side,
    State,
)
from wskit.receiving import _SEPARATE_FRAGMENTS, InvalidUTF8
from wskit.server import ServerProtocol
from wskit.speedups import apply_mask
from wskit.states import Reading
from wskit.typing import BytesLike, Subprotocol
from wskit.uri import parse_uri

SERVER, CLIENT = Side.SERVER, Side.CLIENT
SEPARATE = _SEPARATE_FRAGMENTS


# Helpers: what the peer of a protocol under test would put on the wire.


def wire(
    opcode: Opcode,
    data: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    masked: bool = True,
) -> bytes:
    """Encode a frame by hand, without any validation, as a hostile peer might."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mask_bit = 0x80 if masked else 0
    length = len(data)
    if length < 126:
        header = bytes([first, mask_bit | length])
    elif length < 65536:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return header + data
    key = b"\x01\x02\x03\x04"
    return header + key + apply_mask(data, key)


def to_server(opcode: Opcode, data: bytes = b"", **kwargs: bool) -> bytes:
    return wire(opcode, data, masked=True, **kwargs)


def to_client(opcode: Opcode, data: bytes = b"", **kwargs: bool) -> bytes:
    return wire(opcode, data, masked=False, **kwargs)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def unwire(data: bytes) -> Frame:
    """Decode one frame written by a protocol under test."""
    header = parse_header(data)
    assert header is not None
    first, length, start, mask_key = header
    payload = data[start : start + length]
    if mask_key is not None:
        payload = apply_mask(payload, mask_key)
    return Frame(Opcode(first & 0x0F), payload, bool(first & 0x80), bool(first & 0x40))


def received(protocol: Protocol) -> list[Frame]:
    """Frames received by the protocol; no handshake events at this level."""
    events = protocol.events_received()
    frames = [event for event in events if isinstance(event, Frame)]
    assert frames == events
    return frames


def sent_frames(protocol: Protocol) -> list[Frame | bytes]:
    """Frames written by the protocol, with SEND_EOF kept as is."""
    return [unwire(data) if data else SEND_EOF for data in protocol.data_to_send()]


def assert_failed(protocol: Protocol, code: int) -> None:
    """The protocol failed the connection with ``code``, as RFC 6455 7.1.7 says."""
    writes = sent_frames(protocol)
    close = writes[0]
    assert isinstance(close, Frame)
    assert close.opcode is CLOSE
    assert Close.parse(close.data).code == code
    # A server closes the TCP connection itself; a client waits for the server.
    assert writes[1:] == ([SEND_EOF] if protocol.side is SERVER else [])
    assert protocol.state is State.CLOSING
    assert protocol.close_expected()
    assert protocol.parser_exc is not None


@pytest.fixture
def server() -> Protocol:
    return Protocol(SERVER)


@pytest.fixture
def client() -> Protocol:
    return Protocol(CLIENT)


# Receiving frames.


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_receive_data_frame(server: Protocol, opcode: Opcode) -> None:
    server.receive_data(to_server(opcode, b"caf\xc3\xa9"))
    assert received(server) == [Frame(opcode, b"caf\xc3\xa9")]
    assert server.data_to_send() == []


def test_client_receives_unmasked_frames(client: Protocol) -> None:
    client.receive_data(to_client(BINARY, b"\x00" * 70000))
    [frame] = received(client)
    assert frame == Frame(BINARY, b"\x00" * 70000)


def test_events_are_handed_out_once(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"a"))
    assert len(received(server)) == 1
    assert received(server) == []


def test_many_frames_in_one_chunk(server: Protocol) -> None:
    server.receive_data(b"".join(to_server(BINARY, bytes([i])) for i in range(100)))
    assert [frame.data for frame in received(server)] == [bytes([i]) for i in range(100)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 100_000])
def test_frame_split_at_every_boundary(size: int) -> None:
    """Header and payload may arrive in any pieces: each prefix waits for the rest."""
    data = to_server(BINARY, bytes(range(256)) * (size // 256) + bytes(size % 256))
    # Splitting a 100 KB frame at every byte would be slow; the header's 14
    # boundaries and a sample of payload boundaries cover every code path.
    cuts = [*range(min(len(data), 20)), len(data) // 2, len(data) - 1]
    for cut in cuts:
        server = Protocol(SERVER)
        server.receive_data(data[:cut])
        assert received(server) == []
        server.receive_data(data[cut:])
        [frame] = received(server)
        assert len(frame.data) == size


def test_frame_fed_one_byte_at_a_time(server: Protocol) -> None:
    data = to_server(TEXT, "é".encode() * 100)
    for byte in data:
        server.receive_data(bytes([byte]))
    assert received(server) == [Frame(TEXT, "é".encode() * 100)]


def test_receive_memoryview_and_bytearray(server: Protocol) -> None:
    data = to_server(BINARY, b"xyz")
    server.receive_data(memoryview(data)[:3])
    server.receive_data(bytearray(data[3:]))
    assert received(server) == [Frame(BINARY, b"xyz")]


# Long frames: received straight into their payload once enough has arrived.

LONG = 200_000


def long_text() -> bytes:
    """Valid UTF-8 of 1- to 4-byte characters, LONG bytes, with characters
    split across any piece boundary."""
    unit = "a€é😀日".encode()
    return (unit * (LONG // len(unit) + 1))[: LONG - LONG % len(unit)]


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
@pytest.mark.parametrize("piece", [4093, 65536, 100_003])
def test_long_frame_in_pieces(side: Side, opcode: Opcode, piece: int) -> None:
    """Pieces of any size, masked or not, make the payload whole; what follows
    the long frame in the last piece is parsed too."""
    payload = long_text() if opcode is TEXT else os.urandom(LONG)
    protocol = Protocol(side)
    data = wire(opcode, payload, masked=side is SERVER) + wire(TEXT, b"next", masked=side is SERVER)
    for cut in range(0, len(data), piece):
        protocol.receive_data(data[cut : cut + piece])
    assert received(protocol) == [Frame(opcode, payload), Frame(TEXT, b"next")]
    assert protocol.data_to_send() == []


def test_long_frame_goes_straight_to_its_payload(server: Protocol) -> None:
    """Once 1/32 of a long frame has arrived, its bytes are no longer buffered."""
    payload = os.urandom(LONG)
    data = to_server(BINARY, payload)
    server.receive_data(data[: LONG // 32 + 14])
    server.receive_data(data[LONG // 32 + 14 : LONG // 2])
    assert len(server._buffer) == 0
    server.receive_data(data[LONG // 2 :])
    assert received(server) == [Frame(BINARY, payload)]


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_one_tcp_segment_of_a_1_mib_frame_is_enough(side: Side) -> None:
    """A first read of one TCP segment (64 KiB less its headers on loopback,
    the header of the frame included) takes a 1 MiB frame to its payload:
    it is short of 1/16 of it, which went through the buffer."""
    protocol = Protocol(side, max_size=None)
    payload = os.urandom(2**20)
    data = wire(BINARY, payload, masked=side is SERVER)
    protocol.receive_data(data[:65_483])
    assert protocol.incoming_payload is not None
    assert len(protocol._buffer) == 0
    protocol.receive_data(data[65_483:])
    assert received(protocol) == [Frame(BINARY, payload)]


@pytest.mark.parametrize("opcode", [BINARY, TEXT])
def test_payload_missing_unchecked(server: Protocol, opcode: Opcode) -> None:
    """What an I/O layer may read at once: the rest of a long binary payload,
    not of text, whose UTF-8 is checked as it arrives."""
    assert server.payload_missing_unchecked() == 0
    data = to_server(opcode, b"a" * LONG)
    server.receive_data(data[: LONG // 2])
    assert server.incoming_payload is not None
    missing = len(data) - LONG // 2
    assert server.payload_missing_unchecked() == (missing if opcode is BINARY else 0)
    server.receive_data(data[LONG // 2 :])
    assert server.payload_missing_unchecked() == 0
    assert received(server) == [Frame(opcode, b"a" * LONG)]


def test_long_frame_header_alone_allocates_nothing() -> None:
    """A peer announcing a long frame doesn't make us allocate its length."""
    server = Protocol(SERVER, max_size=2**30)
    header = to_server(BINARY, bytes(2**16))[:14]
    tracemalloc.start()
    try:
        server.receive_data(bytearray(header[:2]) + struct.pack("!Q", 2**30) + header[10:])
        server.receive_data(bytes(2**16))  # 1/16384 of the frame
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 2**20
    assert received(server) == []


def test_long_text_frame_checked_before_and_after_it_goes_straight() -> None:
    """Text validated while it was buffered isn't validated twice, nor skipped."""
    text = long_text()
    server = Protocol(SERVER)
    data = to_server(TEXT, text)
    # 1/32 of the payload has arrived with the third piece.
    for piece in data[:100], data[100:5000], data[5000:30_000], data[30_000:]:
        server.receive_data(piece)
    assert received(server) == [Frame(TEXT, text)]
    assert server.data_to_send() == []


@pytest.mark.parametrize("opcode", [TEXT, CONT])
@pytest.mark.parametrize("first_piece", [100, 20_000])
def test_invalid_utf8_fails_fast_in_a_long_frame(opcode: Opcode, first_piece: int) -> None:
    """Invalid UTF-8 fails a long text frame on the piece that brings it,
    whether it was checked while buffered or as it went to the payload."""
    server = Protocol(SERVER)
    if opcode is CONT:
        server.receive_data(to_server(TEXT, b"start ", fin=False))
    text = bytearray(long_text())
    text[50_000] = 0xFF
    data = to_server(opcode, bytes(text))
    server.receive_data(data[:first_piece])
    server.receive_data(data[first_piece:40_000])
    assert server.data_to_send() == []
    server.receive_data(data[40_000:60_000])
    assert_failed(server, CloseCode.INVALID_DATA)
    assert isinstance(server.parser_exc, InvalidUTF8)
    # The rest of the frame is ignored.
    server.receive_data(data[60_000:])
    assert received(server) == [Frame(TEXT, b"start ", fin=False)] * (opcode is CONT)


def test_long_compressed_frame() -> None:
    """A compressed long frame, not UTF-8 as it arrives, is inflated once whole."""
    client, server = deflate_pair()
    payload = os.urandom(LONG)  # incompressible: the frame stays long
    client.send_binary(payload)
    [data] = client.data_to_send()
    assert len(data) > LONG
    server.receive_data(data[:50_000])
    server.receive_data(data[50_000:])
    assert received(server) == [Frame(BINARY, payload)]


def test_eof_in_the_middle_of_a_long_frame(server: Protocol) -> None:
    server.receive_data(to_server(BINARY, bytes(LONG))[:100_000])
    server.receive_eof()
    assert received(server) == []
    assert server.state is State.CLOSED
    assert server.close_code == CloseCode.ABNORMAL_CLOSURE


# Reading the rest of a long frame straight into its payload.


def window(protocol: Protocol) -> memoryview | None:
    """Where an I/O layer may read the next bytes instead of calling receive_data()."""
    payload = protocol.incoming_payload
    return None if payload is None else payload.window()


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_long_frame_read_into_its_payload(side: Side, opcode: Opcode) -> None:
    """Once a long frame goes to its payload, the rest of it can be read into
    the payload's window, which never reaches past the frame's end."""
    payload = long_text() if opcode is TEXT else os.urandom(LONG)
    protocol = Protocol(side)
    data = wire(opcode, payload, masked=side is SERVER)
    assert window(protocol) is None
    position = LONG // 16 + 14
    protocol.receive_data(data[:position])
    while (view := window(protocol)) is not None:
        assert not view.readonly
        assert len(view) == len(data) - position
        # 30,001 bytes: each piece starts at a new offset of the masking key.
        piece = data[position : position + 30_001]
        view[: len(piece)] = piece
        protocol.receive_into(len(piece))
        position += len(piece)
    assert position == len(data)
    assert received(protocol) == [Frame(opcode, payload)]
    protocol.receive_data(wire(TEXT, b"next", masked=side is SERVER))
    assert received(protocol) == [Frame(TEXT, b"next")]
    assert protocol.data_to_send() == []


def test_receive_into_and_receive_data_alternate(server: Protocol) -> None:
    payload = os.urandom(LONG)
    data = to_server(BINARY, payload)
    server.receive_data(data[:20_000])
    view = window(server)
    assert view is not None
    view[:10_001] = data[20_000:30_001]
    server.receive_into(10_001)
    server.receive_data(data[30_001:100_000])
    view = window(server)
    assert view is not None
    server.receive_into(0)
    view[:] = data[100_000:]
    server.receive_into(len(view))
    assert received(server) == [Frame(BINARY, payload)]


def test_invalid_utf8_read_into_a_long_frame_fails_fast(server: Protocol) -> None:
    text = bytearray(long_text())
    text[50_000] = 0xFF
    data = to_server(TEXT, bytes(text))
    server.receive_data(data[:20_000])
    for start in 20_000, 40_000:
        view = window(server)
        assert server.data_to_send() == []
        assert view is not None
        view[:20_000] = data[start : start + 20_000]
        server.receive_into(20_000)
    assert_failed(server, CloseCode.INVALID_DATA)
    assert isinstance(server.parser_exc, InvalidUTF8)
    assert window(server) is None


def test_receive_into_after_the_connection_failed(server: Protocol) -> None:
    """Bytes read into the buffer after a failure are ignored, like any others."""
    data = to_server(BINARY, bytes(LONG))
    server.receive_data(data[:20_000])
    view = window(server)
    assert view is not None
    server.fail(CloseCode.GOING_AWAY)
    view[:100] = data[20_000:20_100]
    server.receive_into(100)
    assert window(server) is None
    assert received(server) == []


def test_receive_into_more_than_the_buffer(server: Protocol) -> None:
    server.receive_data(to_server(BINARY, bytes(LONG))[:20_000])
    view = window(server)
    assert view is not None
    for nbytes in len(view) + 1, -1:
        with pytest.raises(ValueError, match="cannot advance"):
            server.receive_into(nbytes)
    view = window(server)
    assert view is not None
    assert len(view) == LONG + 14 - 20_000  # nothing was received


def test_receive_into_without_a_buffer(server: Protocol) -> None:
    server.receive_data(to_server(BINARY, b"short"))
    assert window(server) is None
    with pytest.raises(ValueError, match="no payload was being received"):
        server.receive_into(5)
    assert received(server) == [Frame(BINARY, b"short")]


def test_receive_into_after_eof(server: Protocol) -> None:
    server.receive_data(to_server(BINARY, bytes(LONG))[:20_000])
    server.receive_eof()
    assert window(server) is None
    with pytest.raises(EOFError, match="stream ended"):
        server.receive_into(0)


def test_receive_memoryview_of_wider_items(server: Protocol) -> None:
    """A view of 4-byte items is read as its bytes, not its items."""
    data = to_server(BINARY, b"wxyz")  # 10 bytes
    server.receive_data(memoryview(data[:8]).cast("I"))
    server.receive_data(memoryview(data[8:]))
    assert received(server) == [Frame(BINARY, b"wxyz")]


def test_receive_strided_memoryview(server: Protocol) -> None:
    data = to_server(BINARY, b"xyz")
    interleaved = bytearray(2 * len(data))
    interleaved[::2] = data
    server.receive_data(memoryview(interleaved)[::2])
    assert received(server) == [Frame(BINARY, b"xyz")]


# Masking.


def test_server_fails_on_unmasked_frame(server: Protocol) -> None:
    server.receive_data(to_client(TEXT, b"hi"))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)
    assert str(server.parser_exc) == "incorrect masking"


def test_client_fails_on_masked_frame(client: Protocol) -> None:
    client.receive_data(to_server(TEXT, b"hi"))
    assert_failed(client, CloseCode.PROTOCOL_ERROR)


def test_client_masks_and_server_does_not() -> None:
    client, server = Protocol(CLIENT), Protocol(SERVER)
    client.send_binary(b"data")
    server.send_binary(b"data")
    [client_bytes] = client.data_to_send()
    [server_bytes] = server.data_to_send()
    assert client_bytes[1] & 0x80
    assert not server_bytes[1] & 0x80
    server.receive_data(client_bytes)
    client.receive_data(server_bytes)
    assert received(server) == received(client) == [Frame(BINARY, b"data")]


# Header rules.


def test_reserved_bits_without_extension(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"x", rsv1=True))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)
    assert isinstance(server.parser_exc, ProtocolError)


@pytest.mark.parametrize("bit", [0x20, 0x10])
def test_rsv2_rsv3(server: Protocol, bit: int) -> None:
    data = bytearray(to_server(BINARY, b"x"))
    data[0] |= bit
    server.receive_data(bytes(data))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcodes(server: Protocol, opcode: int) -> None:
    server.receive_data(bytes([0x80 | opcode, 0x80]) + b"\x00\x00\x00\x00")
    assert_failed(server, CloseCode.PROTOCOL_ERROR)
    assert f"invalid opcode {opcode:#x}" in str(server.parser_exc)


def test_64_bit_length_with_top_bit_set(server: Protocol) -> None:
    server.receive_data(bytes([0x82, 0xFF]) + struct.pack("!Q", 2**63) + b"\x00" * 4)
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


def test_length_over_limit_rejected_from_header() -> None:
    """The limit applies before any payload arrives: nothing gets buffered."""
    server = Protocol(SERVER, max_size=1000)
    server.receive_data(bytes([0x82, 0xFF]) + struct.pack("!Q", 2**40) + b"mask")
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)
    assert isinstance(server.parser_exc, PayloadTooBig)
    assert server.parser_exc.size == 2**40
    # Everything after the failure is ignored, not buffered.
    server.receive_data(b"\x00" * 100_000)
    assert received(server) == []
    assert len(server._buffer) == 0


def test_message_at_the_limit_passes_and_over_fails() -> None:
    server = Protocol(SERVER, max_size=10)
    server.receive_data(to_server(BINARY, b"x" * 10))
    assert received(server) == [Frame(BINARY, b"x" * 10)]
    server.receive_data(to_server(BINARY, b"x" * 11))
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)


def test_limit_applies_to_whole_fragmented_message() -> None:
    server = Protocol(SERVER, max_size=10)
    server.receive_data(to_server(TEXT, b"x" * 6, fin=False))
    server.receive_data(to_server(CONT, b"x" * 5))
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)
    assert isinstance(server.parser_exc, PayloadTooBig)
    assert server.parser_exc.current_size == 6


def test_limit_resets_between_messages() -> None:
    server = Protocol(SERVER, max_size=10)
    for _ in range(3):
        server.receive_data(to_server(TEXT, b"x" * 5, fin=False))
        server.receive_data(to_server(CONT, b"x" * 5))
    assert len(received(server)) == 6
    assert server.data_to_send() == []


def test_no_limit() -> None:
    server = Protocol(SERVER, max_size=None)
    server.receive_data(to_server(BINARY, b"x" * 3_000_000))
    [frame] = received(server)
    assert len(frame.data) == 3_000_000


def test_separate_message_and_fragment_limits() -> None:
    server = Protocol(SERVER, max_size=(100, 10))
    for _ in range(10):
        server.receive_data(to_server(BINARY if _ == 0 else CONT, b"x" * 10, fin=False))
    assert len(received(server)) == 10
    server.receive_data(to_server(CONT, b"x" * 11))
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)


def test_fragment_limit_without_message_limit() -> None:
    server = Protocol(SERVER, max_size=(None, 10))
    server.receive_data(to_server(BINARY, b"x" * 10, fin=False))
    server.receive_data(to_server(CONT, b"x" * 10))
    assert len(received(server)) == 2
    server.receive_data(to_server(BINARY, b"x" * 11))
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)


# Control frames.


def test_control_frame_too_long(server: Protocol) -> None:
    server.receive_data(to_server(PING, b"x" * 126))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)
    assert str(server.parser_exc) == "control frame too long"


def test_control_frame_too_long_detected_before_payload() -> None:
    server = Protocol(SERVER, max_size=None)
    # A ping claiming 2**40 bytes: refused from the header alone.
    server.receive_data(bytes([0x89, 0xFF]) + struct.pack("!Q", 2**40) + b"mask")
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_fragmented_control_frame(server: Protocol, opcode: Opcode) -> None:
    server.receive_data(to_server(opcode, b"", fin=False))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)
    assert str(server.parser_exc) == "fragmented control frame"


def test_ping_is_answered_with_pong(server: Protocol) -> None:
    server.receive_data(to_server(PING, b"are you there"))
    assert received(server) == [Frame(PING, b"are you there")]
    assert sent_frames(server) == [Frame(PONG, b"are you there")]


def test_pong_is_an_event(client: Protocol) -> None:
    client.receive_data(to_client(PONG, b"1234"))
    assert received(client) == [Frame(PONG, b"1234")]
    assert client.data_to_send() == []


def test_ping_between_fragments(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"spam", fin=False))
    server.receive_data(to_server(PING, b"p"))
    server.receive_data(to_server(CONT, b"eggs"))
    assert received(server) == [
        Frame(TEXT, b"spam", fin=False),
        Frame(PING, b"p"),
        Frame(CONT, b"eggs"),
    ]
    assert sent_frames(server) == [Frame(PONG, b"p")]


def test_no_pong_while_closing(server: Protocol) -> None:
    server.send_close(1000)
    server.data_to_send()
    server.receive_data(to_server(PING, b"late"))
    assert received(server) == [Frame(PING, b"late")]
    assert server.data_to_send() == []


# Fragmentation.


def test_fragmented_message(server: Protocol) -> None:
    server.receive_data(to_server(BINARY, b"a", fin=False))
    server.receive_data(to_server(CONT, b"b", fin=False))
    server.receive_data(to_server(CONT, b"c"))
    assert [(f.opcode, f.data, f.fin) for f in received(server)] == [
        (BINARY, b"a", False),
        (CONT, b"b", False),
        (CONT, b"c", True),
    ]


def test_many_fragments_received_together_are_joined(server: Protocol) -> None:
    """Past a few fragments waiting together, the next ones join the last."""
    fragments = [to_server(CONT, bytes([i]), fin=False) for i in range(1, 40)]
    server.receive_data(to_server(BINARY, b"\x00", fin=False) + b"".join(fragments[:30]))
    server.receive_data(b"".join(fragments[30:]) + to_server(PING, b"p"))
    events = received(server)
    assert [(f.opcode, f.data, f.fin) for f in events] == [
        (BINARY, b"\x00", False),
        *[(CONT, bytes([i]), False) for i in range(1, SEPARATE)],
        (CONT, bytes(range(SEPARATE, 40)), False),
        (PING, b"p", True),
    ]
    # Handed out, a frame is never extended; a control frame ends a run.
    server.receive_data(b"".join(to_server(CONT, b"x", fin=False) for _ in range(SEPARATE + 1)))
    server.receive_data(to_server(PING, b"p") + to_server(CONT, b"y"))
    assert [(f.opcode, f.data, f.fin) for f in received(server)] == [
        *[(CONT, b"x", False)] * (SEPARATE - 1),
        (CONT, b"xx", False),
        (PING, b"p", True),
        (CONT, b"y", True),
    ]
    assert events[SEPARATE].data == bytes(range(SEPARATE, 40))


def test_each_message_keeps_its_first_fragments(server: Protocol) -> None:
    data = b"".join(
        [to_server(TEXT, b"a", fin=False)]
        + [to_server(CONT, b"a", fin=False)] * SEPARATE
        + [to_server(CONT, b"a"), to_server(BINARY, b"b", fin=False), to_server(CONT, b"b")]
    )
    server.receive_data(data)
    assert [(f.opcode, f.data, f.fin) for f in received(server)] == [
        (TEXT, b"a", False),
        *[(CONT, b"a", False)] * (SEPARATE - 1),
        (CONT, b"aa", True),
        (BINARY, b"b", False),
        (CONT, b"b", True),
    ]


def test_many_tiny_fragments_cost_their_size() -> None:
    """A message in 1-byte fragments isn't a frame per byte: its payload, about once."""
    size = 2**16
    server = Protocol(SERVER, max_size=size)
    data = b"".join(
        [
            to_server(BINARY, b"x", fin=False),
            to_server(CONT, b"x", fin=False) * (size - 2),
            to_server(CONT, b"x"),
        ]
    )
    tracemalloc.start()
    try:
        server.receive_data(data)
        current, peak = tracemalloc.get_traced_memory()
        events = received(server)
    finally:
        tracemalloc.stop()
    assert b"".join(frame.data for frame in events) == b"x" * size
    assert len(events) == SEPARATE + 1
    # As frames, ~300 bytes a fragment: 19 MiB here. Joined: the payload,
    # the parser's buffer, growing room.
    assert current < 2 * size + len(data)
    assert peak < 3 * size + 2 * len(data)


def test_continuation_without_start(server: Protocol) -> None:
    server.receive_data(to_server(CONT, b"x"))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)
    assert str(server.parser_exc) == "unexpected continuation frame"


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_new_message_inside_fragmented_one(server: Protocol, opcode: Opcode) -> None:
    server.receive_data(to_server(TEXT, b"x", fin=False))
    server.receive_data(to_server(opcode, b"y"))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)
    assert str(server.parser_exc) == "expected a continuation frame"


def test_endless_empty_fragments_are_cut_off() -> None:
    server = Protocol(SERVER)
    server.receive_data(to_server(TEXT, b"", fin=False))
    empty = to_server(CONT, b"", fin=False)
    server.receive_data(empty * (MAX_EMPTY_FRAGMENTS - 1))
    assert server.data_to_send() == []
    server.receive_data(empty * 10)
    assert_failed(server, CloseCode.POLICY_VIOLATION)
    assert isinstance(server.parser_exc, TooManyFragments)


def test_empty_fragment_count_resets_between_messages() -> None:
    server = Protocol(SERVER)
    message = (
        to_server(BINARY, b"", fin=False)
        + to_server(CONT, b"", fin=False) * (MAX_EMPTY_FRAGMENTS - 1)
        + to_server(CONT, b"")
    )
    server.receive_data(message * 3)
    assert server.data_to_send() == []


def test_4_mib_message_in_64_byte_fragments() -> None:
    """The fragment guard never rejects a legitimate heavily fragmented message."""
    size, step = 4 * 2**20, 64
    server = Protocol(SERVER, max_size=size)
    chunk = to_server(CONT, b"z" * step, fin=False)
    server.receive_data(to_server(BINARY, b"z" * step, fin=False))
    server.receive_data(chunk * (size // step - 2))
    server.receive_data(to_server(CONT, b"z" * step))
    events = received(server)
    assert len(events) == SEPARATE + 1
    assert sum(len(frame.data) for frame in events) == size
    assert events[-1].fin
    assert server.data_to_send() == []


# UTF-8.

INVALID_UTF8 = {
    "overlong 2 bytes": b"\xc0\xaf",
    "overlong 3 bytes": b"\xe0\x80\xaf",
    "overlong 4 bytes": b"\xf0\x80\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above U+10FFFF": b"\xf4\x90\x80\x80",
    "invalid start byte": b"\xff",
    "lone continuation": b"\x80",
    "truncated": b"\xe2\x82",
}


@pytest.mark.parametrize("data", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_text_message(server: Protocol, data: bytes) -> None:
    server.receive_data(to_server(TEXT, b"ok" + data))
    assert_failed(server, CloseCode.INVALID_DATA)
    assert isinstance(server.parser_exc, InvalidUTF8)
    assert received(server) == []


def test_invalid_utf8_fails_fast_in_first_fragment(server: Protocol) -> None:
    """Autobahn 6.4.x: fail on the first fragment, before the message ends."""
    server.receive_data(to_server(TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80", fin=False))
    assert_failed(server, CloseCode.INVALID_DATA)


@pytest.mark.parametrize("opcode", [TEXT, CONT])
def test_invalid_utf8_fails_fast_within_a_frame(server: Protocol, opcode: Opcode) -> None:
    """Autobahn 6.4.3 and 6.4.4: one text frame sent in chops fails on the bad chop."""
    if opcode is CONT:
        server.receive_data(to_server(TEXT, b"start ", fin=False))
    data = to_server(opcode, "κόσμε".encode() + b"\xf4\x90\x80\x80edited")
    valid_part = len(data) - 10
    server.receive_data(data[:valid_part])
    assert server.data_to_send() == []
    server.receive_data(data[valid_part : valid_part + 1])  # \xf4 may start a character
    assert server.data_to_send() == []
    server.receive_data(data[valid_part + 1 : valid_part + 2])  # \xf4\x90 can't
    assert_failed(server, CloseCode.INVALID_DATA)
    assert isinstance(server.parser_exc, InvalidUTF8)


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_text_frame_checked_as_it_arrives_is_intact(side: Side) -> None:
    """Validating the payload chop by chop unmasks each chop with the right key bytes."""
    text = "κόσμε €𝄞 abc".encode() * 3
    protocol = Protocol(side)
    data = wire(TEXT, text, masked=side is SERVER)
    for cut in range(0, len(data), 3):
        protocol.receive_data(data[cut : cut + 3])
    assert received(protocol) == [Frame(TEXT, text)]
    # The validator starts afresh with the next message.
    protocol.receive_data(wire(TEXT, b"\xc3\xa9", masked=side is SERVER)[:-1])
    protocol.receive_data(wire(TEXT, b"\xc3\xa9", masked=side is SERVER)[-1:])
    assert received(protocol) == [Frame(TEXT, b"\xc3\xa9")]
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("opcode", [BINARY, CONT])
def test_binary_frames_are_not_checked_as_they_arrive(server: Protocol, opcode: Opcode) -> None:
    if opcode is CONT:
        server.receive_data(to_server(BINARY, b"\xff", fin=False))
    data = to_server(opcode, b"\xf4\x90\x80\x80\xff")
    server.receive_data(data[:-1])
    server.receive_data(data[-1:])
    assert received(server)[-1] == Frame(opcode, b"\xf4\x90\x80\x80\xff")
    assert server.data_to_send() == []


def test_compressed_text_is_checked_once_inflated() -> None:
    """Compressed bytes aren't UTF-8: frames with RSV1, and the continuation
    frames of a compressed message, are validated after decompression only."""
    client, server = deflate_pair()
    text = "κόσμε".encode() * 2000
    client.send_text(text[:5000], fin=False)
    client.send_continuation(text[5000:], fin=True)
    for chunk in client.data_to_send():
        for cut in range(0, len(chunk), 7):
            server.receive_data(chunk[cut : cut + 7])
    assert b"".join(frame.data for frame in received(server)) == text
    assert server.data_to_send() == []


def test_invalid_sequence_split_across_fragments(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"abc\xf4", fin=False))
    assert server.data_to_send() == []
    server.receive_data(to_server(CONT, b"\x90\x80\x80", fin=False))
    assert_failed(server, CloseCode.INVALID_DATA)


def test_valid_sequence_split_across_fragments(server: Protocol) -> None:
    euro = "€".encode()
    server.receive_data(to_server(TEXT, euro[:1], fin=False))
    server.receive_data(to_server(CONT, euro[1:2], fin=False))
    server.receive_data(to_server(CONT, euro[2:]))
    assert len(received(server)) == 3
    assert server.data_to_send() == []


def test_truncated_sequence_at_end_of_fragmented_message(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"\xe2\x82", fin=False))
    server.receive_data(to_server(CONT, b""))
    assert_failed(server, CloseCode.INVALID_DATA)


def test_binary_messages_are_not_validated(server: Protocol) -> None:
    server.receive_data(to_server(BINARY, b"\xff\xfe", fin=False))
    server.receive_data(to_server(CONT, b"\xc0"))
    assert len(received(server)) == 2


def test_utf8_state_does_not_leak_between_messages(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"\xc3\xa9"))
    server.receive_data(to_server(TEXT, b"\xa9"))  # a lone continuation byte
    assert_failed(server, CloseCode.INVALID_DATA)


# The closing handshake.


def test_server_answers_close_and_closes_tcp(server: Protocol) -> None:
    server.receive_data(to_server(CLOSE, close_payload(1000, b"bye")))
    assert received(server) == [Frame(CLOSE, close_payload(1000, b"bye"))]
    # The reply echoes the code and the reason, as websockets' does.
    assert sent_frames(server) == [Frame(CLOSE, close_payload(1000, b"bye")), SEND_EOF]
    assert server.state.name == "CLOSING"
    assert server.close_expected()
    assert server.close_code is None  # not final until the connection is closed
    server.receive_eof()
    assert server.data_to_send() == []
    assert server.state is State.CLOSED
    assert server.close_code == 1000
    assert server.close_reason == "bye"
    exc = server.close_exc
    assert isinstance(exc, ConnectionClosedOK)
    assert exc.rcvd == Close(1000, "bye")
    assert exc.sent == Close(1000, "bye")
    assert exc.rcvd_then_sent is True


def test_client_answers_close_and_waits_for_server(client: Protocol) -> None:
    client.receive_data(to_client(CLOSE, close_payload(1001)))
    assert sent_frames(client) == [Frame(CLOSE, close_payload(1001))]
    assert client.close_expected()
    client.receive_eof()
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED
    assert isinstance(client.close_exc, ConnectionClosedOK)


def test_client_initiates_closing_handshake(client: Protocol) -> None:
    client.send_close(CloseCode.NORMAL_CLOSURE, "done")
    assert sent_frames(client) == [Frame(CLOSE, close_payload(1000, b"done"))]
    assert client.state is State.CLOSING
    assert client.close_expected()
    # Data frames still arrive until the server's close frame.
    client.receive_data(to_client(TEXT, b"late"))
    client.receive_data(to_client(CLOSE, close_payload(1000)))
    assert [f.opcode for f in received(client)] == [TEXT, CLOSE]
    assert client.data_to_send() == []
    client.receive_eof()
    assert client.data_to_send() == [SEND_EOF]
    exc = client.close_exc
    assert isinstance(exc, ConnectionClosedOK)
    assert exc.rcvd_then_sent is False
    assert str(exc) == "sent 1000 (OK) done; then received 1000 (OK)"


def test_server_initiates_closing_handshake(server: Protocol) -> None:
    server.send_close(4000, "app")
    assert sent_frames(server) == [Frame(CLOSE, close_payload(4000, b"app"))]
    server.receive_data(to_server(CLOSE, close_payload(4000)))
    assert server.data_to_send() == [SEND_EOF]
    server.receive_eof()
    exc = server.close_exc
    # 4000 is not an OK code: the application said something went wrong.
    assert isinstance(exc, ConnectionClosedError)
    assert server.close_code == 4000


def test_close_without_code(server: Protocol) -> None:
    server.receive_data(to_server(CLOSE, b""))
    assert sent_frames(server) == [Frame(CLOSE, b""), SEND_EOF]
    server.receive_eof()
    assert server.close_code == CloseCode.NO_STATUS_RCVD
    assert isinstance(server.close_exc, ConnectionClosedOK)


def test_send_close_without_code(client: Protocol) -> None:
    client.send_close()
    assert sent_frames(client) == [Frame(CLOSE, b"")]
    assert client.close_sent == Close(CloseCode.NO_STATUS_RCVD, "")


def test_close_in_the_middle_of_a_fragmented_message(server: Protocol) -> None:
    """Autobahn 7.1.5: a close between fragments gets a normal answer, not 1002."""
    server.receive_data(to_server(TEXT, b"frag", fin=False))
    server.receive_data(to_server(CLOSE, close_payload(1000)))
    server.receive_data(to_server(CONT, b"ment"))
    assert [f.opcode for f in received(server)] == [TEXT, CLOSE]
    assert sent_frames(server) == [Frame(CLOSE, close_payload(1000)), SEND_EOF]
    assert server.parser_exc is None


def test_close_payload_of_one_byte(server: Protocol) -> None:
    server.receive_data(to_server(CLOSE, b"\x03"))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_codes(server: Protocol, code: int) -> None:
    server.receive_data(to_server(CLOSE, close_payload(code)))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999])
def test_valid_close_codes_are_echoed(server: Protocol, code: int) -> None:
    server.receive_data(to_server(CLOSE, close_payload(code)))
    assert sent_frames(server) == [Frame(CLOSE, close_payload(code)), SEND_EOF]


def test_close_reason_with_invalid_utf8(server: Protocol) -> None:
    server.receive_data(to_server(CLOSE, close_payload(1000, b"\xff")))
    assert_failed(server, CloseCode.INVALID_DATA)


# Every way a frame can fail the connection: (the valid frames that lead to
# it, the bad frame, the close code).
_FAILING_FRAMES: dict[str, tuple[list[bytes], bytes, CloseCode]] = {
    "close of one byte": ([], to_server(CLOSE, b"\x03"), CloseCode.PROTOCOL_ERROR),
    "invalid close code": ([], to_server(CLOSE, close_payload(1005)), CloseCode.PROTOCOL_ERROR),
    "close reason not UTF-8": (
        [],
        to_server(CLOSE, close_payload(1000, b"\xff")),
        CloseCode.INVALID_DATA,
    ),
    "text not UTF-8": ([], to_server(TEXT, b"\xff"), CloseCode.INVALID_DATA),
    "fragment not UTF-8": (
        [to_server(TEXT, b"ok", fin=False)],
        to_server(CONT, b"\xff"),
        CloseCode.INVALID_DATA,
    ),
    "text ends mid-character": ([], to_server(TEXT, b"\xc3"), CloseCode.INVALID_DATA),
    "long ping": ([], to_server(PING, b"x" * 126), CloseCode.PROTOCOL_ERROR),
    "fragmented ping": ([], to_server(PING, b"x", fin=False), CloseCode.PROTOCOL_ERROR),
    "reserved opcode": ([], to_server(cast(Opcode, 3), b"x"), CloseCode.PROTOCOL_ERROR),
    "unmasked": ([], to_client(BINARY, b"x"), CloseCode.PROTOCOL_ERROR),
    "reserved bit": ([], to_server(BINARY, b"x", rsv1=True), CloseCode.PROTOCOL_ERROR),
    "stray continuation": ([], to_server(CONT, b"x"), CloseCode.PROTOCOL_ERROR),
    "missing continuation": (
        [to_server(TEXT, b"a", fin=False)],
        to_server(TEXT, b"b"),
        CloseCode.PROTOCOL_ERROR,
    ),
    "too big": ([], to_server(BINARY, b"x" * 2000), CloseCode.MESSAGE_TOO_BIG),
    "too many empty fragments": (
        [to_server(BINARY, b"", fin=False)]
        + [to_server(CONT, b"", fin=False)] * (MAX_EMPTY_FRAGMENTS - 1),
        to_server(CONT, b"", fin=False),
        CloseCode.POLICY_VIOLATION,
    ),
}


@pytest.mark.parametrize("one_read", [True, False], ids=["one read", "apart"])
@pytest.mark.parametrize("name", list(_FAILING_FRAMES))
def test_frame_that_fails_the_connection_is_not_delivered(name: str, one_read: bool) -> None:
    """Frames before the bad one come out; the bad one and anything after it don't."""
    before, bad, code = _FAILING_FRAMES[name]
    server = Protocol(SERVER, max_size=1000)
    good = to_server(BINARY, b"good") + to_server(PING, b"p")
    frames = [good, *before, bad, to_server(BINARY, b"after")]
    if one_read:
        server.receive_data(b"".join(frames))
    else:
        for data in frames:
            server.receive_data(data)
    events = received(server)
    assert events[:2] == [Frame(BINARY, b"good"), Frame(PING, b"p")]
    # The valid fragments that lead to the bad frame, and nothing else.
    opcodes = [Opcode(data[0] & 0x0F) for data in before]
    assert [frame.opcode for frame in events[2:]] == opcodes[: SEPARATE + 1]
    writes = sent_frames(server)
    assert writes[0] == Frame(PONG, b"p")
    assert isinstance(writes[1], Frame)
    assert Close.parse(writes[1].data).code == code


def test_long_text_that_fails_is_not_delivered(server: Protocol) -> None:
    """A long frame received in place fails the same way, without an event."""
    payload = b"a" * 70_000 + b"\xff"
    data = to_server(TEXT, payload)
    server.receive_data(data[:20_000])
    server.receive_data(data[20_000:])
    assert received(server) == []
    assert_failed(server, CloseCode.INVALID_DATA)


def test_data_after_close_is_ignored(client: Protocol) -> None:
    client.receive_data(to_client(CLOSE, close_payload(1000)) + to_client(TEXT, b"after"))
    assert [f.opcode for f in received(client)] == [CLOSE]
    client.receive_data(to_client(TEXT, b"later") + to_client(CLOSE, close_payload(1000)))
    assert received(client) == []
    assert sent_frames(client) == [Frame(CLOSE, close_payload(1000))]


CLEAN_CLOSES = {
    # How the peer's close frame arrives: whether SEND_EOF then closes (see eof_closes).
    "alone": ([to_server(CLOSE, close_payload(1000))], True),
    "after a message": ([to_server(TEXT, b"hi") + to_server(CLOSE, close_payload(1000))], True),
    "split": (
        [to_server(CLOSE, close_payload(1000))[:3], to_server(CLOSE, close_payload(1000))[3:]],
        True,
    ),
    "bytes after": ([to_server(CLOSE, close_payload(1000)) + b"x"], False),
    "bytes after, split": ([b"\x88", to_server(CLOSE, close_payload(1000))[1:] + b"x"], False),
    "a frame after": ([to_server(CLOSE, b"") + to_server(TEXT, b"late")], False),
}


@pytest.mark.parametrize("case", list(CLEAN_CLOSES))
@pytest.mark.parametrize("first", ["peer", "server"])
def test_server_closes_at_once_after_a_clean_closing_handshake(case: str, first: str) -> None:
    # The peer sends nothing after its close frame: closing, rather than
    # half-closing, can't make the kernel reset the connection over unread
    # bytes. Bytes that follow it say the peer may send more.
    reads, clean = CLEAN_CLOSES[case]
    server = Protocol(SERVER)
    if first == "server":
        server.send_close(1000)
    for data in reads:
        assert not server.eof_closes
        server.receive_data(data)
    assert server.data_to_send()[-1] == SEND_EOF
    assert server.eof_closes is clean
    server.receive_eof()
    assert server.eof_closes is clean
    assert isinstance(server.close_exc, ConnectionClosedOK)


def test_failures_and_clients_half_close(server: Protocol, client: Protocol) -> None:
    # The peer may still be sending: its bytes, unread at close(), would
    # make the kernel reset the connection, close frame and all.
    server.receive_data(to_server(TEXT, b"\xff"))
    assert server.data_to_send()[-1] == SEND_EOF
    assert not server.eof_closes
    server.receive_data(to_server(CLOSE, close_payload(1000)))
    assert not server.eof_closes
    # A client waits for the server's EOF before writing its own.
    client.receive_data(to_client(CLOSE, close_payload(1000)))
    client.receive_eof()
    assert client.data_to_send()[-1] == SEND_EOF
    assert not client.eof_closes
    # EOF without a closing handshake: the peer is gone already.
    other = Protocol(SERVER)
    other.receive_eof()
    assert other.data_to_send() == [SEND_EOF]
    assert not other.eof_closes


def test_second_close_is_ignored(server: Protocol) -> None:
    server.send_close(1000)
    server.receive_data(to_server(CLOSE, close_payload(1000)) * 2)
    assert len(received(server)) == 1
    assert server.data_to_send()[-1] == SEND_EOF


# Failing the connection.


def test_fail_sends_close_frame_and_stops_reading(server: Protocol) -> None:
    server.fail(CloseCode.INTERNAL_ERROR, "boom")
    assert sent_frames(server) == [Frame(CLOSE, close_payload(1011, b"boom")), SEND_EOF]
    server.receive_data(to_server(TEXT, b"ignored"))
    assert received(server) == []


def test_fail_with_1006_sends_no_close_frame() -> None:
    server, client = Protocol(SERVER), Protocol(CLIENT)
    server.fail(CloseCode.ABNORMAL_CLOSURE)
    client.fail(CloseCode.ABNORMAL_CLOSURE)
    assert server.data_to_send() == [SEND_EOF]
    assert client.data_to_send() == []
    assert server.close_expected()
    assert client.close_expected()
    with pytest.raises(InvalidState):
        server.send_text(b"no more writes after EOF")


def test_fail_truncates_long_reason(client: Protocol) -> None:
    client.fail(CloseCode.POLICY_VIOLATION, "é" * 100)
    [frame] = sent_frames(client)
    assert isinstance(frame, Frame)
    close = Close.parse(frame.data)
    assert len(close.reason.encode()) <= 123
    assert close.reason.endswith("...")


def test_fail_with_invalid_code(server: Protocol) -> None:
    with pytest.raises(ProtocolError):
        server.fail(1005)


def test_fail_while_closing_sends_no_second_close(server: Protocol) -> None:
    server.send_close(1000)
    server.data_to_send()
    server.receive_data(to_server(TEXT, b"\xff"))
    assert server.data_to_send() == [SEND_EOF]
    assert server.close_sent == Close(1000, "")


def test_unexpected_error_fails_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Extension):
        name = "broken"  # type: ignore[assignment]

        def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
            raise RuntimeError("bug")

        def encode(self, frame: Frame) -> Frame:
            return frame

    server = Protocol(SERVER)
    server.extensions = [Broken()]
    with caplog.at_level(logging.ERROR, logger="wskit.server"):
        server.receive_data(to_server(TEXT, b"x"))
    assert_failed(server, CloseCode.INTERNAL_ERROR)
    assert "unexpected error while parsing frames" in caplog.text


# Failures held back until the application has read what came before
# (Autobahn 3.2, 4.1.3, 5.15...: a message, then a bad frame, in one chunk).


def message_then_bad_frame(side: Side) -> Protocol:
    protocol = Protocol(side)
    protocol.hold_failures = True
    masked = side is SERVER
    protocol.receive_data(
        wire(TEXT, b"Hello", masked=masked)
        + wire(TEXT, b"bad", rsv1=True, masked=masked)
        + wire(PING, b"never answered", masked=masked)
    )
    return protocol


HELD = Close(CloseCode.PROTOCOL_ERROR, "reserved bits must be 0")


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_held_failure_lets_the_application_answer_first(side: Side) -> None:
    protocol = message_then_bad_frame(side)
    # The failure comes after the message, which the application may answer.
    assert protocol.events_received() == [Frame(TEXT, b"Hello"), HeldFailure(HELD, True)]
    # Nothing is sent yet, not even the pong, and the connection stays open.
    assert protocol.data_to_send() == []
    assert protocol.held_failure == HELD
    assert isinstance(protocol.parser_exc, ProtocolError)
    assert protocol.state is State.OPEN
    assert not protocol.close_expected()
    # Input is ignored from the error on.
    protocol.receive_data(wire(TEXT, b"ignored", masked=side is SERVER))
    assert received(protocol) == []
    protocol.send_text(b"Hello")
    [echo] = sent_frames(protocol)
    assert echo == Frame(TEXT, b"Hello")
    protocol.release_failure()
    assert_failed(protocol, CloseCode.PROTOCOL_ERROR)
    assert protocol.held_failure is None


def test_held_failure_is_not_counted_as_a_frame(server: Protocol) -> None:
    server.hold_failures = True
    server.receive_data(to_server(TEXT, b"Hello") + to_server(TEXT, b"bad", rsv1=True))
    server.events_received()
    assert (server.frames_received, server.messages_received) == (1, 1)


def test_held_failure_after_a_fragment_does_not_follow_a_message(server: Protocol) -> None:
    server.hold_failures = True
    server.receive_data(to_server(TEXT, b"Hel", fin=False) + to_server(TEXT, b"lo"))
    # Nothing whole came before the error: the I/O layer fails at once.
    assert server.events_received() == [
        Frame(TEXT, b"Hel", fin=False),
        HeldFailure(Close(CloseCode.PROTOCOL_ERROR, "expected a continuation frame"), False),
    ]


def test_held_failure_follows_messages_of_earlier_reads_not_handed_out(server: Protocol) -> None:
    server.hold_failures = True
    server.receive_data(to_server(BINARY, b"Hello"))
    server.receive_data(to_server(CONT, b"?"))
    assert server.events_received() == [
        Frame(BINARY, b"Hello"),
        HeldFailure(Close(CloseCode.PROTOCOL_ERROR, "unexpected continuation frame"), True),
    ]


def test_failures_not_held_queue_no_event(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"Hello") + to_server(TEXT, b"bad", rsv1=True))
    assert received(server) == [Frame(TEXT, b"Hello")]
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


def test_release_failure_without_held_failure_does_nothing(server: Protocol) -> None:
    server.hold_failures = True
    server.release_failure()
    assert server.data_to_send() == []
    assert server.state is State.OPEN


def test_close_releases_held_failure() -> None:
    server = message_then_bad_frame(SERVER)
    server.events_received()
    server.send_close(CloseCode.NORMAL_CLOSURE)
    # The connection fails with the error's code, not the one asked for.
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


def test_fail_replaces_held_failure() -> None:
    server = message_then_bad_frame(SERVER)
    server.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
    assert_failed(server, CloseCode.INTERNAL_ERROR)
    server.release_failure()
    assert server.data_to_send() == []


def test_eof_drops_held_failure() -> None:
    server = message_then_bad_frame(SERVER)
    server.receive_eof()
    assert server.held_failure is None
    assert server.data_to_send() == [SEND_EOF]
    exc = server.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert isinstance(exc.__cause__, ProtocolError)


def test_failures_are_not_held_while_closing(server: Protocol) -> None:
    server.hold_failures = True
    server.send_close(CloseCode.NORMAL_CLOSURE)
    server.data_to_send()
    server.receive_data(to_server(TEXT, b"\xff"))
    assert server.held_failure is None
    assert server.data_to_send() == [SEND_EOF]


# The end of the stream.


def test_eof_without_closing_handshake(server: Protocol) -> None:
    server.receive_data(to_server(TEXT, b"partial")[:5])
    server.receive_eof()
    assert server.data_to_send() == [SEND_EOF]
    assert server.state is State.CLOSED
    assert server.close_code == CloseCode.ABNORMAL_CLOSURE
    assert server.close_reason == ""
    exc = server.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert exc.rcvd is None
    assert exc.sent is None


def test_receive_data_after_eof(server: Protocol) -> None:
    server.receive_eof()
    with pytest.raises(EOFError):
        server.receive_data(b"x")


def test_receive_eof_is_idempotent(server: Protocol) -> None:
    server.receive_eof()
    server.receive_eof()
    assert server.data_to_send() == [SEND_EOF]
    assert not server.close_expected()


def test_eof_is_the_last_write(server: Protocol) -> None:
    server.receive_data(to_server(CLOSE, close_payload(1000)))
    assert server.data_to_send()[-1] == SEND_EOF
    for send in (server.send_ping, server.send_pong):
        with pytest.raises(InvalidState):
            send(b"")
    server.receive_eof()
    assert server.data_to_send() == []


def test_close_exc_before_closed(server: Protocol) -> None:
    with pytest.raises(InvalidState):
        _ = server.close_exc
    assert server.close_code is None
    assert server.close_reason is None


def test_close_exc_carries_the_parser_error(server: Protocol) -> None:
    server.receive_data(to_server(CONT, b""))
    server.receive_eof()
    exc = server.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert isinstance(exc.__cause__, ProtocolError)
    assert exc.sent is not None
    assert exc.sent.code == CloseCode.PROTOCOL_ERROR


# Sending.


def test_server_writes_a_long_payload_after_its_header() -> None:
    """A long bytes payload goes out as it is rather than copied into one frame."""
    server = Protocol(SERVER)
    payload = os.urandom(LONG)
    server.send_binary(payload, fin=False)
    header, data = server.data_to_send()
    assert data is payload
    assert unwire(header + data) == Frame(BINARY, payload, fin=False)


@pytest.mark.parametrize(
    ("side", "kind", "deflate"),
    [(CLIENT, bytes, False), (SERVER, bytearray, False), (SERVER, bytes, True)],
    ids=["masked", "mutable", "compressed"],
)
def test_long_payload_copied_into_one_frame(side: Side, kind: type, deflate: bool) -> None:
    """Masking and compressing make new bytes anyway; a mutable payload could
    change before the I/O layer writes it."""
    protocol = Protocol(side)
    if deflate:
        protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
    payload = os.urandom(LONG)
    protocol.send_binary(kind(payload))
    [data] = protocol.data_to_send()
    if not deflate:
        assert unwire(data) == Frame(BINARY, payload)


def test_send_fragmented_message(client: Protocol) -> None:
    client.send_text(b"a", fin=False)
    client.send_ping(b"between")
    client.send_continuation(b"b", fin=False)
    client.send_continuation(b"c", fin=True)
    assert sent_frames(client) == [
        Frame(TEXT, b"a", fin=False),
        Frame(PING, b"between"),
        Frame(CONT, b"b", fin=False),
        Frame(CONT, b"c"),
    ]
    assert not client.expect_continuation_frame


def test_send_continuation_without_start(client: Protocol) -> None:
    with pytest.raises(ProtocolError):
        client.send_continuation(b"x", fin=True)


@pytest.mark.parametrize("method", ["send_text", "send_binary"])
def test_send_new_message_inside_fragmented_one(client: Protocol, method: str) -> None:
    client.send_binary(b"x", fin=False)
    with pytest.raises(ProtocolError):
        getattr(client, method)(b"y")


def test_send_data_while_closing(client: Protocol) -> None:
    client.send_text(b"x", fin=False)
    client.send_close(1000)
    with pytest.raises(InvalidState):
        client.send_text(b"x")
    with pytest.raises(InvalidState):
        client.send_binary(b"x")
    with pytest.raises(InvalidState):
        client.send_continuation(b"x", fin=True)
    with pytest.raises(InvalidState):
        client.send_close(1000)
    client.send_ping(b"still allowed")
    client.send_pong(b"still allowed")


def test_send_pong(server: Protocol) -> None:
    server.send_pong(b"unsolicited")
    assert sent_frames(server) == [Frame(PONG, b"unsolicited")]


def test_send_ping_too_long(client: Protocol) -> None:
    with pytest.raises(ProtocolError):
        client.send_ping(b"x" * 126)


def test_send_control_frames_when_closed(client: Protocol) -> None:
    client.receive_eof()
    with pytest.raises(InvalidState):
        client.send_ping(b"")


def test_send_close_reason_without_code(client: Protocol) -> None:
    with pytest.raises(ProtocolError):
        client.send_close(None, "reason")


@pytest.mark.parametrize("code", [1005, 1006, 999, 5000])
def test_send_close_with_invalid_code(client: Protocol, code: int) -> None:
    with pytest.raises(ProtocolError):
        client.send_close(code)
    assert client.state is State.OPEN


def test_send_on_connecting_protocol() -> None:
    protocol = Protocol(CLIENT, state=State.CONNECTING)
    with pytest.raises(InvalidState):
        protocol.send_text(b"too early")


def test_base_protocol_has_no_handshake() -> None:
    protocol = Protocol(SERVER, state=State.CONNECTING)
    with pytest.raises(NotImplementedError):
        protocol.receive_data(b"GET / HTTP/1.1\r\n")
    with pytest.raises(NotImplementedError):
        Protocol(SERVER, state=State.CONNECTING).receive_eof()


# Extensions.


def deflate_pair() -> tuple[Protocol, Protocol]:
    client, server = Protocol(CLIENT), Protocol(SERVER)
    client.extensions = [PerMessageDeflate(False, False, 15, 15)]
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    return client, server


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (to_server(BINARY, b"\xff\xff\xff\xff", rsv1=True), CloseCode.PROTOCOL_ERROR),
        (to_server(PING, b"p", rsv1=True), CloseCode.PROTOCOL_ERROR),
        (to_server(TEXT, zlib.compress(b"\xff")[2:-4], rsv1=True), CloseCode.INVALID_DATA),
    ],
    ids=["corrupt", "control with RSV1", "text not UTF-8"],
)
def test_compressed_frame_that_fails_is_not_delivered(bad: bytes, code: CloseCode) -> None:
    client, server = deflate_pair()
    client.send_text(b"good")
    server.receive_data(b"".join(client.data_to_send()) + bad)
    assert received(server) == [Frame(TEXT, b"good")]
    assert_failed(server, code)


def test_compressed_messages_round_trip() -> None:
    client, server = deflate_pair()
    client.send_text(b"hello " * 1000)
    client.send_binary(b"frag", fin=False)
    client.send_ping(b"between compressed fragments")
    client.send_continuation(b"ment", fin=True)
    data = client.data_to_send()
    assert len(data[0]) < 100  # it was compressed
    for chunk in data:
        server.receive_data(chunk)
    events = received(server)
    assert events[0] == Frame(TEXT, b"hello " * 1000)
    assert [f.data for f in events[1:]] == [b"frag", b"between compressed fragments", b"ment"]


def test_decompression_bomb_is_stopped() -> None:
    client, _ = deflate_pair()
    server = Protocol(SERVER, max_size=2**20)
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    client.send_binary(b"\x00" * 50 * 2**20)  # 50 MiB that compress to ~50 KiB
    [data] = client.data_to_send()
    assert len(data) < 2**20
    server.receive_data(data)
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)


def test_decompression_bomb_over_fragments() -> None:
    client, _ = deflate_pair()
    server = Protocol(SERVER, max_size=2**20)
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    client.send_binary(b"\x00" * 2**19, fin=False)
    client.send_continuation(b"\x00" * 2**19, fin=False)
    client.send_continuation(b"\x00" * 2**19, fin=True)
    for chunk in client.data_to_send():
        server.receive_data(chunk)
    assert len(received(server)) == 2
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)


def test_compressed_frame_over_fragment_limit() -> None:
    # Stored (uncompressed) deflate blocks make a frame slightly larger than
    # its inflated payload; a message within max_size must still pass.
    compressor = zlib.compressobj(0, zlib.DEFLATED, -15)
    stored = compressor.compress(b"x" * 1000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    stored = stored.removesuffix(b"\x00\x00\xff\xff")
    assert len(stored) > 1000
    server = Protocol(SERVER, max_size=1000)
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    server.receive_data(to_server(BINARY, stored, rsv1=True))
    assert received(server) == [Frame(BINARY, b"x" * 1000)]
    # A frame far over the limit is refused from its header.
    server.receive_data(bytes([0xC2, 0xFE]) + struct.pack("!H", 5000) + b"mask")
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)


def test_compressed_frame_over_message_limit_without_fragment_limit() -> None:
    # Found by tests/fuzz: with max_size=(200, None), the header of a
    # compressed frame wasn't checked against any limit, and its payload
    # piled up in the receive buffer for as long as the peer sent it.
    server = Protocol(SERVER, max_size=(200, None))
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    compressed = zlib.compress(b"x" * 200, wbits=-15)
    server.receive_data(to_server(BINARY, compressed, rsv1=True))
    assert received(server) == [Frame(BINARY, b"x" * 200)]
    server.receive_data(bytes([0xC2, 0xFF]) + struct.pack("!Q", 2**40) + b"mask")
    assert_failed(server, CloseCode.MESSAGE_TOO_BIG)


def test_corrupt_compressed_stream() -> None:
    _, server = deflate_pair()
    server.receive_data(to_server(BINARY, b"\xff\xff\xff\xff", rsv1=True))
    assert_failed(server, CloseCode.PROTOCOL_ERROR)


# Logging.


def test_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.protocol")
    logger.setLevel(logging.DEBUG)
    server = Protocol(SERVER, logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.protocol"):
        server.receive_data(to_server(TEXT, b"hi"))
        server.receive_data(to_server(BINARY, b"partial")[:4])
        server.receive_eof()
        long_frame = Protocol(SERVER, logger=logger)
        long_frame.receive_data(to_server(BINARY, bytes(LONG))[:100_014])
        long_frame.receive_eof()
        Protocol(SERVER, logger=logger).receive_eof()  # nothing incomplete to log
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "< TEXT 'hi' [2 bytes]",
        "! 4 bytes of an incomplete frame",
        "> EOF",
        "= connection is CLOSED",
        f"! {LONG - 100_000} bytes missing from a frame",
        "> EOF",
        "= connection is CLOSED",
        "> EOF",
        "= connection is CLOSED",
    ]
    client = Protocol(CLIENT, logger=logger)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="test.protocol"):
        client.send_binary(b"\xff")
    assert [r.getMessage() for r in caplog.records] == ["> BINARY ff [1 byte]"]


def test_default_loggers() -> None:
    assert Protocol(SERVER).logger.name == "wskit.server"
    assert Protocol(CLIENT).logger.name == "wskit.client"


def test_connection_ids_are_unique() -> None:
    assert Protocol(SERVER).id != Protocol(SERVER).id


def test_connection_id_is_a_uuid4_stable_for_the_connection() -> None:
    protocol = Protocol(SERVER)
    first = protocol.id
    assert isinstance(first, uuid.UUID)
    assert first.version == 4
    assert protocol.id is first
    replacement = uuid.uuid4()
    protocol.id = replacement
    assert protocol.id is replacement


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_connection_id_is_drawn_when_first_read(
    side: Side, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Performance device (ARCHITECTURE.md): uuid4() cost a tenth of a
    # server's handshake; most connections never read their id.
    drawn: list[uuid.UUID] = []

    def uuid4() -> uuid.UUID:
        drawn.append(uuid.UUID(bytes=os.urandom(16), version=4))
        return drawn[-1]

    monkeypatch.setattr(uuid, "uuid4", uuid4)
    protocol: Protocol = (
        ServerProtocol() if side is SERVER else ClientProtocol(parse_uri("ws://h/"))
    )
    assert drawn == []
    assert protocol.id == drawn[0]
    assert protocol.id == drawn[0]
    assert len(drawn) == 1


@pytest.mark.parametrize("mem_level", [1, 5, 9])
def test_incompressible_message_of_max_size_passes_whatever_the_peer_mem_level(
    mem_level: int,
) -> None:
    # A peer's compressor expands random data by up to ~4% (memLevel=1):
    # the limit applies to the inflated message, not to its compressed frame.
    payload = os.urandom(2**16)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15, mem_level)
    compressed = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(compressed[:-4]) > len(payload)  # expanded, not compressed
    server = Protocol(Side.SERVER, max_size=2**16)
    server.extensions = [PerMessageDeflate(False, False, 15, 15)]
    frame = Frame(Opcode.BINARY, compressed[:-4], rsv1=True)
    server.receive_data(frame.serialize(mask=True))
    [received] = server.events_received()
    assert isinstance(received, Frame)
    assert received.data == payload
    assert server.parser_exc is None


# The fast paths (whole messages in one frame, frames sent without
# extensions) against the general rules, which debug logging forces.


def protocol_pair(side: Side, max_size: int) -> tuple[Protocol, Protocol]:
    quiet = logging.getLogger("wskit.test.fast")
    verbose = logging.getLogger("wskit.test.general")
    verbose.setLevel(logging.DEBUG)
    verbose.propagate = False  # the records are beside the point here
    return (
        Protocol(side, max_size=max_size, logger=quiet),
        Protocol(side, max_size=max_size, logger=verbose),
    )


frame_specs = st.tuples(
    st.sampled_from([CONT, TEXT, BINARY, CLOSE, PING, PONG]),
    st.booleans(),  # fin
    st.booleans(),  # rsv1
    st.sampled_from([b"", b"ok", "κόσμε".encode(), b"\xce", b"\xff", b"x" * 130]),
)


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(frame_specs, max_size=8), cuts=st.lists(st.integers(0, 200), max_size=3))
def test_fast_path_agrees_with_general_rules(
    specs: list[tuple[Opcode, bool, bool, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(
        to_server(opcode, data, fin=fin, rsv1=rsv1) for opcode, fin, rsv1, data in specs
    )
    fast, general = protocol_pair(SERVER, max_size=100)
    assert not fast.debug
    assert general.debug
    chunks = [stream[start:end] for start, end in itertools.pairwise([0, *sorted(cuts), None])]
    for protocol in (fast, general):
        for chunk in chunks:
            protocol.receive_data(chunk)
    assert fast.events_received() == general.events_received()
    assert fast.data_to_send() == general.data_to_send()
    assert (fast.state, fast.close_sent, fast.close_rcvd) == (
        general.state,
        general.close_sent,
        general.close_rcvd,
    )
    assert repr(fast.parser_exc) == repr(general.parser_exc)


def unmasked(sent: bytes) -> tuple[bytes, bool, bytes]:
    """Header without its mask key, whether it was masked, payload unmasked."""
    header = parse_header(sent)
    assert header is not None
    _, _, start, key = header
    if key is None:
        return sent[:start], False, sent[start:]
    return sent[: start - 4], True, apply_mask(sent[start:], key)


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_fast_send_agrees_with_general_rules(side: Side) -> None:
    fast, general = protocol_pair(side, max_size=100)
    for protocol in (fast, general):
        protocol.send_binary(b"abc")
        protocol.send_text(b"de", fin=False)
        protocol.send_continuation(b"f", fin=True)
    sent = [unmasked(data) for data in fast.data_to_send()]
    # Mask keys are random: compare what they hide.
    assert sent == [unmasked(data) for data in general.data_to_send()]
    assert all(masked is (side is CLIENT) for _, masked, _ in sent)


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("how", ["send_close", "receive_close", "fail"])
def test_fast_close_agrees_with_general_rules(side: Side, how: str) -> None:
    fast, general = protocol_pair(side, max_size=100)
    for protocol in (fast, general):
        protocol.send_binary(b"abc")
        if how == "send_close":
            protocol.send_close(CloseCode.GOING_AWAY, "bye")
        elif how == "receive_close":
            protocol.receive_data(wire(CLOSE, close_payload(1000, b"ok"), masked=side is SERVER))
        else:
            protocol.fail(CloseCode.POLICY_VIOLATION, "no")
    writes, general_writes = fast.data_to_send(), general.data_to_send()
    # Frames (mask keys are random: compare what they hide), then SEND_EOF
    # when a server is done: it closes the TCP connection first.
    sent = [unmasked(data) for data in writes if data]
    assert sent == [unmasked(data) for data in general_writes if data]
    assert writes[len(sent) :] == general_writes[len(sent) :]
    done = side is SERVER and how != "send_close"
    assert writes[len(sent) :] == ([SEND_EOF] if done else [])
    assert sent[1][2][:2] in (b"\x03\xe9", b"\x03\xe8", b"\x03\xf0")  # a close frame's code
    assert all(masked is (side is CLIENT) for _, masked, _ in sent)

    def counts(protocol: Protocol) -> tuple[object, ...]:
        return (
            protocol.bytes_sent,
            protocol.frames_sent,
            protocol.messages_sent,
            protocol.state,
            protocol.close_sent,
            protocol.close_rcvd_then_sent,
        )

    assert counts(fast) == counts(general)
    assert fast.frames_sent == 2
    assert fast.messages_sent == 1


LONE_CLOSES = {
    "normal": (close_payload(1000, b"bye"), True),
    "no status": (b"", True),
    "registered": (close_payload(3000), True),
    "private, UTF-8 reason": (close_payload(4999, "κόσμε".encode()), True),
    "one byte": (b"\x03", False),
    "invalid code": (close_payload(999), False),
    "invalid UTF-8": (close_payload(1000, b"\xff"), False),
    "too long": (close_payload(1000, b"x" * 124), False),
}


def spy_on_frame_loop(protocol: Protocol, calls: list[Protocol]) -> None:
    """Record in ``calls`` each time ``protocol`` reads frames by the general rules."""
    general_rules = protocol._parse_frames

    def spy(buffer: BytesLike) -> int:
        calls.append(protocol)
        return general_rules(buffer)

    protocol._parse_frames = spy  # type: ignore[method-assign]


@pytest.mark.parametrize("side", [SERVER, CLIENT])
@pytest.mark.parametrize("case", list(LONE_CLOSES))
@pytest.mark.parametrize("before", ["open", "mid-message", "close sent"])
@pytest.mark.parametrize("framing", ["alone", "wrong mask", "trailing", "cut", "byte", "key cut"])
def test_lone_close_agrees_with_general_rules(
    side: Side, case: str, before: str, framing: str
) -> None:
    # A read of one close frame and nothing else skips the frame loop
    # (FrameReceiver._receive_lone_close()); anything else, and debug logging,
    # goes through the general rules. Both must end in the same place.
    payload, valid = LONE_CLOSES[case]
    frame = wire(CLOSE, payload, masked=side is SERVER)
    data = {
        "wrong mask": wire(CLOSE, payload, masked=side is CLIENT),
        "trailing": frame + b"x",
        "cut": frame[:-1],
        "byte": frame[:1],
        "key cut": frame[:3],  # a client's mask key, or a server's frame
    }.get(framing, frame)
    fast, general = protocol_pair(side, max_size=100)
    calls: list[Protocol] = []
    for protocol in (fast, general):
        if before == "mid-message":
            protocol.receive_data(wire(TEXT, b"half", fin=False, masked=side is SERVER))
        elif before == "close sent":
            protocol.send_close(CloseCode.GOING_AWAY)
        spy_on_frame_loop(protocol, calls)
        protocol.receive_data(data)
    assert (fast not in calls) is (valid and data == frame)
    assert general in calls
    assert fast.events_received() == general.events_received()
    sent = [unmasked(write) if write else write for write in fast.data_to_send()]
    assert sent == [unmasked(write) if write else write for write in general.data_to_send()]
    assert repr(fast.parser_exc) == repr(general.parser_exc)

    outcome = ["state", "close_sent", "close_rcvd", "close_rcvd_then_sent", "_reading", "held"]
    outcome += [
        "eof_closes",
        "bytes_received",
        "frames_received",
        "messages_received",
        "bytes_sent",
    ]
    assert [getattr(fast, name) for name in outcome] == [getattr(general, name) for name in outcome]


# Instance layout.


def handshake(client: ClientProtocol, server: ServerProtocol) -> None:
    """Perform the opening handshake between two cores."""
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    [request] = server.events_received()
    server.send_response(server.accept(cast(Request, request)))
    client.receive_data(b"".join(server.data_to_send()))
    assert client.state is server.state is OPEN


def test_protocols_keep_a_compact_layout_through_a_connection() -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=[ClientPerMessageDeflateFactory()],
        subprotocols=[Subprotocol("chat")],
    )
    server = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory()],
        select_subprotocol=lambda protocol, offered: offered[0],
    )
    handshake(client, server)
    client.send_text(b"hello")
    server.receive_data(b"".join(client.data_to_send()))
    server.send_close(CloseCode.NORMAL_CLOSURE)
    client.receive_data(b"".join(server.data_to_send()))
    assert client.state is CLOSING
    for protocol in (client, server):
        assert len(vars(protocol)) <= COMPACT_ATTRIBUTES, sorted(vars(protocol))


# Performance devices (ARCHITECTURE.md): enum members as module constants, and
# attributes rather than properties on the per-message path.


def _functions_of(namespace: dict[str, object], module: str) -> list[types.CodeType]:
    """The code of the functions and methods defined in ``module``, nested ones too."""
    codes: list[types.CodeType] = []
    for value in namespace.values():
        if isinstance(value, type) and value.__module__ == module:
            codes += _functions_of(dict(vars(value)), module)
        elif isinstance(value, property):
            codes += [f.__code__ for f in (value.fget, value.fset) if f is not None]
        function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if isinstance(function, types.FunctionType) and function.__module__ == module:
            codes.append(function.__code__)
    nested = codes[:]
    while nested:
        code = nested.pop()
        inner = [const for const in code.co_consts if isinstance(const, types.CodeType)]
        codes += inner
        nested += inner
    return codes


def _enum_members_read_from_their_class(code: types.CodeType) -> list[str]:
    """``Class.MEMBER`` lookups of the core's enums in ``code``'s bytecode."""
    enums = {"State": State, "Side": Side, "Reading": Reading, "Opcode": Opcode}
    found = []
    previous = None
    for instruction in dis.get_instructions(code):
        if (
            instruction.opname == "LOAD_ATTR"
            and previous is not None
            and previous.opname == "LOAD_GLOBAL"
            and previous.argval in enums
            and instruction.argval in enums[previous.argval].__members__
        ):
            found.append(f"{code.co_qualname}: {previous.argval}.{instruction.argval}")
        previous = instruction
    return found


def test_enum_members_are_module_constants() -> None:
    homes: list[tuple[str, type[enum.Enum]]] = [
        ("wskit.states", State),
        ("wskit.states", Side),
        ("wskit.states", Reading),
        ("wskit.protocol", State),
        ("wskit.frames", Opcode),
    ]
    for module, cls in homes:
        for name, member in cls.__members__.items():
            assert getattr(sys.modules[module], name) is member, (module, name)


@pytest.mark.parametrize(
    "module", ["wskit.protocol", "wskit.receiving", "wskit.frames", "wskit.states"]
)
def test_core_functions_read_enum_members_from_module_constants(module: str) -> None:
    # On 3.11, State.OPEN goes through EnumType.__getattr__ on every read: the
    # functions of the receive and send paths use the module constants instead.
    codes = _functions_of(dict(vars(sys.modules[module])), module)
    assert module == "wskit.states" or codes
    assert [found for code in codes for found in _enum_members_read_from_their_class(code)] == []


@pytest.mark.parametrize("name", ["state", "incoming_payload"])
def test_per_message_state_is_a_plain_attribute(name: str) -> None:
    # Neither a property nor a method: read on every message, a descriptor
    # call or a method call costs more than the read.
    for cls in Protocol.__mro__:
        assert name not in vars(cls) or isinstance(vars(cls)[name], types.MemberDescriptorType)
    protocol = Protocol(Side.SERVER)
    assert name in vars(protocol) or any(
        name in getattr(cls, "__slots__", ()) for cls in Protocol.__mro__
    )
    assert not callable(getattr(protocol, name))
    value = getattr(protocol, name)
    setattr(protocol, name, value)
    assert getattr(protocol, name) is value


# The assumption behind a performance device (ARCHITECTURE.md): what a data
# frame leaves an I/O layer to do.


def open_protocols(compression: bool) -> tuple[ClientProtocol, ServerProtocol]:
    """A client and a server core past the opening handshake."""
    client = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=[ClientPerMessageDeflateFactory()] if compression else None,
    )
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()] if compression else None)
    handshake(client, server)
    assert bool(client.extensions) is bool(server.extensions) is compression
    return client, server


# Every way a data frame goes out: (name, calls on the core).
DATA_FRAME_SENDS: list[tuple[str, Callable[[Protocol], None]]] = [
    ("text", lambda protocol: protocol.send_text(b"caf\xc3\xa9")),
    ("binary", lambda protocol: protocol.send_binary(b"\x00\xff")),
    ("empty", lambda protocol: protocol.send_text(b"")),
    ("long", lambda protocol: protocol.send_binary(os.urandom(2**17))),
    ("uncompressed", lambda protocol: protocol.send_text(b"plain " * 100, True, False)),
    ("first fragment", lambda protocol: protocol.send_text(b"frag", fin=False)),
    ("middle fragment", lambda protocol: protocol.send_continuation(b"men", fin=False)),
    ("last fragment", lambda protocol: protocol.send_continuation(b"t", fin=True)),
    ("binary fragment", lambda protocol: protocol.send_binary(b"\x01", fin=False)),
    ("empty last fragment", lambda protocol: protocol.send_continuation(b"", fin=True)),
]


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("side", ["client", "server"])
def test_data_frames_leave_send_data_nothing_but_the_bytes(side: str, compression: bool) -> None:
    # The asyncio send() writes what data_to_send() returns and skips its
    # _send_data() (ARCHITECTURE.md, Performance devices): that is only right
    # if, after a data frame sent while OPEN, there is no EOF to send, no
    # close timer to start and no handshake end to handle.
    client, server = open_protocols(compression)
    protocol: Protocol = client if side == "client" else server
    for name, send in DATA_FRAME_SENDS:
        send(protocol)
        writes = protocol.data_to_send()
        # One frame, or a server's long payload after its header (see send()).
        assert len(writes) == 1 or (len(writes) == 2 and side == "server"), name
        assert all(data is not SEND_EOF and data for data in writes), name
        assert not protocol.close_expected(), name
        assert not protocol.eof_sent, name
        assert protocol.state is OPEN, name
