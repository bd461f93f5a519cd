"""A WebSocket connection with threads: what the client and the server share.

Threads, per connection: one reads from the socket, feeds the Sans-I/O core,
answers pings and sends keepalive pings (it waits for data with ``poll()``, so
timers need no thread of their own); application threads call
:meth:`Connection.recv`, :meth:`Connection.send` and the rest. On a server,
the handler runs in one more thread per connection: two threads in all. A
write that mustn't wait (the reader's, :func:`~wskit.sync.server.broadcast`)
and finds the socket full leaves the rest to a short-lived writer thread.

Locking: ``protocol_mutex`` serializes every call into the core, which isn't
thread-safe, and is never held while blocking. Bytes to write go through a
queue that whoever holds ``send_lock`` drains, so that a thread waiting to
write to a slow peer doesn't stop the reader from reading. The socket is
non-blocking and each socket call is made under ``io_lock``.

What the reader answers by itself (pongs, close frames) waits in that queue
when the peer doesn't read: past ``write_limit`` bytes there, the reader
stops reading until they're written, so a peer that sends pings and never
reads the pongs can't grow memory without bound.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, cast, overload

from ..connection_attributes import ConnectionAttributes
from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK
from ..frames import BINARY, CONT, PONG, TEXT, CloseCode, Frame
from ..messages import MESSAGE_TYPES, encode, queue_limits
from ..protocol import CONNECTING, OPEN, Event, Protocol
from ..stats import ConnectionStats, queued_bytes
from ..typing import BytesLike, Data
from .messages import Assembler

__all__ = ["Connection"]

_DATA_OPCODES = (TEXT, BINARY, CONT)
# What a non-blocking socket raises when it must wait: TLS may need to read
# before it can write, or the reverse.
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Connection(ConnectionAttributes[threading.Event]):
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
        "ack_on_close",
        "close_deadline",
        "close_timeout",
        "keepalive_pong",
        "next_ping_at",
        "ping_interval",
        "ping_timeout",
        "pong_deadline",
        "recv_events_thread",
        "recv_exc",
        "writes_awaited",
        "writes_taken",
    )

    recv_bufsize = 2**16
    """Bytes asked of the socket per read."""

    write_limit = 2**15
    """Bytes waiting to be written past which the reader thread stops reading.

    Only what the core answers by itself waits there (``send()`` blocks until
    its message is written): pongs, close frames. Set it on a subclass.
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
        # Set by the reader thread once it has queued what came before a
        # failure the core holds back; application threads release it then.
        self.failure_held = False
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
        # Notified when a writer takes the outgoing queue, if the reader
        # waits for that (see _wait_for_writes).
        self.writes_taken = threading.Condition(self.protocol_mutex)
        self.writes_awaited = False
        # The thread sending a fragmented message, while it does: no other
        # message may start until it ends (control frames may go between).
        self.fragmented_sender: threading.Thread | None = None

        self.reading_allowed = threading.Event()
        self.reading_allowed.set()
        self.recv_messages = Assembler(
            *queue_limits(max_queue),
            pause=self.reading_allowed.clear,
            resume=self.reading_allowed.set,
        )
        self.ack_on_close: set[threading.Event] = set()
        self.handshake_done = threading.Event()

        # Timers, run by the reader thread; monotonic clock readings.
        self.close_deadline: float | None = None
        self.next_ping_at: float | None = None
        self.pong_deadline: float | None = None
        self.keepalive_pong: threading.Event | None = None
        if ping_interval is not None:
            self.next_ping_at = time.monotonic() + ping_interval

        self.recv_exc: BaseException | None = None
        # Non-blocking I/O, one call at a time: a TLS socket is one OpenSSL
        # object, which the reader and the writers mustn't use concurrently,
        # and a reader blocked on half a TLS record couldn't run its timers.
        socket.setblocking(False)
        self.io_lock = threading.Lock()
        self.wait_readable = _poller(socket)
        self.wait_writable = _poller(socket, write=True)
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
        if self.failure_held:
            self._release_held_failure()
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
        if self.failure_held:
            self._release_held_failure()
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

    def _release_held_failure(self) -> None:
        """Fail as the core held back, unless a message received before the error is unread."""
        with self.protocol_mutex:
            if self.protocol.held_failure is None or self.recv_messages.message_waiting():
                return
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

    def _send(
        self,
        action: Callable[..., object],
        *args: Any,
        starts_message: bool = False,
        fragmented: bool = False,
    ) -> None:
        """Call ``action(protocol, *args)`` if the connection is open, then write.

        ``starts_message``: the action starts a message, which can't go in
        the middle of a fragmented one; ``fragmented``: that message is one.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ConcurrencyError: The action starts a message while a fragmented
                message is being sent.
        """
        with self.protocol_mutex:
            is_open = self.protocol.state is OPEN
            if is_open:
                # Raised at once, not after waiting for the fragmented message
                # to end: that may never happen when its iterable waits for
                # this very thread.
                if starts_message and self.fragmented_sender is not None:
                    raise ConcurrencyError(
                        "cannot call send() while a fragmented message is being sent"
                    )
                action(self.protocol, *args)
                self._queue_writes()
                if fragmented:
                    self.fragmented_sender = threading.current_thread()
        if not is_open or not self._flush():
            # A write that failed lost the message: don't return as if sent.
            raise self._closed()

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
        self.recv_events_thread.join(self.close_timeout)
        if self.recv_events_thread.is_alive():
            self.logger.info("timed out waiting for the peer to close the connection")
            self._abort()
            self.recv_events_thread.join()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the TCP connection is closed; return whether it is."""
        self.recv_events_thread.join(timeout)
        return not self.recv_events_thread.is_alive()

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

    # Writing.

    def _queue_writes(self) -> None:
        """Move what the core has to send to the outgoing queue; hold protocol_mutex."""
        self.outgoing.extend(self.protocol.data_to_send())
        if self.protocol.eof_sent:
            # The handshake can't complete any more: don't keep anyone waiting.
            self.handshake_done.set()
        if (
            self.close_deadline is None
            and self.close_timeout is not None
            and self.protocol.close_expected()
        ):
            self.close_deadline = time.monotonic() + self.close_timeout

    def _flush(self, *, block: bool = True) -> bool:
        """Write the outgoing queue, unless another thread is writing it already.

        With ``block``, wait until every byte is written. Without, never wait:
        skip if another thread holds ``send_lock``, and when the socket is
        full, leave the rest to a background thread (the reader thread and
        :func:`~wskit.sync.server.broadcast` mustn't wait for a slow peer).

        Return :obj:`False` if writing the bytes queued before the call failed:
        they are lost, and so is the connection. Bytes that other threads queue
        meanwhile are written too, but they aren't the caller's.
        """
        written = True
        first_batch = True
        while True:
            if not self.send_lock.acquire(blocking=block):
                return written  # the thread holding the lock will write our bytes too
            unwritten: list[bytes] = []
            try:
                while True:
                    with self.protocol_mutex:
                        chunks, self.outgoing = self.outgoing, []
                        if self.writes_awaited:
                            self.writes_awaited = False
                            self.writes_taken.notify()
                    if not chunks:
                        break
                    try:
                        unwritten = self._write(chunks, block=block)
                    except OSError:
                        # The reader thread notices too, and ends the connection.
                        self._abort()
                        written = written and not first_batch
                    first_batch = False
                    if unwritten:
                        with self.protocol_mutex:
                            self.outgoing[:0] = unwritten
                        break
            finally:
                self.send_lock.release()
            if unwritten:
                self._flush_in_background()
                return written
            with self.protocol_mutex:
                # Bytes queued by a thread that found the lock taken.
                if not self.outgoing:
                    return written

    def _flush_in_background(self) -> None:
        """Start a thread that writes the outgoing queue, unless one is running.

        It ends when the queue is empty, or when the connection fails: a peer
        that never reads meets the keepalive or the close timeout.
        """

        def flush() -> None:
            while True:
                self._flush()
                with self.protocol_mutex:
                    # Checked and cleared at once: a thread that queues bytes
                    # next sees no flusher and starts one.
                    if not self.outgoing:
                        self.flushing_in_background = False
                        return

        with self.protocol_mutex:
            if self.flushing_in_background:
                return
            self.flushing_in_background = True
        name = f"wskit writer {str(self.id)[:8]}"
        threading.Thread(target=flush, name=name, daemon=True).start()

    def _write(self, chunks: list[bytes], *, block: bool) -> list[bytes]:
        """Write ``chunks`` in order; return those the full socket didn't take.

        Without ``block``, what's left is returned as soon as the socket is
        full; with it, nothing is.

        Raises:
            OSError: Writing failed.
        """
        for index, chunk in enumerate(chunks):
            if not chunk:
                self._shutdown(socket.SHUT_WR)
                continue
            view = memoryview(chunk)
            while view:
                try:
                    with self.io_lock:
                        sent = self.socket.send(view)
                except _WOULD_BLOCK:
                    if not block:
                        # TLS wants the same bytes again, which these are.
                        rest = chunk if len(view) == len(chunk) else bytes(view)
                        return [rest, *chunks[index + 1 :]]
                    self.wait_writable(None)
                    continue
                view = view[sent:]
        return []

    def _abort(self) -> None:
        """Shut the socket down: blocked reads and writes return at once."""
        with contextlib.suppress(OSError):
            self._shutdown(socket.SHUT_RDWR)

    def _shutdown(self, how: int) -> None:
        # The TCP socket's shutdown(): SSLSocket's own drops its TLS state,
        # after which reads would return raw TLS records.
        socket.socket.shutdown(self.socket, how)

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
        try:
            while True:
                self._wait_for_data()
                with self.protocol_mutex:
                    # The rest of a long frame goes straight into its payload.
                    payload = self.protocol.incoming_payload
                    window = None if payload is None else payload.window()
                data, nbytes = b"", 0
                try:
                    with self.io_lock:
                        if window is None:
                            data = self.socket.recv(self.recv_bufsize)
                        else:
                            nbytes = self.socket.recv_into(window)
                except _WOULD_BLOCK:
                    continue  # TLS: half a record so far; wait for the rest
                if not (data or nbytes):
                    break
                with self.delivery_lock:
                    with self.protocol_mutex:
                        if window is None:
                            self.protocol.receive_data(data)
                        else:
                            self.protocol.receive_into(nbytes)
                        events = self.protocol.events_received()
                        self._queue_writes()
                    self._flush(block=False)
                    self._deliver(events)
        except TimeoutError:
            self.logger.info("timed out waiting for the peer to close the connection")
        except OSError as exc:
            self.recv_exc = exc
        except Exception as exc:  # a bug in wskit; don't let the thread die silently
            self.logger.error("unexpected error while reading", exc_info=True)
            self.recv_exc = exc
        finally:
            self._end()

    def _deliver(self, events: list[Event]) -> None:
        """Hand the events just taken from the core to the application; hold delivery_lock."""
        for event in events:
            self.process_event(event)
        if self.protocol.held_failure is not None and not self.failure_held:
            self.failure_held = True
            # An application thread may have taken a message of this batch
            # already: it releases the failure when it asks for the next
            # one. From now on, only they release it.
            if not any(_ends_message(event) for event in events):
                self._release_held_failure()

    def _end(self) -> None:
        with self.delivery_lock:
            with self.protocol_mutex:
                self.protocol.receive_eof()
                events = self.protocol.events_received()
                self._queue_writes()
            self._flush(block=False)
            for event in events:
                self.process_event(event)
            # Shut down first: a thread still blocked writing fails at once.
            self._abort()
            with contextlib.suppress(OSError):
                self.socket.close()
            self.recv_messages.close()
        with self.protocol_mutex:
            for waiter in self.pings.clear():
                if waiter in self.ack_on_close:
                    waiter.set()
            self.ack_on_close.clear()
        self.reading_allowed.set()
        self.handshake_done.set()

    def _wait_for_data(self) -> None:
        """Wait until the socket is readable, running timers meanwhile.

        Raises:
            TimeoutError: The closing handshake timed out.
        """
        while True:
            timeout = self._run_timers(time.monotonic())
            if not self.reading_allowed.is_set():
                self.reading_allowed.wait(timeout)
                continue
            if self.outgoing and self._wait_for_writes(timeout):
                continue
            if self._pending() or self.wait_readable(timeout):
                return

    def _wait_for_writes(self, timeout: float | None) -> bool:
        """Wait, if answers past ``write_limit`` bytes wait to be written; return whether.

        A writer takes them before the next read: at most twice the limit and
        what one read answers are in memory, and TCP pushes back on a peer
        that sends pings and never reads.
        """
        with self.protocol_mutex:
            if sum(map(len, self.outgoing)) <= self.write_limit:
                return False
            self.writes_awaited = True
            self.writes_taken.wait(timeout)
            return True

    def _pending(self) -> bool:
        """Whether TLS holds decrypted bytes that poll() can't see."""
        pending = getattr(self.socket, "pending", None)
        if pending is None:
            return False
        with self.io_lock:
            return bool(pending() > 0)

    def _run_timers(self, now: float) -> float | None:
        """Run the timers that are due; return the seconds until the next one."""
        if self.close_deadline is not None and now >= self.close_deadline:
            raise TimeoutError("closing handshake timed out")
        if self.pong_deadline is not None and now >= self.pong_deadline:
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
        deadlines = [
            deadline
            for deadline in (self.close_deadline, self.pong_deadline, self.next_ping_at)
            if deadline is not None
        ]
        return max(min(deadlines) - now, 0.0) if deadlines else None

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
        if self.ping_timeout is not None:
            self.pong_deadline = now + self.ping_timeout
        self._flush(block=False)

    def process_event(self, event: Event) -> None:
        """Handle a frame or a handshake message from the core."""
        if not isinstance(event, Frame):
            self.handshake_done.set()
            return
        opcode = event.opcode
        if opcode in _DATA_OPCODES:
            self.recv_messages.put(event)
        elif opcode is PONG:
            with self.protocol_mutex:
                answered = self.pings.acknowledge(bytes(event.data), time.monotonic())
            for waiter, _ in answered:
                self.ack_on_close.discard(waiter)
                waiter.set()
            if self.keepalive_pong is not None and self.keepalive_pong.is_set():
                self.keepalive_pong = None
                self.pong_deadline = None


def _ends_message(event: Event) -> bool:
    return isinstance(event, Frame) and event.fin and event.opcode in _DATA_OPCODES


def _poller(sock: socket.socket, *, write: bool = False) -> Callable[[float | None], bool]:
    """Return a function that waits, with a timeout, until ``sock`` is readable.

    With ``write``, until it can take more bytes. A socket that is shut down
    counts as ready either way: the next call on it fails at once.
    """
    if hasattr(select, "poll"):
        poll = select.poll()
        poll.register(sock, select.POLLOUT if write else select.POLLIN)

        def wait(timeout: float | None) -> bool:
            return bool(poll.poll(None if timeout is None else timeout * 1000))

    else:  # pragma: no cover (Windows)
        readers, writers = ([], [sock]) if write else ([sock], [])

        def wait(timeout: float | None) -> bool:
            return any(select.select(readers, writers, [], timeout)[:2])

    return wait
