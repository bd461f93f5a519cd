"""WebSocket frames (RFC 6455, section 5): opcodes, close codes, parsing and serializing.

The protocol doesn't parse frames here: it calls
:func:`~wskit.speedups.read_frame`, which returns a frame's header as soon as
it has arrived, so that size limits apply before a payload byte is kept, and
:func:`~wskit.speedups.read_messages` for runs of whole messages.
:func:`parse_header`, the header alone, is re-exported for other callers.
"""

from __future__ import annotations

import codecs
import dataclasses
import enum
import re
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .exceptions import ProtocolError
from .speedups import build_frame, parse_header
from .typing import BytesLike
from .utils import escape_controls

if TYPE_CHECKING:
    from .extensions.base import Extension

__all__ = [
    "BINARY",
    "CLOSE",
    "CLOSE_CODE_EXPLANATIONS",
    "CONT",
    "CTRL_OPCODES",
    "DATA_OPCODES",
    "EXTERNAL_CLOSE_CODES",
    "OK_CLOSE_CODES",
    "PING",
    "PONG",
    "TEXT",
    "Close",
    "CloseCode",
    "Frame",
    "Opcode",
    "parse_header",
]


class Opcode(enum.IntEnum):
    """Frame opcode (RFC 6455, section 5.2)."""

    CONT, TEXT, BINARY = 0x00, 0x01, 0x02
    CLOSE, PING, PONG = 0x08, 0x09, 0x0A


CONT = Opcode.CONT
TEXT = Opcode.TEXT
BINARY = Opcode.BINARY
CLOSE = Opcode.CLOSE
PING = Opcode.PING
PONG = Opcode.PONG

DATA_OPCODES = CONT, TEXT, BINARY
CTRL_OPCODES = CLOSE, PING, PONG

# Integer -> Opcode, without the cost of calling the enum on every frame.
# Reserved opcodes (3-7, 11-15) are missing on purpose.
_OPCODES = {int(opcode): opcode for opcode in Opcode}


class CloseCode(enum.IntEnum):
    """Close code (RFC 6455, section 7.4.1, and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


CLOSE_CODE_EXPLANATIONS: dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

# Codes that may travel in a close frame. 1005, 1006 and 1015 are only ever
# reported locally: "MUST NOT be set as a status code in a Close control frame".
EXTERNAL_CLOSE_CODES = frozenset(
    {
        CloseCode.NORMAL_CLOSURE,
        CloseCode.GOING_AWAY,
        CloseCode.PROTOCOL_ERROR,
        CloseCode.UNSUPPORTED_DATA,
        CloseCode.INVALID_DATA,
        CloseCode.POLICY_VIOLATION,
        CloseCode.MESSAGE_TOO_BIG,
        CloseCode.MANDATORY_EXTENSION,
        CloseCode.INTERNAL_ERROR,
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
    }
)

# Close codes that make a closed connection a success (ConnectionClosedOK).
OK_CLOSE_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)

# A control frame's payload: "All control frames MUST have a payload length of
# 125 bytes or less". A close reason gets what the 2-byte code leaves.
MAX_CONTROL_PAYLOAD = 125
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

_FIN, _RSV1, _RSV2, _RSV3 = 0x80, 0x40, 0x20, 0x10
_CLOSE_CODE = struct.Struct("!H")


@dataclasses.dataclass(slots=True)
class Frame:
    """A WebSocket frame.

    Attributes:
        opcode: Opcode.
        data: Payload, unmasked.
        fin: FIN bit: this frame ends a message.
        rsv1: RSV1 bit (set by permessage-deflate on compressed messages).
        rsv2: RSV2 bit.
        rsv3: RSV3 bit.
    """

    opcode: Opcode
    data: BytesLike
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    # How many payload bytes str() shows before eliding the rest.
    MAX_LOG_SIZE = 75

    def __str__(self) -> str:
        """Describe the frame for logs, with a long payload elided.

        Payloads that read as text are shown as text, whatever the opcode,
        and tagged ``text`` or ``binary`` when that isn't what the opcode
        implies: ``PING 'ping' [text, 4 bytes]``, as websockets logs them.
        """
        payload = bytes(self.data)
        size = len(payload)
        shown, is_text = self._describe_payload(payload)
        tag = "" if is_text is _TEXT_BY_DEFAULT[self.opcode] else "text" if is_text else "binary"
        details = ", ".join(
            part
            for part in (
                tag,
                f"{size} byte{'' if size == 1 else 's'}",
                "" if self.fin else "continued",
            )
            if part
        )
        return f"{self.opcode.name} {shown} [{details}]"

    def _describe_payload(self, payload: bytes) -> tuple[str, bool | None]:
        """The payload as logs show it, and whether it's shown as text."""
        if not payload:
            return "''", _TEXT_BY_DEFAULT[self.opcode]
        if self.opcode is CLOSE:
            if _parses_as_close(payload):
                return str(Close.parse(payload)), True
            text = None
        elif self.opcode in CTRL_OPCODES:
            # Short binary payloads of pings are often valid UTF-8 by chance:
            # only printable ASCII counts as text there.
            text = payload.decode() if _PRINTABLE_ASCII.fullmatch(payload) else None
        else:
            text = _utf8_text(payload, whole_start=self.opcode is not CONT, whole_end=self.fin)
        if text is None:
            # A third of the limit in bytes: each byte takes three characters.
            return _elide_bytes(payload, self.MAX_LOG_SIZE // 3), False
        return _elide(repr(text), self.MAX_LOG_SIZE), True

    def check(self) -> None:
        """Enforce the rules every frame obeys, whatever the extensions.

        Raises:
            ProtocolError: A reserved bit is set, or a control frame is
                fragmented or has a payload over 125 bytes.
        """
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode in CTRL_OPCODES:
            _check_control(self)

    def serialize(self, *, mask: bool, extensions: Sequence[Extension] | None = None) -> bytes:
        """Encode the frame for the wire.

        Args:
            mask: Whether to mask the payload (clients must, servers must not).
            extensions: Extensions to apply, in the negotiated order.

        Raises:
            ProtocolError: The frame breaks a rule of :meth:`check`.
        """
        frame = self
        for extension in extensions or ():
            frame = extension.encode(frame)
        if frame.opcode in CTRL_OPCODES:
            _check_control(frame)
        return build_frame(frame._first_byte(), frame.data, mask)

    def serialize_header(self) -> bytes:
        """Encode the header of the frame, unmasked, without extensions.

        The header followed by the payload is what ``serialize(mask=False)``
        returns: a long payload may be written after its header as it is,
        rather than copied into one frame.

        Raises:
            ProtocolError: The frame breaks a rule of :meth:`check`.
        """
        if self.opcode in CTRL_OPCODES:
            _check_control(self)
        return frame_header(self._first_byte(), memoryview(self.data).nbytes, mask=False)

    def _first_byte(self) -> int:
        """FIN, RSV1-3 and the opcode, as the first byte of the header."""
        return (
            (_FIN if self.fin else 0)
            | (_RSV1 if self.rsv1 else 0)
            | (_RSV2 if self.rsv2 else 0)
            | (_RSV3 if self.rsv3 else 0)
            | self.opcode
        )


_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def frame_header(first_byte: int, length: int, mask: bool) -> bytes:
    """Encode a frame header up to its masking key, which follows if ``mask``.

    For :meth:`Frame.serialize_header` and the pure-Python
    :func:`~wskit.speedups.build_frame`; the C ``build_frame`` writes the
    header in place.
    """
    mask_bit = 0x80 if mask else 0
    if length < 126:
        return bytes((first_byte, mask_bit | length))
    if length < 65536:
        return _HEADER_16.pack(first_byte, mask_bit | 126, length)
    return _HEADER_64.pack(first_byte, mask_bit | 127, length)


def _check_control(frame: Frame) -> None:
    # "All control frames MUST have a payload length of 125 bytes or less
    # and MUST NOT be fragmented."
    if memoryview(frame.data).nbytes > MAX_CONTROL_PAYLOAD:
        raise ProtocolError("control frame too long")
    if not frame.fin:
        raise ProtocolError("fragmented control frame")


def _parses_as_close(payload: bytes) -> bool:
    try:
        Close.parse(payload)
    except (ProtocolError, UnicodeDecodeError):
        return False
    return True


# What str(frame) shows without a tag; continuation frames are always tagged.
_TEXT_BY_DEFAULT: dict[Opcode, bool | None] = {
    Opcode.CONT: None,
    Opcode.TEXT: True,
    Opcode.BINARY: False,
    Opcode.CLOSE: True,
    Opcode.PING: None,
    Opcode.PONG: None,
}

_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e\t\n\r\x0b\x0c]*")

# How much of a long payload is checked for UTF-8: what the elided log shows.
_TEXT_HEAD, _TEXT_TAIL = 200, 100


def _utf8_text(payload: bytes, *, whole_start: bool, whole_end: bool) -> str | None:
    """Decode a payload that is UTF-8, possibly cut mid-character at its ends.

    A long payload is only checked where str() shows it, at both ends.
    Characters cut at the ends show as U+FFFD.
    """
    if len(payload) > _TEXT_HEAD + _TEXT_TAIL:
        head = _utf8_text(payload[:_TEXT_HEAD], whole_start=whole_start, whole_end=False)
        tail = _utf8_text(payload[-_TEXT_TAIL:], whole_start=False, whole_end=whole_end)
        return None if head is None or tail is None else head + tail
    checked = payload
    if not whole_start:
        # Up to three continuation bytes may end a character begun earlier.
        skip = 0
        while skip < 3 and skip < len(checked) and 0x80 <= checked[skip] < 0xC0:
            skip += 1
        checked = checked[skip:]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(checked, final=whole_end)
    except UnicodeDecodeError:
        return None
    return payload.decode(errors="replace")


def _elide_bytes(data: bytes, limit: int) -> str:
    if len(data) <= limit:
        return data.hex(" ")
    keep = limit * 2 // 3
    return f"{data[:keep].hex(' ')} ... {data[-(limit - keep - 1) :].hex(' ')}"


def _elide(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # Two thirds of what fits before the ellipsis, one third after.
    keep = limit // 3 - 1
    return f"{text[: 2 * keep]}...{text[-keep:]}"


@dataclasses.dataclass
class Close:
    """The payload of a close frame: a close code and a reason.

    Attributes:
        code: Close code.
        reason: Close reason, at most 123 bytes once UTF-8 encoded.
    """

    code: CloseCode | int
    reason: str

    def __str__(self) -> str:
        """Describe the close code and reason for logs and exceptions."""
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        result = f"{self.code} ({explanation})"
        return f"{result} {escape_controls(self.reason)}" if self.reason else result

    @classmethod
    def parse(cls, data: BytesLike) -> Close:
        """Decode the payload of a close frame.

        An empty payload stands for "no status code": ``Close(1005, "")``.

        Raises:
            ProtocolError: The payload is one byte long or the code is invalid.
            UnicodeDecodeError: The reason is not valid UTF-8.
        """
        if len(data) >= 2:
            (code,) = _CLOSE_CODE.unpack_from(data)
            close = cls(code, bytes(data[2:]).decode())
            close.check()
            return close
        if len(data) == 0:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """Encode the payload of a close frame.

        Raises:
            ProtocolError: The code may not be sent or the reason is too long.
        """
        self.check()
        reason = self.reason.encode()
        if len(reason) > MAX_CLOSE_REASON:
            raise ProtocolError(f"close reason longer than {MAX_CLOSE_REASON} bytes")
        return _CLOSE_CODE.pack(self.code) + reason

    def check(self) -> None:
        """Check that the code may travel in a close frame.

        Raises:
            ProtocolError: The code is reserved, internal or out of range.
        """
        if not (self.code in EXTERNAL_CLOSE_CODES or 3000 <= self.code < 5000):
            raise ProtocolError(f"invalid close code {self.code}")


def _truncate_reason(reason: str) -> str:
    """``reason``, cut on a character boundary to fit a close frame, with an ellipsis."""
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON:
        return reason
    return encoded[: MAX_CLOSE_REASON - 3].decode(errors="ignore") + "..."
