"""A WebSocket connection on trio: what the client and the server share.

A connection runs two tasks in the nursery it is given: the reader, which
feeds what the stream receives to the Sans-I/O core, and the writer, which
sends what the core and the application queue. Both end with the
connection, and the connection ends when the nursery is cancelled: no task
outlives it.

Flow control works both ways. When more than ``max_queue`` frames wait for
``recv()``, the reader stops reading, and TCP pushes back on the peer. When
more than ``write_limit`` bytes wait to be written, ``send()`` waits until the
peer reads them; so does the reader when the core's answers (pongs, close
frames) fill the buffer, so a peer that sends pings and never reads the pongs
can't grow it without bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from types import TracebackType
from typing import Any

import trio

from ..exceptions import ConnectionClosed
from ..frames import PONG, CloseCode, Frame
from ..protocol import CLOSED, OPEN, SEND_EOF, Event, Protocol
from ..shared.async_api import AsyncConnectionAPI, to_async
from ..shared.connection_attributes import ConnectionAttributes
from ..shared.messages import MESSAGE_TYPES, encode, queue_limits
from ..stats import ConnectionStats, queued_bytes
from ..typing import BytesLike, Data
from .messages import Assembler

__all__ = ["Connection"]

# Bytes asked of the stream per read.
READ_SIZE = 2**16
# Frames queued together are joined into one write up to this size; longer
# ones are written as they are, not copied.
JOIN_WRITES_SIZE = 2**16

# What waits for a pong: the event to set, and whether to set it on closing.
PongWaiter = tuple[trio.Event, bool]


def stream_socket(stream: trio.abc.Stream) -> Any:
    """Return the socket under ``stream`` (TLS included), or :obj:`None`."""
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return getattr(stream, "socket", None)


class Connection(AsyncConnectionAPI, trio.abc.AsyncResource, ConnectionAttributes[PongWaiter]):
    """The trio implementation of a WebSocket connection.

    :class:`~wskit.trio.server.ServerConnection` and
    :class:`~wskit.trio.client.ClientConnection` build on it; applications
    don't create it directly.

    Args:
        nursery: Where the connection runs its tasks; cancelling it aborts
            the connection.
        stream: The trio stream connected to the peer.
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
        write_limit: Bytes waiting to be written before ``send()`` waits, or a
            ``(high, low)`` pair of water marks (a quarter of high by default).

    Raises:
        ValueError: ``write_limit`` or ``max_queue`` has its marks in the
            wrong order.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        stream: trio.abc.Stream,
        protocol: Protocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        ConnectionAttributes.__init__(self, protocol)
        # Bad input fails the connection once the application has read the
        # messages received before it, so that it can answer them.
        protocol.hold_failures = True
        self.nursery = nursery
        self.stream = stream
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        high, low = write_limit if isinstance(write_limit, tuple) else (write_limit, None)
        low = high // 4 if low is None else low
        if not 0 <= low <= high:
            raise ValueError(f"write_limit must satisfy 0 <= low <= high, got {high}, {low}")
        self.write_limit = (high, low)

        self.recv_messages = Assembler(
            *queue_limits(max_queue),
            pause=self._pause_reading,
            resume=self._resume_reading,
            fail=self._release_failure,
        )
        # Reading stops while the frame queue is full, and on a server from
        # the handshake request until the response is sent.
        self.holding_request = False
        self.reading_resumed: trio.Event | None = None
        # Bytes queued for the writer: chunks, SEND_EOF last if it came.
        self.outgoing: list[bytes] = []
        self.outgoing_size = 0
        self.write_wanted: trio.Event | None = None
        self.drained: trio.Event | None = None
        # Set while a fragmented message is being sent; other senders wait.
        self.fragmented_send: trio.Event | None = None
        # The reader's and writer's scopes: the close timer sets their deadline.
        self.reader_scope = trio.CancelScope()
        self.writer_scope = trio.CancelScope()
        self.keepalive_scope = trio.CancelScope()
        self.close_timer_started = False
        # Set when the peer's half of the opening handshake arrives, or when
        # it can't any more.
        self.handshake_done = trio.Event()
        self.stream_closed = trio.Event()
        self.recv_exc: BaseException | None = None
        nursery.start_soon(self._reader)
        nursery.start_soon(self._writer)

    # Public API: attributes.

    @property
    def stats(self) -> ConnectionStats:
        """Counts of messages, frames and bytes, latency and buffers, read now."""
        return ConnectionStats(
            self.protocol,
            latency=self.latency,
            buffered_incoming=queued_bytes(self.recv_messages.queue.frames),
            buffered_outgoing=self.outgoing_size,
        )

    @property
    def local_address(self) -> Any:
        """Local address of the connection, as the socket reports it."""
        sock = stream_socket(self.stream)
        return None if sock is None else sock.getsockname()

    @property
    def remote_address(self) -> Any:
        """Remote address of the connection, as the socket reports it."""
        sock = stream_socket(self.stream)
        return None if sock is None else sock.getpeername()

    # Public API: context manager and iteration.

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.aclose()
        elif isinstance(exc_value, trio.Cancelled):
            # Cancelled: nothing may wait any more, not even for the peer to
            # read a close frame. Drop the TCP connection; the tasks end.
            self.abort()
        else:
            await self.aclose(CloseCode.INTERNAL_ERROR)

    # Public API: sending.

    async def send(
        self,
        message: Data | BytesLike | Iterable[Data | BytesLike] | AsyncIterable[Data | BytesLike],
        *,
        text: bool | None = None,
        compress: bool | None = None,
    ) -> None:
        """Send a message.

        A :class:`str` goes as a text frame, a bytes-like object as a binary
        frame. An iterable or asynchronous iterable of them goes as one
        fragmented message, one frame per item; all items must be of the same
        type. ``text`` overrides the type: :obj:`True` sends bytes as text (they
        must be UTF-8), :obj:`False` sends a string as binary.

        The message is queued for the connection's writer; when more than
        ``write_limit`` bytes wait, ``send()`` waits until the peer has read
        enough of them. ``compress=False`` sends this message uncompressed on
        a connection that negotiated compression.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            TypeError: The message is of an unsupported type.
        """
        if isinstance(message, MESSAGE_TYPES):
            is_text, data = encode(message, text)
            if self.fragmented_send is not None:
                await self._wait_for_fragmented_send()
            protocol = self.protocol
            if protocol.state is not OPEN:
                raise await self._closed()
            if is_text:
                protocol.send_text(data, True, compress)
            else:
                protocol.send_binary(data, True, compress)
            self._write(protocol.data_to_send())
            if self.outgoing_size > self.write_limit[0]:
                await self._drain()
        elif isinstance(message, Mapping):
            raise TypeError("message must be str, bytes-like or an iterable of them, not a mapping")
        elif isinstance(message, AsyncIterable):
            await self._send_fragments(aiter(message), text, compress)
        elif isinstance(message, Iterable):
            await self._send_fragments(to_async(message), text, compress)
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")

    async def _wait_for_fragmented_send(self) -> None:
        while self.fragmented_send is not None:
            await self.fragmented_send.wait()

    def _begin_fragmented_send(self) -> None:
        self.fragmented_send = trio.Event()

    def _end_fragmented_send(self) -> None:
        if self.fragmented_send is not None:
            self.fragmented_send.set()
            self.fragmented_send = None

    async def _write_and_drain(self) -> None:
        self._send_data()
        if self.outgoing_size > self.write_limit[0]:
            await self._drain()
        if self.protocol.state is not OPEN:
            raise await self._closed()

    async def aclose(
        self, code: CloseCode | int = CloseCode.NORMAL_CLOSURE, reason: str = ""
    ) -> None:
        """Perform the closing handshake and wait until the TCP connection is closed.

        Idempotent. If the peer doesn't answer within ``close_timeout``, the
        TCP connection is dropped. Closing while a fragmented message is being
        sent fails the connection with 1011 instead. Cancelled, it drops the
        TCP connection at once, as :meth:`trio.abc.AsyncResource.aclose` must.

        Args:
            code: Close code.
            reason: Close reason, at most 123 bytes once encoded.
        """
        self._start_closing(code, reason)
        try:
            await self.stream_closed.wait()
        except trio.Cancelled:
            self.abort()
            raise

    def _start_closing(self, code: CloseCode | int, reason: str) -> None:
        protocol = self.protocol
        if protocol.state is OPEN:
            if self.fragmented_send is not None:
                protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
            else:
                protocol.send_close(code, reason)
            self._send_data()

    def abort(self) -> None:
        """Drop the TCP connection now, without a closing handshake."""
        self.reader_scope.cancel()
        self.writer_scope.cancel()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed; ``close_code`` is then set."""
        await self.stream_closed.wait()

    async def ping(
        self, data: Data | BytesLike | None = None, *, ack_on_close: bool = False
    ) -> trio.Event:
        """Send a ping.

        Args:
            data: Payload; a random 4-byte payload when :obj:`None`.
            ack_on_close: Set the event when the connection closes too, so
                that waiting for it never hangs; check that the connection is
                still open to tell a pong from a closure.

        Returns:
            An event set when the matching pong arrives; ``latency`` is then
            its round-trip time.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ConcurrencyError: A ping with the same payload awaits its pong.
        """
        payload = self.pings.payload(data)
        if self.protocol.state is not OPEN:
            raise await self._closed()
        pong_received = trio.Event()
        self.pings.add(payload, (pong_received, ack_on_close), trio.current_time())
        self.protocol.send_ping(payload)
        self._send_data()
        await trio.lowlevel.checkpoint()
        return pong_received

    async def pong(self, data: Data | BytesLike = b"") -> None:
        """Send an unsolicited pong, as a unidirectional heartbeat.

        Raises:
            ConnectionClosed: The connection is closed or closing.
        """
        if self.protocol.state is not OPEN:
            raise await self._closed()
        self.protocol.send_pong(data.encode() if isinstance(data, str) else data)
        self._send_data()
        await trio.lowlevel.checkpoint()

    # Keepalive.

    def start_keepalive(self) -> None:
        """Start sending keepalive pings, if ``ping_interval`` is set."""
        if self.ping_interval is not None:
            self.nursery.start_soon(self._keepalive, self.ping_interval)

    async def _keepalive(self, interval: float) -> None:
        with self.keepalive_scope:
            while True:
                await trio.sleep(interval)
                try:
                    pong_received = await self.ping(ack_on_close=True)
                except ConnectionClosed:
                    return
                if self.ping_timeout is None:
                    continue
                with trio.move_on_after(self.ping_timeout):
                    await pong_received.wait()
                    continue
                # While reading is paused, the pong may be waiting unread:
                # the application is slow, not the peer. Wait some more.
                if self.recv_messages.queue.paused:
                    continue
                if self.protocol.state is OPEN:
                    self.logger.info("keepalive ping timeout: failing the connection")
                    self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                    self._send_data()
                return

    # Writing.

    def _write(self, chunks: list[bytes]) -> None:
        """Queue bytes for the writer."""
        self.outgoing += chunks
        self.outgoing_size += sum(map(len, chunks))
        write_wanted = self.write_wanted
        if write_wanted is not None:
            self.write_wanted = None
            write_wanted.set()

    def _send_data(self) -> None:
        """Queue what the core has to send; start the close timer when due."""
        protocol = self.protocol
        self._write(protocol.data_to_send())
        if not self.close_timer_started and protocol.close_expected():
            self.close_timer_started = True
            if self.close_timeout is not None:
                deadline = trio.current_time() + self.close_timeout
                self.reader_scope.deadline = deadline
                self.writer_scope.deadline = deadline
        if protocol.eof_sent:
            self.handshake_done.set()

    async def _writer(self) -> None:
        """Write what is queued until the connection ends."""
        with self.writer_scope:
            try:
                await self._write_outgoing()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                # The reader learns it too and ends the connection.
                if self.recv_exc is None:
                    self.recv_exc = exc
                self.reader_scope.cancel()

    async def _write_outgoing(self) -> None:
        stream = self.stream
        while True:
            while not self.outgoing:
                self.write_wanted = trio.Event()
                await self.write_wanted.wait()
            chunks, self.outgoing = self.outgoing, []
            for chunk in _coalesce(chunks):
                if chunk is SEND_EOF or not chunk:
                    await self._send_eof()
                    return
                await stream.send_all(chunk)
                self.outgoing_size -= len(chunk)
                drained = self.drained
                if drained is not None and self.outgoing_size <= self.write_limit[1]:
                    self.drained = None
                    drained.set()

    async def _send_eof(self) -> None:
        """Half-close the stream, or close it after a clean closing handshake or with TLS."""
        stream = self.stream
        if isinstance(stream, trio.abc.HalfCloseableStream) and not self.protocol.eof_closes:
            await stream.send_eof()
        else:
            await stream.aclose()

    async def _drain(self) -> None:
        """Wait until no more than the low mark of ``write_limit`` bytes are queued."""
        while self.outgoing_size > self.write_limit[1] and not self.stream_closed.is_set():
            if self.drained is None:
                self.drained = trio.Event()
            await self.drained.wait()
        if self.protocol.state is CLOSED:
            raise await self._closed()

    async def _closed(self) -> ConnectionClosed:
        """Wait for the TCP connection to end; return the exception that tells how."""
        await self.stream_closed.wait()
        exc = self.protocol.close_exc
        if exc.__cause__ is None:
            exc.__cause__ = self.recv_exc
        return exc

    # Reading.

    async def _reader(self) -> None:
        """Read until the connection ends, then tear it down."""
        try:
            with self.reader_scope:
                await self._read_incoming()
            timed_out = trio.current_time() >= self.reader_scope.deadline
            if self.reader_scope.cancelled_caught and timed_out:
                self.logger.info("timed out waiting for the peer to close the TCP connection")
        except (trio.BrokenResourceError, OSError) as exc:
            if self.recv_exc is None:
                self.recv_exc = exc
        except trio.ClosedResourceError:
            pass  # closed after writing EOF (see _send_eof): the connection ends here
        finally:
            self._connection_lost()
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self.stream)
            self.stream_closed.set()

    async def _read_incoming(self) -> None:
        stream = self.stream
        protocol = self.protocol
        recv_messages = self.recv_messages
        while True:
            while recv_messages.queue.paused or self.holding_request:
                self.reading_resumed = trio.Event()
                await self.reading_resumed.wait()
            data = await stream.receive_some(READ_SIZE)
            if not data:
                protocol.receive_eof()
                self._process_events()
                recv_messages.wake()
                return
            protocol.receive_data(data)
            self._handle_received()
            # The core's answers count against write_limit: wait for the peer
            # to read them before reading more (see the module's docstring).
            if self.outgoing_size > self.write_limit[0]:
                await self._drain_answers()

    async def _drain_answers(self) -> None:
        while self.outgoing_size > self.write_limit[1]:
            if self.drained is None:
                self.drained = trio.Event()
            await self.drained.wait()

    def _handle_received(self) -> None:
        """Handle what the core received, queue what it answers, wake the reader."""
        self._process_events()
        self._send_data()
        self.recv_messages.wake()

    def _pause_reading(self) -> None:
        pass  # the reader checks the queue before each read

    def _resume_reading(self) -> None:
        reading_resumed = self.reading_resumed
        if reading_resumed is not None:
            self.reading_resumed = None
            reading_resumed.set()

    def _connection_lost(self) -> None:
        """Tear down once the stream ended: settle everything that waits."""
        protocol = self.protocol
        protocol.receive_eof()
        protocol.data_to_send()  # too late to write anything
        self.writer_scope.cancel()
        self.keepalive_scope.cancel()
        self.outgoing = []
        self.outgoing_size = 0
        self.recv_messages.close()
        self.recv_messages.wake()
        for event, ack_on_close in self.pings.clear():
            if ack_on_close:
                event.set()
        if self.drained is not None:
            self.drained.set()
        self.handshake_done.set()
        self.recv_messages.let_go()

    # Events from the core.

    def process_event(self, event: Event) -> None:
        """Handle a handshake message or a control frame from the core."""
        if not isinstance(event, Frame):
            self.handshake_done.set()
        elif event.opcode is PONG:
            now = trio.current_time()
            for (event_set, _), _latency in self.pings.acknowledge(bytes(event.data), now):
                event_set.set()


def _coalesce(chunks: list[bytes]) -> list[bytes]:
    """Join short chunks into writes of up to JOIN_WRITES_SIZE; keep long ones apart."""
    if len(chunks) == 1:
        return chunks
    writes: list[bytes] = []
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        if chunk and len(chunk) < JOIN_WRITES_SIZE and size + len(chunk) <= JOIN_WRITES_SIZE:
            pending.append(chunk)
            size += len(chunk)
            continue
        if pending:
            writes.append(b"".join(pending))
            pending, size = [], 0
        if chunk and len(chunk) < JOIN_WRITES_SIZE:
            pending.append(chunk)
            size = len(chunk)
        else:
            writes.append(chunk)
    if pending:
        writes.append(b"".join(pending))
    return writes
