"""A WebSocket connection on asyncio: what the client and the server share.

The connection is an :class:`asyncio.Protocol`: the event loop hands it bytes
as they arrive, it feeds them to the Sans-I/O core and writes what the core
answers. Applications use the coroutines: :meth:`Connection.recv`,
:meth:`Connection.send`, :meth:`Connection.ping`, :meth:`Connection.close`.

Flow control works both ways. When more than ``max_queue`` frames wait for
``recv()``, the connection stops reading from the socket, and TCP pushes
back on the peer. When more than ``write_limit`` bytes wait to be written,
``send()`` waits until the peer reads them. What the core answers by itself
(pongs, close frames) counts too: when it adds ``write_limit`` bytes more,
the connection stops reading until the peer reads them, so a peer that sends
pings and never reads the pongs can't grow the buffer without bound.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import sys
import threading
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from types import TracebackType
from typing import Any, cast

from ..exceptions import ConnectionClosed
from ..frames import PONG, CloseCode, Frame
from ..protocol import CLOSED, OPEN, SEND_EOF, Event, Protocol
from ..shared.async_api import AsyncConnectionAPI, to_async
from ..shared.connection_attributes import ConnectionAttributes
from ..shared.messages import MESSAGE_TYPES, encode, queue_limits
from ..speedups import MessageIterator, ReadPath, write_message
from ..stats import ConnectionStats, queued_bytes
from ..typing import BytesLike, Data
from .long_payloads import WHOLE_PAYLOAD_MISSING, LongPayloads
from .messages import Assembler, MessageLoop
from .timers import Deadline, call_later

__all__ = ["Connection"]


# Reads land in one buffer per thread, shared by every connection: the event
# loop hands it to a connection and takes it back within one callback, and the
# core copies what it keeps. A fresh buffer per read (what data_received gets)
# costs an allocation of this size on every read; one per connection costs
# this size of memory per idle connection. The core copies a long frame's
# payload out of this buffer only as far as the read that brought its header
# went; the rest is read straight into the payload (see get_buffer). So this
# is small: 64 KiB and the 14 bytes of a long frame's header, which bring
# 1/16 of a 1 MiB payload, twice what the core needs to take it in place. A 1 MiB
# buffer copied the whole of a 256 KiB message, and most of a 1 MiB one
# (see ARCHITECTURE.md, Performance devices).
READ_BUFFER_SIZE = 2**16 + 14
# A burst of small messages is written in pieces of about this size, or of
# the write limit if it's lower (see _write_frame).
BURST_WRITE_SIZE = 2**16
_read_buffers = threading.local()


def gathers_writes(transport: asyncio.WriteTransport) -> bool:
    """Whether ``transport.writelines()`` writes its buffers in one system
    call, with flow control, so that a long payload can follow its header
    without being joined to it (a copy).
    """
    if type(transport).writelines is asyncio.WriteTransport.writelines:
        return False  # Python 3.11's: it joins them.
    # CPython's own socket transport didn't pause its protocol after
    # writelines() before 3.12.9 and 3.13.2 (gh-127655): a send over the
    # write limit never waited, and a peer that didn't read made the buffer
    # grow without bound.
    return type(transport).__module__ != "asyncio.selector_events" or sys.version_info >= (
        (3, 13, 2) if sys.version_info >= (3, 13) else (3, 12, 9)
    )


def _release(waiter: asyncio.Future[None], lost: asyncio.Future[None]) -> None:
    """Resolve ``waiter`` once the connection is lost, unless its wait was cancelled."""
    if not waiter.done():
        waiter.set_result(None)


def _read_buffer() -> memoryview:
    """Return the read buffer of the current thread.

    A connection takes it when it is created, in the thread of its event loop.
    """
    try:
        buffer: memoryview = _read_buffers.buffer
    except AttributeError:
        buffer = _read_buffers.buffer = memoryview(bytearray(READ_BUFFER_SIZE))
    return buffer


class Connection(
    ReadPath,
    AsyncConnectionAPI,
    LongPayloads,
    asyncio.BufferedProtocol,
    ConnectionAttributes[asyncio.Future[float]],
):
    """The asyncio implementation of a WebSocket connection.

    :class:`~wskit.asyncio.server.ServerConnection` and
    :class:`~wskit.asyncio.client.ClientConnection` build on it; applications
    don't create it directly.

    Args:
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
            ``(high, low)`` pair of water marks. Pongs and close frames that
            add as much again stop reading until the buffer drains.
    """

    # Settings and the closing handshake's state: out of the instance dict
    # (see ConnectionAttributes). So is what C reads and writes in place
    # rather than by name: ReadPath on every read (see _speedups_read.c),
    # write_message() on every send() (protocol, transport, loop, the burst's
    # state, writing_paused...: see _speedups_send.c).
    __slots__ = (
        "answers_size",
        "burst",
        "burst_limit",
        "burst_size",
        "close_timeout",
        "close_timer",
        "connection_lost_waiter",
        "fragmented_send_waiter",
        "handshake_waiter",
        "keepalive_task",
        "keepalive_timer",
        "loop",
        "payload_socket_sought",
        "ping_interval",
        "ping_timeout",
        "protocol",
        "read_buffer",
        "read_low_water",
        "recv_exc",
        "recv_messages",
        "sent_since_read",
        "socket_fd",
        "transport",
        "whole_payload_socket",
        "write_limit",
        "writing_paused",
    )

    def __init__(
        self,
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
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        if isinstance(write_limit, int):
            write_limit = (write_limit, None)
        self.write_limit = write_limit
        self.loop = asyncio.get_running_loop()

        self.recv_messages = Assembler(
            *queue_limits(max_queue),
            pause=self._pause_reading,
            resume=self._resume_reading,
            fail=self._release_failure,
        )
        self.keepalive_task: asyncio.Task[None] | None = None
        self.keepalive_timer: asyncio.TimerHandle | Deadline | None = None

        # Set while a fragmented message is being sent; other senders wait.
        self.fragmented_send_waiter: asyncio.Future[None] | None = None
        # Resolved when the peer's half of the opening handshake arrives or
        # when the handshake cannot complete.
        # None once the handshake awaited it: kept, it would be one more
        # object per open connection for the garbage collector to walk.
        self.handshake_waiter: asyncio.Future[None] | None = self.loop.create_future()
        self.writing_paused = False
        # Frames of a burst of send() calls, gathered to be written at once.
        self.burst: list[bytes] | None = None
        self.burst_size = 0
        self.burst_limit = min(BURST_WRITE_SIZE, write_limit[0])
        self.sent_since_read = False
        # A list only while writes wait (see handshake_waiter).
        self.drain_waiters: list[asyncio.Future[None]] | tuple[()] = ()
        # Bytes the core answered with while the write buffer was over its
        # high-water mark; past it, reading waits (see _send_answers).
        self.answers_size = 0
        self.close_timer: asyncio.TimerHandle | Deadline | None = None
        self.connection_lost_waiter: asyncio.Future[None] = self.loop.create_future()
        self.recv_exc: BaseException | None = None
        self.transport: asyncio.Transport
        self.read_buffer = _read_buffer()

    # Public API: attributes.

    @property
    def stats(self) -> ConnectionStats:
        """Counts of messages, frames and bytes, latency and buffers, read now.

        Reading it costs; sending and receiving don't pay for it.
        """
        # The frames of a burst wait for the loop's next pass (_write_frame).
        outgoing = self.transport.get_write_buffer_size()
        if self.burst is not None:
            outgoing += self.burst_size
        return ConnectionStats(
            self.protocol,
            latency=self.latency,
            buffered_incoming=queued_bytes(self.recv_messages.queue.frames),
            buffered_outgoing=outgoing,
        )

    @property
    def local_address(self) -> Any:
        """Local address of the connection, as the socket reports it."""
        return self.transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the connection, as the socket reports it."""
        return self.transport.get_extra_info("peername")

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
            await self.close()
        else:
            await self.close(CloseCode.INTERNAL_ERROR)

    def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over messages until the connection closes.

        The loop ends quietly after a normal closure; it raises
        :exc:`~wskit.exceptions.ConnectionClosedError` after an error.
        """
        # No coroutine per message: each step takes a message that waits, or
        # waits for one, and hands anything else to MessageLoop.
        return MessageIterator(self.recv_messages, MessageLoop(self))

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

        When the peer reads slower than the application writes, ``send()``
        waits until fewer than ``write_limit`` bytes are buffered.

        On a connection that negotiated compression, every message is
        compressed; ``compress=False`` sends this one as it is (data that
        doesn't compress, or that must not share a compressor with secrets).

        Raises:
            ConnectionClosed: The connection is closed or closing.
            TypeError: The message is of an unsupported type.
        """
        # Most messages: one call checks, builds and writes the frame, as
        # Protocol.send_message() and _write_frame() would; it declines the rest.
        written = write_message(self, message, text, compress)
        if written:
            return
        if written is not None:  # written, and writing is paused
            await self._drain()
            return
        if isinstance(message, MESSAGE_TYPES):
            is_text, data = encode(message, text)
            if self.fragmented_send_waiter is not None:
                await self._wait_for_fragmented_send()
            protocol = self.protocol
            if protocol.state is not OPEN:
                raise await self._closed()
            # Method calls rather than a bound method picked by a conditional
            # expression: Python specializes those, not that.
            if is_text:
                protocol.send_text(data, True, compress)
            else:
                protocol.send_binary(data, True, compress)
            # A data frame sent while OPEN changes nothing that _send_data()
            # watches besides the bytes: no close timer or EOF to handle.
            writes = protocol.data_to_send()
            if len(writes) == 1:
                self._write_frame(writes[0])
            else:  # a server's long payload, after its header
                self._write_long_payload(*writes)
            if self.writing_paused:
                await self._drain()
        elif isinstance(message, Mapping):
            raise TypeError("message must be str, bytes-like or an iterable of them, not a mapping")
        elif isinstance(message, AsyncIterable):
            await self._send_fragments(aiter(message), text, compress)
        elif isinstance(message, Iterable):
            await self._send_fragments(to_async(message), text, compress)
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")

    async def _write_and_drain(self) -> None:
        self._send_data()
        if self.writing_paused:
            await self._drain()
        if self.protocol.state is not OPEN:
            raise await self._closed()

    async def _wait_for_fragmented_send(self) -> None:
        while self.fragmented_send_waiter is not None:
            await asyncio.shield(self.fragmented_send_waiter)

    def _begin_fragmented_send(self) -> None:
        self.fragmented_send_waiter = self.loop.create_future()

    def _end_fragmented_send(self) -> None:
        if self.fragmented_send_waiter is not None:
            self.fragmented_send_waiter.set_result(None)
            self.fragmented_send_waiter = None

    async def close(
        self, code: CloseCode | int = CloseCode.NORMAL_CLOSURE, reason: str = ""
    ) -> None:
        """Perform the closing handshake and wait until the TCP connection is closed.

        Idempotent. If the peer doesn't answer within ``close_timeout``, the
        TCP connection is dropped. Closing while a fragmented message is being
        sent fails the connection with 1011 instead, since the message can't
        be completed.

        Args:
            code: Close code.
            reason: Close reason, at most 123 bytes once encoded.
        """
        protocol = self.protocol
        if protocol.state is OPEN:
            if self.fragmented_send_waiter is not None:
                protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
            else:
                protocol.send_close(code, reason)
            self._send_data()
        # Awaiting a future that is done never suspends: no waiter of its own then.
        if not self.connection_lost_waiter.done():
            await self._lost_waiter()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed; ``close_code`` is then set."""
        if not self.connection_lost_waiter.done():  # as in close()
            await self._lost_waiter()

    async def ping(self, data: Data | BytesLike | None = None) -> Awaitable[float]:
        """Send a ping.

        Args:
            data: Payload; a random 4-byte payload when :obj:`None`.

        Returns:
            An awaitable that resolves to the round-trip time in seconds when
            the matching pong arrives. Awaiting it raises
            :exc:`~wskit.exceptions.ConnectionClosed` if the connection
            closes first.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ConcurrencyError: A ping with the same payload awaits its pong.
        """
        payload = self.pings.payload(data)
        if self.protocol.state is not OPEN:
            raise await self._closed()
        pong_waiter: asyncio.Future[float] = self.loop.create_future()
        # Not loop.time(): uvloop's clock ticks in milliseconds, coarser than a round trip.
        self.pings.add(payload, pong_waiter, time.monotonic())
        self.protocol.send_ping(payload)
        self._send_data()
        return pong_waiter

    async def pong(self, data: Data | BytesLike = b"") -> None:
        """Send an unsolicited pong, as a unidirectional heartbeat.

        Raises:
            ConnectionClosed: The connection is closed or closing.
        """
        if self.protocol.state is not OPEN:
            raise await self._closed()
        self.protocol.send_pong(data.encode() if isinstance(data, str) else data)
        self._send_data()

    # Keepalive.

    def start_keepalive(self) -> None:
        """Start sending keepalive pings, if ``ping_interval`` is set.

        The task that sends them starts when the first ping is due: until
        then, a timer costs less, and many connections end before.
        """
        if self.ping_interval is not None:
            self.keepalive_timer = self._call_later(self.ping_interval, self._start_keepalive)

    def _start_keepalive(self) -> None:
        self.keepalive_timer = None
        self.keepalive_task = self.loop.create_task(
            self._keepalive(cast(float, self.ping_interval))
        )

    async def _keepalive(self, interval: float) -> None:
        # connection_lost() cancels this task before it fails pending pings,
        # so ConnectionClosed never reaches here: the task ends cancelled.
        while True:
            pong_waiter = await self.ping()
            if self.ping_timeout is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(pong_waiter), self.ping_timeout)
                except TimeoutError:
                    # While reading is paused, the pong may be waiting unread:
                    # the application is slow, not the peer. Wait some more.
                    if not self.recv_messages.queue.paused:
                        if self.protocol.state is OPEN:
                            self.logger.info("keepalive ping timeout: failing the connection")
                            self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                            self._send_data()
                        return
            await asyncio.sleep(interval)

    # Writing.

    def _write_frame(self, data: bytes) -> None:
        """Write a data frame; in a burst of messages, write them together.

        A frame sent when another went out and nothing was read since starts
        a burst: it waits, with those that follow, until the loop's next
        iteration or ``burst_limit`` bytes, and they go out in one system
        call instead of one each. A request and its response never
        wait: a read ends the burst.
        """
        burst = self.burst
        chunk: bytes | memoryview = data
        if len(data) < self.burst_limit:
            if burst is not None:
                burst.append(data)
                self.burst_size += len(data)
                if self.burst_size >= self.burst_limit:
                    self._write_burst()
                return
            # Else writing only appends to the transport's buffer: no system call.
            if self.sent_since_read and not self.transport.get_write_buffer_size():
                self.burst = [data]
                self.burst_size = len(data)
                self.loop.call_soon(self._write_burst)
                return
        else:
            # A long frame goes out after the burst, not joined to it: that
            # would copy it. asyncio's transport copies what the socket
            # doesn't take at once: from a view, rather than from a slice.
            self._write_burst()
            chunk = memoryview(data)
        self.transport.write(chunk)
        self.sent_since_read = True

    def _write_long_payload(self, header: bytes, payload: bytes) -> None:
        """Write a long payload after its header, neither joined nor copied.

        In one system call where the transport gathers buffers (see
        gathers_writes), or on the socket of asyncio's own transport
        (see _write_gathered): written apart, the header would leave in
        a packet of its own, and the peer would read it alone.
        """
        if self.gathers_writes:
            self._write_burst()
            self.transport.writelines((header, payload))
        elif not self._write_gathered(header, payload):
            self._write_frame(header)
            self._write_frame(payload)
        self.sent_since_read = True

    def _write_burst(self) -> None:
        """Write the frames gathered in a burst, if any."""
        burst = self.burst
        if burst is not None:
            self.burst = None
            self.transport.write(b"".join(burst))

    def _write(self, data: bytes) -> None:
        """Write bytes after the frames of a burst, which were sent before them."""
        self._write_burst()
        self.transport.write(data)

    def _send_data(self) -> None:
        """Write what the core has to send; start the close timer when due."""
        protocol = self.protocol
        ended = False
        for data in protocol.data_to_send():
            if data is not SEND_EOF and data:
                self._write(data)
            else:
                ended = self._send_eof()
        if self.close_timer is None and not ended and protocol.close_expected():
            self._start_close_timer()
        if protocol.eof_sent:
            self._handshake_over()

    def _send_eof(self) -> bool:
        """Half-close the connection, or close it where the core says so (see eof_closes).

        Return whether it ends at once, with nothing to flush: no close timer is due then.
        """
        self._write_burst()
        transport = self.transport
        if not transport.can_write_eof():  # TLS: close once the buffer is flushed
            transport.close()
            return False
        protocol = self.protocol
        # After the peer's EOF, closing sends the same FIN as half-closing
        # first: nothing more can come to be reset over (a client's usual
        # end, as the server closes first): one system call less.
        if not protocol.eof_closes and not protocol.eof_rcvd:
            transport.write_eof()
            return False
        transport.close()
        return not transport.get_write_buffer_size()

    def _send_answers(self) -> None:
        """Write what the core answered to a read, over the write buffer's high-water mark.

        Pongs and close frames count against ``write_limit`` as messages do
        in send(): once they add that many bytes to the buffer, reading
        stops until the buffer drains (see resume_writing). Else a peer that
        sends pings and never reads would grow the buffer without bound.
        """
        self._write_burst()  # frames of send(), not answers
        transport = self.transport
        before = transport.get_write_buffer_size()
        self._send_data()
        self.answers_size += transport.get_write_buffer_size() - before
        if self.answers_size > self.write_limit[0]:
            transport.pause_reading()

    def _start_close_timer(self) -> None:
        if self.close_timeout is not None:
            self.close_timer = self._call_later(self.close_timeout, self._close_timed_out)

    def _call_later(
        self, delay: float, callback: Callable[[], object]
    ) -> asyncio.TimerHandle | Deadline:
        """Start the keepalive or close timer.

        A client's, on the timers its loop's clients share (see call_later()).
        A server shares its own (see Timers).
        """
        return call_later(self.loop, delay, callback)

    def _close_timed_out(self) -> None:
        self.logger.info("timed out waiting for the peer to close the TCP connection")
        self.transport.abort()

    async def _drain(self) -> None:
        while self.writing_paused and self.protocol.state is not CLOSED:
            waiter = self.loop.create_future()
            waiters = self.drain_waiters
            if not isinstance(waiters, list):
                waiters = self.drain_waiters = []
            waiters.append(waiter)
            await waiter
        if self.protocol.state is CLOSED:
            raise await self._closed()

    async def _closed(self) -> ConnectionClosed:
        """Wait for the TCP connection to end; return the exception that tells how."""
        if not self.connection_lost_waiter.done():  # as in close()
            await self._lost_waiter()
        exc = self.protocol.close_exc
        if exc.__cause__ is None:
            exc.__cause__ = self.recv_exc
        return exc

    def _lost_waiter(self) -> asyncio.Future[None]:
        """A future of one wait that connection_lost() resolves.

        Cancelling the wait cancels it, not ``connection_lost_waiter``, as
        with ``shield(connection_lost_waiter)``, for less: a future and a
        callback rather than shield()'s future, two callbacks and checks.
        """
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.connection_lost_waiter.add_done_callback(functools.partial(_release, waiter))
        return waiter

    def _handshake_over(self) -> None:
        waiter = self.handshake_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Events from the core.

    def process_event(self, event: Event) -> None:
        """Handle a handshake message or a control frame from the core."""
        if not isinstance(event, Frame):
            self._handshake_over()
        elif event.opcode is PONG:
            for waiter, latency in self.pings.acknowledge(bytes(event.data), time.monotonic()):
                if not waiter.done():
                    waiter.set_result(latency)

    # asyncio.Protocol callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Called by asyncio when the TCP (or TLS) connection is established."""
        transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(*self.write_limit)
        self.transport = transport
        self.gathers_writes = gathers_writes(transport)
        self.payload_socket_sought = False  # see _seek_payload_socket()
        self.whole_payload_socket: socket.socket | None = None
        self.socket_fd: int | None = None
        self.read_low_water = 1

    # get_buffer() and buffer_updated(), which asyncio calls on every read,
    # are ReadPath's (see wskit.speedups): a read of whole messages goes to
    # the queue (see Protocol.receive_messages) and resumes the reader without
    # a Python frame in C; the rest comes here. Transports call
    # buffer_updated() right after reading, before anything else reaches the
    # core: it knows which buffer get_buffer() returned the same way.

    def _receive_rest(self, nbytes: int, taken: int) -> None:
        """Receive what buffer_updated() leaves of a read: all but the first ``taken`` bytes."""
        protocol = self.protocol
        if protocol.incoming_payload is None:
            protocol.receive_data(self.read_buffer[taken:nbytes])
            if nbytes == READ_BUFFER_SIZE:
                self._read_rest_now()
        else:  # read into the payload's window (see get_buffer)
            protocol.receive_into(nbytes)
            # Still incomplete, so neither whole nor failed (failing drops it):
            # no event, nothing to write, no reader to wake.
            if protocol.incoming_payload is not None:
                self._wait_for_payload()
                return
        if protocol.incoming_payload is not None or self.read_low_water != 1:
            self._wait_for_payload()
        self._handle_received()

    def _payload_started(self, nbytes: int) -> None:
        """Follow a read that the core's receive_messages() took whole, the
        start of a long binary payload last (see ReadPath): no event, nothing
        to write, no failure; the messages before it are queued.
        """
        if nbytes == READ_BUFFER_SIZE:
            self._read_rest_now()  # its end goes to the queue (receive_payload_end)
        payload = self.protocol.incoming_payload
        # A mark is set only for a payload that misses that much.
        if self.read_low_water != 1 or (
            payload is not None and payload.missing >= WHOLE_PAYLOAD_MISSING
        ):
            self._wait_for_payload()
        self.recv_messages.wake()

    def _handle_received(self) -> None:
        """Handle what the core received, write what it answers, wake the reader."""
        self._process_events()
        if self.writing_paused:
            self._send_answers()
        else:
            self._send_data()
        # Last, once all is handled: the reader may resume right here.
        self.recv_messages.wake()

    def eof_received(self) -> None:
        """Called by asyncio when the peer half-closes the TCP connection."""
        self.protocol.receive_eof()
        # Only an EOF to write, if any: receive_eof() queues no event, and every
        # read's events and frames were handled and handed over after it.
        self._send_data()
        # Returning None lets asyncio close the transport.

    def connection_lost(self, exc: Exception | None) -> None:
        """Called by asyncio when the TCP connection is closed."""
        self.protocol.receive_eof()
        self.protocol.data_to_send()  # too late to write anything
        self.burst = None
        self.recv_exc = exc
        self.recv_messages.close()
        if self.keepalive_timer is not None:
            self.keepalive_timer.cancel()
        if self.keepalive_task is not None:
            self.keepalive_task.cancel()
        # Most connections end with no ping pending: nothing to clear.
        if self.pings.pings:
            closed = self.protocol.close_exc
            for waiter in self.pings.clear():
                if not waiter.done():
                    waiter.set_exception(closed)
                    waiter.exception()  # nobody may await it: don't log "never retrieved"
        if self.close_timer is not None:
            self.close_timer.cancel()
        self._wake_drain_waiters()
        self._handshake_over()
        self.connection_lost_waiter.set_result(None)
        self.recv_messages.wake()
        self.recv_messages.let_go()

    def pause_writing(self) -> None:
        """Called by asyncio when the write buffer is over the high water mark."""
        self.writing_paused = True

    def resume_writing(self) -> None:
        """Called by asyncio when the write buffer drains below the low water mark."""
        self.writing_paused = False
        if self.answers_size > self.write_limit[0] and not self.recv_messages.queue.paused:
            self.transport.resume_reading()
        self.answers_size = 0
        self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.drain_waiters = ()

    def _pause_reading(self) -> None:
        self.transport.pause_reading()

    def _resume_reading(self) -> None:
        # Not while the peer's unread answers hold reading back (see _send_answers).
        if self.answers_size <= self.write_limit[0]:
            self.transport.resume_reading()
