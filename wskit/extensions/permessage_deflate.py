"""The permessage-deflate extension (RFC 7692).

Messages are compressed with DEFLATE (RFC 1951). Each side compresses with
its own LZ77 window and may keep that window from one message to the next
("context takeover"); the four parameters negotiated in the handshake bound
the window sizes and turn context takeover off.

Two choices go beyond the letter of the RFC, both forced by zlib:

* zlib refuses to *compress* raw DEFLATE with an 8-bit window (versions
  before 1.2.9 silently used 9 bits instead). When we must compress within 8
  bits, we ask zlib for a 9-bit window but restrict it to run-length matches
  (``Z_RLE``): zlib documents that this strategy limits match distances to
  one, which is valid under any window size. Stock zlib happens to keep a
  9-bit window's distances under 256 too, but that is an implementation
  detail other builds (zlib-ng, for one) need not share.
* When we agreed that the peer compresses within 8 bits, we still
  *decompress* with a 9-bit window. A larger window accepts every stream the
  smaller one accepts, and it tolerates zlib-based peers that use 9 bits
  after agreeing to 8. The cost is 256 bytes.

Decompression is bounded: a frame is inflated at most up to the number of
bytes the caller allows, so a small frame cannot expand into a large buffer.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple, TypeVar

from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..frames import CONT, CTRL_OPCODES, Frame
from ..typing import BytesLike, ExtensionName, ExtensionParameter
from ._windows import LIVE_COMPRESSORS, LIVE_DECOMPRESSORS, slide
from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = [
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

_NAME = ExtensionName("permessage-deflate")


# A flush with Z_SYNC_FLUSH ends with an empty stored block: these 4 bytes.
# "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end" when
# sending; "Append 4 octets of 0x00 0x00 0xff 0xff" when receiving.
_EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"

_MIN_WINDOW_BITS = 8
_MAX_WINDOW_BITS = 15
# The smallest window zlib accepts for compressing raw DEFLATE.
_MIN_ZLIB_WINDOW_BITS = 9

# "a decimal integer value without leading zeroes between 8 to 15, inclusive"
_WINDOW_BITS_VALUE = re.compile(r"[89]|1[0-5]")

# Parameter names (RFC 7692, section 7.1).
_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"

# Settings of zlib.compressobj() that only the negotiation may set: the
# window size, and a preset dictionary, which the peer would not know.
_RESERVED_SETTINGS = ("wbits", "zdict")


class PerMessageDeflate(Extension):
    """The permessage-deflate extension, as negotiated for one connection.

    "Remote" is the peer, "local" is this side: the remote parameters govern
    decompression of received messages, the local ones compression of sent
    messages.

    Args:
        remote_no_context_takeover: The peer resets its compressor after
            each message, so we may reset our decompressor.
        local_no_context_takeover: We must reset our compressor after each
            message.
        remote_max_window_bits: Base-2 logarithm of the peer's LZ77 window,
            8 to 15.
        local_max_window_bits: Base-2 logarithm of our LZ77 window, 8 to 15.
        compress_settings: Extra keyword arguments for
            :func:`zlib.compressobj`, such as ``level`` or ``memLevel``;
            ``wbits`` and ``zdict`` are not allowed.

    Raises:
        ValueError: A window size is out of range or ``compress_settings``
            holds a reserved setting.
    """

    name = _NAME
    compresses = True

    #: How many connections of the process keep their zlib objects between
    #: messages with context takeover: the last ones to send (and, apart, to
    #: receive). The others make new ones from their windows when they need
    #: them, which costs ~10 us per message more (``0``: always).
    live_contexts = 16

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: dict[Any, Any] | None = None,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits)
        _check_window_bits("local_max_window_bits", local_max_window_bits)
        settings = _check_compress_settings(compress_settings)

        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = settings

        # See the module docstring for why 8 bits becomes 9 bits here.
        if local_max_window_bits < _MIN_ZLIB_WINDOW_BITS:
            settings = dict(settings)
            # Huffman-only coding has no back-references at all: also safe.
            if settings.get("strategy") != zlib.Z_HUFFMAN_ONLY:
                settings["strategy"] = zlib.Z_RLE
        self._compress_kwargs: dict[Any, Any] = {
            **settings,
            "wbits": -max(local_max_window_bits, _MIN_ZLIB_WINDOW_BITS),
        }
        self._decompress_wbits = -max(remote_max_window_bits, _MIN_ZLIB_WINDOW_BITS)

        # A connection between messages holds no zlib object (40 KiB for a
        # frugal compressor, 12 KiB for a decompressor). With context
        # takeover, what the next message may refer to is the last window of
        # data, kept as bytes and given to the next zlib object as its
        # dictionary: the same back-references stay possible, for 2**bits
        # bytes instead of a whole context. Since a fresh zlib object costs
        # ~10 us more on its first message, those of the connections that
        # used them last wait in LIVE_COMPRESSORS and LIVE_DECOMPRESSORS (_windows.py).
        self._encoder: zlib._Compress | None = None
        self._decoder: zlib._Decompress | None = None
        self._sent_window = b""
        self._received_window = b""
        self._sent_window_size = (
            0 if local_no_context_takeover else 1 << -self._compress_kwargs["wbits"]
        )
        self._received_window_size = (
            0 if remote_no_context_takeover else 1 << -self._decompress_wbits
        )
        # Whether the fragmented message being received is compressed.
        self._decoding_message = False
        # Whether the decoder got data since the last flush or end of stream.
        self._unflushed = False

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate("
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits}, "
            f"compress_settings={self.compress_settings!r})"
        )

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Decompress a received frame if it belongs to a compressed message.

        Args:
            frame: The incoming frame.
            max_size: How many bytes this frame may inflate to; :obj:`None`
                means no limit.

        Returns:
            The frame with its payload decompressed and RSV1 cleared, or the
            frame itself for control frames and uncompressed messages.

        Raises:
            PayloadTooBig: The payload would inflate past ``max_size``. The
                check happens while inflating, not afterwards.
            ProtocolError: RSV1 is set where it is not allowed, or the
                compressed data is corrupt.
        """
        # "An endpoint MUST NOT set the 'Per-Message Compressed' bit of
        # control frames and non-first fragments of a data message. An
        # endpoint receiving such a frame MUST _Fail the WebSocket Connection_."
        if frame.opcode in CTRL_OPCODES:
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a control frame")
            return frame
        if frame.opcode is CONT:
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a continuation frame")
            if not self._decoding_message:
                return frame
        else:
            # The first frame of a message says whether it is compressed.
            self._decoding_message = frame.rsv1
            if not frame.rsv1:
                return frame
        data = self.inflate(frame.data, frame.fin, max_size)
        return dataclasses.replace(frame, data=data, rsv1=False)

    def inflate(self, data: BytesLike, fin: bool, max_size: int | None) -> bytes:
        """Decompress the payload of a frame of a compressed message, as :meth:`decode` does.

        The core's one-call path
        (:meth:`~wskit.receiving.FrameReceiver.receive_messages`) calls it
        for a whole message in one frame (``fin``); ``max_size`` is as in
        :meth:`decode`.

        Raises:
            PayloadTooBig: The payload would inflate past ``max_size``.
            ProtocolError: The compressed data is corrupt.
        """
        try:
            output = self._inflate(data, b"", max_size)
            # "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the
            # payload of the message" -- unless nothing is waiting for them:
            # the payload was empty or ended with a complete BFINAL block.
            if fin and self._unflushed:
                output = self._inflate(_EMPTY_BLOCK_TAIL, output, max_size)
                self._unflushed = False
        except zlib.error as exc:
            raise ProtocolError(f"invalid compressed data: {exc}") from exc

        if fin:
            self._decoding_message = False
            if self._decoder is not None and self._received_window_size:
                LIVE_DECOMPRESSORS.keep(self, self._decoder, self.live_contexts)
            self._decoder = None
        return output

    def _new_decoder(self) -> zlib._Decompress:
        """The decompressor for a new message, or a stream after a BFINAL block."""
        if not self._received_window_size:
            return zlib.decompressobj(wbits=self._decompress_wbits)
        decoder = LIVE_DECOMPRESSORS.take(self)
        if decoder is not None:
            return decoder
        if self._received_window:
            return zlib.decompressobj(wbits=self._decompress_wbits, zdict=self._received_window)
        return zlib.decompressobj(wbits=self._decompress_wbits)

    def _inflate(self, data: BytesLike, output: bytes, max_size: int | None) -> bytes:
        """Inflate ``data`` and append it to ``output``, within ``max_size``."""
        # Skip empty pieces: joining a single bytes object doesn't copy it.
        parts = [output] if output else []
        size = len(output)
        while data:
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = self._new_decoder()
            # Ask for one byte more than allowed: getting it proves the
            # payload is too big, without ever holding more than that.
            limit = 0 if max_size is None else max_size - size + 1
            chunk = decoder.decompress(data, limit)
            if chunk:
                parts.append(chunk)
                size += len(chunk)
                if self._received_window_size:
                    self._received_window = slide(
                        self._received_window, chunk, self._received_window_size
                    )
            if max_size is not None and size > max_size:
                raise PayloadTooBig(None, max_size)
            if not decoder.eof:
                # Under the limit, zlib stops only when the input runs out.
                self._unflushed = True
                break
            # The peer ended the DEFLATE stream with a BFINAL block, which
            # RFC 7692, section 7.2.3.4 allows for platforms that cannot
            # flush otherwise. Whatever follows starts a new stream. A zlib
            # sender resets its compressor after finishing a stream, so the
            # new stream starts without context; a back-reference into the
            # old one is reported as corrupt data.
            self._unflushed = False
            self._decoder = None
            self._received_window = b""
            data = decoder.unused_data
        return b"".join(parts)

    def message_key(self) -> tuple[Any, ...] | None:
        """What the compressed bytes of the next message depend on, besides it.

        Without context takeover, each message starts from a fresh compressor:
        two connections with equal keys compress a message to the same bytes,
        so a broadcast compresses it once for both. With context takeover, or
        in the middle of a message, the bytes depend on what came before: None.
        """
        if not self.local_no_context_takeover or self._encoder is not None:
            return None
        return tuple(sorted(self._compress_kwargs.items()))

    def _new_encoder(self) -> zlib._Compress:
        """The compressor for a new message: primed with the window, if any."""
        encoder = LIVE_COMPRESSORS.take(self) if self._sent_window_size else None
        if encoder is not None:
            return encoder
        if self._sent_window:
            return zlib.compressobj(**self._compress_kwargs, zdict=self._sent_window)
        return zlib.compressobj(**self._compress_kwargs)

    def encode(self, frame: Frame) -> Frame:
        """Compress an outgoing data frame.

        Every data message is compressed. RSV1 marks the first frame of the
        message; continuation frames and control frames never carry it.
        Control frames pass through untouched, even between two fragments of
        a message.

        Args:
            frame: The outgoing frame.

        Returns:
            The frame with its payload compressed, or the frame itself for
            control frames.
        """
        if frame.opcode in CTRL_OPCODES:
            return frame
        data = self.deflate(frame.data, frame.fin)
        return dataclasses.replace(frame, data=data, rsv1=frame.opcode is not CONT)

    def deflate(self, data: BytesLike, fin: bool) -> bytes:
        """Compress the payload of a data frame, as :meth:`encode` does.

        The core's one-call path (:meth:`~wskit.protocol.Protocol.send_message`)
        calls it for a whole message in one frame (``fin``).
        """
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = self._new_encoder()
        output = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if self._sent_window_size:
            self._sent_window = slide(self._sent_window, data, self._sent_window_size)
        if fin:
            # Z_SYNC_FLUSH always ends with the empty stored block.
            output = output[: -len(_EMPTY_BLOCK_TAIL)]
            if self._sent_window_size:
                LIVE_COMPRESSORS.keep(self, encoder, self.live_contexts)
            self._encoder = None
        return output


class _Parameters(NamedTuple):
    """The four parameters of an offer or an answer, once validated."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int | None
    # True stands for client_max_window_bits without a value (offers only).
    client_max_window_bits: int | Literal[True] | None


def _parse_parameters(params: Sequence[ExtensionParameter], *, offer: bool) -> _Parameters:
    """Validate the parameters of an offer (``offer=True``) or an answer."""
    seen: set[str] = set()
    server_no_context_takeover = client_no_context_takeover = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | Literal[True] | None = None
    for name, value in params:
        if name in seen:
            raise DuplicateParameter(name)
        seen.add(name)
        if name == _SERVER_NO_CONTEXT_TAKEOVER:
            _check_no_value(name, value)
            server_no_context_takeover = True
        elif name == _CLIENT_NO_CONTEXT_TAKEOVER:
            _check_no_value(name, value)
            client_no_context_takeover = True
        elif name == _SERVER_MAX_WINDOW_BITS:
            server_max_window_bits = _parse_window_bits(name, value)
        elif name == _CLIENT_MAX_WINDOW_BITS:
            # "This parameter has no value or a decimal integer value" in an
            # offer; "the server MUST include the value" in an answer.
            if offer and value is None:
                client_max_window_bits = True
            else:
                client_max_window_bits = _parse_window_bits(name, value)
        else:
            raise InvalidParameterName(name)
    return _Parameters(
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    )


def _check_no_value(name: str, value: str | None) -> None:
    # "This extension parameter has no value."
    if value is not None:
        raise InvalidParameterValue(name, value)


def _parse_window_bits(name: str, value: str | None) -> int:
    if value is None or not _WINDOW_BITS_VALUE.fullmatch(value):
        raise InvalidParameterValue(name, value)
    return int(value)


def _build_parameters(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: int | None,
    client_max_window_bits: int | Literal[True] | None,
) -> list[ExtensionParameter]:
    """Serialize parameters in a stable order; True means "no value"."""
    params: list[ExtensionParameter] = []
    if server_no_context_takeover:
        params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
    if client_no_context_takeover:
        params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
    if server_max_window_bits is not None:
        params.append((_SERVER_MAX_WINDOW_BITS, str(server_max_window_bits)))
    if client_max_window_bits is True:
        params.append((_CLIENT_MAX_WINDOW_BITS, None))
    elif client_max_window_bits is not None:
        params.append((_CLIENT_MAX_WINDOW_BITS, str(client_max_window_bits)))
    return params


def _check_window_bits(name: str, value: object, *, optional: bool = False) -> None:
    """Raise ValueError unless ``value`` is a window size (or None if optional)."""
    if optional and value is None:
        return
    # bool is a subclass of int: reject True and False explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer between 8 and 15, got {value!r}")
    if not _MIN_WINDOW_BITS <= value <= _MAX_WINDOW_BITS:
        raise ValueError(f"{name} must be between 8 and 15, got {value}")


def _check_compress_settings(settings: dict[Any, Any] | None) -> dict[Any, Any]:
    """Raise ValueError if ``settings`` holds what only negotiation may set."""
    settings = {} if settings is None else settings
    for key in _RESERVED_SETTINGS:
        if key in settings:
            raise ValueError(f"compress_settings may not contain {key!r}")
    return settings


def _check_not_accepted(accepted_extensions: Sequence[Extension]) -> None:
    # Two permessage-deflate extensions would both claim RSV1.
    if any(extension.name == _NAME for extension in accepted_extensions):
        raise NegotiationError(f"{_NAME} was already accepted")


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Offers permessage-deflate from a client.

    Parameters behave as described in RFC 7692, section 7.1.

    Args:
        server_no_context_takeover: Ask the server to reset its compressor
            after each message.
        client_no_context_takeover: Reset our compressor after each message
            and tell the server so.
        server_max_window_bits: Ask the server to compress within a window of
            this many bits, 8 to 15; :obj:`None` leaves it to the server.
        client_max_window_bits: Compress within a window of at most this many
            bits, 8 to 15; :obj:`True` (the default) lets the server choose;
            :obj:`None` leaves the parameter out of the offer.
        compress_settings: Extra keyword arguments for
            :func:`zlib.compressobj`, except ``wbits`` and ``zdict``.

    Raises:
        ValueError: A parameter is out of range.
    """

    name = _NAME

    # Largest window we compress within when the server lets us choose.
    _compress_window_cap = _MAX_WINDOW_BITS

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | Literal[True] | None = True,
        compress_settings: dict[str, Any] | None = None,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, optional=True)
        if client_max_window_bits is not True:
            _check_window_bits("client_max_window_bits", client_max_window_bits, optional=True)
        _check_compress_settings(compress_settings)

        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        """Build the parameters of the offer.

        Returns:
            The parameters, e.g. ``[("client_max_window_bits", None)]`` with
            the defaults.
        """
        return _build_parameters(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
        )

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """Check the server's answer against our offer.

        Args:
            params: The parameters the server sent back.
            accepted_extensions: The extensions already accepted.

        Returns:
            The negotiated extension.

        Raises:
            NegotiationError: The answer is malformed, contradicts the offer,
                or permessage-deflate was already accepted.
        """
        _check_not_accepted(accepted_extensions)
        answer = _parse_parameters(params, offer=False)

        # "A server accepts an extension negotiation offer that includes the
        # 'server_no_context_takeover' extension parameter by including the
        # 'server_no_context_takeover' extension parameter in the response."
        if self.server_no_context_takeover and not answer.server_no_context_takeover:
            raise NegotiationError(f"expected {_SERVER_NO_CONTEXT_TAKEOVER}")

        # The server may ask us to drop context takeover in any case.
        local_no_context_takeover = (
            self.client_no_context_takeover or answer.client_no_context_takeover
        )

        # "... with the same or smaller value as the offer"; without an offer
        # the server may still limit its own window.
        if self.server_max_window_bits is None:
            remote_max_window_bits = answer.server_max_window_bits or _MAX_WINDOW_BITS
        elif answer.server_max_window_bits is None:
            raise NegotiationError(f"expected {_SERVER_MAX_WINDOW_BITS}")
        elif answer.server_max_window_bits > self.server_max_window_bits:
            raise NegotiationError(f"unsupported {_SERVER_MAX_WINDOW_BITS}")
        else:
            remote_max_window_bits = answer.server_max_window_bits

        # "If a received extension negotiation offer doesn't have the
        # 'client_max_window_bits' extension parameter, the corresponding
        # extension negotiation response to the offer MUST NOT include [it]."
        answered = answer.client_max_window_bits
        if self.client_max_window_bits is None:
            if answered is not None:
                raise NegotiationError(f"unexpected {_CLIENT_MAX_WINDOW_BITS}")
            local_max_window_bits = _MAX_WINDOW_BITS
        elif self.client_max_window_bits is True:
            # The default factory compresses within a smaller window than
            # the server allows: that's always allowed.
            local_max_window_bits = min(
                _MAX_WINDOW_BITS if answered is None else int(answered), self._compress_window_cap
            )
        elif answered is None:
            # We announced this limit in the offer: stick to it.
            local_max_window_bits = self.client_max_window_bits
        elif answered > self.client_max_window_bits:
            raise NegotiationError(f"unsupported {_CLIENT_MAX_WINDOW_BITS}")
        else:
            local_max_window_bits = int(answered)

        return PerMessageDeflate(
            answer.server_no_context_takeover,
            local_no_context_takeover,
            remote_max_window_bits,
            local_max_window_bits,
            self.compress_settings,
        )


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> Sequence[ClientExtensionFactory]:
    """Add permessage-deflate to a client's extensions unless it is there.

    The factory added uses memory-frugal settings: 4 KiB windows both ways
    and ``memLevel=5``. It offers ``client_max_window_bits`` without a value,
    as websockets does, so that a server may answer any window size (the
    Autobahn fuzzing server answers 15); whatever it answers, the client
    compresses within its 4 KiB window, which a smaller window always allows.

    Args:
        extensions: The extension factories configured so far, if any.

    Returns:
        A new list of factories, or ``extensions`` itself if it already
        contains a permessage-deflate factory.
    """
    return _with_frugal_default(extensions, _frugal_client_factory)


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Answers permessage-deflate offers on a server.

    Parameters behave as described in RFC 7692, section 7.1.

    Args:
        server_no_context_takeover: Reset our compressor after each message.
        client_no_context_takeover: Require the client to reset its
            compressor after each message.
        server_max_window_bits: Compress within a window of at most this many
            bits, 8 to 15.
        client_max_window_bits: Ask the client to compress within a window of
            at most this many bits, 8 to 15. Only clients that offer
            ``client_max_window_bits`` can be asked.
        compress_settings: Extra keyword arguments for
            :func:`zlib.compressobj`, except ``wbits`` and ``zdict``.
        require_client_max_window_bits: Decline offers from clients that do
            not support ``client_max_window_bits``, instead of letting them
            use a 15-bit window.

    Raises:
        ValueError: A parameter is out of range, or
            ``require_client_max_window_bits`` is set without
            ``client_max_window_bits``.
    """

    name = _NAME

    def __init__(  # noqa: PLR0917 (the signature of the websockets API)
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: dict[str, Any] | None = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits, optional=True)
        _check_window_bits("client_max_window_bits", client_max_window_bits, optional=True)
        _check_compress_settings(compress_settings)
        if require_client_max_window_bits and client_max_window_bits is None:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")

        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings
        self.require_client_max_window_bits = require_client_max_window_bits

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Answer one permessage-deflate offer.

        Args:
            params: The parameters of the offer.
            accepted_extensions: The extensions already accepted.

        Returns:
            The parameters of the answer and the negotiated extension.

        Raises:
            NegotiationError: The offer is malformed or unacceptable, or
                permessage-deflate was already accepted.
        """
        _check_not_accepted(accepted_extensions)
        offer = _parse_parameters(params, offer=True)

        # Either side may turn context takeover off; whoever does, the answer
        # says so, and it binds the compressing side.
        server_no_context_takeover = (
            offer.server_no_context_takeover or self.server_no_context_takeover
        )
        client_no_context_takeover = (
            offer.client_no_context_takeover or self.client_no_context_takeover
        )

        # The answer may lower the client's request, and "MAY include the
        # 'server_max_window_bits' extension parameter" when not requested.
        server_max_window_bits = _smallest(
            offer.server_max_window_bits, self.server_max_window_bits
        )

        # An offer of client_max_window_bits, with or without a value,
        # allows the answer to set it, to "a value equal to or smaller than
        # the received value" if there is one.
        offered = offer.client_max_window_bits
        client_max_window_bits: int | None
        if offered is None:
            if self.require_client_max_window_bits:
                raise NegotiationError(f"required {_CLIENT_MAX_WINDOW_BITS}")
            client_max_window_bits = None
        elif offered is True:
            client_max_window_bits = self.client_max_window_bits
        else:
            client_max_window_bits = _smallest(offered, self.client_max_window_bits)

        answer = _build_parameters(
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        )
        extension = PerMessageDeflate(
            client_no_context_takeover,
            server_no_context_takeover,
            client_max_window_bits or _MAX_WINDOW_BITS,
            server_max_window_bits or _MAX_WINDOW_BITS,
            self.compress_settings,
        )
        return answer, extension


def _smallest(first: int | None, second: int | None) -> int | None:
    """The smaller of two optional limits; None means no limit."""
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> Sequence[ServerExtensionFactory]:
    """Add permessage-deflate to a server's extensions unless it is there.

    The factory added uses memory-frugal settings: 4 KiB windows both ways
    (the client's only if it supports ``client_max_window_bits``) and
    ``memLevel=5``.

    Args:
        extensions: The extension factories configured so far, if any.

    Returns:
        A new list of factories, or ``extensions`` itself if it already
        contains a permessage-deflate factory.
    """
    return _with_frugal_default(extensions, _frugal_server_factory)


_Factory = TypeVar("_Factory", ClientExtensionFactory, ServerExtensionFactory)


# 4 KiB windows both ways and memLevel=5: about a tenth of zlib's default
# memory per connection, for a small loss of ratio on large messages.
_FRUGAL_WINDOW_BITS = 12
_FRUGAL_COMPRESS_SETTINGS = {"memLevel": 5}


def _frugal_client_factory() -> ClientPerMessageDeflateFactory:
    factory = ClientPerMessageDeflateFactory(
        server_max_window_bits=_FRUGAL_WINDOW_BITS,
        compress_settings=dict(_FRUGAL_COMPRESS_SETTINGS),
    )
    factory._compress_window_cap = _FRUGAL_WINDOW_BITS
    return factory


def _frugal_server_factory() -> ServerPerMessageDeflateFactory:
    return ServerPerMessageDeflateFactory(
        server_max_window_bits=_FRUGAL_WINDOW_BITS,
        client_max_window_bits=_FRUGAL_WINDOW_BITS,
        compress_settings=dict(_FRUGAL_COMPRESS_SETTINGS),
    )


def _with_frugal_default(
    extensions: Sequence[_Factory] | None, make_default: Callable[[], _Factory]
) -> Sequence[_Factory]:
    """Append a memory-frugal permessage-deflate factory unless one is there."""
    if extensions is None:
        extensions = []
    if any(factory.name == _NAME for factory in extensions):
        return extensions
    factory = make_default()
    with_default = list(extensions)
    with_default.append(factory)
    return with_default
