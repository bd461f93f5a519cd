"""A WebSocket connection with threads: what the client and the server share.

Threads: a client connection has one that reads from the socket, feeds the
Sans-I/O core, answers pings and sends keepalive pings (it waits for data with
``poll()``, so timers need no thread of their own); application threads call
:meth:`Connection.recv`, :meth:`Connection.send` and the rest. A server reads
from all its connections in one thread (:mod:`wskit.sync.reader`), which runs
the same steps, and runs each handler in a thread of its own. A write that
mustn't wait (the reader's, :func:`~wskit.sync.server.broadcast`) and finds
the socket full leaves the rest to a short-lived writer thread.

Locking: ``protocol_mutex`` serializes every call into the core, which isn't
thread-safe, and is never held while blocking. Bytes to write go through a
queue that whoever holds ``send_lock`` drains (:mod:`wskit.sync.writing`),
so that a thread waiting to write to a slow peer doesn't stop the reader
from reading; a whole plain message that finds the queue empty and nobody
writing is written at once by its sender, holding ``send_lock``
(``_send_whole()``). The socket is non-blocking; with TLS, each socket call
is made under ``io_lock``.

Reading pauses, timers going on, while the application is behind with the
messages received (``reading_allowed`` is clear) or the peer with what the
reader answers by itself, pongs and close frames (``writes_awaited``: past
``write_limit`` bytes of them wait in the queue), so that neither a slow
handler nor a peer that sends pings and never reads the pongs can grow
memory without bound. Whoever ends a pause calls ``_resume_reading()``: a
client's reader thread waits for it, a server's reader watches the socket
again. The reader never blocks on a pause: the shared one serves the other
connections meanwhile.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, cast, overload

from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK
from ..frames import BINARY, CONT, PONG, TEXT, CloseCode, Frame
from ..protocol import CONNECTING, OPEN, Event, HeldFailure, Protocol
from ..shared.connection_attributes import ConnectionAttributes
from ..shared.messages import MESSAGE_TYPES, encode, queue_limits
from ..stats import ConnectionStats, queued_bytes
from ..typing import BytesLike, Data
from .lending import Lending
from .messages import Assembler
from .utils import Latch, poller
from .writing import WOULD_BLOCK, Writer

__all__ = ["Connection"]

_DATA_OPCODES = (TEXT, BINARY, CONT)


class Connection(ConnectionAttributes[threading.Event], Lending, Writer):
    """The threading implementation of a WebSocket connection.

    :class:`~wskit.sync.server.ServerConnection` and
    :class:`~wskit.sync.client.ClientConnection` build on it; applications
    don't create it directly.

    Args:
        socket: The connected socket, TLS already set up.
        protocol: The Sans-I/O connection.
        ping_interval: Seconds between keepalive pings; :obj:`None` disables
            keepalive.
        ping_timeout: Seconds to wait for a keepalive pong before failing
            the connection with 1011; :obj:`None` waits forever.
        close_timeout: Seconds to wait for the peer to complete the closing
            handshake before dropping the TCP connection; :obj:`None` waits
            forever.
        max_queue: Frames received and not read yet before reading pauses, or
            a ``(high, low)`` pair of water marks; :obj:`None` for no limit.
    """

    # Settings, keepalive and the closing handshake's state: out of the
    # instance dict (see ConnectionAttributes).
    __slots__ = (
        "aborted",
        "ack_on_close",
        "close_deadline",
        "close_timeout",
        "ended",
        "keepalive_pong",
        "next_ping_at",
        "ping_interval",
        "ping_timeout",
        "pong_deadline",
        "read_ended",
        "read_token",
        "recv_events_thread",
        "recv_exc",
        "resumed",
        "writes_awaited",
    )

    recv_bufsize = 2**16
    """Bytes asked of the socket per read."""

    write_limit = 2**15
    """Bytes waiting to be written past which reading pauses, until a writer takes them.

    Only what the core answers by itself (pongs, close frames) and what
    :func:`~wskit.sync.server.broadcast` queues wait there (``send()`` blocks
    until its message is written); past it, ``broadcast()`` skips the
    connection. Set it on a subclass.
    """

    def __init__(
        self,
        socket: socket.socket,
        protocol: Protocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
    ) -> None:
        super().__init__(protocol)
        # Bad input fails the connection once the application has read the
        # messages received before it, so that it can answer them.
        protocol.hold_failures = True
        self.socket = socket
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout

        self.protocol_mutex = threading.Lock()
        # Held from taking events out of the core until they are handed to
        # the application, by the reader thread and by a server's handshake,
        # so that events reach the application in the order they arrived.
        self.delivery_lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.outgoing: list[bytes] = []
        self.flushing_in_background = False
        # Set by the reader when past write_limit bytes of its answers wait
        # in the queue, cleared by the writer that takes them; guarded by
        # protocol_mutex.
        self.writes_awaited = False
        # The thread sending a fragmented message, while it does: no other
        # message may start until it ends (control frames may go between).
        self.fragmented_sender: threading.Thread | None = None

        self.reading_allowed = threading.Event()
        self.reading_allowed.set()
        self.recv_messages = Assembler(
            *queue_limits(max_queue),
            pause=self.reading_allowed.clear,
            resume=self._caught_up,
            fail=self._release_failure,
        )
        self.ack_on_close: set[threading.Event] = set()
        self.handshake_done = Latch()

        # Timers, run by the reader thread; monotonic clock readings.
        self.close_deadline: float | None = None
        self.next_ping_at: float | None = None
        self.pong_deadline: float | None = None
        self.keepalive_pong: threading.Event | None = None
        if ping_interval is not None:
            self.next_ping_at = time.monotonic() + ping_interval

        self.recv_exc: BaseException | None = None
        # Non-blocking I/O, one call at a time with TLS: a TLS socket is one
        # OpenSSL object, which the reader and the writers mustn't use
        # concurrently, and a reader blocked on half a TLS record couldn't
        # run its timers. A plain socket takes a read and a write at once.
        socket.setblocking(False)
        self.io_lock = threading.Lock() if isinstance(socket, ssl.SSLSocket) else None
        self.wait_readable = poller(socket)
        self.wait_writable = poller(socket, write=True)
        # The reader or a thread in recv() (see lending.py).
        self.read_token = threading.Lock()
        self.read_ended = False
        # Set once the connection is closed and every waiter is released.
        self.ended = Latch()
        # Set by _abort(). The shutdown brings the end of TCP, which the
        # reader reads to; while reading is paused, the reader ends the
        # connection at its next step instead.
        self.aborted = False
        self._init_lending()
        self._start_reading()

    def _start_reading(self) -> None:
        """Start the thread that reads from the socket until the connection ends."""
        # Set when a pause may have ended; cleared by the reader thread only.
        self.resumed = threading.Event()
        self._start_watching()
        self.recv_events_thread = threading.Thread(
            target=self.recv_events, name=f"wskit reader {str(self.id)[:8]}", daemon=True
        )
        self.recv_events_thread.start()

    # Public API: attributes.

    @property
    def stats(self) -> ConnectionStats:
        """Counts of messages, frames and bytes, latency and buffers, read now.

        Reading it costs; sending and receiving don't pay for it. Outgoing
        bytes are those queued and not taken by a writing thread yet.
        """
        # Copies, taken at once: other threads may change these meanwhile.
        return ConnectionStats(
            self.protocol,
            latency=self.latency,
            buffered_incoming=queued_bytes(list(self.recv_messages.queue.frames)),
            buffered_outgoing=sum(map(len, list(self.outgoing))),
        )

    @property
    def local_address(self) -> Any:
        """Local address of the connection, as the socket reports it."""
        return self.socket.getsockname()

    @property
    def remote_address(self) -> Any:
        """Remote address of the connection, as the socket reports it."""
        return self.socket.getpeername()

    # Public API: context manager and iteration.

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close(CloseCode.INTERNAL_ERROR)

    def __iter__(self) -> Iterator[Data]:
        """Iterate over messages until the connection closes.

        The loop ends quietly after a normal closure; it raises
        :exc:`~wskit.exceptions.ConnectionClosedError` after an error.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # Public API: receiving.

    @overload
    def recv(self, timeout: float | None, decode: Literal[True]) -> str: ...

    @overload
    def recv(self, timeout: float | None = None, *, decode: Literal[True]) -> str: ...

    @overload
    def recv(self, timeout: float | None, decode: Literal[False]) -> bytes: ...

    @overload
    def recv(self, timeout: float | None = None, *, decode: Literal[False]) -> bytes: ...

    @overload
    def recv(self, timeout: float | None = None, decode: bool | None = None) -> Data: ...

    def recv(self, timeout: float | None = None, decode: bool | None = None) -> Data:
        """Receive the next message.

        Args:
            timeout: Seconds to wait; :obj:`None` waits forever, 0 returns
                only a message that is already there.
            decode: :obj:`None` returns text messages as :class:`str` and
                binary ones as :class:`bytes`. :obj:`True` decodes binary
                messages too; :obj:`False` returns text messages as bytes.

        Raises:
            ConnectionClosed: The connection is closed; every message received
                before was returned first.
            TimeoutError: No message arrived in time.
            ConcurrencyError: Another thread is already receiving.
        """
        try:
            return self.recv_messages.get(timeout, decode)
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv() while another thread is already running "
                "recv() or recv_streaming()"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail_decoding(exc)
        raise self._closed()

    def recv_streaming(self, decode: bool | None = None) -> Iterator[Data]:
        """Receive the next message fragment by fragment, as they arrive.

        Stopping before the end drops the rest of the message.

        Raises:
            ConnectionClosed: The connection is closed.
            ConcurrencyError: Another thread is already receiving.
        """
        try:
            yield from self.recv_messages.get_iter(decode)
            return
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv_streaming() while another thread is already running "
                "recv() or recv_streaming()"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail_decoding(exc)
        raise self._closed()

    def _release_failure(self) -> None:
        """Fail as the core held back: the application read what came before the error."""
        with self.protocol_mutex:
            self.protocol.release_failure()
            self._queue_writes()
        self._flush(block=False)

    def _fail_decoding(self, exc: UnicodeDecodeError) -> None:
        with self.protocol_mutex:
            if self.protocol.state is OPEN:
                self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                self._queue_writes()
        self._flush()
        raise self._closed()

    # Public API: sending.

    def send(
        self,
        message: Data | BytesLike | Iterable[Data | BytesLike],
        *,
        text: bool | None = None,
        compress: bool | None = None,
    ) -> None:
        """Send a message; safe to call from several threads at once.

        A :class:`str` goes as a text frame, a bytes-like object as a binary
        frame, an iterable of them as one fragmented message. ``text``
        overrides the type, and ``compress=False`` sends the message
        uncompressed, as in the asyncio implementation.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ConcurrencyError: A fragmented message is being sent (by any
                thread): another message can't start before it ends.
            TypeError: The message is of an unsupported type.
        """
        if self._send_whole(message, text, compress):
            return
        if isinstance(message, MESSAGE_TYPES):
            is_text, data = encode(message, text)
            self._send(
                Protocol.send_text if is_text else Protocol.send_binary,
                data,
                True,
                compress,
                starts_message=True,
            )
        elif isinstance(message, Mapping):
            raise TypeError("message must be str, bytes-like or an iterable of them, not a mapping")
        elif isinstance(message, Iterable):
            self._send_fragments(iter(message), text, compress)
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")

    def _send_fragments(
        self, chunks: Iterator[Data | BytesLike], text: bool | None, compress: bool | None
    ) -> None:
        try:
            first = next(chunks)
        except StopIteration:
            return  # an empty iterable is no message at all
        is_text, data = encode(first, text)
        send_first = Protocol.send_text if is_text else Protocol.send_binary
        self._send(send_first, data, False, compress, starts_message=True, fragmented=True)
        try:
            for chunk in chunks:
                chunk_is_text, data = encode(chunk, text)
                if chunk_is_text is not is_text:
                    raise TypeError("all fragments of a message must be of the same type")
                self._send(Protocol.send_continuation, data, False)
            self._send(Protocol.send_continuation, b"", True)
        except ConnectionClosed:
            raise
        except Exception:
            # Half a message went out and the rest never will: the peer can't
            # make sense of what follows, so the connection must end.
            with self.protocol_mutex:
                if self.protocol.state is OPEN:
                    self.protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                    self._queue_writes()
            self._flush()
            raise
        finally:
            with self.protocol_mutex:
                self.fragmented_sender = None

    def close(self, code: CloseCode | int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait until the TCP connection is closed.

        Idempotent, and safe to call from any thread: a thread blocked in
        :meth:`recv` gets :exc:`~wskit.exceptions.ConnectionClosed`. If the
        peer doesn't answer within ``close_timeout``, the TCP connection is
        dropped. Closing while a fragmented message is being sent fails the
        connection with 1011 instead.
        """
        self.start_closing(code, reason)
        self.wait_for_close()

    def start_closing(
        self, code: CloseCode | int = CloseCode.NORMAL_CLOSURE, reason: str = ""
    ) -> None:
        """Send a close frame without waiting for the answer."""
        with self.protocol_mutex:
            if self.protocol.state is OPEN:
                if self.fragmented_sender is not None:
                    self.protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
                else:
                    self.protocol.send_close(code, reason)
                self._queue_writes()
        # Never waits: if a peer that doesn't read stalls the write, the
        # close timeout, run by the reader thread, ends the connection.
        self._flush(block=False)

    def wait_for_close(self) -> None:
        """Wait for the end of the connection, dropping it after ``close_timeout``."""
        if not self.ended.wait(self.close_timeout):
            self.logger.info("timed out waiting for the peer to close the connection")
            self._abort()
            self.ended.wait()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the TCP connection is closed; return whether it is."""
        return self.ended.wait(timeout)

    def ping(
        self, data: Data | BytesLike | None = None, *, ack_on_close: bool = False
    ) -> threading.Event:
        """Send a ping.

        Args:
            data: Payload; a random 4-byte payload when :obj:`None`.
            ack_on_close: Also set the returned event if the connection closes
                before the pong arrives.

        Returns:
            An event set when the matching pong arrives.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ConcurrencyError: A ping with the same payload awaits its pong.
        """
        pong_received = threading.Event()

        def send_ping(protocol: Protocol) -> None:
            payload = self.pings.payload(data)
            self.pings.add(payload, pong_received, time.monotonic())
            if ack_on_close:
                self.ack_on_close.add(pong_received)
            protocol.send_ping(payload)

        self._send(send_ping)
        return pong_received

    def pong(self, data: Data | BytesLike = b"") -> None:
        """Send an unsolicited pong, as a unidirectional heartbeat.

        Raises:
            ConnectionClosed: The connection is closed or closing.
        """
        payload = data.encode() if isinstance(data, str) else data
        self._send(Protocol.send_pong, payload)

    def _closed(self) -> ConnectionClosed:
        """Wait for the connection to end; return the exception that tells how."""
        self.wait_for_close()
        exc = self.protocol.close_exc
        if exc.__cause__ is None:
            exc.__cause__ = self.recv_exc
        return exc

    # Reading, in the reader thread.

    def recv_events(self) -> None:
        """Read from the socket and process what arrives until the connection ends."""
        while self._step(self._wait_and_receive):
            pass

    def _step(self, action: Callable[[], bool]) -> bool:
        """Run a step of reading; return whether the connection goes on.

        When ``action`` returns :obj:`False` (end of file) or fails, end the
        connection.
        """
        try:
            if action() and not (self.aborted and self._reading_paused()):
                return True
        except TimeoutError:
            self.logger.info("timed out waiting for the peer to close the connection")
        except OSError as exc:
            self.recv_exc = exc
        except Exception as exc:  # a bug in wskit; don't let the reader die silently
            self.logger.error("unexpected error while reading", exc_info=True)
            self.recv_exc = exc
        self._end()
        return False

    def _wait_and_receive(self) -> bool:
        return self._wait_for_data() and self._receive()

    def _receive(self) -> bool:
        """Read once from the socket and process it; return :obj:`False` at end of file.

        The reader's step. It leaves the socket to a thread in recv() that
        reads it, and to nobody while reading is paused.
        """
        if not self.read_token.acquire(blocking=False):
            return True  # a thread in recv() reads; it gives the socket back
        try:
            if self._reading_paused():  # by a read in recv(), since the wait
                return True
            if self._read_socket():
                # A thread may wait for frames that the read put in the queue
                # directly; a thread in recv() that reads needs no waking.
                self.recv_messages.wake()
                return True
            self.read_ended = True
            return False
        finally:
            self.read_token.release()

    def _read_socket(self) -> bool:
        """Read once from the socket and process it; hold read_token.

        Return :obj:`False` at end of file.
        """
        # The rest of a long frame goes straight into its payload. Read
        # without protocol_mutex: only the holder of read_token starts or
        # fills a payload, and one dropped meanwhile (the connection failed)
        # is as one dropped after the read, which receive_into() allows.
        payload = self.protocol.incoming_payload
        window = None if payload is None else payload.window()
        data, nbytes = b"", 0
        io_lock = self.io_lock
        if io_lock is not None:
            io_lock.acquire()  # by name: see _send_whole()
        try:
            if window is None:
                data = self.socket.recv(self.recv_bufsize)
            else:
                nbytes = self.socket.recv_into(window)
        except WOULD_BLOCK:
            return True  # TLS: half a record so far; wait for the rest
        finally:
            if io_lock is not None:
                io_lock.release()
        if not (data or nbytes):
            return False
        delivery_lock, protocol_mutex = self.delivery_lock, self.protocol_mutex
        delivery_lock.acquire()
        try:
            protocol_mutex.acquire()
            try:
                taken = whole = 0
                if window is None:
                    # Whole messages go straight to the queue, as process_event()
                    # would put them, when the core's general rules have nothing
                    # else to do with them (see Protocol.receive_messages).
                    taken = self.protocol.receive_messages(data, self.recv_messages.queue)
                    whole = taken == len(data)
                    if not whole:
                        self.protocol.receive_data(data[taken:] if taken else data)
                else:
                    self.protocol.receive_into(nbytes)
                # All of it taken so: no event, nothing to write, no failure.
                events = None if whole else self.protocol.events_received()
                if events is not None:
                    self._queue_writes()
            finally:
                protocol_mutex.release()
            if events is not None:
                self._flush(block=False)
                self._deliver(events)
        finally:
            delivery_lock.release()
        if self.outgoing:  # seen without the lock: the common case has none
            self._check_writes()
        return True

    def _deliver(self, events: list[Event]) -> None:
        """Hand the events just taken from the core to the application; hold delivery_lock."""
        for event in events:
            self.process_event(event)

    def _end(self) -> None:
        if not self.read_token.acquire(blocking=False):
            if not self.read_ended:
                self._abort()  # wakes a thread in recv() that waits for data
            self.read_token.acquire()
        try:
            self.read_ended = True
            with self.delivery_lock:
                with self.protocol_mutex:
                    self.protocol.receive_eof()
                    events = self.protocol.events_received()
                    self._queue_writes()
                if not (self.aborted or isinstance(self.recv_exc, OSError)):  # else it's dead
                    self._flush(block=False)
                for event in events:
                    self.process_event(event)
                # Shut down first: a thread still blocked writing fails at once.
                self._abort()
                with contextlib.suppress(OSError):
                    self.socket.close()
            self._stop_watching()
        finally:
            self.read_token.release()
        with self.protocol_mutex:
            for waiter in self.pings.clear():
                if waiter in self.ack_on_close:
                    waiter.set()
            self.ack_on_close.clear()
        self.reading_allowed.set()
        self.handshake_done.set()
        # Before waking recv(): it waits for the end, which is now.
        self.ended.set()
        self.recv_messages.close()
        self.recv_messages.let_go()

    def _wait_for_data(self) -> bool:
        """Wait until the socket is readable and reading isn't paused, running timers.

        Return :obj:`False` if the connection was dropped while reading is paused.

        Raises:
            TimeoutError: The closing handshake timed out.
        """
        while True:
            now = time.monotonic()
            deadline = self._run_timers(now)
            timeout = None if deadline is None else max(deadline - now, 0.0)
            if self._reading_paused():
                # Cleared, then checked again: a resume or an abort in
                # between isn't lost.
                self.resumed.clear()
                if self.aborted:
                    return False
                if self._reading_paused():
                    self.resumed.wait(timeout)
                continue
            if self._pending() or self._wait_watched(timeout):
                return True

    def _reading_paused(self) -> bool:
        """Whether the reader must leave what arrives in the socket for now."""
        return self.writes_awaited or not self.reading_allowed.is_set()

    def _caught_up(self) -> None:
        # The application read enough of the messages received.
        self.reading_allowed.set()
        self._resume_reading()

    def _resume_reading(self) -> None:
        """Read again if no pause holds any more; called when one may have ended."""
        self.resumed.set()

    def _check_timers(self) -> None:
        """Have the reader run the timers now: a deadline changed, or the connection dropped."""
        # The reader thread waits in poll() or, while reading is paused, for
        # this event. In poll(), the timeout computed before stands: what
        # sets a close deadline waits for the end itself (wait_for_close()),
        # or drops the connection, which wakes poll(). A lease needs a timer.
        self.resumed.set()
        self._wake_watcher()

    def _check_writes(self) -> None:
        """Pause reading if answers past ``write_limit`` bytes wait to be written.

        The writer that takes them resumes it: at most twice the limit and
        what one read answers are in memory, and TCP pushes back on a peer
        that sends pings and never reads.
        """
        with self.protocol_mutex:
            if self._over_write_limit():
                self.writes_awaited = True

    def _pending(self) -> bool:
        """Whether TLS holds decrypted bytes that poll() can't see."""
        pending = getattr(self.socket, "pending", None)
        if pending is None:
            return False
        assert self.io_lock is not None  # TLS has one
        with self.io_lock:
            return bool(pending() > 0)

    def _run_timers(self, now: float) -> float | None:
        """Run the timers that are due; return when the next one is (monotonic clock)."""
        if self.close_deadline is not None and now >= self.close_deadline:
            raise TimeoutError("closing handshake timed out")
        # Read once: a thread in recv() that reads the pong clears it.
        pong_deadline = self.pong_deadline
        if pong_deadline is not None and now >= pong_deadline:
            self.pong_deadline = None
            if self.reading_allowed.is_set():  # unread pongs aren't the peer's fault
                self.logger.info("keepalive ping timeout: failing the connection")
                with self.protocol_mutex:
                    if self.protocol.state is OPEN:
                        self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                        self._queue_writes()
                self._flush(block=False)
        if self.next_ping_at is not None and now >= self.next_ping_at:
            self._send_keepalive_ping(now)
        lease_check = self._take_back(now) if self.lent else None
        deadlines = [
            deadline
            for deadline in (
                self.close_deadline,
                self.pong_deadline,
                self.next_ping_at,
                lease_check,
            )
            if deadline is not None
        ]
        return min(deadlines) if deadlines else None

    def _send_keepalive_ping(self, now: float) -> None:
        self.next_ping_at = now + cast(float, self.ping_interval)  # set only with an interval
        if self.pong_deadline is not None:
            # The last keepalive ping awaits its pong: its timeout decides. A
            # new ping would push the deadline back, forever if the interval
            # is shorter than the timeout.
            return
        with self.protocol_mutex:
            if self.protocol.state is CONNECTING:
                return
            if self.protocol.state is not OPEN:
                self.next_ping_at = None
                return
            payload = self.pings.payload(None)
            self.keepalive_pong = threading.Event()
            self.pings.add(payload, self.keepalive_pong, now)
            self.protocol.send_ping(payload)
            self._queue_writes()
            # Under the mutex, which process_event() takes to clear it: a
            # thread in recv() may read the pong as soon as it's written.
            if self.ping_timeout is not None:
                self.pong_deadline = now + self.ping_timeout
        self._flush(block=False)

    def process_event(self, event: Event) -> None:
        """Handle a frame, a handshake message or a held failure from the core."""
        if isinstance(event, HeldFailure):
            # After the frames received before it: recv() reaches it in order.
            self.recv_messages.put_failure(event.after_message)
            return
        if not isinstance(event, Frame):
            self.handshake_done.set()
            return
        opcode = event.opcode
        if opcode in _DATA_OPCODES:
            self.recv_messages.put(event)
        elif opcode is PONG:
            with self.protocol_mutex:
                answered = self.pings.acknowledge(bytes(event.data), time.monotonic())
                if any(waiter is self.keepalive_pong for waiter, _ in answered):
                    self.keepalive_pong = None
                    self.pong_deadline = None
            for waiter, _ in answered:
                self.ack_on_close.discard(waiter)
                waiter.set()
