"""Pure-Python twins of the C accelerator, ``wskit._speedups``.

Each public function and class here is the twin of one in C
(``_speedups*.c``): the same API, the same results, the same exceptions,
slower. Nothing else is public here. :mod:`wskit.speedups` picks one of the
two; the tests run both and compare them. The twins of the per-message path
(``_speedups_messages.c``) are in :mod:`wskit._purepython_messages`, those of
asyncio's awaits (``_speedups_receive.c``, ``_speedups_waiter.c``) in
:mod:`wskit._purepython_asyncio`.
"""

from __future__ import annotations

import codecs
import functools
import importlib
import os
import re
import struct
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .datastructures import _add_value
from .exceptions import ProtocolError
from .typing import BytesLike

if TYPE_CHECKING:
    from .frames import Frame

__all__ = [
    "PayloadBuffer",
    "UTF8Validator",
    "apply_mask",
    "build_frame",
    "parse_header",
    "read_frame",
    "read_messages",
    "split_request",
    "split_response",
]


def _byte_view(data: BytesLike) -> memoryview:
    """Return a flat view of the bytes of ``data``, like ``PyBUF_SIMPLE`` in C.

    Raises:
        TypeError: ``data`` does not support the buffer protocol.
        BufferError: ``data`` is not C-contiguous (a strided memoryview).
    """
    view = memoryview(data)
    if not view.c_contiguous:
        raise BufferError("memoryview: underlying buffer is not C-contiguous")
    # A view of 4-byte items counts items, not bytes: look at it byte by byte.
    return view.cast("B")


# Big integers longer than this fall out of the CPU caches between the passes
# of from_bytes, XOR and to_bytes: longer payloads are masked in slices of
# this size (a multiple of 4, so that every slice starts with the key's 1st byte).
_MASK_SLICE = 8192


def _xor_with_key(payload: BytesLike, key: bytes) -> bytes:
    """Mask a payload of a few KiB at most, starting with the key's first byte."""
    size = len(payload)
    # One XOR of two big integers runs in C at a few bytes per nanosecond,
    # where a Python loop over the bytes would take ~50 ns per byte.
    data_int = int.from_bytes(payload, "little")
    mask_int = int.from_bytes((key * (size // 4 + 1))[:size], "little")
    return (data_int ^ mask_int).to_bytes(size, "little")


def apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455, section 5.3).

    Masking twice with the same key gives the original bytes back.

    Args:
        data: Payload to mask or unmask: any C-contiguous bytes-like object.
        mask: Masking key.

    Returns:
        The masked payload.

    Raises:
        ValueError: ``mask`` is not 4 bytes long.
        BufferError: ``data`` is not contiguous.
    """
    payload = data if type(data) is bytes else _byte_view(data)
    key = _mask_key(mask)
    size = len(payload)
    if size <= _MASK_SLICE:
        return _xor_with_key(payload, key)
    view = memoryview(payload)
    mask_int = int.from_bytes(key * (_MASK_SLICE // 4), "little")
    pieces = [
        (int.from_bytes(view[start : start + _MASK_SLICE], "little") ^ mask_int).to_bytes(
            _MASK_SLICE, "little"
        )
        for start in range(0, size - _MASK_SLICE + 1, _MASK_SLICE)
    ]
    # The last, shorter slice (empty when size is a multiple of the slice).
    pieces.append(_xor_with_key(view[size - size % _MASK_SLICE :], key))
    return b"".join(pieces)


def _mask_key(mask: BytesLike) -> bytes:
    """Return the 4-byte masking key ``mask`` as bytes.

    Raises:
        ValueError: ``mask`` is not 4 bytes long.
    """
    key = bytes(_byte_view(mask))
    if len(key) != 4:
        raise ValueError("mask must contain 4 bytes")
    return key


def _sequence_length(lead: int) -> int:
    """Length of the UTF-8 sequence that starts with the valid lead byte ``lead``."""
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


class UTF8Validator:
    """Incremental UTF-8 validation, across fragment boundaries.

    Strict: overlong forms, surrogates, code points above U+10FFFF, stray
    continuation bytes and truncated sequences are all invalid.
    :meth:`feed` fails on the first byte that makes the text invalid, even
    when a character is split between two calls, so a text message fails on
    its first bad byte, not when its last fragment arrives. Not thread-safe:
    use one validator per stream.
    """

    def __init__(self) -> None:
        self._valid = True
        # The start of a character that the last chunk cut short (0 to 3 bytes).
        self._pending = b""

    def feed(self, data: BytesLike) -> bool:
        """Validate the next chunk of the text.

        Args:
            data: The next bytes of the text (any C-contiguous bytes-like object).

        Returns:
            :obj:`False` as soon as the bytes fed since the last reset cannot
            start valid UTF-8, and from then on until reset; :obj:`True` otherwise.
        """
        # bytes needs no checking; other types are checked even once the
        # text is invalid, like the C version does.
        if type(data) is not bytes:
            data = _byte_view(data)
        if not self._valid:
            return False
        pending = self._pending
        if pending:
            # Finish the character split across calls by itself, so the rest
            # of the chunk is checked in place rather than copied after it.
            missing = _sequence_length(pending[0]) - len(pending)
            self._valid = self._check(pending + bytes(data[:missing]))
            if not self._valid or len(data) <= missing:
                return self._valid
            data = memoryview(data)[missing:]
        self._valid = self._check(data)
        return self._valid

    def _check(self, chunk: BytesLike) -> bool:
        """Validate ``chunk`` from a character boundary; keep its unfinished end."""
        try:
            # The decoder's C loop does the work; the text itself is dropped.
            _, consumed = codecs.utf_8_decode(chunk, "strict", False)
        except UnicodeDecodeError:
            return False
        rest = bytes(chunk[consumed:])
        # CPython's decoder fails on a bad byte as soon as it sees it, with one
        # exception: it holds back ED A0..BF at the end of the input (the start
        # of a surrogate, presumably for error handlers like "surrogatepass")
        # instead of failing. The tests check this exhaustively.
        if len(rest) >= 2 and rest[0] == 0xED and rest[1] >= 0xA0:
            return False
        self._pending = rest
        return True

    def finish(self) -> bool:
        """End the text, then reset.

        Returns:
            Whether everything fed since the last reset is complete, valid
            UTF-8: :obj:`False` if it is invalid or stops inside a character.
        """
        valid = self._valid and not self._pending
        self.reset()
        return valid

    def reset(self) -> None:
        """Forget everything fed so far, ready for a new text."""
        self._valid = True
        self._pending = b""


# Frame headers and payloads (RFC 6455, section 5.2).

_LENGTH_16 = struct.Struct("!H")
_LENGTH_64 = struct.Struct("!Q")


def parse_header(buffer: BytesLike, offset: int = 0) -> tuple[int, int, int, bytes | None] | None:
    """Decode the header of the frame that starts at ``buffer[offset]``.

    Args:
        buffer: Received bytes.
        offset: Where the frame starts in ``buffer``.

    Returns:
        :obj:`None` if ``buffer`` does not hold the whole header yet;
        otherwise ``(first_byte, payload_length, payload_offset, mask_key)``,
        where ``first_byte`` carries FIN, RSV1-3 and the opcode, and
        ``mask_key`` is :obj:`None` for an unmasked frame.

    Raises:
        ProtocolError: The 64-bit payload length has its top bit set.
        ValueError: ``offset`` is outside ``buffer``.
    """
    if not 0 <= offset <= len(buffer):
        raise ValueError(f"offset {offset} out of range")
    available = len(buffer) - offset
    if available < 2:
        return None
    first, second = buffer[offset], buffer[offset + 1]
    length = second & 0x7F
    position = offset + 2
    if length == 126:
        if available < 4:
            return None
        (length,) = _LENGTH_16.unpack_from(buffer, position)
        position += 2
    elif length == 127:
        if available < 10:
            return None
        (length,) = _LENGTH_64.unpack_from(buffer, position)
        # "the most significant bit MUST be 0"
        if length >> 63:
            raise ProtocolError("payload length has its most significant bit set")
        position += 8
    if second & 0x80:
        if len(buffer) < position + 4:
            return None
        return first, length, position + 4, bytes(buffer[position : position + 4])
    return first, length, position, None


@functools.cache
def _imported(name: str) -> ModuleType:
    """Return the module ``name``, imported on first use, as the C twins do.

    :mod:`wskit.frames` imports this module, and the core doesn't import
    asyncio. An import statement in a function would cost microseconds on
    every call; this costs a dictionary lookup.
    """
    return importlib.import_module(name)


def read_frame(
    buffer: BytesLike, offset: int = 0
) -> tuple[int, bool, int, int, bytes | None] | None:
    """Decode the frame that starts at ``buffer[offset]``, as far as it has arrived.

    Returns:
        :obj:`None` if ``buffer`` does not hold the whole header yet;
        otherwise ``(first_byte, masked, payload_length, frame_end,
        payload)``, ``payload`` being the unmasked payload, or :obj:`None`
        until all of it is in ``buffer``.

    Raises:
        ProtocolError: The 64-bit payload length has its top bit set.
        ValueError: ``offset`` is outside ``buffer``.
    """
    header = parse_header(buffer, offset)
    if header is None:
        return None
    first, length, start, mask_key = header
    end = start + length
    payload = None
    if len(buffer) >= end:
        with memoryview(buffer)[start:end] as view:
            payload = bytes(view) if mask_key is None else apply_mask(view, mask_key)
    return first, mask_key is not None, length, end, payload


def build_frame(first_byte: int, payload: BytesLike, mask: bool) -> bytes:
    """Serialize a frame: header, then payload, masked with a random key if ``mask``.

    Args:
        first_byte: FIN, RSV1-3 and the opcode.
        payload: Any C-contiguous bytes-like object.
        mask: Whether to mask the payload (clients must, servers must not).

    Raises:
        ValueError: ``first_byte`` is not between 0 and 255.
    """
    if not 0 <= first_byte <= 255:
        raise ValueError(f"first_byte {first_byte} out of range")
    view = _byte_view(payload)
    header: bytes = _imported("wskit.frames").frame_header(first_byte, len(view), mask)
    if mask:
        key = os.urandom(4)
        return header + key + apply_mask(view, key)
    return header + view


def read_messages(  # noqa: PLR0917 - the C twin's positional signature
    buffer: BytesLike,
    offset: int,
    events: list[Any],
    masked: bool,
    max_message_size: int | None,
    max_fragment_size: int | None,
) -> int:
    """Read the run of frames at ``buffer[offset]`` that each carry a whole message.

    Such a frame has FIN set, no reserved bit, opcode text or binary, the
    expected mask bit, a payload within both limits (:obj:`None` for no
    limit) and, for text, valid UTF-8. Each one is appended to ``events`` as
    a :class:`~wskit.frames.Frame` with its payload unmasked. The first frame
    that isn't complete or isn't such a frame ends the run, unread: the
    caller applies the general rules to it.

    Returns:
        The offset where the run ends.

    Raises:
        ValueError: ``offset`` is outside ``buffer``.
    """
    frames = _imported("wskit.frames")
    if not isinstance(events, list):
        raise TypeError("events must be a list")
    if not 0 <= offset <= len(buffer):
        raise ValueError(f"offset {offset} out of range")
    limits = [limit for limit in (max_message_size, max_fragment_size) if limit is not None]
    max_length = min(limits, default=None)
    while True:
        whole = _whole_message_frame(buffer, offset, masked, 0, max_length)
        if whole is None:
            break
        first, payload, end = whole
        text = first & 0x0F == 1
        if text:
            try:
                codecs.decode(payload, "utf-8")
            except UnicodeDecodeError:
                break
        frame: Frame = frames.Frame(frames.TEXT if text else frames.BINARY, payload)
        events.append(frame)
        offset = end
    return offset


def _whole_message_frame(
    buffer: BytesLike, offset: int, masked: bool, rsv: int, max_length: int | None
) -> tuple[int, bytes, int] | None:
    """The frame at ``buffer[offset]`` if it has arrived whole and carries a whole message.

    That is: FIN, the reserved bits ``rsv`` and no other, opcode text or
    binary, the expected mask bit, a payload of at most ``max_length`` bytes
    (:obj:`None` for no limit).

    Returns:
        Its first byte, its payload, unmasked, and where it ends; or :obj:`None`.
    """
    try:
        parsed = read_frame(buffer, offset)
    except ProtocolError:  # a length with its top bit set: not such a frame
        return None
    if parsed is None:
        return None
    first, frame_masked, length, end, payload = parsed
    if (
        first & 0xF0 != 0x80 | rsv
        or first & 0x0F not in (1, 2)
        or frame_masked is not bool(masked)
        or payload is None
        or (max_length is not None and length > max_length)
    ):
        return None
    return first, payload, end


class PayloadBuffer:
    """The payload of a long frame, unmasked into place as it arrives.

    Receiving a long frame through the parser's buffer copies it twice: into
    the buffer as it arrives, then out of it, unmasked, once it is whole.
    This holds the final payload from the start, so each byte is copied once.

    Args:
        length: Size of the payload.
        mask_key: The frame's 4-byte masking key; :obj:`None` if unmasked.

    Raises:
        ValueError: ``length`` is negative or ``mask_key`` isn't 4 bytes long.
    """

    def __init__(self, length: int, mask_key: BytesLike | None) -> None:
        if length < 0:
            raise ValueError("length must be positive or zero")
        self._key = None if mask_key is None else _mask_key(mask_key)
        self._payload: bytearray | None = bytearray(length)
        self._filled = 0

    @property
    def missing(self) -> int:
        """How many bytes of the payload have yet to arrive."""
        return 0 if self._payload is None else len(self._payload) - self._filled

    def write(self, data: BytesLike) -> memoryview:
        """Add the next bytes received: as many of ``data`` as the payload misses.

        Returns:
            A read-only view of the bytes added, unmasked: its length is
            how many bytes of ``data`` were used.

        Raises:
            ValueError: :meth:`take` was called already.
        """
        view = _byte_view(data)
        payload = self._unfinished()
        return self._add(payload, view[: len(payload) - self._filled])

    def window(self) -> memoryview:
        """Return a writable view of the part of the payload still missing.

        A socket can receive straight into it (``recv_into``); then
        :meth:`advance` takes what it wrote. Write into it only before that
        call: afterwards, the bytes may belong to the payload returned by
        :meth:`take`.

        Raises:
            ValueError: :meth:`take` was called already.
        """
        return memoryview(self._unfinished())[self._filled :]

    def advance(self, nbytes: int) -> memoryview:
        """Add the ``nbytes`` bytes written at the start of :meth:`window`.

        Returns:
            A read-only view of them, unmasked.

        Raises:
            ValueError: :meth:`take` was called already, or ``nbytes`` is
                negative or more than :attr:`missing`.
        """
        payload = self._unfinished()
        start = self._filled
        if not 0 <= nbytes <= len(payload) - start:
            raise ValueError(
                f"cannot advance by {nbytes} bytes when {len(payload) - start} are missing"
            )
        return self._add(payload, memoryview(payload)[start : start + nbytes])

    def _unfinished(self) -> bytearray:
        if self._payload is None:
            raise ValueError("the payload was taken already")
        return self._payload

    def _add(self, payload: bytearray, chunk: memoryview) -> memoryview:
        start = self._filled
        end = start + len(chunk)
        if self._key is not None:
            # The key continues where the bytes written so far stopped.
            shift = start % 4
            payload[start:end] = apply_mask(chunk, self._key[shift:] + self._key[:shift])
        elif chunk.obj is not payload:
            payload[start:end] = chunk
        self._filled = end
        return memoryview(payload)[start:end].toreadonly()

    def take(self) -> bytes:
        """Return the whole payload; the buffer is empty afterwards.

        Raises:
            ValueError: Part of the payload is missing, or it was taken already.
        """
        payload = self._unfinished()
        if self._filled < len(payload):
            raise ValueError("the payload is incomplete")
        self._payload = None
        return bytes(payload)


# What wskit.http11's general rules accept, all at once: a request line of
# the form that needs no further check, a 101's status line, header lines of
# tokens and valid values (RFC 9110 5.1, 5.5). _split_fields_re then takes
# them apart.
_request_line_re = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (/[\x21-\x7e]*) (HTTP/1\.[01])")
_status_101_re = re.compile(rb"HTTP/1\.1 101(?: ([\t\x20-\x7e\x80-\xff]*))?")
_fields_re = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_split_fields_re = re.compile(r"([^:]*):([^\r]*)\r\n")


def split_request(
    data: BytesLike, max_line: int, max_headers: int
) -> tuple[str, str, str, list[tuple[str, str]], dict[str, str | list[str]], int] | None:
    """Split the head of a handshake request that the general rules take as it is.

    When ``data`` starts with a whole request head, made of a request line
    of the form ``token SP /target SP HTTP/1.x``, at most ``max_headers``
    header lines of a token, a colon and a valid value, together at most
    ``max_line + 2`` bytes after the request line's CRLF, and no
    ``Transfer-Encoding`` or ``Content-Length`` header, return the method,
    target and protocol, the ``(name, value)`` pairs, values stripped of
    spaces and tabs, the same in a dict of lists under lower-case names, and
    where the head ends. Otherwise return :obj:`None`: the general rules of
    :mod:`wskit.http11` read it then and say what's wrong, if anything.
    """
    head = _split_head(data, max_line, max_headers, _request_line_re)
    if head is None:
        return None
    line, pairs, lowered, end = head
    if "transfer-encoding" in lowered or "content-length" in lowered:
        return None
    method, target, protocol = line.groups()
    return method.decode(), target.decode(), protocol.decode(), pairs, lowered, end


def split_response(
    data: BytesLike, max_line: int, max_headers: int
) -> tuple[str, list[tuple[str, str]], dict[str, str | list[str]], int] | None:
    """Split the head of a 101 response that the general rules take as it is.

    As :func:`split_request`, for a status line ``HTTP/1.1 101``, then a
    space and a reason phrase, or nothing; a 101 has no body, whatever its
    headers say. Return the reason phrase, the pairs, the dict and where
    the head ends, or :obj:`None`.
    """
    head = _split_head(data, max_line, max_headers, _status_101_re)
    if head is None:
        return None
    line, pairs, lowered, end = head
    return (line[1] or b"").decode("iso-8859-1"), pairs, lowered, end


def _split_head(
    data: BytesLike, max_line: int, max_headers: int, first_line_re: re.Pattern[bytes]
) -> tuple[re.Match[bytes], list[tuple[str, str]], dict[str, str | list[str]], int] | None:
    if max_line < 0 or max_headers < 0:
        raise ValueError("limits must be >= 0")
    head = bytes(data)
    lf = head.find(b"\n", 0, max_line + 2)
    if lf < 1 or head[lf - 1] != 0x0D:
        return None
    line = first_line_re.fullmatch(head, 0, lf - 1)
    if line is None:
        return None
    end = head.find(b"\r\n\r\n", lf - 1, lf + max_line + 5)
    if end == -1:
        return None
    fields = head[lf + 1 : end + 2]
    if fields.count(b"\r\n") > max_headers or _fields_re.fullmatch(fields) is None:
        return None
    pairs = [
        (name, value.strip(" \t"))
        for name, value in _split_fields_re.findall(fields.decode("iso-8859-1"))
    ]
    lowered: dict[str, str | list[str]] = {}
    for name, value in pairs:
        _add_value(lowered, name.lower(), value)
    return line, pairs, lowered, end + 4
