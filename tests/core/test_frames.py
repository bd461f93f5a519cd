"""Tests for wskit.frames: header parsing and building, frames and close payloads."""

from __future__ import annotations

import array
import dataclasses
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wskit.exceptions import ProtocolError
from wskit.extensions.base import Extension
from wskit.frames import (
    BINARY,
    CLOSE,
    CLOSE_CODE_EXPLANATIONS,
    CONT,
    CTRL_OPCODES,
    DATA_OPCODES,
    EXTERNAL_CLOSE_CODES,
    OK_CLOSE_CODES,
    PING,
    PONG,
    TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
    parse_header,
)
from wskit.speedups import apply_mask
from wskit.typing import BytesLike, ExtensionName

MASK_KEY = b"\x37\xfa\x21\x3d"


def decode_wire(wire: bytes) -> tuple[Frame, bytes | None]:
    """Decode one complete serialized frame, the way a receiver would."""
    header = parse_header(wire)
    assert header is not None
    first, length, payload_offset, mask_key = header
    payload = wire[payload_offset:]
    assert len(payload) == length
    if mask_key is not None:
        payload = apply_mask(payload, mask_key)
    frame = Frame(
        Opcode(first & 0x0F),
        payload,
        fin=bool(first & 0x80),
        rsv1=bool(first & 0x40),
        rsv2=bool(first & 0x20),
        rsv3=bool(first & 0x10),
    )
    return frame, mask_key


# Opcodes and close codes.


def test_opcode_values() -> None:
    assert {opcode.name: int(opcode) for opcode in Opcode} == {
        "CONT": 0,
        "TEXT": 1,
        "BINARY": 2,
        "CLOSE": 8,
        "PING": 9,
        "PONG": 10,
    }
    assert (CONT, TEXT, BINARY, CLOSE, PING, PONG) == (
        Opcode.CONT,
        Opcode.TEXT,
        Opcode.BINARY,
        Opcode.CLOSE,
        Opcode.PING,
        Opcode.PONG,
    )
    assert DATA_OPCODES == (CONT, TEXT, BINARY)
    assert CTRL_OPCODES == (CLOSE, PING, PONG)


def test_close_code_values() -> None:
    assert {code.name: int(code) for code in CloseCode} == {
        "NORMAL_CLOSURE": 1000,
        "GOING_AWAY": 1001,
        "PROTOCOL_ERROR": 1002,
        "UNSUPPORTED_DATA": 1003,
        "NO_STATUS_RCVD": 1005,
        "ABNORMAL_CLOSURE": 1006,
        "INVALID_DATA": 1007,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "MANDATORY_EXTENSION": 1010,
        "INTERNAL_ERROR": 1011,
        "SERVICE_RESTART": 1012,
        "TRY_AGAIN_LATER": 1013,
        "BAD_GATEWAY": 1014,
        "TLS_HANDSHAKE": 1015,
    }


def test_every_close_code_has_an_explanation() -> None:
    assert set(CLOSE_CODE_EXPLANATIONS) == set(CloseCode)


def test_external_close_codes() -> None:
    # 1005, 1006 and 1015 are local-only; 1004 is reserved.
    assert {int(code) for code in EXTERNAL_CLOSE_CODES} == {
        1000,
        1001,
        1002,
        1003,
        *range(1007, 1015),
    }


def test_ok_close_codes() -> None:
    assert {int(code) for code in OK_CLOSE_CODES} == {1000, 1001, 1005}


# parse_header.

HEADER_CASES = [
    # (payload length, header bytes without the mask key)
    (0, b"\x81\x00"),
    (1, b"\x81\x01"),
    (125, b"\x81\x7d"),
    (126, b"\x81\x7e\x00\x7e"),
    (65535, b"\x81\x7e\xff\xff"),
    (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    (2**32, b"\x81\x7f\x00\x00\x00\x01\x00\x00\x00\x00"),
    (2**63 - 1, b"\x81\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"),
]


@pytest.mark.parametrize(("length", "header"), HEADER_CASES)
def test_parse_header_unmasked(length: int, header: bytes) -> None:
    assert parse_header(header) == (0x81, length, len(header), None)


@pytest.mark.parametrize(("length", "header"), HEADER_CASES)
def test_parse_header_masked(length: int, header: bytes) -> None:
    masked = header[:1] + bytes([header[1] | 0x80]) + header[2:] + MASK_KEY
    assert parse_header(masked) == (0x81, length, len(masked), MASK_KEY)


@pytest.mark.parametrize(("length", "header"), HEADER_CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_parse_header_truncated(length: int, header: bytes, masked: bool) -> None:
    if masked:
        header = header[:1] + bytes([header[1] | 0x80]) + header[2:] + MASK_KEY
    for end in range(len(header)):
        assert parse_header(header[:end]) is None, end
        assert parse_header(b"prefix" + header[:end], 6) is None, end
    assert parse_header(header) is not None


@pytest.mark.parametrize(("length", "header"), HEADER_CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_parse_header_at_offset(length: int, header: bytes, masked: bool) -> None:
    if masked:
        header = header[:1] + bytes([header[1] | 0x80]) + header[2:] + MASK_KEY
    # Bytes of a previous frame before, start of the payload after.
    buffer = b"\x82\x03abc" + header + b"payload"
    expected_key = MASK_KEY if masked else None
    assert parse_header(buffer, 5) == (0x81, length, 5 + len(header), expected_key)


def test_parse_header_accepts_bytearray_and_memoryview() -> None:
    wire = b"\x82\xfe\x01\x00" + MASK_KEY
    expected = (0x82, 256, 8, MASK_KEY)
    assert parse_header(bytearray(wire)) == expected
    assert parse_header(memoryview(wire)) == expected
    # The mask key is a copy, not a view into the caller's buffer.
    result = parse_header(memoryview(wire))
    assert result is not None
    assert type(result[3]) is bytes


def test_parse_header_returns_first_byte_untouched() -> None:
    # FIN clear, all RSV bits set, reserved opcode: decoding is left to the caller.
    assert parse_header(b"\x73\x05") == (0x73, 5, 2, None)


@pytest.mark.parametrize("masked", [False, True])
def test_parse_header_rejects_64_bit_length_with_top_bit(masked: bool) -> None:
    second = 0xFF if masked else 0x7F
    header = bytes([0x82, second]) + struct.pack("!Q", 2**63) + MASK_KEY
    with pytest.raises(ProtocolError, match="most significant bit"):
        parse_header(header)
    with pytest.raises(ProtocolError):
        parse_header(b"\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff")


# Frame.serialize: headers.

# The lengths of HEADER_CASES that a payload in memory can have.
SERIALIZE_CASES = [(length, header) for length, header in HEADER_CASES if length <= 65536]


@pytest.mark.parametrize(("length", "header"), SERIALIZE_CASES)
def test_serialize_picks_shortest_header(length: int, header: bytes) -> None:
    payload = b"a" * length
    assert Frame(TEXT, payload).serialize(mask=False) == header + payload


@pytest.mark.parametrize(("length", "header"), SERIALIZE_CASES)
def test_serialize_masked_header(length: int, header: bytes) -> None:
    payload = b"a" * length
    wire = Frame(TEXT, payload).serialize(mask=True)
    assert wire[: len(header)] == header[:1] + bytes([header[1] | 0x80]) + header[2:]
    key = wire[len(header) : len(header) + 4]
    assert parse_header(wire) == (0x81, length, len(header) + 4, key)
    assert apply_mask(wire[len(header) + 4 :], key) == payload


# Frame.serialize.


def test_serialize_unmasked_text_frame() -> None:
    assert Frame(TEXT, b"Hello").serialize(mask=False) == b"\x81\x05Hello"


def test_serialize_masked_frame_uses_fresh_random_key() -> None:
    frame = Frame(BINARY, b"\x00" * 8)
    first = frame.serialize(mask=True)
    second = frame.serialize(mask=True)
    assert first[:2] == second[:2] == b"\x82\x88"
    # With an all-zero payload, the masked payload repeats the key.
    assert first[6:] == first[2:6] * 2
    assert second[6:] == second[2:6] * 2
    # 32-bit random keys: a collision here is a 1 in 4 billion event.
    assert first[2:6] != second[2:6]


def test_serialize_does_not_mutate_frame() -> None:
    data = bytearray(b"payload")
    frame = Frame(BINARY, data)
    frame.serialize(mask=True)
    assert data == b"payload"
    assert frame == Frame(BINARY, bytearray(b"payload"))


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536, 70000])
def test_serialize_round_trip_at_length_boundaries(mask: bool, length: int) -> None:
    data = bytes(i % 251 for i in range(length))
    frame = Frame(BINARY, data)
    decoded, mask_key = decode_wire(frame.serialize(mask=mask))
    assert decoded == frame
    assert (mask_key is not None) is mask


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize(
    ("bits", "first_byte"),
    [
        # (fin, rsv1, rsv2, rsv3)
        ((True, False, False, False), 0x82),
        ((False, False, False, False), 0x02),
        ((True, True, False, False), 0xC2),
        ((True, False, True, False), 0xA2),
        ((True, False, False, True), 0x92),
        ((False, True, True, True), 0x72),
    ],
)
def test_serialize_flag_bits(
    mask: bool, bits: tuple[bool, bool, bool, bool], first_byte: int
) -> None:
    fin, rsv1, rsv2, rsv3 = bits
    frame = Frame(BINARY, b"data", fin=fin, rsv1=rsv1, rsv2=rsv2, rsv3=rsv3)
    wire = frame.serialize(mask=mask)
    assert wire[0] == first_byte
    assert decode_wire(wire)[0] == frame


frames_strategy = st.one_of(
    st.builds(
        Frame,
        opcode=st.sampled_from(DATA_OPCODES),
        data=st.binary(max_size=300),
        fin=st.booleans(),
        rsv1=st.booleans(),
        rsv2=st.booleans(),
        rsv3=st.booleans(),
    ),
    st.builds(
        Frame,
        opcode=st.sampled_from(CTRL_OPCODES),
        data=st.binary(max_size=125),
        fin=st.just(True),
        rsv1=st.booleans(),
        rsv2=st.booleans(),
        rsv3=st.booleans(),
    ),
)


@given(frame=frames_strategy, mask=st.booleans())
def test_serialize_parse_round_trip(frame: Frame, mask: bool) -> None:
    wire = frame.serialize(mask=mask)
    decoded, mask_key = decode_wire(wire)
    assert decoded == frame
    assert (mask_key is not None) is mask
    if mask and len(frame.data) >= 4:
        # The payload on the wire is really masked with the advertised key.
        assert wire[-len(frame.data) :] == apply_mask(frame.data, wire[-len(frame.data) - 4 :][:4])


@given(frame=frames_strategy, mask=st.booleans(), split=st.integers(min_value=0))
def test_parse_header_incremental(frame: Frame, mask: bool, split: int) -> None:
    wire = frame.serialize(mask=mask)
    full = parse_header(wire)
    assert full is not None
    header_length = full[2]
    cut = split % (header_length + 1)
    if cut < header_length:
        assert parse_header(wire[:cut]) is None
    else:
        assert parse_header(wire[:cut]) == full


# Frame.serialize_header: the unmasked header alone, for a payload written after it.


def check_header(frame: Frame, header: bytes) -> None:
    """``frame`` has this header, and header + payload is the whole frame."""
    assert frame.serialize_header() == header
    assert header + bytes(memoryview(frame.data)) == frame.serialize(mask=False)


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x82\x00"),
        (1, b"\x82\x01"),
        (125, b"\x82\x7d"),  # the longest 7-bit length
        (126, b"\x82\x7e\x00\x7e"),  # the shortest 16-bit length
        (127, b"\x82\x7e\x00\x7f"),  # 127 would mean a 64-bit length in 7 bits
        (65535, b"\x82\x7e\xff\xff"),  # the longest 16-bit length
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),  # the shortest 64-bit
        (2**20, b"\x82\x7f\x00\x00\x00\x00\x00\x10\x00\x00"),
    ],
)
def test_serialize_header_lengths(length: int, header: bytes) -> None:
    check_header(Frame(BINARY, bytes(i % 251 for i in range(length))), header)


@pytest.mark.parametrize(
    ("frame", "header"),
    [
        (Frame(TEXT, "café".encode()), b"\x81\x05"),
        (Frame(BINARY, b"\x00\xff"), b"\x82\x02"),
        (Frame(TEXT, b"x" * 200, fin=False), b"\x01\x7e\x00\xc8"),
        (Frame(CONT, b"x" * 3), b"\x80\x03"),
        (Frame(BINARY, b"x", rsv1=True), b"\xc2\x01"),
        (Frame(BINARY, b"x", rsv2=True), b"\xa2\x01"),
        (Frame(BINARY, b"x", rsv3=True), b"\x92\x01"),
        (Frame(TEXT, b"", fin=False, rsv1=True, rsv2=True, rsv3=True), b"\x71\x00"),
        (Frame(PING, b"x" * 125), b"\x89\x7d"),  # the longest control frame
        (Frame(PONG, b""), b"\x8a\x00"),
        (Frame(CLOSE, b"\x03\xe8"), b"\x88\x02"),
    ],
    ids=str,
)
def test_serialize_header_first_byte(frame: Frame, header: bytes) -> None:
    check_header(frame, header)


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
def test_serialize_header_rejects_bad_control_frame(opcode: Opcode) -> None:
    # Like serialize(): the header of a frame that breaks the rules is refused.
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(opcode, b"x" * 126).serialize_header()
    with pytest.raises(ProtocolError, match="fragmented control frame"):
        Frame(opcode, b"", fin=False).serialize_header()


@pytest.mark.parametrize(
    ("data", "header"),
    [
        (bytearray(b"abc"), b"\x82\x03"),
        (memoryview(b"xxabcxx")[2:5], b"\x82\x03"),
        # 2 items of 4 bytes.
        (memoryview(bytes(8)).cast("I"), b"\x82\x08"),
        # 40 items, 160 bytes: past the 7-bit length in bytes only.
        (memoryview(array.array("i", range(40))), b"\x82\x7e\x00\xa0"),
        # 20,000 items, 80,000 bytes: past the 16-bit length in bytes only.
        (memoryview(array.array("i", bytes(80_000))), b"\x82\x7f" + (80_000).to_bytes(8, "big")),
    ],
    ids=["bytearray", "memoryview", "cast", "array-126", "array-65536"],
)
def test_serialize_header_counts_bytes_not_items(data: BytesLike, header: bytes) -> None:
    check_header(Frame(BINARY, data), header)


def test_serialize_header_control_frame_too_long_in_bytes() -> None:
    # 32 items of 4 bytes: 128 bytes, over the 125 allowed to a control frame.
    frame = Frame(PING, memoryview(array.array("I", bytes(128))))
    with pytest.raises(ProtocolError, match="control frame too long"):
        frame.serialize_header()
    with pytest.raises(ProtocolError, match="control frame too long"):
        frame.serialize(mask=False)


# Frame.serialize with extensions.


@dataclasses.dataclass
class TagExtension(Extension):
    """Appends a tag to the payload and optionally sets RSV1."""

    tag: bytes
    set_rsv1: bool = False

    def __post_init__(self) -> None:
        self.name = ExtensionName("x-tag")

    def encode(self, frame: Frame) -> Frame:
        return dataclasses.replace(
            frame, data=bytes(frame.data) + self.tag, rsv1=frame.rsv1 or self.set_rsv1
        )

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        raise AssertionError("serialize must not decode")


def test_serialize_applies_extensions_in_order() -> None:
    frame = Frame(TEXT, b"msg")
    extensions = [TagExtension(b"-a", set_rsv1=True), TagExtension(b"-b")]
    wire = frame.serialize(mask=False, extensions=extensions)
    assert wire == b"\xc1\x07msg-a-b"
    reversed_wire = frame.serialize(mask=False, extensions=extensions[::-1])
    assert reversed_wire == b"\xc1\x07msg-b-a"
    # The original frame is left alone.
    assert frame == Frame(TEXT, b"msg")


def test_serialize_with_masked_extension_output() -> None:
    wire = Frame(BINARY, b"xy").serialize(mask=True, extensions=[TagExtension(b"z", True)])
    decoded, _ = decode_wire(wire)
    assert decoded == Frame(BINARY, b"xyz", rsv1=True)


def test_serialize_with_no_extensions() -> None:
    frame = Frame(PONG, b"p")
    assert frame.serialize(mask=False, extensions=[]) == b"\x8a\x01p"
    assert frame.serialize(mask=False, extensions=None) == b"\x8a\x01p"


def test_serialize_checks_control_frame_after_extensions() -> None:
    frame = Frame(PING, b"x" * 125)
    assert len(frame.serialize(mask=False)) == 127
    with pytest.raises(ProtocolError, match="control frame too long"):
        frame.serialize(mask=False, extensions=[TagExtension(b"!")])


# Frame.serialize and Frame.check: rules every frame obeys.


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
@pytest.mark.parametrize("mask", [False, True])
def test_serialize_rejects_long_control_frame(opcode: Opcode, mask: bool) -> None:
    assert Frame(opcode, b"\x03\xe8" + b"x" * 123).serialize(mask=mask)
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(opcode, b"\x03\xe8" + b"x" * 124).serialize(mask=mask)


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
def test_serialize_rejects_fragmented_control_frame(opcode: Opcode) -> None:
    with pytest.raises(ProtocolError, match="fragmented control frame"):
        Frame(opcode, b"", fin=False).serialize(mask=False)


def test_serialize_allows_long_fragmented_data_frames() -> None:
    wire = Frame(CONT, b"x" * 200, fin=False).serialize(mask=False)
    assert wire[:4] == b"\x00\x7e\x00\xc8"


@pytest.mark.parametrize("bit", ["rsv1", "rsv2", "rsv3"])
@pytest.mark.parametrize("opcode", list(Opcode))
def test_check_rejects_reserved_bits(bit: str, opcode: Opcode) -> None:
    frame = Frame(opcode, b"", rsv1=bit == "rsv1", rsv2=bit == "rsv2", rsv3=bit == "rsv3")
    with pytest.raises(ProtocolError, match="reserved bits must be 0"):
        frame.check()


@pytest.mark.parametrize("opcode", list(Opcode))
def test_check_accepts_plain_frames(opcode: Opcode) -> None:
    Frame(opcode, b"x" * 125).check()


@pytest.mark.parametrize("opcode", DATA_OPCODES)
def test_check_accepts_long_and_fragmented_data_frames(opcode: Opcode) -> None:
    Frame(opcode, b"x" * 126, fin=False).check()


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
def test_check_rejects_long_control_frame(opcode: Opcode) -> None:
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(opcode, b"x" * 126).check()


@pytest.mark.parametrize("opcode", CTRL_OPCODES)
def test_check_rejects_fragmented_control_frame(opcode: Opcode) -> None:
    with pytest.raises(ProtocolError, match="fragmented control frame"):
        Frame(opcode, b"", fin=False).check()


# Frame.__str__.


@pytest.mark.parametrize(
    ("frame", "shown"),
    [
        (Frame(TEXT, "café".encode()), "TEXT 'café' [5 bytes]"),
        (Frame(TEXT, b"x"), "TEXT 'x' [1 byte]"),
        # An empty payload shows as quotes, without a tag.
        (Frame(TEXT, b""), "TEXT '' [0 bytes]"),
        (Frame(PING, b""), "PING '' [0 bytes]"),
        (Frame(CONT, b"", fin=False), "CONT '' [0 bytes, continued]"),
        # Text is shown as text whatever the opcode, tagged when the opcode
        # doesn't imply it, as websockets' logs show frames.
        (Frame(PING, b"ping"), "PING 'ping' [text, 4 bytes]"),
        (Frame(BINARY, b"hello"), "BINARY 'hello' [text, 5 bytes]"),
        (Frame(TEXT, b"ab", fin=False), "TEXT 'ab' [2 bytes, continued]"),
        (Frame(CONT, b"x", fin=False), "CONT 'x' [text, 1 byte, continued]"),
        # A character cut by fragmentation is still text.
        (Frame(CONT, "é".encode()[1:]), "CONT '\ufffd' [text, 1 byte]"),
        (Frame(TEXT, "é".encode()[:1], fin=False), "TEXT '\ufffd' [1 byte, continued]"),
        # Anything else is binary, shown in hexadecimal.
        (Frame(TEXT, b"ok\xff"), "TEXT 6f 6b ff [binary, 3 bytes]"),
        (Frame(BINARY, b"\x00\x01\xfe\xff"), "BINARY 00 01 fe ff [4 bytes]"),
        (Frame(PONG, b"\xab"), "PONG ab [binary, 1 byte]"),
        # A ping's payload counts as text only if it's printable ASCII.
        (Frame(PING, "é".encode()), "PING c3 a9 [binary, 2 bytes]"),
        (Frame(CLOSE, b"\x03\xe8bye"), "CLOSE 1000 (OK) bye [5 bytes]"),
        (Frame(CLOSE, b""), "CLOSE '' [0 bytes]"),
    ],
)
def test_str(frame: Frame, shown: str) -> None:
    assert str(frame) == shown


def test_str_long_text_is_elided() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(200))
    result = str(Frame(TEXT, text.encode()))
    shown = repr(text)
    assert result == f"TEXT {shown[:48] + '...' + shown[-24:]} [200 bytes]"


def test_str_long_payload_is_checked_for_text_at_both_ends() -> None:
    text = "é" * 1000
    assert str(Frame(TEXT, text.encode())).startswith("TEXT 'ééé")
    # Invalid UTF-8 at either end makes it binary.
    for payload in (b"\xff" + text.encode(), text.encode() + b"\xff"):
        assert str(Frame(TEXT, payload)).endswith("[binary, 2001 bytes]")


def test_str_text_at_limit_is_not_elided() -> None:
    text = "x" * (Frame.MAX_LOG_SIZE - 2)
    assert str(Frame(TEXT, text.encode())) == f"TEXT '{text}' [73 bytes]"


def test_str_long_binary_is_elided() -> None:
    result = str(Frame(BINARY, bytes(range(156, 256))))
    shown = result.removeprefix("BINARY ").removesuffix(" [100 bytes]")
    assert len(shown) == Frame.MAX_LOG_SIZE
    assert shown.startswith("9c 9d 9e 9f ")
    assert "..." in shown
    assert shown.endswith(" fc fd fe ff")


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        (b"\x03", "03"),  # too short
        (b"\x03\xe9\xff", "03 e9 ff"),  # reason isn't UTF-8
        (b"\x03\xec", "03 ec"),  # 1004 is reserved
    ],
)
def test_str_invalid_close_falls_back_to_hex(payload: bytes, shown: str) -> None:
    size = len(payload)
    suffix = "1 byte" if size == 1 else f"{size} bytes"
    assert str(Frame(CLOSE, payload)) == f"CLOSE {shown} [binary, {suffix}]"


# Close.parse.


def test_close_parse_empty() -> None:
    close = Close.parse(b"")
    assert close == Close(CloseCode.NO_STATUS_RCVD, "")
    assert close.code == 1005


def test_close_parse_one_byte() -> None:
    with pytest.raises(ProtocolError, match="close frame too short"):
        Close.parse(b"\x03")


VALID_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_parse_valid_code(code: int) -> None:
    close = Close.parse(struct.pack("!H", code) + b"reason")
    assert close == Close(code, "reason")
    assert Close.parse(struct.pack("!H", code)) == Close(code, "")


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_parse_invalid_code(code: int) -> None:
    with pytest.raises(ProtocolError, match=f"invalid close code {code}"):
        Close.parse(struct.pack("!H", code))


def test_close_parse_utf8_reason() -> None:
    assert Close.parse(b"\x03\xe8" + "adiós 👋".encode()) == Close(1000, "adiós 👋")


def test_close_parse_invalid_utf8_reason() -> None:
    with pytest.raises(UnicodeDecodeError):
        Close.parse(b"\x03\xe8\xc3")


def test_close_parse_accepts_bytearray_and_memoryview() -> None:
    assert Close.parse(bytearray(b"\x03\xe9bye")) == Close(1001, "bye")
    assert Close.parse(memoryview(b"\x03\xe9bye")) == Close(1001, "bye")


# Close.serialize.


def test_close_serialize() -> None:
    assert Close(CloseCode.NORMAL_CLOSURE, "bye").serialize() == b"\x03\xe8bye"
    assert Close(4321, "").serialize() == b"\x10\xe1"


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_serialize_invalid_code(code: int) -> None:
    with pytest.raises(ProtocolError, match="invalid close code"):
        Close(code, "").serialize()


def test_close_serialize_reason_limit_in_bytes() -> None:
    assert len(Close(1000, "x" * 123).serialize()) == 125
    with pytest.raises(ProtocolError, match="longer than 123 bytes"):
        Close(1000, "x" * 124).serialize()
    # 61 two-byte characters plus one: 123 bytes but only 62 characters.
    assert len(Close(1000, "é" * 61 + "x").serialize()) == 125
    # 62 two-byte characters: 124 bytes although only 62 characters.
    with pytest.raises(ProtocolError, match="longer than 123 bytes"):
        Close(1000, "é" * 62).serialize()
    with pytest.raises(ProtocolError, match="longer than 123 bytes"):
        Close(1000, "👋" * 31).serialize()


@given(
    code=st.sampled_from(sorted(EXTERNAL_CLOSE_CODES)) | st.integers(3000, 4999),
    reason=st.text(max_size=30),
)
def test_close_round_trip(code: int, reason: str) -> None:
    close = Close(code, reason)
    data = close.serialize()
    assert Close.parse(data) == close
    # A serialized close payload always fits in a control frame.
    assert Frame(CLOSE, data).serialize(mask=False)


# Close.__str__.


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        (Close(1000, ""), "1000 (OK)"),
        (Close(CloseCode.GOING_AWAY, "bye"), "1001 (going away) bye"),
        (Close(1006, ""), "1006 (abnormal closure [internal])"),
        (Close(1011, "oops"), "1011 (internal error) oops"),
        (Close(2999, ""), "2999 (unknown)"),
        (Close(3000, ""), "3000 (registered)"),
        (Close(3999, "x"), "3999 (registered) x"),
        (Close(4000, ""), "4000 (private use)"),
        (Close(4999, "y"), "4999 (private use) y"),
        (Close(1004, ""), "1004 (unknown)"),
        (Close(5000, "z"), "5000 (unknown) z"),
    ],
)
def test_close_str(close: Close, expected: str) -> None:
    assert str(close) == expected


def test_close_str_escapes_control_characters_in_reason() -> None:
    # A peer mustn't be able to send terminal escape sequences or forge log
    # lines through the close reason.
    close = Close(4000, "\x1b[31mred\nfake log line\x00")
    assert str(close) == "4000 (private use) \\x1b[31mred\\nfake log line\\x00"
    assert "\x1b" not in str(close)
    # The reason itself is unchanged.
    assert close.reason == "\x1b[31mred\nfake log line\x00"


def test_close_str_keeps_printable_non_ascii_reason() -> None:
    assert str(Close(1000, "au revoir, café ☕")) == "1000 (OK) au revoir, café ☕"


def test_str_close_frame_escapes_control_characters_in_reason() -> None:
    frame = Frame(CLOSE, Close(1001, "\x1b]0;title\x07").serialize())
    assert str(frame) == "CLOSE 1001 (going away) \\x1b]0;title\\x07 [12 bytes]"
