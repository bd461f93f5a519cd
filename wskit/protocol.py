"""The WebSocket connection as a Sans-I/O state machine (RFC 6455, sections 5 to 7).

Bytes go in with :meth:`Protocol.receive_data` and :meth:`Protocol.receive_eof`;
frames come out of :meth:`Protocol.events_received`; bytes to write come out of
:meth:`Protocol.data_to_send`. Nothing here performs I/O.

Frames are received along the three paths that :mod:`wskit.receiving`
describes; the fast ones take only what the general rules accept.

The contract an I/O layer relies on:

* After every ``receive_*``, ``send_*`` or :meth:`~Protocol.fail` call, write
  what :meth:`~Protocol.data_to_send` returns, in order. An empty chunk,
  :data:`SEND_EOF`, means "half-close the connection now" (or close it, where
  :attr:`~Protocol.eof_closes` allows); it comes at most once and is always
  the last chunk: nothing is ever written after it.
* When :meth:`~Protocol.close_expected` is true, the peer should close the TCP
  connection soon: wait at most a close timeout, then close it yourself.
* When the TCP connection ends, for any reason, call
  :meth:`~Protocol.receive_eof` once. The state is then :attr:`State.CLOSED`
  and :attr:`~Protocol.close_exc` tells how the connection ended.

Bad input from the peer never raises out of ``receive_*``: the connection
fails with the close code that fits (1002, 1007, 1008, 1009, 1011) and the
error is kept in :attr:`Protocol.parser_exc`.

An I/O layer that queues messages for the application may set
:attr:`Protocol.hold_failures`: bad input then stops the reading at once, but
the close frame waits in :attr:`Protocol.held_failure`, and a
:class:`HeldFailure` event comes after the frames received before the error.
The I/O layer queues it with them and calls :meth:`Protocol.release_failure`
when the application reaches it, having read the messages before it.
Meanwhile the connection stays open for sending, so the application can still
answer them.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import TypeAlias

from . import receiving
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    ProtocolError,
)
from .extensions.base import Extension
from .frames import (
    _FIN,
    BINARY,
    CLOSE,
    CONT,
    OK_CLOSE_CODES,
    PING,
    PONG,
    TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
    _truncate_reason,
)
from .http11 import Request, Response
from .receiving import _DATA_OPCODES, _LONG_PAYLOAD, FrameReceiver, _deflate_alone, _ends_message
from .speedups import PayloadBuffer, UTF8Validator, build_frame, send_message
from .states import DISCARD, FRAMES, HANDSHAKE, HOLD, Side, State
from .typing import BytesLike, LoggerLike

__all__ = ["MAX_EMPTY_FRAGMENTS", "SEND_EOF", "Event", "HeldFailure", "Protocol", "Side", "State"]


@dataclasses.dataclass(frozen=True, slots=True)
class HeldFailure:
    """Event: the connection fails here, after the frames received before bad input.

    :class:`Protocol` queues it when :attr:`~Protocol.hold_failures` is set,
    after the frames received before the error, and last: nothing is
    received after it. An I/O layer delivers the messages before it, then
    calls :meth:`~Protocol.release_failure`.
    """

    close: Close
    """The close frame that waits to be sent."""
    after_message: bool
    """Whether a message ended among the frames handed out with this event.

    The application may be answering it: the connection should fail when
    the application asks for the next message, not at once.
    """


Event: TypeAlias = "Request | Response | Frame | HeldFailure"
"""What :meth:`Protocol.events_received` returns."""

SEND_EOF = b""
"""Sentinel in :meth:`Protocol.data_to_send`: half-close (or close) the connection."""


# Where websockets has them (wskit.states has them for the core's modules).
SERVER, CLIENT = Side.SERVER, Side.CLIENT
CONNECTING, OPEN, CLOSING, CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED

DEFAULT_MAX_SIZE = 2**20

# The first byte of a close frame's header (see _send_close).
_CLOSE_FIN = CLOSE | _FIN
# _payload_header before any long payload: one tuple for every connection,
# not one each for the garbage collector to track.
_NO_PAYLOAD_HEADER = (0, BINARY, 0)

# Looked up once: getLogger() takes a lock, and Side.name is a descriptor.
_SERVER_LOGGER = logging.getLogger("wskit.server")
_CLIENT_LOGGER = logging.getLogger("wskit.client")

MAX_EMPTY_FRAGMENTS = receiving.MAX_EMPTY_FRAGMENTS
"""How many empty non-final fragments one message may have.

Fragments with a payload count against ``max_size``; empty ones cost nothing
to send and would otherwise keep a connection busy forever. Legitimate senders
never need more than a handful. Going over fails the connection with 1008.
"""


class Protocol(FrameReceiver):
    """Sans-I/O implementation of a WebSocket connection.

    Args:
        side: :attr:`Side.CLIENT` or :attr:`Side.SERVER`.
        state: Initial state; :attr:`State.OPEN` when the handshake happens
            elsewhere.
        max_size: Largest incoming message, in bytes; :obj:`None` disables the
            limit. A ``(max_message_size, max_fragment_size)`` tuple also bounds
            each frame, for long messages sent in short fragments.
        logger: Logger for this connection; defaults to ``wskit.client`` or
            ``wskit.server`` depending on ``side``.
    """

    # CPython 3.11 keeps at most 29 attributes in an instance's compact
    # layout, past which every access is slower (see ARCHITECTURE.md,
    # Performance devices): what the closing handshake sets, and what
    # subclasses add for the opening one, lives in slots. The instance dict
    # (FrameReceiver declares it, with the receive paths' slots) holds what
    # receiving and sending use, and whatever subclasses, applications and
    # tests set. What the C write_message() reads on every send() (state,
    # side, debug, extensions, _writes, expect_continuation_frame) is in
    # slots too: read in place rather than by name (see _speedups_send.c).
    __slots__ = (
        "_id",
        "_sent_other",
        "_writes",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "debug",
        "eof_closes",
        "eof_rcvd",
        "eof_sent",
        "expect_continuation_frame",
        "extensions",
        "held_failure",
        "parser_exc",
        "pings_sent",
        "side",
        "state",
    )

    def __init__(
        self,
        side: Side,
        *,
        state: State = OPEN,
        max_size: tuple[int | None, int | None] | int | None = DEFAULT_MAX_SIZE,
        logger: LoggerLike | None = None,
    ) -> None:
        self._id: uuid.UUID | None = None  # drawn when first read (see id)
        if logger is None:
            logger = _SERVER_LOGGER if side is SERVER else _CLIENT_LOGGER
        self.logger: LoggerLike = logger
        """Logger for this connection."""
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.side = side
        # An attribute, not a property: I/O layers check it on every send.
        self.state = state
        """State of the WebSocket connection."""

        if isinstance(max_size, tuple):
            self.max_message_size, self.max_fragment_size = max_size
        else:
            self.max_message_size = self.max_fragment_size = max_size

        self.extensions: list[Extension] = []
        """Extensions negotiated in the opening handshake, in order."""

        # Closing handshake.
        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        self.eof_sent = False
        self.eof_closes = False
        """Whether :data:`SEND_EOF` closes the connection rather than half-closes it.

        A server's, once the peer's close frame came with nothing after it: the
        peer sends no more, so closing can't reset the connection over unread bytes.
        """
        self.eof_rcvd = False
        self.parser_exc: Exception | None = None
        """Why the connection failed, when the peer's input was at fault."""
        self.hold_failures = False
        """Hold back the failure that bad input causes until :meth:`release_failure`."""
        self.held_failure: Close | None = None
        """The close frame of a failure held back, until it is released."""

        # Receive side.
        self._reading = FRAMES if state is OPEN else HANDSHAKE
        self._buffer = bytearray()
        self.incoming_payload: PayloadBuffer | None = None
        """The payload of the long frame being received, once it goes straight there.

        Meanwhile, an I/O layer may read the socket into its
        :meth:`~wskit.speedups.PayloadBuffer.window` and call
        :meth:`receive_into`, rather than :meth:`receive_data`: that saves
        copying the payload, what receiving a long message costs most.
        """
        # Its first byte, opcode and length (see _LONG_PAYLOAD).
        self._payload_header = _NO_PAYLOAD_HEADER
        self._message_opcode: Opcode | None = None  # set while a message is being received
        self._message_size = 0
        self._message_compressed = False
        # compress= of the fragmented message being sent, for its continuations.
        self._fragments_compress: bool | None = None
        self._empty_fragments = 0
        self._utf8 = UTF8Validator()
        # Payload bytes of the incomplete frame at the head of the buffer that
        # were validated as UTF-8 already (see _check_partial_text).
        self._text_checked = 0

        # Send side.
        self.expect_continuation_frame = False
        """Whether a fragmented message is being sent."""

        self._events: list[Event] = []
        # The payload of the last event, while fragments are joined to it,
        # and how many fragments of this message wait as they came.
        self._joined: bytearray | None = None
        self._separate_fragments = 0
        self._writes: list[bytes] = []

        # Statistics (see wskit.stats), in slots. On the per-message path,
        # they cost two additions per read (its bytes; the frames it gave,
        # when handed over) and two per frame sent, where it is queued:
        # data_to_send(), called after every read too, counts nothing.
        # Messages are derived from frames.
        self.bytes_received = 0
        """Bytes received from the network: handshake, frame headers, payloads."""
        self.bytes_sent = 0
        """Bytes queued for the network: handshake, frame headers, payloads."""
        self.frames_received = 0
        """Frames received, control frames included."""
        self.frames_sent = 0
        """Frames sent, control frames included."""
        # Frames received and sent that aren't whole messages.
        self._received_other = 0
        self._sent_other = 0
        self.pings_received = 0
        self.pings_sent = 0
        self.pongs_received = 0

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection (a random UUID), handy in logs.

        Drawn when first read, then the same for the life of the connection.
        """
        # uuid4() took 13K of the 30K instructions of Protocol(), and a
        # system call, for an id that most connections never show.
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @id.setter
    def id(self, value: uuid.UUID) -> None:
        self._id = value

    @property
    def messages_received(self) -> int:
        """Whole data messages received."""
        return self.frames_received - self._received_other

    @property
    def messages_sent(self) -> int:
        """Whole data messages sent."""
        return self.frames_sent - self._sent_other

    # State.

    def _set_state(self, state: State) -> None:
        """Move to ``state``, logged in debug mode."""
        if self.debug:
            self.logger.debug("= connection is %s", state.name)
        self.state = state

    @property
    def close_code(self) -> int | None:
        """Close code received from the peer; 1006 without one.

        :obj:`None` until the connection is :attr:`State.CLOSED`.
        """
        if self.state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE
        return self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """Close reason received from the peer; empty without one.

        :obj:`None` until the connection is :attr:`State.CLOSED`.
        """
        if self.state is not CLOSED:
            return None
        if self.close_rcvd is None:
            return ""
        return self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception that tells the application how the connection closed.

        :exc:`~wskit.exceptions.ConnectionClosedOK` after a closing handshake with
        1000, 1001 or no code both ways, :exc:`~wskit.exceptions.ConnectionClosedError` otherwise.

        Raises:
            InvalidState: The connection is not closed yet; the close codes
                are only final once it is.
        """
        if self.state is not CLOSED:
            raise InvalidState("connection isn't closed yet")
        exc_type: type[ConnectionClosed] = ConnectionClosedError
        if (
            self.close_rcvd is not None
            and self.close_sent is not None
            and self.close_rcvd.code in OK_CLOSE_CODES
            and self.close_sent.code in OK_CLOSE_CODES
        ):
            exc_type = ConnectionClosedOK
        exc = exc_type(self.close_rcvd, self.close_sent, self.close_rcvd_then_sent)
        exc.__cause__ = self.parser_exc
        return exc

    # Receiving.

    def receive_data(self, data: BytesLike) -> None:
        """Receive bytes from the network.

        Afterwards, call :meth:`data_to_send` and write the result, then
        :meth:`events_received` and process the events.

        Raises:
            EOFError: :meth:`receive_eof` was called earlier.
        """
        if self.eof_rcvd:
            raise EOFError("stream ended")
        self._count_received(len(data), 0)
        reading = self._reading
        if reading is FRAMES:
            self._receive_frames(data)
        elif reading is HANDSHAKE:
            self.receive_handshake_data(data)
        elif reading is HOLD:
            self._buffer += data
        # DISCARD: the peer's bytes no longer matter.

    def receive_into(self, nbytes: int) -> None:
        """Receive the ``nbytes`` bytes just read into the payload's window.

        The payload is :attr:`~wskit.receiving.FrameReceiver.incoming_payload`.

        This is :meth:`receive_data` for them, without a copy: afterwards,
        call :meth:`data_to_send` and :meth:`events_received` the same way.
        Don't write into that window any more: it may be a message now.

        Raises:
            EOFError: :meth:`receive_eof` was called earlier.
            ValueError: ``nbytes`` is negative or longer than the window, or
                no payload was being received.
        """
        if self.eof_rcvd:
            raise EOFError("stream ended")
        payload = self.incoming_payload
        if payload is None:
            if self._reading is DISCARD:
                return  # the connection failed since the read: as in receive_data()
            raise ValueError("no payload was being received")
        added = payload.advance(nbytes)
        self._count_received(nbytes, 0)
        try:
            self._payload_added(payload, added)
        except Exception as exc:
            self._fail_on_parse_error(exc)

    def receive_eof(self) -> None:
        """Receive the end of the data stream: the TCP connection is gone.

        The state becomes :attr:`State.CLOSED`. Call :meth:`data_to_send`
        afterwards: it returns ``[SEND_EOF]`` or ``[]``. Idempotent.
        """
        if self.eof_rcvd:
            return
        self.eof_rcvd = True
        if self._reading is HANDSHAKE:
            self.receive_handshake_eof()
        elif self.debug and self._reading is FRAMES:
            payload = self.incoming_payload
            if payload is not None:
                self.logger.debug("! %d bytes missing from a frame", payload.missing)
            elif self._buffer:
                self.logger.debug("! %d bytes of an incomplete frame", len(self._buffer))
        if self._reading is not DISCARD:  # as after a closing handshake: nothing to drop
            self.discard()
        self.held_failure = None  # too late to send it
        # The peer is gone: answer its EOF with ours, whoever was to go first.
        self.send_eof()
        self._set_state(CLOSED)

    def receive_handshake_data(self, data: BytesLike) -> None:
        """Parse bytes of the opening handshake. Implemented by subclasses."""
        raise NotImplementedError

    def receive_handshake_eof(self) -> None:
        """Handle EOF during the opening handshake. Implemented by subclasses."""
        raise NotImplementedError

    def start_frames(self, data: BytesLike) -> None:
        """Switch the receive side to frames, starting with ``data``."""
        self._reading = FRAMES
        # Most handshakes: nothing came after the request or the response.
        if data or self._buffer:
            self._receive_frames(data)

    def _receive_close(self, close: Close, payload: BytesLike) -> None:
        self.close_rcvd = close
        if self.state is OPEN:
            # "the endpoint typically echos the status code it received"; the
            # reason too, as websockets does, mid-message as well.
            self._send_close(close, rcvd_then_sent=True, data=payload)
        else:
            self.close_rcvd_then_sent = False
        # "The server MUST close the underlying TCP connection immediately";
        # the client waits for the server to do so.
        if self.side is SERVER:
            self.eof_closes = True  # unless bytes follow (see _receive_frames)
            self.send_eof()
        self.discard()

    def _fail_on_input(self, exc: Exception, code: CloseCode) -> None:
        self.parser_exc = exc
        if self.hold_failures and self.state is OPEN:
            # Stop reading now; the close frame waits for release_failure(),
            # and the I/O layer meets the failure after the frames before it.
            close = self.held_failure = Close(code, _truncate_reason(str(exc)))
            self.queue_event(HeldFailure(close, any(map(_ends_message, self._events))))
            self.discard()
        else:
            self.fail(code, str(exc))

    def release_failure(self) -> None:
        """Fail the connection as :attr:`held_failure` says, if a failure is held."""
        held = self.held_failure
        if held is not None:
            self.fail(held.code, held.reason)

    # Sending.

    def send_continuation(self, data: BytesLike, fin: bool) -> None:
        """Send a continuation frame of a fragmented message.

        Args:
            data: Payload, already encoded to bytes.
            fin: Whether this frame ends the message.

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: No fragmented message is being sent.
        """
        self._check_open()
        if not self.expect_continuation_frame:
            raise ProtocolError("unexpected continuation frame")
        self.expect_continuation_frame = not fin
        self.send_frame(Frame(CONT, data, fin), self._fragments_compress)

    def send_text(self, data: BytesLike, fin: bool = True, compress: bool | None = None) -> None:
        """Send a text frame: a whole message, or the first fragment of one.

        Args:
            data: UTF-8 encoded payload.
            fin: :obj:`False` to start a fragmented message.
            compress: :obj:`False` sends the message uncompressed on a
                connection that negotiated compression; :obj:`True` or
                :obj:`None` compress it there (every message, by default).

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: A fragmented message is being sent.
        """
        self._send_data(TEXT, data, fin, compress)

    def send_binary(self, data: BytesLike, fin: bool = True, compress: bool | None = None) -> None:
        """Send a binary frame: a whole message, or the first fragment of one.

        Args:
            data: Payload.
            fin: :obj:`False` to start a fragmented message.
            compress: As in :meth:`send_text`.

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: A fragmented message is being sent.
        """
        self._send_data(BINARY, data, fin, compress)

    def _send_data(self, opcode: Opcode, data: BytesLike, fin: bool, compress: bool | None) -> None:
        self._check_open()
        if self.expect_continuation_frame:
            raise ProtocolError("expected a continuation frame")
        self.expect_continuation_frame = not fin
        if (
            self.extensions
            or self.debug
            or self.eof_sent
            or (self.side is SERVER and len(data) >= _LONG_PAYLOAD)
        ):
            if not fin:  # the continuation frames follow the first one
                self._fragments_compress = compress
            self.send_frame(Frame(opcode, data, fin), compress)
        else:  # fast path: what send_frame() does, without a Frame
            if fin:
                first = opcode | _FIN
            else:
                first = opcode
                self._sent_other += 1  # a frame, not a whole message
            frame = build_frame(first, data, self.side is CLIENT)
            self._writes.append(frame)
            self._count_sent(len(frame), 1)

    def send_message(
        self, message: object, text: bool | None = None, compress: bool | None = None
    ) -> bytes | tuple[bytes, bytes] | None:
        """Build the frame of a whole message and count it, if nothing else is in the way.

        An I/O layer's shortcut for the common ``send()``: when the
        connection is open, sends no fragmented message, has no extension
        but permessage-deflate, debug logging off, no EOF sent and no write
        pending, ``message`` (:class:`str` or bytes-like, typed as
        :func:`~wskit.shared.messages.encode` says) becomes the frame that
        :meth:`send_text` or :meth:`send_binary` would queue with
        ``compress``, compressed or not, and is counted as sent; it is
        returned, not queued: write it. A server's long payload of
        :class:`bytes` comes after its header, as :meth:`send_frame` queues it.

        Returns:
            The frame, ``(header, payload)``, or :obj:`None` when the general
            path must send the message (or raise what is wrong with it):
            another type, a string that can't be encoded, a strided view, a
            server's long payload other than bytes.
        """
        # The asyncio send() applies these checks in C (core_ready() in
        # _speedups_send.c): a change here goes there too, and
        # tests/asyncio/test_write_message.py holds them equal.
        if (
            self.state is OPEN
            and not self.expect_continuation_frame
            and not self.debug
            and not self.eof_sent
            and not self._writes
        ):
            client = self.side is CLIENT
            extensions = self.extensions
            if not extensions:
                limit = None if client else _LONG_PAYLOAD
                return send_message(self, message, text, client, limit, None)
            deflate = _deflate_alone(extensions)
            if deflate is not None:
                # With an extension, send_frame() builds one frame of any length.
                deflate = None if compress is False else deflate
                return send_message(self, message, text, client, None, deflate)
        return None

    def send_close(self, code: CloseCode | int | None = None, reason: str = "") -> None:
        """Start the closing handshake.

        Args:
            code: Close code; :obj:`None` sends a close frame without a code.
            reason: Close reason, at most 123 bytes in UTF-8.

        When a failure is held (see :attr:`hold_failures`), it is released
        instead: the connection is failing already, with the error's code.

        Raises:
            InvalidState: The connection is not open.
            ProtocolError: The code may not be sent, the reason is too long,
                or a reason comes without a code.
        """
        self._check_open()
        if code is None:
            if reason:
                raise ProtocolError("cannot send a reason without a code")
            close = Close(CloseCode.NO_STATUS_RCVD, "")
        else:
            close = Close(code, reason)
            close.check()  # 1005 stands for "no code" here, but may not be sent
        if self.held_failure is not None:
            self.release_failure()
        else:
            self._send_close(close, rcvd_then_sent=False)

    def _send_close(
        self, close: Close, *, rcvd_then_sent: bool, data: BytesLike | None = None
    ) -> None:
        if data is None:  # else an echo: parse() checked it as serialize() would
            data = b"" if close.code == CloseCode.NO_STATUS_RCVD else close.serialize()
        if self.extensions or self.debug or self.eof_sent:
            self.send_frame(Frame(CLOSE, data))
        else:  # what send_frame() does with a close frame, without a Frame
            frame = build_frame(_CLOSE_FIN, data, self.side is CLIENT)
            self._writes.append(frame)
            self._count_sent(len(frame), 1)
            self._sent_other += 1  # a frame, not a whole message
        self.close_sent = close
        if self.close_rcvd is not None:
            self.close_rcvd_then_sent = rcvd_then_sent
        self._set_state(CLOSING)

    def send_ping(self, data: BytesLike) -> None:
        """Send a ping frame.

        Raises:
            InvalidState: The connection is neither open nor closing.
            ProtocolError: ``data`` is longer than 125 bytes.
        """
        self._check_control_allowed()
        self.send_frame(Frame(PING, data))
        self.pings_sent += 1

    def send_pong(self, data: BytesLike) -> None:
        """Send an unsolicited pong frame (pongs that answer pings are automatic).

        Raises:
            InvalidState: The connection is neither open nor closing.
            ProtocolError: ``data`` is longer than 125 bytes.
        """
        self._check_control_allowed()
        self.send_frame(Frame(PONG, data))

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        """Fail the WebSocket connection (RFC 6455, section 7.1.7).

        Sends a close frame with ``code`` unless one was sent already or
        ``code`` is 1006, then stops processing input. A server also closes
        the connection; a client lets the server do it. A failure held back
        is dropped: this one replaces it.

        Args:
            code: Close code.
            reason: Close reason; cut to 123 bytes of UTF-8 if longer.

        Raises:
            ProtocolError: ``code`` may not be sent in a close frame.
        """
        self.held_failure = None
        if self.state is OPEN and code != CloseCode.ABNORMAL_CLOSURE:
            close = Close(code, _truncate_reason(reason))
            close.check()
            self._send_close(close, rcvd_then_sent=False)
        # "An endpoint MUST NOT continue to attempt to process data (including
        # a responding Close frame) from the remote endpoint after being
        # instructed to _Fail the WebSocket Connection_."
        self.discard()
        if self.side is SERVER:
            self.send_eof()

    def _check_open(self) -> None:
        if self.state is not OPEN:
            raise InvalidState(f"connection is {self.state.name}")

    def _check_control_allowed(self) -> None:
        if self.state is not OPEN and self.state is not CLOSING:
            raise InvalidState(f"connection is {self.state.name}")

    # Output.

    def events_received(self) -> list[Event]:
        """Return the events received since the last call (and forget them).

        When many fragments of a message were received since the last call,
        all but the first few come joined in one frame, whose payload is
        then a :class:`bytearray`.
        """
        events, self._events = self._events, []
        # Frames, and the odd handshake event (see queue_event).
        self._count_received(0, len(events))
        # Never extend the payload of a frame handed out.
        self._joined = None
        self._separate_fragments = 0
        return events

    def data_to_send(self) -> list[bytes]:
        """Return the bytes to write since the last call (and forget them).

        :data:`SEND_EOF` in the list means "half-close the connection" (see :attr:`eof_closes`).
        """
        writes, self._writes = self._writes, []
        return writes

    def close_expected(self) -> bool:
        """Whether the peer is expected to close the TCP connection soon.

        Call after ``receive_*``, :meth:`send_close` or :meth:`fail`; when
        true, close the connection yourself after a timeout.
        """
        if self.state is CLOSED:
            return False
        if self.state is CLOSING:
            return True
        if self.state is CONNECTING:
            # A failed handshake sends EOF; the peer closes in turn.
            return self.eof_sent
        # Reading stops when a failure is held, but the peer doesn't know yet.
        return self._reading is DISCARD and self.held_failure is None

    def send_frame(self, frame: Frame, compress: bool | None = None) -> None:
        """Queue a frame for sending, with the negotiated extensions applied.

        Args:
            frame: The frame.
            compress: :obj:`False` leaves out the extensions that compress.

        Raises:
            InvalidState: The connection was already half-closed.
        """
        if self.eof_sent:
            raise InvalidState("cannot write after sending EOF")
        if self.debug:
            self.logger.debug("> %s", frame)
        if (
            self.side is SERVER
            and type(frame.data) is bytes
            and len(frame.data) >= _LONG_PAYLOAD
            and not self.extensions
        ):
            # Write a long payload after its header as it is, rather than
            # copy it into one frame. bytes only: the payload of another
            # type could change before it is written.
            header = frame.serialize_header()
            self._writes += (header, frame.data)
            size = len(header) + len(frame.data)
        else:
            extensions = self.extensions
            if compress is False:
                extensions = [extension for extension in extensions if not extension.compresses]
            data = frame.serialize(mask=self.side is CLIENT, extensions=extensions)
            self._writes.append(data)
            size = len(data)
        self._count_sent(size, 1)
        if not frame.fin or frame.opcode not in _DATA_OPCODES:
            self._sent_other += 1

    def send_eof(self) -> None:
        """Queue :data:`SEND_EOF` unless it was queued already."""
        if not self.eof_sent:
            self.eof_sent = True
            if self.debug:
                self.logger.debug("> EOF")
            self._writes.append(SEND_EOF)

    # Helpers for the handshake subclasses.

    def send_handshake(self, data: bytes) -> None:
        """Queue the bytes of an HTTP request or response.

        Raises:
            InvalidState: The connection was already half-closed, for
                example because the handshake failed.
        """
        if self.eof_sent:
            raise InvalidState("cannot write after sending EOF")
        self._writes.append(data)
        self._count_sent(len(data), 0)

    def queue_event(self, event: Event) -> None:
        """Queue an event that isn't a frame for :meth:`events_received`."""
        self._events.append(event)
        self._count_received(0, -1)  # not a frame
