"""Tests for the hot path functions of wskit.speedups, in C and Python.

Every behaviour test runs against both implementations, imported directly, so
the fallback is tested even when the C extension is active (and vice versa).
The C parameter is skipped only if the extension was not built.
"""

from __future__ import annotations

import array
import ast
import contextlib
import dataclasses
import gc
import importlib
import itertools
import os
import re
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wskit
import wskit.exceptions
import wskit.frames
import wskit.speedups
from tests.c_extension import C_SPEEDUPS as _speedups
from tests.c_extension import needs_c
from wskit import _purepython, _purepython_asyncio, _purepython_messages
from wskit.protocol import Protocol, Side
from wskit.receiving import FrameReceiver

IMPLEMENTATIONS = [
    pytest.param(_purepython, id="python"),
    pytest.param(_speedups, id="c", marks=needs_c),
]


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The implementation under test: ``wskit._purepython`` or ``wskit._speedups``."""
    module: ModuleType = request.param
    return module


# --------------------------------------------------------------------------
# apply_mask
# --------------------------------------------------------------------------

MASK = b"\x37\xfa\x21\x3d"
# "κόσμε" (Greek "cosmos", the classic UTF-8 sample), 11 bytes.
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"


def reference_mask(data: bytes, mask: bytes) -> bytes:
    """The definition in RFC 6455, section 5.3, one byte at a time."""
    return bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))


def sample_payload(size: int) -> bytes:
    """Deterministic bytes with every value, so a wrong key byte shows."""
    return bytes((index * 7 + 3) % 256 for index in range(size))


def test_mask_rfc_example(impl: ModuleType) -> None:
    # RFC 6455, section 5.7: a masked "Hello" from client to server.
    assert impl.apply_mask(b"Hello", MASK) == b"\x7f\x9f\x4d\x51\x58"
    assert impl.apply_mask(b"\x7f\x9f\x4d\x51\x58", MASK) == b"Hello"


@pytest.mark.parametrize(
    ("data", "mask", "expected"),
    [
        (b"", b"\x01\x02\x03\x04", b""),
        (b"\x00" * 9, b"\x01\x02\x03\x04", b"\x01\x02\x03\x04" * 2 + b"\x01"),
        (b"\xff" * 4, b"\x0f\xf0\x00\xff", b"\xf0\x0f\xff\x00"),
        (b"abcd" * 5, b"\x00\x00\x00\x00", b"abcd" * 5),
        (b"\xaa" * 17, b"\xaa\xaa\xaa\xaa", b"\x00" * 17),
    ],
)
def test_mask_known_vectors(impl: ModuleType, data: bytes, mask: bytes, expected: bytes) -> None:
    assert impl.apply_mask(data, mask) == expected


# Every small length, then lengths around the SIMD blocks (SSE2's 16 and 64
# bytes, AVX2's 128, where the CPU has it, then SSE2 for what is left), the
# 8-byte words, and the 64 KiB threshold where the C code releases the GIL.
LENGTHS = sorted(
    set(range(65))
    | {n + d for n in (127, 128, 160, 192, 255, 256, 1024, 4096) for d in (-1, 0, 1)}
    | {65536 + d for d in (-9, -8, -1, 0, 1, 7, 8, 9)}
)


@pytest.mark.parametrize("size", LENGTHS)
def test_mask_every_length(impl: ModuleType, size: int) -> None:
    data = sample_payload(size)
    masked = impl.apply_mask(data, MASK)
    assert type(masked) is bytes
    assert masked == reference_mask(data, MASK)
    assert impl.apply_mask(masked, MASK) == data


@pytest.mark.parametrize("offset", range(16))
@pytest.mark.parametrize("size", [0, 1, 3, 7, 8, 15, 16, 17, 63, 64, 65, 100, 1000])
def test_mask_unaligned_slices(impl: ModuleType, offset: int, size: int) -> None:
    # A slice that starts at any offset into a buffer: unaligned loads in C.
    buffer = bytearray(sample_payload(offset + size + 16))
    view = memoryview(buffer)[offset : offset + size]
    assert impl.apply_mask(view, MASK) == reference_mask(bytes(view), MASK)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_mask_bytes_like_data(impl: ModuleType, kind: Any) -> None:
    data = sample_payload(100)
    original = kind(data)
    masked = impl.apply_mask(original, MASK)
    assert type(masked) is bytes
    assert masked == reference_mask(data, MASK)
    assert bytes(original) == data  # the input is left untouched


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_mask_bytes_like_mask(impl: ModuleType, kind: Any) -> None:
    assert impl.apply_mask(b"abcdef", kind(MASK)) == reference_mask(b"abcdef", MASK)


def test_mask_counts_bytes_not_items(impl: ModuleType) -> None:
    # A view of 4-byte integers: masking works on its bytes, not its items.
    data = array.array("I", [0x01020304, 0x05060708, 0x090A0B0C])
    expected = reference_mask(data.tobytes(), MASK)
    assert impl.apply_mask(memoryview(data), MASK) == expected
    assert impl.apply_mask(data, MASK) == expected


def test_mask_key_view(impl: ModuleType) -> None:
    # A key sliced from a larger buffer (as parsed from a frame header).
    header = b"\x81\x85" + MASK + b"more"
    assert impl.apply_mask(b"Hello", memoryview(header)[2:6]) == b"\x7f\x9f\x4d\x51\x58"


@pytest.mark.parametrize("mask", [b"", b"\x01", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"])
def test_mask_wrong_key_length(impl: ModuleType, mask: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        impl.apply_mask(b"data", mask)
    with pytest.raises(ValueError, match="4 bytes"):
        impl.apply_mask(b"", bytearray(mask))


def test_mask_non_contiguous(impl: ModuleType) -> None:
    strided = memoryview(sample_payload(32))[::2]
    with pytest.raises(BufferError):
        impl.apply_mask(strided, MASK)
    with pytest.raises(BufferError):
        impl.apply_mask(b"data", memoryview(b"\x01\x00\x02\x00\x03\x00\x04\x00")[::2])


@pytest.mark.parametrize(
    ("data", "mask"), [("text", MASK), (b"data", "mask"), (None, MASK), (4, MASK)]
)
def test_mask_not_bytes(impl: ModuleType, data: Any, mask: Any) -> None:
    with pytest.raises(TypeError):
        impl.apply_mask(data, mask)


def test_mask_keyword_arguments(impl: ModuleType) -> None:
    expected = reference_mask(b"payload", MASK)
    assert impl.apply_mask(data=b"payload", mask=MASK) == expected
    assert impl.apply_mask(b"payload", mask=MASK) == expected
    assert impl.apply_mask(mask=MASK, data=b"payload") == expected


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        ((b"data",), {}),
        ((b"data", MASK, MASK), {}),
        ((b"data",), {"data": b"data"}),
        ((b"data", MASK), {"mask": MASK}),
        ((b"data", MASK), {"key": MASK}),
        ((b"data",), {"key": MASK}),
    ],
)
def test_mask_bad_arguments(
    impl: ModuleType, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        impl.apply_mask(*args, **kwargs)


def test_mask_large_payload(impl: ModuleType) -> None:
    data = sample_payload(256) * 4096 + b"tail"  # 1 MiB and 4 bytes
    masked = impl.apply_mask(data, MASK)
    assert masked[:256] == reference_mask(data[:256], MASK)
    assert masked[-4:] == reference_mask(data[-4:], MASK)  # size % 4 == 0 here
    assert masked == reference_mask(data[:256], MASK) * 4096 + reference_mask(b"tail", MASK)
    assert impl.apply_mask(masked, MASK) == data


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300),
    mask=st.binary(min_size=4, max_size=4),
    offset=st.integers(min_value=0, max_value=15),
)
def test_mask_c_equals_python(data: bytes, mask: bytes, offset: int) -> None:
    assert _speedups is not None
    view = memoryview(b"\x00" * offset + data)[offset:]
    masked = _speedups.apply_mask(view, mask)
    assert masked == _purepython.apply_mask(view, mask) == reference_mask(data, mask)
    assert _speedups.apply_mask(masked, mask) == data


# --------------------------------------------------------------------------
# UTF8Validator: a reference from Unicode table 3-7
# --------------------------------------------------------------------------

# Unicode 15, table 3-7 "Well-Formed UTF-8 Byte Sequences": one row per kind
# of sequence, one (low, high) range per byte.
WELL_FORMED = [
    [(0x00, 0x7F)],
    [(0xC2, 0xDF), (0x80, 0xBF)],
    [(0xE0, 0xE0), (0xA0, 0xBF), (0x80, 0xBF)],
    [(0xE1, 0xEC), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xED, 0xED), (0x80, 0x9F), (0x80, 0xBF)],
    [(0xEE, 0xEF), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xF0, 0xF0), (0x90, 0xBF), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xF1, 0xF3), (0x80, 0xBF), (0x80, 0xBF), (0x80, 0xBF)],
    [(0xF4, 0xF4), (0x80, 0x8F), (0x80, 0xBF), (0x80, 0xBF)],
]


def reference_check(data: bytes) -> tuple[int | None, bool]:
    """Return the index of the first impossible byte (or None) and whether
    ``data`` ends between characters."""
    index = 0
    while index < len(data):
        rows = [row for row in WELL_FORMED if row[0][0] <= data[index] <= row[0][1]]
        if not rows:
            return index, False
        (row,) = rows
        for low, high in row[1:]:
            index += 1
            if index == len(data):
                return None, False  # truncated: still a valid prefix
            if not low <= data[index] <= high:
                return index, False
        index += 1
    return None, True


def fail_position(impl: ModuleType, data: bytes) -> int | None:
    """Feed ``data`` one byte at a time; return the index of the first False."""
    validator = impl.UTF8Validator()
    for index in range(len(data)):
        if not validator.feed(data[index : index + 1]):
            return index
    return None


def test_reference_agrees_with_python_codec() -> None:
    # The reference itself: same verdict as bytes.decode on complete inputs.
    for first, second in itertools.product(range(256), repeat=2):
        data = bytes([first, second, 0x80, 0x80])
        for size in (1, 2, 4):
            chunk = data[:size]
            position, complete = reference_check(chunk)
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                assert position is not None or not complete, chunk
            else:
                assert position is None, chunk
                assert complete, chunk


# --------------------------------------------------------------------------
# UTF8Validator: behaviour
# --------------------------------------------------------------------------

VALID_TEXTS = [
    "",
    "Hello, world!",
    "a" * 1000,
    "\x00\x7f",
    "\x80\u07ff",
    "\u0800\ud7ff\ue000\uffff",
    "\U00010000\U0010ffff",
    KOSME.decode(),
    "Привет, мир",
    "你好, 世界",
    "😀👍🏽 emoji",
    "mixed ascii et accentué " * 20 + "日本語" * 30 + "𝄞" * 10,
]


@pytest.mark.parametrize("text", VALID_TEXTS)
def test_utf8_valid_whole(impl: ModuleType, text: str) -> None:
    validator = impl.UTF8Validator()
    assert validator.feed(text.encode()) is True
    assert validator.finish() is True


@pytest.mark.parametrize("text", VALID_TEXTS)
def test_utf8_valid_byte_by_byte(impl: ModuleType, text: str) -> None:
    validator = impl.UTF8Validator()
    data = text.encode()
    assert all(validator.feed(data[index : index + 1]) for index in range(len(data)))
    assert validator.finish() is True


@pytest.mark.parametrize(
    "code_point",
    [
        0x00,
        0x7F,
        0x80,
        0x7FF,
        0x800,
        0xFFF,
        0x1000,
        0xCFFF,
        0xD000,
        0xD7FF,
        0xE000,
        0xFFFF,
        0x10000,
        0x3FFFF,
        0x40000,
        0xFFFFF,
        0x100000,
        0x10FFFF,
    ],
)
def test_utf8_boundary_code_points(impl: ModuleType, code_point: int) -> None:
    data = chr(code_point).encode()
    for split in range(len(data) + 1):
        validator = impl.UTF8Validator()
        assert validator.feed(b"x" + data[:split]) is True
        assert validator.feed(data[split:] + b"y") is True
        assert validator.finish() is True


@pytest.mark.parametrize(
    ("data", "position"),
    [
        # Overlong forms.
        (b"\xc0\x80", 0),
        (b"\xc1\xbf", 0),
        (b"\xe0\x80\x80", 1),
        (b"\xe0\x9f\xbf", 1),
        (b"\xf0\x80\x80\x80", 1),
        (b"\xf0\x8f\xbf\xbf", 1),
        # Surrogates U+D800..U+DFFF.
        (b"\xed\xa0\x80", 1),
        (b"\xed\xbf\xbf", 1),
        (b"\xed\xad\xbf\xed\xb0\x80", 1),
        # Above U+10FFFF.
        (b"\xf4\x90\x80\x80", 1),
        (b"\xf4\xbf\xbf\xbf", 1),
        (b"\xf5\x80\x80\x80", 0),
        (b"\xf7\xbf\xbf\xbf", 0),
        (b"\xf8\x88\x80\x80\x80", 0),
        (b"\xfe", 0),
        (b"\xff", 0),
        # Stray continuation bytes.
        (b"\x80", 0),
        (b"\xbf", 0),
        (b"ab\x80cd", 2),
        (b"\xc3\xa9\xa9", 2),
        (b"\xe2\x82\xac\x80", 3),
        # A lead byte without enough continuation bytes.
        (b"\xc2A", 1),
        (b"\xe1\x80A", 2),
        (b"\xf1\x80\x80A", 3),
        (b"\xf1\x80\x80\xc2", 3),
        (b"\xe1\xe1", 1),
        # Late in a long valid text.
        (KOSME * 100 + b"\xff" + b"a" * 100, 1100),
        (b"a" * 1000 + b"\xed\xa0\x80", 1001),
    ],
)
def test_utf8_invalid(impl: ModuleType, data: bytes, position: int) -> None:
    assert reference_check(data)[0] == position  # the case list is right
    validator = impl.UTF8Validator()
    assert validator.feed(data) is False
    assert validator.finish() is False
    # Fed in two pieces around the bad byte: fails with the piece holding it.
    for split in (position, position + 1):
        validator = impl.UTF8Validator()
        assert validator.feed(data[:split]) is (split <= position)
        assert validator.feed(data[split:]) is False
        assert validator.finish() is False
    assert fail_position(impl, data) == position


@pytest.mark.parametrize(
    "data",
    [
        b"\xc2",
        b"\xdf",
        b"\xe0\xa0",
        b"\xe1",
        b"\xed\x9f",
        b"\xef\xbf",
        b"\xf0\x90\x80",
        b"\xf3",
        b"\xf4\x8f\xbf",
        b"abc\xe2\x82",
    ],
)
def test_utf8_truncated_at_finish(impl: ModuleType, data: bytes) -> None:
    validator = impl.UTF8Validator()
    assert validator.feed(data) is True  # a valid prefix so far...
    assert validator.finish() is False  # ...but the text ends inside a character


def test_utf8_exhaustive_one_and_two_bytes(impl: ModuleType) -> None:
    # Every 1- and 2-byte input, byte by byte and in one call, against the
    # reference: the first False comes exactly at the first impossible byte.
    for size in (1, 2):
        for data in map(bytes, itertools.product(range(256), repeat=size)):
            position, complete = reference_check(data)
            assert fail_position(impl, data) == position, data
            validator = impl.UTF8Validator()
            assert validator.feed(data) is (position is None), data
            assert validator.finish() is complete, data


def incomplete_prefixes(size: int) -> list[bytes]:
    """Every ``size``-byte valid prefix that ends inside a character."""
    prefixes = []
    for data in map(bytes, itertools.product(range(0x80, 0x100), repeat=size)):
        position, complete = reference_check(data)
        if position is None and not complete and len(data) == size:
            prefixes.append(data)
    return prefixes


INCOMPLETE_2 = incomplete_prefixes(2)


def test_utf8_exhaustive_three_bytes(impl: ModuleType) -> None:
    # A 3-byte input that starts with a whole character (ASCII, or a 2-byte
    # sequence) leaves the validator where a shorter input does, which the
    # test above covers. What is left: every prefix still inside a character
    # after 2 bytes, followed by every byte.
    assert len(INCOMPLETE_2) == 32 + 14 * 64 + 32 + 48 + 3 * 64 + 16
    for prefix in INCOMPLETE_2:
        for last in range(256):
            data = prefix + bytes([last])
            position, complete = reference_check(data)
            assert fail_position(impl, data) == position, data
            validator = impl.UTF8Validator()
            assert validator.feed(data) is (position is None), data
            assert validator.finish() is complete, data


def test_utf8_fourth_byte(impl: ModuleType) -> None:
    # After 3 bytes of a 4-byte character the table allows 80..BF whatever
    # came before: check every last byte after the extreme valid prefixes.
    for lead in range(0xF0, 0xF5):
        seconds = [
            second
            for second in range(0x80, 0xC0)
            if reference_check(bytes([lead, second]))[0] is None
        ]
        for second, third in itertools.product((seconds[0], seconds[-1]), (0x80, 0xBF)):
            prefix = bytes([lead, second, third])
            for last in range(256):
                data = prefix + bytes([last])
                position, complete = reference_check(data)
                assert fail_position(impl, data) == position, data
                validator = impl.UTF8Validator()
                assert validator.feed(prefix[:1]) is True
                assert validator.feed(prefix[1:] + bytes([last])) is (position is None)
                assert validator.finish() is complete


# Autobahn cases 6.4.1-6.4.4: a text message whose second part makes it
# invalid (the code point U+110000 would start with F4 90). The server must
# fail as soon as the bad part arrives, not at the end of the message.


@pytest.mark.parametrize(
    ("fragments", "failing"),
    [
        # 6.4.1: three fragments, the 2nd holds the whole bad sequence.
        ([KOSME, b"\xf4\x90\x80\x80", b"edited"], 1),
        # 6.4.2: the bad sequence split: F4 ends the 1st fragment, 90 is the 2nd.
        ([KOSME + b"\xf4", b"\x90", b"\x80\x80edited"], 1),
        # 6.4.3 / 6.4.4: the same payloads arriving in small chops.
        ([KOSME, b"\xf4", b"\x90", b"\x80", b"\x80", b"edited"], 2),
        ([bytes([byte]) for byte in KOSME + b"\xf4\x90\x80\x80edited"], len(KOSME) + 1),
        # The same with a surrogate instead: ED A0 must fail on A0.
        ([KOSME + b"\xed", b"\xa0", b"\x80edited"], 1),
    ],
)
def test_utf8_autobahn_fail_fast(impl: ModuleType, fragments: list[bytes], failing: int) -> None:
    validator = impl.UTF8Validator()
    results = [validator.feed(fragment) for fragment in fragments]
    assert results == [index < failing for index in range(len(fragments))]
    assert validator.finish() is False


@pytest.mark.parametrize("text", [KOSME.decode(), "€uro", "a😀b日", "\U0010ffff\U00010000"])
def test_utf8_state_across_calls(impl: ModuleType, text: str) -> None:
    data = text.encode()
    for first, second in itertools.combinations(range(len(data) + 1), 2):
        validator = impl.UTF8Validator()
        assert validator.feed(data[:first]) is True
        assert validator.feed(b"") is True  # an empty chunk changes nothing
        assert validator.feed(data[first:second]) is True
        assert validator.feed(data[second:]) is True
        assert validator.finish() is True


def test_utf8_invalid_is_sticky(impl: ModuleType) -> None:
    validator = impl.UTF8Validator()
    assert validator.feed(b"\xff") is False
    assert validator.feed(b"valid") is False
    assert validator.feed(b"") is False
    assert validator.finish() is False


def test_utf8_finish_resets(impl: ModuleType) -> None:
    validator = impl.UTF8Validator()
    assert validator.finish() is True  # nothing fed: the empty text is valid
    assert validator.feed(b"\xff") is False
    assert validator.finish() is False
    assert validator.feed(b"fresh") is True  # finish() started a new text
    assert validator.finish() is True
    assert validator.feed(b"\xe2\x82") is True
    assert validator.finish() is False  # truncated
    assert validator.feed(b"\xac") is False  # the half character was forgotten
    assert validator.finish() is False


def test_utf8_reset(impl: ModuleType) -> None:
    validator = impl.UTF8Validator()
    assert validator.feed(b"\xc0") is False
    validator.reset()
    assert validator.feed(b"ok \xc3") is True
    validator.reset()  # forgets the pending half character
    assert validator.feed(b"\xa9") is False
    validator.reset()
    assert validator.finish() is True


def test_utf8_validators_are_independent(impl: ModuleType) -> None:
    first, second = impl.UTF8Validator(), impl.UTF8Validator()
    assert first.feed(b"\xe2") is True
    assert second.feed(b"\xff") is False
    assert first.feed(b"\x82\xac") is True
    assert first.finish() is True


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_utf8_bytes_like(impl: ModuleType, kind: Any) -> None:
    data = "日本語のテキスト".encode()
    validator = impl.UTF8Validator()
    assert validator.feed(kind(data[:4])) is True
    assert validator.feed(kind(data[4:])) is True
    assert validator.finish() is True
    assert validator.feed(memoryview(b"xx\xe2\x82\xacxx")[2:5]) is True
    assert validator.finish() is True


def test_utf8_multibyte_item_view(impl: ModuleType) -> None:
    # 2-byte items: the validator reads the underlying bytes.
    data = array.array("H", [0x4142, 0xA9C3])  # b"BA\xc3\xa9" in little-endian
    validator = impl.UTF8Validator()
    assert validator.feed(memoryview(data)) is (sys.byteorder == "little")


def test_utf8_bad_arguments(impl: ModuleType) -> None:
    validator = impl.UTF8Validator()
    with pytest.raises(TypeError):
        validator.feed("text")
    with pytest.raises(BufferError):
        validator.feed(memoryview(b"abcd")[::2])
    assert validator.feed(b"\xff") is False
    with pytest.raises(TypeError):  # checked even once the text is invalid
        validator.feed("text")
    with pytest.raises(TypeError):
        impl.UTF8Validator(b"data")
    with pytest.raises(TypeError):
        impl.UTF8Validator(data=b"data")


def test_utf8_large_inputs(impl: ModuleType) -> None:
    # Large chunks, above the size where the C code releases the GIL.
    ascii_text = b"plain ascii text " * 8000
    multibyte = "Пример текста 例文 😀 ".encode() * 4000
    for data in (ascii_text, multibyte, ascii_text + multibyte):
        validator = impl.UTF8Validator()
        assert validator.feed(data) is True
        assert validator.feed(data[:-1]) is True
        assert validator.finish() is (data[-1] < 0x80)
    validator = impl.UTF8Validator()
    assert validator.feed(multibyte + b"\xed\xbf\xbf" + ascii_text) is False


# Bytes that exercise every class of the automaton, so random strings hit
# edge cases often instead of being mostly invalid at once.
INTERESTING_BYTES = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1]
INTERESTING_BYTES += [0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3]
INTERESTING_BYTES += [0xF4, 0xF5, 0xFF]


def feed_in_pieces(impl: ModuleType, data: bytes, cuts: Sequence[int]) -> list[bool]:
    """Feed ``data`` split at ``cuts``; return every feed() result, then finish()'s."""
    validator = impl.UTF8Validator()
    bounds = [0, *sorted(cut % (len(data) + 1) for cut in cuts), len(data)]
    results = [validator.feed(data[start:end]) for start, end in itertools.pairwise(bounds)]
    results.append(validator.finish())
    return results


@settings(max_examples=500, deadline=None)
@given(
    data=st.lists(st.sampled_from(INTERESTING_BYTES), max_size=40).map(bytes),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=5),
)
def test_utf8_random_bytes(data: bytes, cuts: list[int]) -> None:
    position, complete = reference_check(data)
    results = feed_in_pieces(_purepython, data, cuts)
    if _speedups is not None:
        assert feed_in_pieces(_speedups, data, cuts) == results
    assert results[-1] is complete
    assert fail_position(_purepython, data) == position


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=5),
    noise=st.tuples(st.integers(min_value=0, max_value=300), st.binary(max_size=3)),
)
def test_utf8_random_text(text: str, cuts: list[int], noise: tuple[int, bytes]) -> None:
    data = text.encode("utf-8", "surrogatepass")  # surrogates from st.text() must fail
    where, inserted = noise
    where %= len(data) + 1
    data = data[:where] + inserted + data[where:]
    results = feed_in_pieces(_purepython, data, cuts)
    if _speedups is not None:
        assert feed_in_pieces(_speedups, data, cuts) == results
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert results[-1] is False
    else:
        assert all(results)


# --------------------------------------------------------------------------
# parse_header and read_frame
# --------------------------------------------------------------------------


def frame_bytes(first: int, payload: bytes, mask: bytes | None) -> bytes:
    """Encode a frame by the book (RFC 6455, section 5.2), one field at a time."""
    size = len(payload)
    if size < 126:
        length = bytes([size])
    elif size < 2**16:
        length = bytes([126]) + size.to_bytes(2, "big")
    else:
        length = bytes([127]) + size.to_bytes(8, "big")
    if mask is None:
        return bytes([first]) + length + payload
    length = bytes([length[0] | 0x80]) + length[1:]
    return bytes([first]) + length + mask + reference_mask(payload, mask)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 2**17 + 3])
@pytest.mark.parametrize("mask", [None, MASK])
def test_read_frame_whole(impl: ModuleType, size: int, mask: bytes | None) -> None:
    payload = sample_payload(size)
    wire = frame_bytes(0x82, payload, mask)
    header_size = len(wire) - size
    assert impl.read_frame(wire) == (0x82, mask is not None, size, len(wire), payload)
    assert impl.parse_header(wire) == (0x82, size, header_size, mask)


@pytest.mark.parametrize("size", [0, 5, 126, 65536])
@pytest.mark.parametrize("mask", [None, MASK])
def test_read_frame_arriving(impl: ModuleType, size: int, mask: bytes | None) -> None:
    wire = frame_bytes(0x01, sample_payload(size), mask)
    header_size = len(wire) - size
    # After a prefix that belongs to the previous frame.
    buffer = bytearray(b"previous")
    for end in range(len(wire) + 1):
        buffer[8:] = wire[:end]
        parsed = impl.read_frame(buffer, 8)
        if end < header_size:
            assert parsed is None, end
            assert impl.parse_header(buffer, 8) is None, end
        elif end < len(wire):
            assert parsed == (0x01, mask is not None, size, 8 + len(wire), None), end
        else:
            assert parsed == (0x01, mask is not None, size, 8 + len(wire), sample_payload(size))
        if end == header_size + 1 and size > 100:
            break  # the rest of a long payload changes nothing until its end


def test_read_frame_many_in_one_buffer(impl: ModuleType) -> None:
    frames = [frame_bytes(0x81, sample_payload(size), MASK) for size in (3, 0, 200)]
    buffer = memoryview(b"".join(frames))
    position, payloads = 0, []
    while parsed := impl.read_frame(buffer, position):
        _, _, _, position, payload = parsed
        payloads.append(payload)
    assert payloads == [sample_payload(3), b"", sample_payload(200)]
    assert position == len(buffer)


def test_read_frame_huge_length(impl: ModuleType) -> None:
    # The largest length allowed: known from the header, payload far away.
    wire = bytes([0x82, 0xFF]) + (2**63 - 1).to_bytes(8, "big") + MASK
    assert impl.read_frame(wire) == (0x82, True, 2**63 - 1, 14 + 2**63 - 1, None)


def test_read_frame_length_top_bit(impl: ModuleType) -> None:
    wire = bytes([0x82, 0x7F]) + (2**63).to_bytes(8, "big")
    with pytest.raises(wskit.exceptions.ProtocolError, match="most significant bit"):
        impl.read_frame(wire)
    with pytest.raises(wskit.exceptions.ProtocolError, match="most significant bit"):
        impl.parse_header(wire)


@pytest.mark.parametrize("offset", [-1, 3])
def test_read_frame_offset_out_of_range(impl: ModuleType, offset: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        impl.read_frame(b"\x81\x00", offset)
    with pytest.raises(ValueError, match="out of range"):
        impl.parse_header(b"\x81\x00", offset)


def test_read_frame_at_the_end(impl: ModuleType) -> None:
    assert impl.read_frame(b"\x81\x00", 2) is None


def test_read_frame_not_bytes(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.read_frame("\x81\x00")


@needs_c
@pytest.mark.parametrize("args", [(), (b"\x81\x00", 0, 0)])
def test_read_frame_argument_count(args: tuple[Any, ...]) -> None:
    assert _speedups is not None
    for function in (_speedups.read_frame, _speedups.parse_header):
        with pytest.raises(TypeError, match="takes 1 or 2 arguments"):
            function(*args)


@needs_c
def test_read_frame_offset_not_an_integer() -> None:
    assert _speedups is not None
    with pytest.raises(TypeError):
        _speedups.read_frame(b"\x81\x00", "0")


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=300),
    first=st.integers(0, 255),
    masked=st.booleans(),
    cut=st.integers(0, 320),
)
def test_read_frame_c_equals_python(payload: bytes, first: int, masked: bool, cut: int) -> None:
    wire = frame_bytes(first, payload, MASK if masked else None)[:cut]
    expected = _purepython.read_frame(wire)
    if _speedups is not None:
        assert _speedups.read_frame(wire) == expected
        assert _speedups.parse_header(wire) == _purepython.parse_header(wire)


# --------------------------------------------------------------------------
# build_frame
# --------------------------------------------------------------------------


def split_built(wire: bytes) -> tuple[bytes, bytes | None, bytes]:
    """Split a frame from build_frame into header, mask key and unmasked payload."""
    header = _purepython.parse_header(wire)
    assert header is not None
    _, length, start, key = header
    assert len(wire) == start + length
    payload = wire[start:]
    if key is not None:
        payload = reference_mask(payload, key)
    return wire[: start - (0 if key is None else 4)], key, payload


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 2**17 + 3])
def test_build_frame_unmasked(impl: ModuleType, size: int) -> None:
    payload = sample_payload(size)
    assert impl.build_frame(0x82, payload, False) == frame_bytes(0x82, payload, None)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 2**17 + 3])
def test_build_frame_masked(impl: ModuleType, size: int) -> None:
    payload = sample_payload(size)
    wire = impl.build_frame(0x01, payload, True)
    _, key, unmasked = split_built(wire)
    assert key is not None
    assert wire == frame_bytes(0x01, payload, key)
    assert unmasked == payload


def test_build_frame_fresh_keys(impl: ModuleType) -> None:
    # More frames than the C version draws keys for at once.
    keys = [split_built(impl.build_frame(0x82, b"", True))[1] for _ in range(600)]
    # 32-bit random keys: even one collision among 600 is a 1 in 24,000 event.
    assert len(set(keys)) >= 599


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_build_frame_bytes_like(impl: ModuleType, kind: Any) -> None:
    assert impl.build_frame(0x82, kind(b"abc"), False) == b"\x82\x03abc"
    assert split_built(impl.build_frame(0x82, kind(b"abc"), True))[2] == b"abc"


def test_build_frame_counts_bytes_not_items(impl: ModuleType) -> None:
    payload = array.array("I", [1, 2])  # 2 items, 8 bytes
    assert impl.build_frame(0x82, payload, False) == b"\x82\x08" + payload.tobytes()


@pytest.mark.parametrize("first", [-1, 256])
def test_build_frame_first_byte_out_of_range(impl: ModuleType, first: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        impl.build_frame(first, b"", False)


def test_build_frame_bad_payload(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.build_frame(0x81, "text", False)
    with pytest.raises(BufferError):
        impl.build_frame(0x82, memoryview(b"abcd")[::2], True)


@needs_c
def test_build_frame_bad_arguments() -> None:
    assert _speedups is not None
    with pytest.raises(TypeError, match="takes 3 arguments"):
        _speedups.build_frame(0x82, b"")
    with pytest.raises(TypeError):
        _speedups.build_frame("0x82", b"", False)


@needs_c
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_build_frame_forked_child_draws_new_keys() -> None:
    # The C version draws keys in batches; a child that kept its parent's
    # batch would send the very keys the parent sends next.
    assert _speedups is not None
    _speedups.build_frame(0x82, b"", True)  # the batch is drawn and in use
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which coverage doesn't follow
        os.close(read_end)
        os.write(write_end, _speedups.build_frame(0x82, b"", True)[2:6])
        os._exit(0)
    os.close(write_end)
    try:
        child_key = os.read(read_end, 4)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    parent_key = _speedups.build_frame(0x82, b"", True)[2:6]
    assert len(child_key) == 4
    assert child_key != parent_key


# The C build_frame() keeps the last long frame (64 KiB to 4 MiB) and builds
# the next one of the same size into it once nobody else holds it.


@needs_c
@pytest.mark.parametrize("size", [2**16 - 4, 2**20, 4 * 2**20 - 14])
def test_build_frame_reuses_a_long_frame_nobody_holds(size: int) -> None:
    assert _speedups is not None
    payload = sample_payload(size)
    first = _speedups.build_frame(0x82, payload, True)
    # Kept: the local name, the argument of getrefcount, and the spare.
    assert sys.getrefcount(first) == 3
    address = id(first)
    del first  # the spare still holds it: no other object can take its place
    second = _speedups.build_frame(0x82, payload, True)
    assert id(second) == address
    _, key, unmasked = split_built(second)
    assert key is not None
    assert unmasked == payload


@needs_c
def test_build_frame_never_reuses_a_frame_someone_holds() -> None:
    assert _speedups is not None
    payload = sample_payload(2**17)
    first = _speedups.build_frame(0x82, payload, True)
    copy = bytes(bytearray(first))
    second = _speedups.build_frame(0x82, payload, True)
    assert second is not first
    assert first == copy
    # Nor one of another size.
    third = _speedups.build_frame(0x82, payload[:-1], True)
    assert len(third) == len(first) - 1


@needs_c
def test_build_frame_reused_frame_hashes_anew() -> None:
    assert _speedups is not None
    payload = sample_payload(2**17)
    first = _speedups.build_frame(0x82, payload, True)
    hash(first)  # cached on the object
    del first
    second = _speedups.build_frame(0x82, payload, True)
    assert hash(second) == hash(bytes(bytearray(second)))


@needs_c
@pytest.mark.parametrize("size", [2**16 - 15, 4 * 2**20 - 13])
def test_build_frame_keeps_no_other_frame(size: int) -> None:
    # Below 64 KiB, reusing saves nothing; above 4 MiB, it would keep too much.
    assert _speedups is not None
    frame = _speedups.build_frame(0x82, bytes(size), True)
    assert sys.getrefcount(frame) == 2


# --------------------------------------------------------------------------
# read_messages
# --------------------------------------------------------------------------


def read_all(
    impl: ModuleType,
    wire: bytes,
    masked: bool = True,
    limits: tuple[int | None, int | None] = (None, None),
    offset: int = 0,
) -> tuple[int, list[tuple[int, bytes]]]:
    """Run read_messages; return where it stopped and (opcode, payload) per frame."""
    events: list[Any] = []
    end = impl.read_messages(wire, offset, events, masked, *limits)
    for event in events:
        assert isinstance(event, wskit.frames.Frame)
        assert (event.fin, event.rsv1, event.rsv2, event.rsv3) == (True, False, False, False)
        assert type(event.data) is bytes
    return end, [(event.opcode, event.data) for event in events]


@pytest.mark.parametrize("mask", [None, MASK])
def test_read_messages_whole_frames(impl: ModuleType, mask: bytes | None) -> None:
    texts = [KOSME, b"", b"plain"]
    wire = b"".join(
        [frame_bytes(0x81, texts[0], mask), frame_bytes(0x82, sample_payload(70_000), mask)]
        + [frame_bytes(0x81, text, mask) for text in texts[1:]]
    )
    end, events = read_all(impl, wire, masked=mask is not None)
    assert end == len(wire)
    assert events == [
        (wskit.frames.TEXT, KOSME),
        (wskit.frames.BINARY, sample_payload(70_000)),
        (wskit.frames.TEXT, b""),
        (wskit.frames.TEXT, b"plain"),
    ]


def test_read_messages_appends_to_events(impl: ModuleType) -> None:
    events: list[Any] = ["earlier"]
    wire = frame_bytes(0x82, b"abc", MASK)
    assert impl.read_messages(b"xx" + wire, 2, events, True, None, None) == 2 + len(wire)
    assert events[0] == "earlier"
    assert events[1] == wskit.frames.Frame(wskit.frames.BINARY, b"abc")


def test_read_messages_builds_frames_as_frame_does(impl: ModuleType) -> None:
    # The C twin sets Frame's slots in place rather than calling it: the
    # frame must be the same object Frame() builds, defaults included.
    events: list[Any] = []
    impl.read_messages(frame_bytes(0x81, b"hi", MASK), 0, events, True, None, None)
    (frame,) = events
    assert type(frame) is wskit.frames.Frame
    expected = wskit.frames.Frame(wskit.frames.TEXT, b"hi")
    assert frame == expected
    assert repr(frame) == repr(expected)
    assert frame.opcode is wskit.frames.TEXT
    assert frame.fin is True
    assert frame.rsv1 is frame.rsv2 is frame.rsv3 is False
    assert gc.is_tracked(frame)
    assert dataclasses.replace(frame, fin=False) == wskit.frames.Frame(
        wskit.frames.TEXT, b"hi", fin=False
    )


def test_frame_keeps_its_fields_in_slots() -> None:
    # What lets the C twin of read_messages build frames in place.
    assert wskit.frames.Frame.__slots__ == ("opcode", "data", "fin", "rsv1", "rsv2", "rsv3")
    assert not hasattr(wskit.frames.Frame(wskit.frames.TEXT, b""), "__dict__")


@pytest.mark.parametrize(
    ("first", "payload", "masked", "limits"),
    [
        pytest.param(0x02, b"abc", True, (None, None), id="not final"),
        pytest.param(0x80, b"abc", True, (None, None), id="continuation"),
        pytest.param(0x89, b"abc", True, (None, None), id="ping"),
        pytest.param(0x88, b"\x03\xe8", True, (None, None), id="close"),
        pytest.param(0x83, b"abc", True, (None, None), id="reserved opcode"),
        pytest.param(0xC2, b"abc", True, (None, None), id="rsv1"),
        pytest.param(0xA2, b"abc", True, (None, None), id="rsv2"),
        pytest.param(0x92, b"abc", True, (None, None), id="rsv3"),
        pytest.param(0x82, b"abc", False, (None, None), id="unmasked"),
        pytest.param(0x82, b"abcd", True, (3, None), id="over message limit"),
        pytest.param(0x82, b"abcd", True, (None, 3), id="over fragment limit"),
        pytest.param(0x81, b"\xff", True, (None, None), id="invalid text"),
        pytest.param(0x81, b"\xce", True, (None, None), id="truncated text"),
        pytest.param(0x81, b"a\xed\xa0\x80", True, (None, None), id="surrogate"),
    ],
)
def test_read_messages_stops_before(
    impl: ModuleType,
    first: int,
    payload: bytes,
    masked: bool,
    limits: tuple[int | None, int | None],
) -> None:
    # A good frame, then one the general rules must handle, then a good one.
    good = frame_bytes(0x82, b"ok", MASK)
    odd = frame_bytes(first, payload, MASK if masked else None)
    end, events = read_all(impl, good + odd + good, limits=limits)
    assert end == len(good)
    assert events == [(wskit.frames.BINARY, b"ok")]


def test_read_messages_at_the_limits(impl: ModuleType) -> None:
    wire = frame_bytes(0x82, b"abc", MASK)
    assert read_all(impl, wire, limits=(3, 3))[0] == len(wire)


@pytest.mark.parametrize("limits", [(-1, None), (None, -1), (100, -5), (-100, 100)])
def test_read_messages_reads_nothing_within_a_negative_limit(
    impl: ModuleType, limits: tuple[int | None, int | None]
) -> None:
    # The general rules compare a frame's length with each limit: every
    # frame, even an empty one, is over a negative limit.
    wire = frame_bytes(0x82, b"", MASK) + frame_bytes(0x82, b"ok", MASK)
    assert read_all(impl, wire, limits=limits) == (0, [])


@pytest.mark.parametrize("size", [0, 3, 126, 70_000])
def test_read_messages_incomplete(impl: ModuleType, size: int) -> None:
    good = frame_bytes(0x81, b"ok", MASK)
    wire = frame_bytes(0x82, sample_payload(size), MASK)
    for cut in (1, len(wire) - size - 1, len(wire) - 1):
        end, events = read_all(impl, good + wire[:cut])
        assert end == len(good)
        assert events == [(wskit.frames.TEXT, b"ok")]


def test_read_messages_length_top_bit(impl: ModuleType) -> None:
    # Left to read_frame, which raises ProtocolError.
    wire = bytes([0x82, 0xFF]) + (2**63).to_bytes(8, "big") + MASK
    assert read_all(impl, wire) == (0, [])


def test_read_messages_nothing_to_read(impl: ModuleType) -> None:
    assert read_all(impl, b"") == (0, [])
    assert read_all(impl, b"\x82\x00", offset=2) == (2, [])


@pytest.mark.parametrize("offset", [-1, 3])
def test_read_messages_offset_out_of_range(impl: ModuleType, offset: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        impl.read_messages(b"\x82\x00", offset, [], False, None, None)


@needs_c
def test_c_limits_are_read_as_before() -> None:
    # An exact int that fits is read without the index protocol; anything
    # else, and ints too large for C, as PyNumber_AsSsize_t() reads them.
    assert _speedups is not None
    wire = frame_bytes(0x82, b"abc", MASK)
    for limit in (3, 2**63 - 1):
        assert _speedups.read_messages(wire, 0, [], True, limit, None) == len(wire)
    for limit in (2, True):  # the message too big: not taken
        assert _speedups.read_messages(wire, 0, [], True, limit, None) == 0
    for limit in (2**63, -(2**70)):
        with pytest.raises(OverflowError, match="index-sized integer"):
            _speedups.read_messages(wire, 0, [], True, limit, None)


def test_read_messages_bad_arguments(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.read_messages("\x82\x00", 0, [], False, None, None)
    with pytest.raises(TypeError, match="events must be a list"):
        impl.read_messages(b"\x82\x00", 0, (), False, None, None)


@needs_c
def test_read_messages_argument_count() -> None:
    assert _speedups is not None
    with pytest.raises(TypeError, match="takes 6 arguments"):
        _speedups.read_messages(b"", 0, [], True, None)
    with pytest.raises(TypeError):
        _speedups.read_messages(b"", "0", [], True, None, None)
    with pytest.raises(TypeError):
        _speedups.read_messages(b"", 0, [], True, "1", None)


frame_specs = st.tuples(
    st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x08, 0x09]),  # opcode
    st.integers(0, 15),  # FIN and RSV bits
    st.booleans(),  # masked
    st.one_of(st.binary(max_size=140), st.text(max_size=40).map(str.encode)),
)


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(frame_specs, max_size=6),
    masked=st.booleans(),
    limits=st.tuples(st.none() | st.integers(0, 150), st.none() | st.integers(0, 150)),
    cut=st.integers(0, 60),
)
def test_read_messages_c_equals_python(
    specs: list[tuple[int, int, bool, bytes]],
    masked: bool,
    limits: tuple[int | None, int | None],
    cut: int,
) -> None:
    wire = b"".join(
        frame_bytes(opcode | flags << 4, payload, MASK if frame_masked else None)
        for opcode, flags, frame_masked, payload in specs
    )
    wire = wire[: max(0, len(wire) - cut)]
    expected = read_all(_purepython, wire, masked, limits)
    if _speedups is not None:
        assert read_all(_speedups, wire, masked, limits) == expected


# --------------------------------------------------------------------------
# PayloadBuffer
# --------------------------------------------------------------------------


KEYS = [pytest.param(None, id="unmasked"), pytest.param(MASK, id="masked")]


def write_pieces(
    impl: ModuleType, key: bytes | None, wire: bytes, cuts: Sequence[int]
) -> tuple[list[bytes], list[int], bytes]:
    """Write the frame payload ``wire`` cut at ``cuts`` into a PayloadBuffer.

    Return the bytes of each view that write() returned, ``missing`` after
    each write, and the payload taken at the end.
    """
    buffer = impl.PayloadBuffer(len(wire), key)
    views, missing = [], []
    for start, end in itertools.pairwise([0, *sorted(cuts), len(wire)]):
        view = buffer.write(wire[start:end])
        assert view.readonly
        views.append(bytes(view))
        missing.append(buffer.missing)
    return views, missing, buffer.take()


def check_pieces(impl: ModuleType, key: bytes | None, payload: bytes, cuts: list[int]) -> None:
    """Each write gives back its piece unmasked; the payload comes out whole."""
    wire = payload if key is None else reference_mask(payload, key)
    views, missing, taken = write_pieces(impl, key, wire, cuts)
    bounds = [0, *sorted(cuts), len(payload)]
    assert views == [payload[start:end] for start, end in itertools.pairwise(bounds)]
    assert missing == [len(payload) - end for end in bounds[1:]]
    assert type(taken) is bytes
    assert taken == payload


@pytest.mark.parametrize("piece", [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 1001])
@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_pieces(impl: ModuleType, key: bytes | None, piece: int) -> None:
    # 1001 bytes: with most piece sizes, the key starts at a new offset each time.
    check_pieces(impl, key, sample_payload(1001), list(range(piece, 1001, piece)))


@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_two_cuts(impl: ModuleType, key: bytes | None) -> None:
    # A first piece of every size mod 4, then a second one of every small
    # size, so each block of the C code starts at each key offset.
    payload = sample_payload(100)
    for first in range(9):
        for second in range(20):
            check_pieces(impl, key, payload, [first, first + second])


@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_empty_writes(impl: ModuleType, key: bytes | None) -> None:
    # Empty pieces (cut twice at the same place) use nothing and change nothing.
    check_pieces(impl, key, sample_payload(30), [0, 0, 5, 5, 5, 17, 30, 30])


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=300),
    key=st.none() | st.binary(min_size=4, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8),
)
def test_payload_buffer_c_equals_python(payload: bytes, key: bytes | None, cuts: list[int]) -> None:
    cuts = [cut % (len(payload) + 1) for cut in cuts]
    check_pieces(_purepython, key, payload, cuts)
    if _speedups is not None:
        check_pieces(_speedups, key, payload, cuts)


@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_data_longer_than_missing(impl: ModuleType, key: bytes | None) -> None:
    # The data received holds the end of the payload, then the next frame:
    # only the payload's part is used, as the view's length tells.
    payload = sample_payload(10)
    wire = payload if key is None else reference_mask(payload, key)
    buffer = impl.PayloadBuffer(10, key)
    assert len(buffer.write(wire[:3])) == 3
    view = buffer.write(wire[3:] + b"\x81\x05Hello")
    assert len(view) == 7
    assert view == payload[3:]
    assert buffer.missing == 0
    assert len(buffer.write(b"more")) == 0  # complete: nothing more is used
    assert buffer.take() == payload


def test_payload_buffer_missing(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(10, MASK)
    assert buffer.missing == 10
    buffer.write(b"abcd")
    assert buffer.missing == 6
    buffer.write(b"")
    assert buffer.missing == 6
    buffer.write(b"efghijklmn")
    assert buffer.missing == 0
    buffer.take()
    assert buffer.missing == 0
    with pytest.raises(AttributeError):
        buffer.missing = 5


def test_payload_buffer_views(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(8, MASK)
    first = buffer.write(reference_mask(b"Hel", MASK))
    second = buffer.write(reference_mask(b"Hello, w", MASK)[3:])
    for view, expected in ((first, b"Hel"), (second, b"lo, w")):
        assert isinstance(view, memoryview)
        assert view.readonly
        assert (view.format, view.itemsize, view.nbytes) == ("B", 1, len(expected))
        with pytest.raises(TypeError):
            view[0] = 0
        assert view.tobytes() == expected
    assert buffer.take() == b"Hello, w"
    # The views still show what was written, and taking changed nothing.
    assert (first.tobytes(), second.tobytes()) == (b"Hel", b"lo, w")


@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_empty(impl: ModuleType, key: bytes | None) -> None:
    buffer = impl.PayloadBuffer(0, key)
    assert buffer.missing == 0
    assert len(buffer.write(b"next frame")) == 0
    assert buffer.take() == b""
    with pytest.raises(ValueError, match=r"^the payload was taken already$"):
        buffer.take()


@pytest.mark.parametrize("data_kind", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("key_kind", [bytes, bytearray, memoryview])
def test_payload_buffer_bytes_like(impl: ModuleType, data_kind: Any, key_kind: Any) -> None:
    payload = sample_payload(50)
    wire = reference_mask(payload, MASK)
    buffer = impl.PayloadBuffer(50, key_kind(MASK))
    assert buffer.write(data_kind(wire[:21])) == payload[:21]
    assert buffer.write(data_kind(wire[21:])) == payload[21:]
    assert buffer.take() == payload


def test_payload_buffer_views_of_larger_items(impl: ModuleType) -> None:
    # Data and key with 4-byte items: bytes are counted, not items.
    data = array.array("I", [0x01020304, 0x05060708, 0x090A0B0C])
    key = array.array("I", [int.from_bytes(MASK, sys.byteorder)])
    buffer = impl.PayloadBuffer(10, memoryview(key))
    view = buffer.write(memoryview(data))
    assert len(view) == 10
    assert view == reference_mask(data.tobytes()[:10], MASK)


def test_payload_buffer_key_slice_and_copy(impl: ModuleType) -> None:
    # The key sliced from a received header (as the protocol does), and a
    # key changed after the fact: the buffer keeps the value it was given.
    header = bytearray(b"\x82\xfe\x01\x00" + MASK)
    buffer = impl.PayloadBuffer(5, memoryview(header)[4:8])
    header[4:8] = b"\x00\x00\x00\x00"
    buffer.write(b"\x7f\x9f\x4d\x51\x58")
    assert buffer.take() == b"Hello"  # RFC 6455, section 5.7


def test_payload_buffer_non_contiguous(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(8, MASK)
    with pytest.raises(BufferError):
        buffer.write(memoryview(sample_payload(16))[::2])
    assert buffer.missing == 8  # nothing was used
    with pytest.raises(BufferError):
        impl.PayloadBuffer(8, memoryview(b"\x01\x00\x02\x00\x03\x00\x04\x00")[::2])


def test_payload_buffer_not_bytes(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(8, None)
    with pytest.raises(TypeError):
        buffer.write("text")
    with pytest.raises(TypeError):
        impl.PayloadBuffer(8, "mask")
    with pytest.raises(TypeError):
        impl.PayloadBuffer("8", None)
    assert buffer.missing == 8


def test_payload_buffer_keyword_arguments(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(length=5, mask_key=MASK)
    buffer.write(b"\x7f\x9f\x4d\x51\x58")
    assert buffer.take() == b"Hello"
    buffer = impl.PayloadBuffer(5, mask_key=None)
    buffer.write(b"Hello")
    assert buffer.take() == b"Hello"
    with pytest.raises(TypeError):
        impl.PayloadBuffer(5)
    with pytest.raises(TypeError):
        impl.PayloadBuffer(5, key=MASK)


@pytest.mark.parametrize("length", [-1, -(2**31)])
def test_payload_buffer_negative_length(impl: ModuleType, length: int) -> None:
    for key in (None, MASK):
        with pytest.raises(ValueError, match=r"^length must be positive or zero$"):
            impl.PayloadBuffer(length, key)


@pytest.mark.parametrize("key", [b"", b"\x01", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"])
def test_payload_buffer_wrong_key_length(impl: ModuleType, key: bytes) -> None:
    for kind in (bytes, bytearray, memoryview):
        with pytest.raises(ValueError, match=r"^mask must contain 4 bytes$"):
            impl.PayloadBuffer(8, kind(key))


def test_payload_buffer_take_incomplete(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(6, MASK)
    with pytest.raises(ValueError, match=r"^the payload is incomplete$"):
        buffer.take()
    buffer.write(reference_mask(b"Hello", MASK))
    with pytest.raises(ValueError, match=r"^the payload is incomplete$"):
        buffer.take()
    # A failed take() loses nothing: the payload can still be completed.
    assert buffer.missing == 1
    buffer.write(reference_mask(b"Hello!", MASK)[5:])
    assert buffer.take() == b"Hello!"


def test_payload_buffer_taken_already(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(4, None)
    buffer.write(b"data")
    assert buffer.take() == b"data"
    assert buffer.missing == 0
    for action in (buffer.take, lambda: buffer.write(b"more"), lambda: buffer.write(b"")):
        with pytest.raises(ValueError, match=r"^the payload was taken already$"):
            action()


# window() and advance(): a socket reads straight into the payload.


def read_pieces(
    impl: ModuleType, key: bytes | None, wire: bytes, cuts: Sequence[int], via: Sequence[bool]
) -> tuple[list[bytes], bytes]:
    """As write_pieces, but each piece goes in through window() and advance()
    when the matching item of ``via`` (cycled) is true, else through write()."""
    buffer = impl.PayloadBuffer(len(wire), key)
    views = []
    bounds = [0, *sorted(cuts), len(wire)]
    for (start, end), read in zip(itertools.pairwise(bounds), itertools.cycle(via), strict=False):
        if read:
            window = buffer.window()
            assert not window.readonly
            assert len(window) == buffer.missing == len(wire) - start
            window[: end - start] = wire[start:end]
            view = buffer.advance(end - start)
        else:
            view = buffer.write(wire[start:end])
        assert view.readonly
        views.append(bytes(view))
        assert buffer.missing == len(wire) - end
    return views, buffer.take()


@pytest.mark.parametrize("via", [[True], [True, False], [False, True]])
@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_window_pieces(impl: ModuleType, key: bytes | None, via: list[bool]) -> None:
    # Pieces of 1 to 9 bytes, in turn: each starts at every offset of the key.
    payload = sample_payload(200)
    wire = payload if key is None else reference_mask(payload, key)
    cuts = list(itertools.accumulate(itertools.islice(itertools.cycle(range(1, 10)), 40)))
    cuts = [cut for cut in cuts if cut < 200]
    views, taken = read_pieces(impl, key, wire, cuts, via)
    bounds = [0, *cuts, 200]
    assert views == [payload[start:end] for start, end in itertools.pairwise(bounds)]
    assert taken == payload


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(max_size=300),
    key=st.none() | st.binary(min_size=4, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8),
    via=st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_payload_buffer_window_c_equals_python(
    payload: bytes, key: bytes | None, cuts: list[int], via: list[bool]
) -> None:
    wire = payload if key is None else reference_mask(payload, key)
    cuts = [cut % (len(payload) + 1) for cut in cuts]
    views, taken = read_pieces(_purepython, key, wire, cuts, via)
    assert taken == payload
    if _speedups is not None:
        assert read_pieces(_speedups, key, wire, cuts, via) == (views, taken)


def test_payload_buffer_advance_bounds(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(10, MASK)
    buffer.write(reference_mask(b"abc", MASK))
    for nbytes in 8, -1:
        with pytest.raises(ValueError, match=r"^cannot advance by -?\d+ bytes when 7 are missing$"):
            buffer.advance(nbytes)
    with pytest.raises(TypeError):
        buffer.advance("1")
    assert len(buffer.advance(0)) == 0
    assert buffer.missing == 7  # nothing was used


def test_payload_buffer_window_empty_and_taken(impl: ModuleType) -> None:
    buffer = impl.PayloadBuffer(0, MASK)
    assert len(buffer.window()) == 0
    assert buffer.take() == b""
    for action in buffer.window, lambda: buffer.advance(0):
        with pytest.raises(ValueError, match=r"^the payload was taken already$"):
            action()


def test_payload_buffer_lends_only_the_window(impl: ModuleType) -> None:
    """Only window() gives a writable view: not write(), nor the buffer itself."""
    buffer = impl.PayloadBuffer(8, None)
    window = buffer.window()
    view = buffer.write(b"abc")
    assert view.readonly
    with pytest.raises(TypeError):
        view[0] = 0
    window[3:5] = b"de"
    assert buffer.advance(2).readonly
    buffer.window()[:] = b"fgh"  # the part still missing
    buffer.advance(3)
    assert buffer.take() == b"abcdefgh"


@needs_c
def test_payload_buffer_refuses_writable_export() -> None:
    assert _speedups is not None
    buffer = _speedups.PayloadBuffer(8, None)
    assert memoryview(buffer).readonly
    with pytest.raises((BufferError, TypeError)):
        struct.pack_into("B", buffer, 0, 1)


@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_window_large(impl: ModuleType, key: bytes | None) -> None:
    # 1 MiB and 3 bytes read in three pieces, past the size from which the
    # C code releases the GIL, unmasked in place.
    payload = sample_payload(256) * 4096 + b"end"
    wire = payload if key is None else reference_mask(payload, key)
    views, taken = read_pieces(impl, key, wire, [100_003, 700_001], [True])
    assert b"".join(views) == payload
    assert taken == payload


@pytest.mark.parametrize("key", KEYS)
def test_payload_buffer_large(impl: ModuleType, key: bytes | None) -> None:
    # 1 MiB and 3 bytes, in pieces of 100,003 bytes: above the 64 KiB from
    # which the C code releases the GIL, and each at a new key offset.
    # A 256-byte pattern repeats: so do its masked bytes (256 % 4 == 0).
    pattern, tail = sample_payload(256), b"end"
    payload = pattern * 4096 + tail
    if key is None:
        wire = payload
    else:
        wire = reference_mask(pattern, key) * 4096 + reference_mask(tail, key)
    buffer = impl.PayloadBuffer(len(payload), key)
    for start in range(0, len(wire), 100_003):
        view = buffer.write(memoryview(wire)[start : start + 100_003])
        assert view == payload[start : start + 100_003]
        assert buffer.missing == max(len(payload) - start - 100_003, 0)
    assert buffer.take() == payload
    # In one write, too.
    buffer = impl.PayloadBuffer(len(payload), key)
    assert len(buffer.write(wire)) == len(payload)
    assert buffer.take() == payload


def test_payload_buffer_view_hash_keeps_payload_intact(impl: ModuleType) -> None:
    # The bytes taken must behave as any bytes of the same value, whatever
    # was done with the views before: hashing one is refused or harmless.
    buffer = impl.PayloadBuffer(8, None)
    view = buffer.write(b"abcd")
    with contextlib.suppress(TypeError):  # the Python twin's view refuses
        hash(view)
    buffer.write(b"efgh")
    payload = buffer.take()
    assert hash(payload) == hash(b"abcdefgh")
    assert payload in {b"abcdefgh"}


# --------------------------------------------------------------------------
# wskit.speedups: choosing the implementation
# --------------------------------------------------------------------------


# What wskit.speedups selects: one piece of the C module or its twin each.
PIECES = sorted(set(wskit.speedups.__all__) - {"IMPLEMENTATION"})


# The pure-Python twins: those of the per-message path and of asyncio's
# awaits in modules of their own.
TWIN_MODULES = (_purepython, _purepython_asyncio, _purepython_messages)


def twin(name: str) -> Any:
    """The pure-Python twin called ``name``."""
    [module] = [module for module in TWIN_MODULES if name in module.__all__]
    return getattr(module, name)


@needs_c
def test_every_c_piece_has_a_twin_and_is_selected() -> None:
    assert _speedups is not None
    in_c = {name for name in dir(_speedups) if not name.startswith("_")}
    # Selected apart (socket_transport()): its twin is asyncio's own
    # transport (tests/asyncio/test_socket_transport*.py).
    in_c.discard("SocketTransport")
    twins = [name for module in TWIN_MODULES for name in module.__all__]
    assert len(twins) == len(set(twins))
    assert in_c == set(twins) == set(PIECES)


@pytest.mark.parametrize("module", TWIN_MODULES)
def test_pure_python_modules_hold_only_twins(module: ModuleType) -> None:
    # Their public functions and classes are the twins they export, nothing else.
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }
    assert defined == set(module.__all__)


def test_only_the_selector_imports_the_implementations() -> None:
    root = Path(wskit.__file__).parent
    importers = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(alias.name for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(
                name.split(".")[-1]
                in {"_speedups", "_purepython", "_purepython_asyncio", "_purepython_messages"}
                for name in names
            ):
                importers.add(path.relative_to(root).as_posix())
    # And the twins of the per-message path, from the twins they build on.
    assert importers == {"speedups.py", "_purepython_messages.py"}


def test_each_attribute_read_in_place_has_one_field() -> None:
    # The C files share one Field per attribute, in wskit_fields (named in
    # _speedups_slots.c): a Field of a file's own would look the same slot up
    # again, and hold two more types.
    root = Path(wskit.__file__).parent
    owners = set()
    for path in root.glob("_speedups*.c"):
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        if re.search(r"\bField\s+\w", code):
            owners.add(path.name)
    assert owners == set()


@pytest.fixture
def reload_speedups() -> Iterator[pytest.MonkeyPatch]:
    """Give a MonkeyPatch for the environment; restore wskit.speedups after."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield monkeypatch
    # The patches are undone: reload once more to select as at startup.
    importlib.reload(wskit.speedups)


@needs_c
def test_select_c_by_default(reload_speedups: pytest.MonkeyPatch) -> None:
    reload_speedups.delenv("WSKIT_NO_SPEEDUPS", raising=False)
    module = importlib.reload(wskit.speedups)
    assert module.IMPLEMENTATION == "c"
    for name in PIECES:
        assert getattr(module, name) is getattr(_speedups, name), name


@needs_c
def test_select_c_when_variable_empty(reload_speedups: pytest.MonkeyPatch) -> None:
    reload_speedups.setenv("WSKIT_NO_SPEEDUPS", "")
    assert importlib.reload(wskit.speedups).IMPLEMENTATION == "c"


def test_select_python_when_disabled(reload_speedups: pytest.MonkeyPatch) -> None:
    reload_speedups.setenv("WSKIT_NO_SPEEDUPS", "1")
    module = importlib.reload(wskit.speedups)
    assert module.IMPLEMENTATION == "python"
    for name in PIECES:
        assert getattr(module, name) is twin(name), name


def test_select_python_when_not_built(reload_speedups: pytest.MonkeyPatch) -> None:
    reload_speedups.delenv("WSKIT_NO_SPEEDUPS", raising=False)
    # None in sys.modules makes the import fail, as if the module were absent.
    reload_speedups.setitem(sys.modules, "wskit._speedups", None)
    reload_speedups.delattr(wskit, "_speedups", raising=False)
    module = importlib.reload(wskit.speedups)
    assert module.IMPLEMENTATION == "python"
    for name in PIECES:
        assert getattr(module, name) is twin(name), name


def test_selection_restored() -> None:
    # Whatever ran before, the module selects as the environment says.
    disabled = bool(os.environ.get("WSKIT_NO_SPEEDUPS"))
    expected = "python" if _speedups is None or disabled else "c"
    actual = wskit.speedups.IMPLEMENTATION
    assert actual == expected
    validator = wskit.speedups.UTF8Validator()
    assert validator.feed(b"\xed\xa0") is False
    assert wskit.speedups.apply_mask(b"Hello", MASK) == b"\x7f\x9f\x4d\x51\x58"


# --------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------

COUNTERS = [
    pytest.param(_purepython_messages.Counters, id="python"),
    pytest.param(getattr(_speedups, "Counters", None), id="c", marks=needs_c),
]


@pytest.mark.parametrize("counters", COUNTERS)
def test_counters_hold_ints_as_attributes(counters: type) -> None:
    class Core(counters):  # type: ignore[misc]
        __slots__ = ("__dict__", "other")

    core = Core()
    for name in ["bytes_received", "bytes_sent", "frames_received", "frames_sent"]:
        setattr(core, name, 0)
        setattr(core, name, getattr(core, name) + 1_000_000)
        setattr(core, name, getattr(core, name) - 1)
        assert getattr(core, name) == 999_999
        assert type(getattr(core, name)) is int
        assert name not in vars(core)  # held by the base, not the instance dict
    core._count_received(10, 2)
    core._count_sent(20, -1)
    counts = [core.bytes_received, core.frames_received, core.bytes_sent, core.frames_sent]
    assert counts == [1_000_009, 1_000_001, 1_000_019, 999_998]
    core.bytes_sent = sys.maxsize
    with pytest.raises(OverflowError):
        core._count_sent(1, 0)
    with pytest.raises(TypeError):
        core._count_sent(1)


def test_core_counts_in_its_counters_base() -> None:
    # What the C per-message path adds to in place (ARCHITECTURE.md,
    # Performance devices): the core's counters live in Counters.
    assert issubclass(Protocol, wskit.speedups.Counters)
    for name in ["bytes_received", "bytes_sent", "frames_received", "frames_sent"]:
        assert not any(name in vars(cls).get("__slots__", ()) for cls in (Protocol, FrameReceiver))
    core = Protocol(Side.SERVER)
    assert [core.bytes_received, core.bytes_sent, core.frames_received, core.frames_sent] == [
        0,
        0,
        0,
        0,
    ]
