"""Reading in the thread that calls recv(): the reader lends it the socket.

Without it, each message wakes two threads on each side: the reader, which
reads it, and the thread in recv(), which the reader hands it to. Instead,
a thread in recv() that finds no message waiting reads the socket itself,
as the reader would (``Connection._read_socket()``), while the reader leaves
the socket alone: one thread wakes per message.

Who reads is decided by ``read_token``, which the reader and a thread in
recv() take without waiting, so that only one reads at a time and the bytes
reach the core in order. The reader waits for data with epoll (its own, or
a server's shared one), from which a thread in recv() removes the socket,
and to which it adds it back, from another thread without waking it. A
lease keeps the socket lent ``LEASE`` seconds after the last read in recv(),
so that a thread calling recv() again and again does neither, nor has the
reader wake for a message that arrives between two calls: when the lease
runs out, the reader takes the socket back (a timer), so that pings are
answered and a close is seen while no thread calls recv(). A client's
thread that waits in recv() keeps the socket, and answers pings itself; a
server's gives it back after ``LEASE`` seconds, for its one reader to watch
idle connections.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from .messages import Assembler

__all__ = ["LEASE", "LENDING", "Lending"]

# Whether a thread in recv() may read the socket itself: the reader must stop
# and start watching the socket from another thread without being woken,
# which epoll allows. Not with TLS, whose decrypted bytes epoll can't see.
LENDING = hasattr(select, "epoll")

# Seconds a lease lasts after a read in recv(): about how late a ping is
# answered, or a close seen, once no thread calls recv().
LEASE = 0.02


class Lending:
    """Lending for :class:`~wskit.sync.connection.Connection`, which sets the attributes."""

    socket: socket.socket
    logger: logging.LoggerAdapter[logging.Logger] | logging.Logger
    recv_messages: Assembler
    recv_exc: BaseException | None
    wait_readable: Callable[[float | None], bool]
    # Held by the thread that reads the socket and feeds the core.
    read_token: threading.Lock
    # Set, holding read_token, once a read found the end of the stream or
    # failed: the reader ends the connection, no thread in recv() reads.
    read_ended: bool
    _reading_paused: Callable[[], bool]
    _read_socket: Callable[[], bool]
    _abort: Callable[[], None]
    # Makes the reader run the timers of the connection: a lease started.
    _check_timers: Callable[[], None]

    idle_threads_give_back = False
    """Whether a thread in recv() gives the socket back after ``LEASE`` seconds without data.

    A server's: its handlers then wait for its one reader, so that when
    thousands of idle clients leave at once, their threads don't all wake
    together (see :mod:`wskit.sync.reader`).
    """

    def _init_lending(self) -> None:
        # Whether the socket is lent to threads in recv(), and until when,
        # unless they call again; guarded by read_token (and by a server
        # reader's lock, see Reader.lend()).
        self.lent = False
        self.lease_ends = 0.0
        self.lease_untimed = False
        # A client's reader waits with watcher (a server's, with the server
        # reader's selector); wake_fd wakes it, and is closed at the end.
        self.watcher: select.epoll | None = None
        self.wake_fd = -1
        self.wake_lock = threading.Lock()

    def _start_watching(self) -> None:
        """Set up a client's reader thread to wait with epoll, and recv() to read."""
        if not self._can_lend():
            return
        self.watcher = select.epoll()
        self.watcher.register(self.socket.fileno(), select.EPOLLIN)
        self.wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.watcher.register(self.wake_fd, select.EPOLLIN)
        self.recv_messages.read = self._read_in_recv

    def _stop_watching(self) -> None:
        """Close what _start_watching() opened; hold read_token, at the end."""
        if self.watcher is not None:
            self.watcher.close()
            with self.wake_lock:
                os.close(self.wake_fd)
                self.wake_fd = -1

    def _wake_watcher(self) -> None:
        """Wake a client's reader thread from its wait, to run its timers."""
        with self.wake_lock:  # closed at the end, and the number reused
            if self.wake_fd >= 0:
                os.eventfd_write(self.wake_fd, 1)

    def _read_in_recv(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for data and process it, in a thread in recv().

        The thread that waits for a message reads the socket itself rather
        than wait for the reader thread to read it and wake it: one thread
        wakes per message instead of two. The reader lends it the socket
        (``_lend()``): it stops watching it, without being woken. The lease
        outlasts the call by ``LEASE`` seconds, for the next recv() to find
        the socket still lent, which saves two system calls per message and
        the reader waking for a message that arrives between two calls. When
        the lease runs out, the reader takes the socket back and reads it,
        so that pings are answered and a close is seen when no thread is in
        recv(); while a thread waits in recv(), it answers them itself (or,
        with ``idle_threads_give_back``, gives the socket back after
        ``LEASE`` seconds without data).

        Return :obj:`False`, having done nothing or given the socket back,
        when the reader is reading (it delivers what it reads), when reading
        is paused, when the connection ends, or when the thread gave the
        socket back: then the caller waits for the reader.
        """
        if not self.read_token.acquire(False):  # not blocking; see _send_whole()
            return False
        try:
            if self.read_ended or self._reading_paused():
                return False
            if not self.lent:
                if not self._lend():
                    return False
                # The reader times the lease once this thread leaves (see below).
                self.lease_untimed = True
            idle = self.idle_threads_give_back and (timeout is None or timeout > LEASE)
            if self.wait_readable(LEASE if idle else timeout):
                try:
                    if not self._read_socket():
                        self._read_failed(None)
                except Exception as exc:
                    self._read_failed(exc)
            elif idle:
                self._give_back()
                return False
            # Else the caller times out, and may well call again.
            self.lease_ends = time.monotonic() + LEASE
            return True
        finally:
            self.read_token.release()
            # After the release: see _take_back().
            if self.lease_untimed:
                self.lease_untimed = False
                self._check_timers()

    def _read_failed(self, exc: Exception | None) -> None:
        """Give the socket back after a read in recv() found the end or failed.

        The reader reads the end again, and ends the connection.
        """
        if exc is not None:
            if not isinstance(exc, OSError):  # a bug in wskit
                self.logger.error("unexpected error while reading", exc_info=True)
            self.recv_exc = exc
            # The reader reads the end of the stream (TCP's end comes again).
            self._abort()
        self.read_ended = True
        self._give_back()

    def _take_back(self, now: float) -> float | None:
        """Watch the socket again when the lease ends; return when to check again.

        While a thread waits in recv(), which may last, the reader doesn't
        check again and again: it sets ``lease_untimed``, and the thread
        has the timers run when it leaves. Set before trying the token, so
        that a thread releasing it meanwhile sees it.
        """
        if now < self.lease_ends:
            return self.lease_ends
        self.lease_untimed = True
        if not self.read_token.acquire(blocking=False):
            return None
        self.lease_untimed = False
        try:
            if self.lent and now < self.lease_ends:  # renewed meanwhile
                return self.lease_ends
            if self.lent:
                self._give_back()
        finally:
            self.read_token.release()
        return None

    def _can_lend(self) -> bool:
        """Whether a thread in recv() may read the socket itself."""
        return LENDING and not isinstance(self.socket, ssl.SSLSocket)

    def _lend(self) -> bool:
        """Stop watching the socket, for a thread in recv() to read it; hold read_token.

        Return :obj:`False` if the socket isn't watched.
        """
        assert self.watcher is not None  # set whenever _read_in_recv() runs
        self.watcher.unregister(self.socket.fileno())
        self.lent = True
        return True

    def _give_back(self) -> None:
        """Watch the socket again after _lend(); hold read_token."""
        assert self.watcher is not None
        self.watcher.register(self.socket.fileno(), select.EPOLLIN)
        self.lent = False

    def _wait_watched(self, timeout: float | None) -> bool:
        """Wait until the socket is readable, unless it is lent, or a timer changed."""
        if self.watcher is None:
            return self.wait_readable(timeout)
        ready = False
        for fd, _ in self.watcher.poll(timeout):
            if fd == self.wake_fd:
                os.eventfd_read(self.wake_fd)
            else:
                ready = True
        return ready
