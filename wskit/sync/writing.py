"""The write side of a threaded connection: a queue that any thread may drain.

Bytes to write go to ``outgoing``, under ``protocol_mutex``; whoever holds
``send_lock`` writes them, so that a thread waiting to write to a slow peer
doesn't stop the reader from reading (``send()`` of a whole plain message
skips the queue when it is empty and nobody writes: see
``Writer._send_whole()``). A writer that mustn't wait (the reader,
:func:`~wskit.sync.server.broadcast`) leaves what the full socket doesn't
take to a short-lived background thread.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from ..exceptions import ConcurrencyError, ConnectionClosed
from ..protocol import OPEN, Protocol
from .utils import Latch

__all__ = ["WOULD_BLOCK", "Writer"]

# What a non-blocking socket raises when it must wait: TLS may need to read
# before it can write, or the reverse.
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Writer:
    """Writing for :class:`~wskit.sync.connection.Connection`, which sets the attributes."""

    id: uuid.UUID
    protocol: Protocol
    socket: socket.socket
    protocol_mutex: threading.Lock
    send_lock: threading.Lock
    # TLS only: a plain socket takes a read and a write at once.
    io_lock: threading.Lock | None
    outgoing: list[bytes]
    write_limit: int
    flushing_in_background: bool
    writes_awaited: bool
    aborted: bool
    close_deadline: float | None
    close_timeout: float | None
    handshake_done: Latch
    # The thread sending a fragmented message, while it does.
    fragmented_sender: threading.Thread | None
    wait_writable: Callable[[float | None], bool]
    # Waits for the end of the connection; returns the exception that tells how.
    _closed: Callable[[], ConnectionClosed]
    # Taking the queue ends a pause for writes_awaited: tell the reader.
    _resume_reading: Callable[[], None]
    # A close deadline was set, or the connection dropped: the reader must
    # run the timers again, even while reading is paused.
    _check_timers: Callable[[], None]

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

    def _send_whole(self, message: object, text: bool | None, compress: bool | None) -> bool:
        """Send a whole message in one go if nothing is in the way; return whether it went.

        The common ``send()``: the core builds the frame and counts it
        (``Protocol.send_message()``, which declines what its general path
        must send), and this thread writes it at once, without the outgoing
        queue. Only while no other thread writes and nothing waits in the
        queue: the frame goes out after what the core queued before it, and
        bytes queued meanwhile by threads that found ``send_lock`` taken
        are written next, as ``_flush()`` writes them. Return :obj:`False`
        having done nothing: the general path sends the message, or raises.
        """
        # acquire(False): a keyword argument costs the call a dict and a lookup.
        if not self.send_lock.acquire(False):
            return False
        failed = False
        try:
            # Locks taken and released by name, here and in _read_socket():
            # `with` costs twice as much (it looks up and binds two methods).
            self.protocol_mutex.acquire()
            try:
                if self.outgoing or self.fragmented_sender is not None:
                    return False
                frame = self.protocol.send_message(message, text, compress)
            finally:
                self.protocol_mutex.release()
            if frame is None:
                return False
            try:
                if isinstance(frame, bytes):
                    io_lock = self.io_lock
                    if io_lock is not None:
                        io_lock.acquire()
                    try:
                        sent = self.socket.send(frame)
                    except WOULD_BLOCK:
                        sent = 0
                    finally:
                        if io_lock is not None:
                            io_lock.release()
                    if sent < len(frame):
                        # The rest, uncopied: _write() takes any bytes-like chunk.
                        self._write([cast(bytes, memoryview(frame)[sent:])], block=True)
                else:  # a server's long payload after its header
                    self._write(list(frame), block=True)
            except OSError:
                # The reader thread notices too, and ends the connection.
                self._abort()
                failed = True
        finally:
            self.send_lock.release()
        if failed:
            # The message is lost: don't return as if sent.
            raise self._closed()
        if self.outgoing:  # seen without the lock, as _flush() would look again
            self._flush()
        return True

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
            self._check_timers()

    def _over_write_limit(self) -> bool:
        """Whether more than ``write_limit`` bytes wait in the queue; hold protocol_mutex."""
        return sum(map(len, self.outgoing)) > self.write_limit

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
                        resume, self.writes_awaited = self.writes_awaited, False
                    if resume:
                        self._resume_reading()
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
                # After a clean closing handshake, reading ends too: the
                # reader meets the end at once rather than the peer's EOF.
                self._shutdown(socket.SHUT_RDWR if self.protocol.eof_closes else socket.SHUT_WR)
                continue
            view = memoryview(chunk)
            while view:
                try:
                    if self.io_lock is None:
                        sent = self.socket.send(view)
                    else:
                        with self.io_lock:
                            sent = self.socket.send(view)
                except WOULD_BLOCK:
                    if not block:
                        # TLS wants the same bytes again, which these are.
                        rest = chunk if len(view) == len(chunk) else bytes(view)
                        return [rest, *chunks[index + 1 :]]
                    self.wait_writable(None)
                    continue
                view = view[sent:]
        return []

    def _abort(self) -> None:
        """Drop the connection: shut the socket down and have the reader end it.

        Blocked reads and writes return at once, and the reader reads to the
        end of TCP, which comes soon. While reading is paused, it doesn't
        read the socket: it ends the connection at its next step instead.
        """
        self.aborted = True
        with contextlib.suppress(OSError):
            self._shutdown(socket.SHUT_RDWR)
        self._check_timers()

    def _shutdown(self, how: int) -> None:
        # The TCP socket's shutdown(): SSLSocket's own drops its TLS state,
        # after which reads would return raw TLS records.
        socket.socket.shutdown(self.socket, how)
