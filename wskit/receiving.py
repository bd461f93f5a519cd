"""The receive paths of the Sans-I/O core, which :class:`~wskit.protocol.Protocol` inherits.

Complete frames become events along three paths:

* **whole messages in one run**: when no message is in progress, no
  extension is negotiated and debug logging is off, a run of frames that each
  carry a whole text or binary message becomes events in one call of
  :func:`~wskit.speedups.read_messages`;
* **the general per-frame path**: :func:`~wskit.speedups.read_frame`, then
  every rule of RFC 6455 (``_check_header()`` before any
  payload is kept, ``_receive_frame()`` once it is whole);
* **a long payload received in place**: a frame of ``_LONG_PAYLOAD`` bytes or
  more goes straight into a :class:`~wskit.speedups.PayloadBuffer` once part
  of it has arrived, and an I/O layer may read the socket into it
  (:meth:`~wskit.protocol.Protocol.receive_into`).

The fast path only takes what the general rules accept and leaves the rest to
them; tests hold the two equal. Bad input raises here and fails the
connection in ``_fail_on_parse_error()``.

An I/O layer that queues frames for its reader may first offer each read to
:meth:`FrameReceiver.receive_messages`, which takes the first path's frames
straight to its queue when nothing else is in progress or pending, and with
permessage-deflate, whole compressed messages in one frame too, inflated by
the extension's own :meth:`~wskit.extensions.permessage_deflate.PerMessageDeflate.inflate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import PayloadTooBig, ProtocolError, TooManyFragments
from .extensions.base import Extension
from .extensions.permessage_deflate import PerMessageDeflate
from .frames import (
    _FIN,
    _OPCODES,
    _RSV1,
    _RSV2,
    _RSV3,
    BINARY,
    CLOSE,
    CONT,
    MAX_CONTROL_PAYLOAD,
    PING,
    PONG,
    TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
)
from .speedups import (
    Counters,
    PayloadBuffer,
    UTF8Validator,
    apply_mask,
    read_frame,
    read_messages,
    receive_messages,
    receive_payload_end,
)
from .states import DISCARD, FRAMES, HOLD, OPEN, SERVER, Reading, Side, State
from .typing import BytesLike, LoggerLike

if TYPE_CHECKING:
    from .protocol import Event

__all__ = ["MAX_EMPTY_FRAGMENTS", "FrameReceiver", "InvalidUTF8"]

# Documented where it is public, in wskit.protocol.
MAX_EMPTY_FRAGMENTS = 1024

_DATA_OPCODES = (TEXT, BINARY, CONT)
# The FIN and RSV1-3 flags of a frame, indexed by the high nibble of its first byte.
_FLAGS = tuple(
    (bool(first & _FIN), bool(first & _RSV1), bool(first & _RSV2), bool(first & _RSV3))
    for first in range(0, 256, 16)
)

_OPCODE_BITS = 0x0F
_LENGTH_BITS = 0x7F
# A close frame's first byte: FIN, no RSV bit.
_CLOSE_FIRST = _FIN | CLOSE
# The first byte of an unfragmented binary frame without RSV bits.
_WHOLE_BINARY = _FIN | BINARY
_RSV_BITS = _RSV1 | _RSV2 | _RSV3

# A frame with a payload this long or longer, incomplete, is received straight
# into a PayloadBuffer once 1/_LONG_PAYLOAD_ARRIVED of it has arrived: copying
# a long payload twice, and growing the parser's buffer for it, cost more
# than the rest of receiving it (page faults, mostly). Waiting for part of it
# keeps a peer from making us allocate more than 32 times what it sent. Not
# 16: a read often brings one TCP segment, at most 64 KiB less its headers
# (65,483 bytes on loopback), just short of 1/16 of a 1 MiB frame, which then
# went through the buffer, copied three times (a third of the 1 MiB echoes).
_LONG_PAYLOAD = 2**16
_LONG_PAYLOAD_ARRIVED = 32

# Continuation frames of a message that events_received() hands out as they
# came, at most, when more wait; the next ones are joined to the last.
_SEPARATE_FRAGMENTS = 16


def _deflate_bound(size: int) -> int:
    # Deflate expands incompressible data: 5 bytes per stored block, and a
    # peer's compressor with a small memLevel makes blocks of 128 bytes (+3.9%
    # with memLevel=1). Allow 1/16 on top of a limit measured in inflated
    # bytes; the inflated size is what counts, checked while inflating. A
    # negative limit stays as it is: every frame is over it, compressed or not.
    return size + (size >> 4) + 64 if size >= 0 else size


def _deflate_alone(extensions: list[Extension]) -> PerMessageDeflate | None:
    """The extension if it is permessage-deflate alone, which the one-call paths handle."""
    # Its subclasses may decode and encode otherwise: not them.
    if len(extensions) == 1 and type(extensions[0]) is PerMessageDeflate:
        return extensions[0]
    return None


class FrameReceiver(Counters):
    """The receive paths: from bytes to frame events, every rule applied."""

    # The instance dict, and slots with Protocol's (see its __slots__).
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_buffer",
        "_events",
        "_joined",
        "_message_opcode",
        "_reading",
        "_received_other",
        "_separate_fragments",
        "_text_checked",
        "incoming_payload",
        "max_fragment_size",
        "max_message_size",
        "pings_received",
        "pongs_received",
    )

    # What the receive paths use of the connection; Protocol sets it all.
    side: Side
    state: State
    debug: bool
    logger: LoggerLike
    extensions: list[Extension]
    max_message_size: int | None
    max_fragment_size: int | None
    incoming_payload: PayloadBuffer | None
    frames_received: int
    pings_received: int
    pongs_received: int
    eof_closes: bool
    _reading: Reading
    _buffer: bytearray
    _events: list[Event]
    _writes: list[bytes]
    _joined: bytearray | None
    _separate_fragments: int
    _received_other: int
    _payload_header: tuple[int, Opcode, int]
    _message_opcode: Opcode | None
    _message_size: int
    _message_compressed: bool
    _empty_fragments: int
    _utf8: UTF8Validator
    _text_checked: int

    if TYPE_CHECKING:  # Protocol's, for what a frame received makes it do

        def send_frame(self, frame: Frame, compress: bool | None = None) -> None: ...

        def _receive_close(self, close: Close, payload: BytesLike) -> None: ...

        def _fail_on_input(self, exc: Exception, code: CloseCode) -> None: ...

    def receive_messages(self, data: BytesLike, queue: Any) -> int:
        """Receive the whole messages at the start of ``data`` straight into ``queue``.

        An I/O layer's shortcut for the common read, before
        :meth:`~wskit.protocol.Protocol.receive_data`: when no message, long
        payload or partial frame is in progress, no extension but
        permessage-deflate is negotiated, debug logging is off and no event or
        write is pending (and the connection is open), the frames that the
        fast path would take (:func:`~wskit.speedups.read_messages`), and
        whole compressed messages in one frame each, inflated, go to
        ``queue``, a :class:`~wskit.shared.messages.FrameQueue`, as if they
        had come out of :meth:`~wskit.protocol.Protocol.events_received` and
        been put there, and are counted as received. They need nothing else:
        no answer, no other event. Without extensions, an unfragmented
        binary frame that follows them, long enough to be received in place
        (see :attr:`incoming_payload`) and within the limits, starts its
        payload there, as ``receive_data()`` would start it. Pass the rest of
        ``data`` to ``receive_data()``: where a compressed message fails to
        inflate, the connection has failed already, as the general rules
        fail it.

        Returns:
            How many bytes of ``data`` were received this way; 0 for none.
        """
        # The asyncio read path applies this rule in C, reading these slots
        # (wskit_receive_messages in _speedups_messages.c): a change here
        # goes there too, and tests/asyncio/test_read_path.py holds them equal.
        if (
            self.state is OPEN
            and self._reading is FRAMES
            and self.incoming_payload is None
            and self._message_opcode is None
            and not self._buffer
            and not self._text_checked
            and not self.debug
            and not self._events
            and not self._writes
        ):
            extensions = self.extensions
            deflate = max_compressed_size = None
            if extensions:
                deflate = _deflate_alone(extensions)
                if deflate is None:
                    return 0
                # The bound that _check_header() puts on a compressed frame.
                limit = self.max_fragment_size
                if limit is None:
                    limit = self.max_message_size
                if limit is not None:
                    max_compressed_size = _deflate_bound(limit)
            return receive_messages(
                self,
                data,
                queue,
                self.side is SERVER,
                self.max_message_size,
                self.max_fragment_size,
                deflate,
                max_compressed_size,
            )
        return 0

    def receive_payload_end(self, nbytes: int, queue: Any) -> bool:
        """Receive the ``nbytes`` just read into the long payload's window
        straight into ``queue``, when they end a whole binary message.

        An I/O layer's shortcut for :meth:`~wskit.protocol.Protocol.receive_into`,
        as :meth:`receive_messages` is for
        :meth:`~wskit.protocol.Protocol.receive_data`: when they are the
        last bytes of the payload of an unfragmented binary frame without
        RSV bits, no extension is negotiated, debug logging is off and no
        event or write is pending (and the connection is open), the message
        goes to ``queue`` (a :class:`~wskit.shared.messages.FrameQueue`) as
        if it had come out of
        :meth:`~wskit.protocol.Protocol.events_received` and been put there,
        and is counted as received. Its header passed every rule when it
        arrived, and a binary payload has nothing else to check.

        Returns:
            Whether the bytes were received this way; if not, nothing
            changed: pass them to ``receive_into()``.
        """
        # A frame of _WHOLE_BINARY got its payload only with no message in
        # progress (_check_header), and nothing was parsed since.
        payload = self.incoming_payload
        if (
            payload is not None
            and self._payload_header[0] == _WHOLE_BINARY
            and self.state is OPEN
            and not self.extensions
            and not self.debug
            and not self._events
            and not self._writes
            and nbytes == payload.missing
        ):
            self.incoming_payload = None
            receive_payload_end(self, payload, nbytes, queue)
            return True
        return False

    def hold(self, data: BytesLike) -> None:
        """Keep ``data`` unparsed until :meth:`~wskit.protocol.Protocol.start_frames`."""
        self._reading = HOLD
        self._buffer += data

    @property
    def held(self) -> int:
        """How many bytes :meth:`hold` keeps unparsed now."""
        return len(self._buffer) if self._reading is HOLD else 0

    def discard(self) -> None:
        """Ignore every byte from now on."""
        self._reading = DISCARD
        self._buffer.clear()
        self.incoming_payload = None

    def _receive_frames(self, data: BytesLike) -> None:
        """Parse the frames in ``data``, which follows what the buffer holds."""
        buffer = self._buffer
        if buffer:
            buffer += data
            size = len(buffer)
            end = self._parse_frames(buffer)
            if self._reading is FRAMES:
                # Drop what was parsed once per call: bytearray deletes from the
                # front in constant time, and one deletion keeps small frames cheap.
                del buffer[:end]
            elif end < size:  # dropped unread, as below (discard() emptied the buffer)
                self.eof_closes = False
            return
        # Most reads end where a frame does: parse them in place rather than
        # copy them to the buffer, and keep only what starts the next frame.
        if type(data) is memoryview and (data.itemsize != 1 or not data.c_contiguous):
            data = bytes(data)
        if data and data[0] == _CLOSE_FIRST and self._receive_lone_close(data):
            return
        end = self._parse_frames(data)
        if end < len(data):
            if self._reading is FRAMES:
                buffer += memoryview(data)[end:]
            else:
                # Bytes after a close frame (or a failure), dropped unread: the
                # peer may send more, which closing at once would reset.
                self.eof_closes = False

    def _receive_lone_close(self, data: BytesLike) -> bool:
        """Receive ``data`` if it is one close frame that the general rules take as it is.

        Most connections end with a read that holds the peer's close frame
        and nothing else: it skips the frame loop, the checks and branches
        that data frames need, and the extensions (a test holds both equal).

        Returns:
            Whether it was received; if not, nothing changed.
        """
        if (
            self.debug
            or self.extensions
            or self.incoming_payload is not None
            or len(data) < 2
            or data[1] & _LENGTH_BITS > MAX_CONTROL_PAYLOAD
        ):
            return False
        parsed = read_frame(data)
        if parsed is None:  # the mask key is still to come
            return False
        _, masked, _, end, payload = parsed
        if payload is None or end != len(data) or masked is not (self.side is SERVER):
            return False
        try:
            close = Close.parse(payload)
        except (ProtocolError, UnicodeDecodeError):
            return False  # the general rules fail the connection as they should
        self._received_other += 1  # a frame, not a whole message
        self._events.append(Frame(CLOSE, payload))
        self._receive_close(close, payload)
        return True

    def _parse_frames(self, buffer: BytesLike) -> int:
        """Turn every complete frame at the start of ``buffer`` into an event.

        Returns:
            How many bytes were parsed: the rest, if any, starts a frame.
        """
        position = 0
        try:
            while self._reading is FRAMES:
                if self.incoming_payload is not None:
                    position = self._receive_payload(self.incoming_payload, buffer, position)
                    if self.incoming_payload is not None:
                        break
                # Fast path: frames that each carry a whole plain message need
                # none of the per-frame checks below (see read_messages).
                if (
                    self._message_opcode is None
                    and not self._text_checked
                    and not self.extensions
                    and not self.debug
                ):
                    position = read_messages(
                        buffer,
                        position,
                        self._events,
                        self.side is SERVER,
                        self.max_message_size,
                        self.max_fragment_size,
                    )
                    if position == len(buffer):
                        break
                parsed = read_frame(buffer, position)
                if parsed is None:
                    break
                first, masked, length, end, data = parsed
                opcode = self._check_header(first, length, masked)
                if data is None:
                    start = end - length
                    if (
                        length >= _LONG_PAYLOAD
                        and (len(buffer) - start) * _LONG_PAYLOAD_ARRIVED >= length
                    ):
                        key = bytes(memoryview(buffer)[start - 4 : start]) if masked else None
                        self.incoming_payload = PayloadBuffer(length, key)
                        self._payload_header = (first, opcode, length)
                        position = start
                        continue
                    if self._is_plain_text(first, opcode):
                        self._check_partial_text(buffer, start, masked)
                    break
                position = end
                self._receive_frame(Frame(opcode, data, *_FLAGS[first >> 4]))
        except Exception as exc:
            self._fail_on_parse_error(exc)
        return position

    def _fail_on_parse_error(self, exc: Exception) -> None:
        """Fail the connection with the close code that says what was wrong in what arrived."""
        if isinstance(exc, ProtocolError):
            self._fail_on_input(exc, CloseCode.PROTOCOL_ERROR)
        elif isinstance(exc, PayloadTooBig):
            # None outside a fragmented message, as websockets reports it.
            exc.set_current_size(None if self._message_opcode is None else self._message_size)
            self._fail_on_input(exc, CloseCode.MESSAGE_TOO_BIG)
        elif isinstance(exc, TooManyFragments):
            self._fail_on_input(exc, CloseCode.POLICY_VIOLATION)
        elif isinstance(exc, (UnicodeDecodeError, InvalidUTF8)):
            self._fail_on_input(exc, CloseCode.INVALID_DATA)
        else:  # a bug, in wskit or in an extension
            self.logger.error("unexpected error while parsing frames", exc_info=exc)
            self._fail_on_input(exc, CloseCode.INTERNAL_ERROR)

    def _receive_payload(self, payload: PayloadBuffer, buffer: BytesLike, position: int) -> int:
        """Add what ``buffer[position:]`` holds of the long frame's payload.

        Once the payload is whole, the frame is received like any other.

        Returns:
            Where the bytes taken from ``buffer`` end.
        """
        with memoryview(buffer)[position:] as chunk:
            written = payload.write(chunk)
        position += len(written)
        self._payload_added(payload, written)
        return position

    def payload_missing_unchecked(self) -> int:
        """How many bytes of the long payload being received can all arrive
        before anything is checked: its missing bytes, unless it is text,
        whose UTF-8 is checked as it arrives (invalid bytes fail the
        connection at once); 0 when no long payload is being received.

        An I/O layer may read them all at once rather than as they come.
        """
        payload = self.incoming_payload
        if payload is None:
            return 0
        first, opcode, _ = self._payload_header
        return 0 if self._is_plain_text(first, opcode) else payload.missing

    def _payload_added(self, payload: PayloadBuffer, added: memoryview) -> None:
        """Check the bytes just ``added`` to the long frame's payload; receive it if whole."""
        first, opcode, length = self._payload_header
        with added:
            if self._is_plain_text(first, opcode):
                # Fail fast on invalid UTF-8, as _check_partial_text does;
                # the start of the payload may have been checked already.
                done = length - payload.missing - len(added)
                valid = self._utf8.feed(added[max(self._text_checked - done, 0) :])
                self._text_checked = done + len(added)
                if not valid:
                    raise InvalidUTF8("invalid UTF-8 in text message")
        if not payload.missing:
            self.incoming_payload = None
            self._receive_frame(Frame(opcode, payload.take(), *_FLAGS[first >> 4]))

    def _check_header(self, first: int, length: int, masked: bool) -> Opcode:
        """Apply every rule that the header alone decides, before any payload."""
        # "a client MUST mask all frames that it sends to the server" and
        # "A server MUST NOT mask any frames that it sends to the client."
        if masked is not (self.side is SERVER):
            raise ProtocolError("incorrect masking")
        opcode = _OPCODES.get(first & _OPCODE_BITS)
        if opcode is None:
            raise ProtocolError(f"invalid opcode {first & _OPCODE_BITS:#x}")
        if opcode >= CLOSE:
            # "All control frames MUST have a payload length of 125 bytes or
            # less and MUST NOT be fragmented."
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError("control frame too long")
            if not first & _FIN:
                raise ProtocolError("fragmented control frame")
            return opcode
        if opcode is CONT:
            if self._message_opcode is None:
                raise ProtocolError("unexpected continuation frame")
            compressed = self._message_compressed
        else:
            if self._message_opcode is not None:
                raise ProtocolError("expected a continuation frame")
            compressed = bool(first & _RSV1) and bool(self.extensions)
        limit = self.max_fragment_size
        if compressed and limit is None:
            # Without a fragment limit, a compressed frame still inflates
            # to at most max_size: bound it by that, or it could be any size.
            limit = self.max_message_size
        if limit is not None and length > (_deflate_bound(limit) if compressed else limit):
            raise PayloadTooBig(length, limit)
        if (
            not compressed
            and self.max_message_size is not None
            and self._message_size + length > self.max_message_size
        ):
            raise PayloadTooBig(length, self.max_message_size)
        if length == 0 and not first & _FIN:
            self._empty_fragments += 1
            if self._empty_fragments > MAX_EMPTY_FRAGMENTS:
                raise TooManyFragments(MAX_EMPTY_FRAGMENTS)
        return opcode

    def _is_plain_text(self, first: int, opcode: Opcode) -> bool:
        """Whether a frame carries uncompressed text, UTF-8 as it arrives."""
        # Frames with RSV bits set go through the extensions first.
        if first & _RSV_BITS:
            return False
        if opcode is TEXT:
            return True
        return opcode is CONT and self._message_opcode is TEXT and not self._message_compressed

    def _check_partial_text(self, buffer: BytesLike, start: int, masked: bool) -> None:
        """Validate the part of a text frame's payload that arrived so far.

        Fail fast on invalid UTF-8 within a frame too, not only between
        fragments (Autobahn 6.4.3 and 6.4.4: one frame sent in chops).
        """
        checked = self._text_checked
        with memoryview(buffer)[start + checked :] as chunk:
            if masked:
                # The 4-byte key continues where the validated bytes stopped.
                key = bytes(buffer[start - 4 : start])
                shift = checked % 4
                valid = self._utf8.feed(apply_mask(chunk, key[shift:] + key[:shift]))
            else:
                valid = self._utf8.feed(chunk)
        self._text_checked = len(buffer) - start
        if not valid:
            raise InvalidUTF8("invalid UTF-8 in text message")

    def _receive_frame(self, frame: Frame) -> None:
        """Decode a complete frame, enforce the message rules, queue the event."""
        opcode = frame.opcode
        if opcode is CONT or opcode is TEXT or opcode is BINARY:
            if opcode is not CONT:
                self._message_opcode = opcode
                self._message_compressed = frame.rsv1 and bool(self.extensions)
                self._separate_fragments = 0
            frame = self._decode(frame)
            self._message_size += len(frame.data)
            if self._message_opcode is TEXT:
                # Fail fast on invalid UTF-8, mid-message included. The start
                # of the payload may have been checked while it arrived.
                data = frame.data
                if self._text_checked:
                    data = memoryview(data)[self._text_checked :]
                    self._text_checked = 0
                valid = self._utf8.feed(data)
                if valid and frame.fin:
                    valid = self._utf8.finish()
                if not valid:
                    raise InvalidUTF8("invalid UTF-8 in text message")
            if frame.fin:
                self._message_opcode = None
                self._message_size = 0
                self._empty_fragments = 0
        else:
            frame = self._decode(frame)
        # A frame that fails the connection is never delivered: parse the
        # close frame's payload before queuing the frame.
        close = Close.parse(frame.data) if opcode is CLOSE else None
        if self.debug:
            self.logger.debug("< %s", frame)
        if not frame.fin or opcode not in _DATA_OPCODES:
            self._received_other += 1  # a frame, not a whole message
        if opcode is CONT:
            self._queue_fragment(frame)
        else:
            self._events.append(frame)
        if opcode is PING:
            self.pings_received += 1
            # "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
            # in response", unless it is already closing.
            if self.state is OPEN:
                self.send_frame(Frame(PONG, frame.data))
        elif opcode is PONG:
            self.pongs_received += 1
        elif close is not None:
            self._receive_close(close, frame.data)

    def _queue_fragment(self, frame: Frame) -> None:
        """Queue a continuation frame; past a few fragments waiting, join it to the last one.

        As frames, tiny fragments would cost ~300 bytes each, a 1 MiB message
        in 1-byte fragments 300 MiB. Joined, the fragments of a message that
        wait together cost their payload, whatever their number, while the
        first few keep their boundaries, which applications may look at.
        """
        events = self._events
        if events:
            last = events[-1]
            # Control frames always have FIN: a frame without it is the
            # previous fragment of this message.
            if isinstance(last, Frame) and not last.fin:
                joined = self._joined
                if last.data is joined or self._separate_fragments >= _SEPARATE_FRAGMENTS:
                    if last.data is not joined:
                        joined = self._joined = bytearray(last.data)
                        last.data = joined
                    joined += frame.data
                    last.fin = frame.fin
                    self._count_received(0, 1)  # not an event of its own
                    return
        self._separate_fragments += 1
        events.append(frame)

    def _decode(self, frame: Frame) -> Frame:
        if self.extensions:
            remaining = (
                None
                if self.max_message_size is None
                else self.max_message_size - self._message_size
            )
            try:
                for extension in reversed(self.extensions):
                    frame = extension.decode(frame, max_size=remaining)
            except PayloadTooBig as exc:
                # The extension was given what was left of the limit (None
                # for no limit); report the limit itself.
                exc.max_size = self.max_message_size
                raise
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            raise ProtocolError("reserved bits must be 0")
        return frame


class InvalidUTF8(ValueError):
    """A text message is not valid UTF-8 (the connection fails with 1007)."""


def _ends_message(event: object) -> bool:
    """Whether ``event`` is the last frame of a data message."""
    return isinstance(event, Frame) and event.fin and event.opcode in _DATA_OPCODES
