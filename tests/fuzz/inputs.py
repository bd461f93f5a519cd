"""The fuzzers' input generator: raw bytes in, a connection scenario out.

Every harness (the hypothesis tests, atheris, the random loop) hands over a
byte string; :func:`scenario` reads its choices from it, one after another,
like libFuzzer's FuzzedDataProvider, and builds what a peer would send: a
handshake (valid most of the time, so that frames get parsed), then frames
with every feature the core must handle (masking, fragmentation, control
frames between fragments, compressed messages, text valid and not, lies about
lengths), then a few byte-level mutations, split into chunks at random points.

Reading past the end of the input yields zeros, and zero picks the plainest
choice everywhere, so short inputs describe plain connections and a fuzzer
that flips bytes walks away from them one decision at a time. The same bytes
always give the same scenario: a crash file replays exactly.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["CLIENT_KEY", "Choices", "Config", "Scenario", "scenario"]

# The client's Sec-WebSocket-Key in the client harness: fixed, so that the
# server's answer can carry the matching Sec-WebSocket-Accept.
CLIENT_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_T = TypeVar("_T")

_FIN, _RSV1, _RSV2, _RSV3 = 0x80, 0x40, 0x20, 0x10
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0, 1, 2, 8, 9, 10


class Choices:
    """Decisions read from a byte string; zeros once it runs out."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def byte(self) -> int:
        """Return the next byte of the input, 0 past its end."""
        position = self._position
        self._position += 1
        return self._data[position] if position < len(self._data) else 0

    def integer(self, low: int, high: int) -> int:
        """Return an integer between ``low`` and ``high`` inclusive."""
        span = high - low + 1
        value = 0
        for _ in range(1 if span <= 256 else 2 if span <= 65536 else 4):
            value = value << 8 | self.byte()
        return low + value % span

    def chance(self, percent: int) -> bool:
        """Return :obj:`True` with about ``percent`` % probability (never for 0s)."""
        return self.byte() * 100 >= (100 - percent) * 256

    def pick(self, options: Sequence[_T]) -> _T:
        """Return one of ``options``; the first one for a zero."""
        return options[self.integer(0, len(options) - 1)]

    def take(self, size: int) -> bytes:
        """Return the next ``size`` bytes of the input, zero-padded."""
        chunk = self._data[self._position : self._position + size]
        self._position += size
        return chunk + bytes(size - len(chunk))


@dataclasses.dataclass(frozen=True)
class Config:
    """How the protocol under test is set up.

    Attributes:
        side: ``"server"`` or ``"client"``.
        deflate: Which permessage-deflate factory the protocol has: ``""``
            for none, ``"default"`` for the factory's defaults, ``"frugal"``
            for wskit's memory-frugal default (12-bit windows).
        max_size: The ``max_size`` argument.
        debug: Whether the logger is enabled for debug messages, which takes
            the per-frame path rather than the fast path for whole messages.
        hold_failures: Whether failures wait for ``release_failure()``, as
            in the asyncio and threading layers.
        receive_into: Whether the payload of a long frame arrives through
            ``receive_into()``, as the I/O layers do, rather than ``receive_data()``.
    """

    side: str
    deflate: str
    max_size: int | tuple[int | None, int | None] | None
    debug: bool
    hold_failures: bool = False
    receive_into: bool = False


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What the peer sends, and how it arrives.

    Attributes:
        config: How the protocol under test is set up.
        chunks: The byte stream (handshake, then frames), as split by the network.
        eof: Whether the connection ends after the last chunk.
    """

    config: Config
    chunks: tuple[bytes, ...]
    eof: bool

    def to_json(self) -> str:
        """Serialize, so that a failure replays even once the generator changed."""
        fields = dataclasses.asdict(self.config)
        return json.dumps(
            {"config": fields, "chunks": [chunk.hex() for chunk in self.chunks], "eof": self.eof},
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        """Read what :meth:`to_json` wrote."""
        fields = json.loads(text)
        config = fields["config"]
        if isinstance(config["max_size"], list):
            config["max_size"] = tuple(config["max_size"])
        chunks = tuple(bytes.fromhex(chunk) for chunk in fields["chunks"])
        return cls(Config(**config), chunks, fields["eof"])


_MAX_SIZES: tuple[int | tuple[int | None, int | None] | None, ...] = (
    2**20,
    125,
    1,
    0,
    1000,
    2**16,
    70_000,
    (4096, 126),
    (None, 1000),
    (200, None),
    None,
)


def scenario(data: bytes, side: str) -> Scenario:
    """Build the scenario that ``data`` describes, for the ``"server"`` or ``"client"`` side."""
    choices = Choices(data)
    config = Config(
        side=side,
        deflate=choices.pick(("default", "", "frugal")),
        max_size=choices.pick(_MAX_SIZES),
        debug=choices.chance(15),
    )
    if side == "server":
        handshake = _server_request(choices)
    else:
        handshake = _client_response(choices, config.deflate)
    # Compress messages mostly when the handshake negotiates permessage-deflate.
    deflate = bool(config.deflate) and b"permessage-deflate" in handshake
    if choices.chance(8):
        handshake = _mutate(choices, handshake)
    frames = _Frames(choices, masked=side == "server", deflate=deflate)
    for _ in range(choices.integer(0, 12)):
        choices.pick(_FRAME_KINDS)(frames)
    stream = frames.stream()
    for _ in range(choices.pick((0, 0, 0, 1, 2, 4))):
        stream = _mutate(choices, stream)
    chunks = _split(choices, handshake + stream)
    eof = choices.chance(60)
    # Decided last, so that inputs saved before these existed still replay.
    config = dataclasses.replace(
        config, hold_failures=choices.chance(50), receive_into=choices.chance(50)
    )
    return Scenario(config, chunks, eof)


# The handshake.

_SERVER_OFFERS = (
    b"permessage-deflate; client_max_window_bits",
    b"",
    b"permessage-deflate",
    b"permessage-deflate; client_max_window_bits=9; server_max_window_bits=10",
    b"permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    b"permessage-deflate; server_max_window_bits=8, permessage-deflate",
    b"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=15",
    b'permessage-deflate; client_max_window_bits="12"',
    b"permessage-deflate; permessage-deflate",
    b"permessage-deflate; server_max_window_bits=16",
    b"permessage-deflate, permessage-deflate; client_max_window_bits",
)


def _server_request(choices: Choices) -> bytes:
    """A handshake request from a client, with an extension offer."""
    offer = choices.pick(_SERVER_OFFERS)
    if choices.chance(5):
        offer = _header_noise(choices)
    lines = [
        b"GET /chat?room=1 HTTP/1.1",
        b"Host: server.example.com",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + CLIENT_KEY.encode(),
        b"Sec-WebSocket-Version: 13",
        b"Origin: http://example.com",
    ]
    if offer:
        lines.append(b"Sec-WebSocket-Extensions: " + offer)
    if choices.chance(10):
        lines.append(b"Sec-WebSocket-Protocol: chat, superchat")
    return b"\r\n".join(lines) + b"\r\n\r\n"


_CLIENT_ANSWERS = (
    b"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    b"",
    b"permessage-deflate",
    b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    b"permessage-deflate; client_max_window_bits=9",
    b"permessage-deflate; server_max_window_bits=8",
    b"permessage-deflate, permessage-deflate",
    b"x-unknown-extension",
    b"permessage-deflate; client_max_window_bits",
)


# Answers that each client configuration accepts.
_CLIENT_ACCEPTED_ANSWERS = {
    "": (b"",),
    "default": (
        b"permessage-deflate",
        b"permessage-deflate; client_max_window_bits=9",
        b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        b"permessage-deflate; server_max_window_bits=10",
        b"",
    ),
    "frugal": (
        b"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
        b"permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
        b"permessage-deflate; server_max_window_bits=12; server_no_context_takeover",
        b"",
    ),
}


def _client_response(choices: Choices, deflate: str) -> bytes:
    """A handshake response from a server, usually accepting the connection."""
    if choices.chance(15):
        answer = choices.pick(_CLIENT_ANSWERS)
    else:
        answer = choices.pick(_CLIENT_ACCEPTED_ANSWERS[deflate])
    if choices.chance(5):
        answer = _header_noise(choices)
    accept = base64.b64encode(hashlib.sha1(CLIENT_KEY.encode() + _GUID).digest())
    status = b"101 Switching Protocols"
    if choices.chance(8):
        status = choices.pick((b"200 OK", b"404 Not Found", b"101 OK"))
    lines = [
        b"HTTP/1.1 " + status,
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Accept: " + (accept if not choices.chance(3) else b"x" * 28),
    ]
    if answer:
        lines.append(b"Sec-WebSocket-Extensions: " + answer)
    if status[:3] != b"101":
        body = choices.take(choices.integer(0, 40))
        lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _header_noise(choices: Choices) -> bytes:
    """A header value made of the characters extension headers are made of."""
    alphabet = b'permsage-dflt_wiobcxnkv=;, "0123456789\t'
    return bytes(choices.pick(alphabet) for _ in range(choices.integer(0, 60)))


# Frames.

_VALID_TEXT = ("", "a", "hello", "κόσμε", "€", "\U0001f600", "\x00", "a" * 130, "ß" * 70)
# Bytes that break UTF-8: overlong forms, surrogates, past U+10FFFF, stray
# continuation bytes, and sequences cut short.
_INVALID_UTF8 = (
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xff",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xce",
)
_CLOSE_CODES: tuple[int, ...] = (1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010)
_CLOSE_CODES += (1011, 1012, 1014, 1015, 1016, 999, 0, 2999, 3000, 4000, 4999, 5000, 65535)
_PAYLOAD_SIZES = (0, 1, 2, 5, 16, 100, 125, 126, 127, 300, 1000, 4096)
# Long enough to be received straight into a PayloadBuffer (see wskit.protocol).
_LONG_PAYLOAD_SIZES = (65535, 65536, 70_000, 2**17)


class _Frames:
    """The frames of the peer, built one after another into a byte stream."""

    def __init__(self, choices: Choices, *, masked: bool, deflate: bool) -> None:
        self.choices = choices
        self.masked = masked  # whether the peer must mask, i.e. is a client
        self.deflate = deflate  # whether permessage-deflate was offered or accepted
        self.parts: list[bytes] = []
        # The peer's compressor, kept between messages (context takeover).
        self.compressor: zlib._Compress | None = None

    def stream(self) -> bytes:
        return b"".join(self.parts)

    def add(self, first: int, payload: bytes) -> None:
        """Add a frame; usually well-formed, sometimes not in some way."""
        choices = self.choices
        masked = self.masked != choices.chance(1)
        length = len(payload)
        if choices.chance(2):  # a lie, or a different encoding of the truth
            length = choices.pick((length + 1, max(length - 1, 0), 0, 2**63 - 1, 2**63, 126))
        header = bytearray([first])
        mask_bit = 0x80 if masked else 0
        encoding = choices.pick((0, 0, 0, 126, 127))
        if length < 126 and encoding == 0:
            header.append(mask_bit | length)
        elif length < 2**16 and encoding != 127:
            header.append(mask_bit | 126)
            header += struct.pack("!H", length)
        else:
            header.append(mask_bit | 127)
            header += struct.pack("!Q", length % 2**64)
        if masked:
            key = choices.take(4)
            header += key
            payload = _mask(payload, key)
        self.parts += (bytes(header), payload)

    def payload(self) -> bytes:
        """Binary data, from a few input bytes repeated to any size."""
        choices = self.choices
        size = choices.pick(_LONG_PAYLOAD_SIZES if choices.chance(10) else _PAYLOAD_SIZES)
        pattern = choices.take(choices.integer(1, 8))
        return (pattern * (size // len(pattern) + 1))[:size]

    def text(self) -> bytes:
        """UTF-8 text, sometimes broken somewhere."""
        choices = self.choices
        text = "".join(choices.pick(_VALID_TEXT) for _ in range(choices.integer(0, 4))).encode()
        if choices.chance(10):
            at = choices.integer(0, len(text))
            text = text[:at] + choices.pick(_INVALID_UTF8) + text[at:]
        return text

    def compress(self, data: bytes) -> bytes:
        """Deflate a message as permessage-deflate does, context kept or not."""
        choices = self.choices
        if self.compressor is None or choices.chance(20):
            # 9-bit windows fit every negotiation; 15 bits may not.
            wbits = -15 if choices.chance(10) else -9
            self.compressor = zlib.compressobj(wbits=wbits)
        compressed = self.compressor.compress(data)
        if choices.chance(10):  # a BFINAL block, which RFC 7692 allows
            compressed += self.compressor.flush(zlib.Z_FINISH)
            self.compressor = None
            return compressed
        compressed += self.compressor.flush(zlib.Z_SYNC_FLUSH)
        return compressed[:-4] if not choices.chance(5) else compressed


def _data_message(frames: _Frames) -> None:
    """A text or binary message, maybe compressed, maybe fragmented, maybe with pings between."""
    choices = frames.choices
    text = choices.chance(50)
    data = frames.text() if text else frames.payload()
    compressed = choices.chance(50 if frames.deflate else 2)
    if compressed:
        data = frames.compress(data)
    count = choices.pick((1, 1, 2, 3, 8, 40))
    if choices.chance(1):  # more empty fragments than MAX_EMPTY_FRAGMENTS allows
        count = 1100
    cuts = sorted(choices.integer(0, len(data)) for _ in range(count - 1))
    pieces = [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for index, piece in enumerate(pieces):
        first = 0 if index else (_TEXT if text else _BINARY)
        if index == len(pieces) - 1 and not choices.chance(2):
            first |= _FIN
        if (compressed and index == 0) or choices.chance(1):
            first |= _RSV1
        frames.add(first, piece)
        if index < len(pieces) - 1 and choices.chance(15):
            _control(frames)


def _control(frames: _Frames) -> None:
    """A ping or a pong, rarely with a flag or a size that isn't allowed."""
    choices = frames.choices
    first = _FIN | choices.pick((_PING, _PONG))
    if choices.chance(2):
        first ^= choices.pick((_FIN, _RSV1, _RSV2))
    size = 126 if choices.chance(2) else choices.pick((0, 4, 17, 125))
    frames.add(first, choices.take(size))


def _close(frames: _Frames) -> None:
    """A close frame: valid, or a payload that doesn't parse."""
    choices = frames.choices
    shape = choices.integer(0, 5)
    if shape == 0:
        payload = b""
    elif shape == 1:
        payload = choices.take(1)
    else:
        payload = struct.pack("!H", choices.pick(_CLOSE_CODES)) + frames.text()[:123]
    frames.add(_FIN | _CLOSE, payload)


def _long_frame(frames: _Frames) -> None:
    """A long frame, text or binary: its payload goes to a PayloadBuffer on the way."""
    choices = frames.choices
    size = choices.pick(_LONG_PAYLOAD_SIZES)
    text = choices.chance(50)
    pattern = frames.text() if text else choices.take(choices.integer(1, 8))
    # Cut at the size, the text may end in the middle of a character.
    data = (pattern * (size // max(len(pattern), 1) + 1))[:size]
    frames.add(_FIN | (_TEXT if text else _BINARY), data)


def _odd_frame(frames: _Frames) -> None:
    """A frame with any first byte: reserved opcodes and bits, stray continuations."""
    choices = frames.choices
    frames.add(choices.byte(), choices.take(choices.pick((0, 3, 126))))


_FRAME_KINDS: tuple[Callable[[_Frames], None], ...] = (
    *[_data_message] * 6,
    _long_frame,
    _control,
    _control,
    _close,
    _odd_frame,
)


def _mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with ``key`` repeated (RFC 6455, section 5.3), as one big integer."""
    keys = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data) ^ int.from_bytes(keys)).to_bytes(len(data))


# Mutations and splits.

# Past this many chunks, the rest of the stream arrives in one piece: a long
# frame in 1-byte reads teaches nothing more than its first few hundred.
_MAX_CHUNKS = 200


def _mutate(choices: Choices, data: bytes) -> bytes:
    """Flip, insert, delete or truncate at a random place."""
    at = choices.integer(0, len(data))
    action = choices.integer(0, 3)
    if action == 0 and at < len(data):
        return data[:at] + bytes([data[at] ^ (choices.byte() or 1)]) + data[at + 1 :]
    if action == 1:
        return data[:at] + choices.take(choices.integer(1, 8)) + data[at:]
    if action == 2:
        return data[:at] + data[at + choices.integer(1, 16) :]
    return data[:at]


def _split(choices: Choices, data: bytes) -> tuple[bytes, ...]:
    """Split the stream as the network might: whole, in bytes, or at random points."""
    how = choices.integer(0, 3)
    if how == 0 or not data:
        return (data,)
    if how == 1:
        size = choices.pick((1, 2, 3, 7, 64, 1000))
        end = min(len(data), size * _MAX_CHUNKS)
        pieces = [data[start : start + size] for start in range(0, end, size)]
        return (*pieces, data[end:]) if end < len(data) else tuple(pieces)
    cuts = sorted({choices.integer(0, len(data)) for _ in range(choices.integer(1, 12))})
    bounds = [0, *cuts, len(data)]
    return tuple(data[start:end] for start, end in itertools.pairwise(bounds))
