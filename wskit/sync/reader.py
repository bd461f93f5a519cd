"""One thread that reads from every connection of a server.

A reader thread per connection, each waiting in ``poll()``, costs a thread
stack and a thread state per idle connection, and when thousands of clients
leave at once, thousands of threads wake together and fight for the GIL: the
server's CPU grew with the square of their number and new clients waited for
seconds. Instead, a server's connections register with a :class:`Reader`:
one thread waits on all their sockets with a selector, runs the step a
client's reader thread runs (``Connection._receive()``) for each socket
that is readable, and runs their timers (keepalive, close timeout) from a
heap. Handlers still run in threads of their own; the reader wakes them one
at a time as it processes the connections.

The reader never blocks on a connection: every call it makes into one is
non-blocking (a write the socket can't take goes to a writer thread). It
runs while connections are registered and stops when the last one ends.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

from .connection import Connection

__all__ = ["Reader"]

logger = logging.getLogger("wskit.server")

# Ready sockets handled between two looks at newly added connections.
BATCH = 32


class Reader:
    """Reads from many connections in one thread.

    Args:
        name: Name of the thread.
    """

    def __init__(self, name: str = "wskit server reader") -> None:
        self.name = name
        self.lock = threading.Lock()
        # Work for the thread, from other threads; guarded by lock.
        self.calls: list[Callable[[], None]] = []
        self.thread: threading.Thread | None = None
        self.woken = False
        # Set up while the thread runs. Connections added while the thread is
        # busy with long lists of ready sockets go to newcomers, which it
        # checks every BATCH sockets, then join the others in selector.
        self.selector: selectors.BaseSelector
        self.newcomers: selectors.BaseSelector
        self.new_fds: set[int] = set()
        self.busy = False
        self.wake_read: socket.socket
        self.wake_write: socket.socket
        # The rest belongs to the thread. Connections by file descriptor,
        # those whose reading is paused included.
        self.connections: dict[int, Connection] = {}
        self.paused: set[int] = set()
        self.tls: set[int] = set()
        # Connections with bytes decrypted by TLS, which the selector can't see.
        self.ready: list[Connection] = []
        # A heap of (deadline, tie-breaker, cell): the cell holds the
        # connection, or None once the entry is stale, so that the heap keeps
        # no ended connection alive. self.scheduled has the live entries.
        self.timers: list[tuple[float, int, list[Connection | None]]] = []
        self.scheduled: dict[Connection, tuple[float, list[Connection | None]]] = {}
        self.counter = itertools.count()

    def add(self, connection: Connection) -> None:
        """Start reading from ``connection`` until it ends."""
        self._call(lambda: self._add(connection))

    def resume(self, connection: Connection) -> None:
        """Read again from ``connection``, whose reading was paused."""
        # Once it has ended, there's nothing to do: don't start the thread.
        if not connection.ended.is_set():
            self._call(lambda: self._resume(connection))

    def lend(self, connection: Connection) -> bool:
        """Stop watching the socket of ``connection``, which a thread in recv() reads.

        The thread holds the connection's ``read_token``. Return :obj:`False`
        if reading is paused, or if the connection isn't added yet or has
        ended.
        """
        fd = connection.socket.fileno()
        with self.lock:
            if self.connections.get(fd) is not connection:
                return False
            if fd not in self.paused:
                self._unwatch(fd)
            elif connection._reading_paused():
                return False
            else:  # the pause ended (after the handshake, say): _resume() will find it done
                self.paused.discard(fd)
            connection.lent = True
            return True

    def give_back(self, connection: Connection) -> None:
        """Watch the socket of ``connection`` again, after :meth:`lend`.

        Called from another thread: epoll sees the change at once, even while
        this thread waits for events. A read in recv() that paused reading
        leaves the socket unwatched, as _step() would.
        """
        fd = connection.socket.fileno()
        with self.lock:
            connection.lent = False
            if self.connections.get(fd) is not connection or fd in self.paused:
                return
            if connection._reading_paused():
                self.paused.add(fd)
            else:
                self._watch(fd, connection)

    def check(self, connection: Connection) -> None:
        """Run the timers of ``connection``, which another thread may have changed.

        A connection whose reading is paused is read from only once the
        application catches up: if its peer is gone meanwhile, what ends it
        is its close timeout, or a thread dropping it (``_abort()``).
        """
        if not connection.ended.is_set() and threading.current_thread() is not self.thread:
            self._call(lambda: self._check(connection))

    def _call(self, function: Callable[[], None]) -> None:
        """Have the thread call ``function``, starting the thread if needed."""
        with self.lock:
            self.calls.append(function)
            if self.thread is None:
                self.selector = selectors.DefaultSelector()
                self.newcomers = selectors.DefaultSelector()
                self.wake_read, self.wake_write = socket.socketpair()
                self.wake_read.setblocking(False)
                self.selector.register(self.wake_read, selectors.EVENT_READ)
                self.woken = False
                self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self.thread.start()
            elif not self.woken:  # else a wake-up is on its way already
                self.woken = True
                # Under the lock: the thread closes this socket when it stops.
                self.wake_write.send(b"\0")

    def _run(self) -> None:
        while True:
            try:
                while self._keep_running():
                    self._run_once()
                return
            except Exception:
                # A bug in the bookkeeping here (each connection's own step
                # catches its errors) would leave every connection unread and
                # every handler waiting forever: drop them all instead, and
                # start afresh for those that come next.
                logger.error("server reader failed; dropping its connections", exc_info=True)
                self._drop_all()

    def _drop_all(self) -> None:
        """End every connection, forget them, and make a new selector."""
        for connection in list(self.connections.values()):
            connection._step(_end_of_file)
        self.tls.clear()
        self.ready.clear()
        self.timers.clear()
        self.scheduled.clear()
        self.busy = False
        with self.lock:  # against lend() and give_back()
            self.connections.clear()
            self.paused.clear()
            self.new_fds.clear()
            for selector in (self.selector, self.newcomers):
                selector.close()
            self.selector = selectors.DefaultSelector()
            self.newcomers = selectors.DefaultSelector()
            self.selector.register(self.wake_read, selectors.EVENT_READ)

    def _keep_running(self) -> bool:
        """Run the work other threads gave; stop once no connection is left."""
        if not self.calls and self.connections:
            # Read without the lock, for speed: a call added meanwhile sends
            # a wake-up, which the next select() sees.
            return True
        self._run_calls()
        with self.lock:
            if self.calls or self.connections:
                return True
            self.thread = None
            self.timers.clear()
            for resource in (self.selector, self.newcomers, self.wake_read, self.wake_write):
                resource.close()
            return False

    def _run_calls(self) -> None:
        with self.lock:
            calls, self.calls = self.calls, []
        for call in calls:
            call()

    def _run_once(self) -> None:
        timeout = self._run_timers()
        if not self.connections:
            return  # a timer ended the last one: time to stop, maybe
        if self.ready or self.new_fds:
            timeout = 0.0
        events = self.selector.select(timeout)
        # Thousands of sockets may be ready at once (clients that all left):
        # connections opened meanwhile don't wait for them all.
        self.busy = len(events) > BATCH
        if not self.busy:
            for key, _ in events:  # the _dispatch() loop, inline: it's the hot path
                if key.data is None:
                    self._drain_wake_ups()
                else:
                    self._read(key.data, key.fd)
            self._join_newcomers()
        else:
            for index, (key, _) in enumerate(events, 1):
                self._dispatch(key)
                if index % BATCH == 0:
                    self._run_calls()
                    for new_key, _ in self.newcomers.select(0):
                        self._dispatch(new_key)
        if self.ready:
            ready, self.ready = self.ready, []
            for connection in ready:
                self._read(connection, connection.socket.fileno())

    def _join_newcomers(self) -> None:
        if not self.new_fds:
            return
        with self.lock:  # against lend(), which unwatches
            for fd in self.new_fds:
                self.newcomers.unregister(fd)
                self.selector.register(fd, selectors.EVENT_READ, self.connections[fd])
            self.new_fds.clear()

    def _dispatch(self, key: selectors.SelectorKey) -> None:
        if key.data is None:
            self._drain_wake_ups()
        else:
            self._read(key.data, key.fd)

    def _drain_wake_ups(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self.wake_read.recv(4096):
                pass
        # Only now: a byte sent before this point may have been drained, but
        # its call is queued already, and runs next.
        with self.lock:
            self.woken = False

    def _watch(self, fd: int, connection: Connection) -> None:
        """Read from ``fd`` when it is readable; hold the lock."""
        if self.busy:
            self.new_fds.add(fd)
            self.newcomers.register(fd, selectors.EVENT_READ, connection)
        else:
            self.selector.register(fd, selectors.EVENT_READ, connection)

    def _unwatch(self, fd: int) -> None:
        """Stop reading from ``fd``; hold the lock."""
        if fd in self.new_fds:
            self.new_fds.discard(fd)
            self.newcomers.unregister(fd)
        else:
            self.selector.unregister(fd)

    def _add(self, connection: Connection) -> None:
        fd = connection.socket.fileno()
        self.connections[fd] = connection
        if isinstance(connection.socket, ssl.SSLSocket):
            self.tls.add(fd)
        with self.lock:
            self._watch(fd, connection)
        self._step(connection, _nothing, fd)  # start its timers

    def _resume(self, connection: Connection) -> None:
        fd = connection.socket.fileno()
        if fd in self.paused and not connection._reading_paused():
            with self.lock:
                self.paused.discard(fd)
                if not connection.lent:
                    self._watch(fd, connection)
            if connection._pending():
                self.ready.append(connection)

    def _check(self, connection: Connection) -> None:
        if not connection.ended.is_set():
            self._step(connection, _nothing, connection.socket.fileno())

    def _read(self, connection: Connection, fd: int) -> None:
        if connection.ended.is_set() or fd in self.paused:
            return  # ended or paused since it was found ready
        self._step(connection, connection._receive, fd)

    def _step(self, connection: Connection, action: Callable[[], bool], fd: int) -> None:
        """Run ``action``, then the due timers of ``connection``; forget it if it ended."""
        deadline: float | None = None

        def step() -> bool:
            nonlocal deadline
            if not action():
                return False
            deadline = connection._run_timers(time.monotonic())
            return True

        if not connection._step(step):
            # The socket is closed: forget its file descriptor, which the
            # next connection may get, before anything else runs here.
            self.tls.discard(fd)
            self._unschedule(connection)
            with self.lock:
                del self.connections[fd]
                if fd in self.paused:
                    self.paused.discard(fd)
                elif not connection.lent:
                    self._unwatch(fd)
            return
        if deadline is not None:
            self._schedule(connection, deadline)
        if connection._reading_paused():
            # The application is behind, or the peer doesn't read the pongs:
            # leave the data in the socket, so that TCP slows the peer down,
            # until resume(). Timers go on meanwhile: check() and the heap
            # step a paused connection too, which stays paused.
            if fd not in self.paused:
                with self.lock:
                    self.paused.add(fd)
                    if not connection.lent:
                        self._unwatch(fd)
        elif fd in self.tls and connection._pending():
            self.ready.append(connection)

    def _schedule(self, connection: Connection, deadline: float) -> None:
        """Run the timers of ``connection`` at ``deadline``, rather than when planned."""
        entry = self.scheduled.get(connection)
        if entry is not None:
            if entry[0] == deadline:
                return
            entry[1][0] = None
        cell: list[Connection | None] = [connection]
        self.scheduled[connection] = (deadline, cell)
        heapq.heappush(self.timers, (deadline, next(self.counter), cell))

    def _unschedule(self, connection: Connection) -> None:
        entry = self.scheduled.pop(connection, None)
        if entry is not None:
            entry[1][0] = None

    def _run_timers(self) -> float | None:
        """Run the timers that are due; return the seconds until the next one."""
        timers = self.timers
        if not timers:
            return None
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            connection = heapq.heappop(timers)[2][0]
            if connection is not None:
                del self.scheduled[connection]
                self._step(connection, _nothing, connection.socket.fileno())
        # Stale entries wait for their deadline: drop them before they pile up.
        if len(timers) > 2 * len(self.scheduled) + 64:
            self.timers = timers = [timer for timer in timers if timer[2][0] is not None]
            heapq.heapify(timers)
        return max(timers[0][0] - now, 0.0) if timers else None


def _nothing() -> bool:
    return True


def _end_of_file() -> bool:
    return False
