"""Timeouts for blocking calls, and what threads wait for."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable

__all__ = ["NO_DEADLINE", "Deadline", "Latch", "poller"]


class Deadline:
    """A point in time by which a sequence of blocking calls must be done.

    Args:
        timeout: Seconds from now; :obj:`None` for no deadline.
    """

    __slots__ = ("deadline",)

    def __init__(self, timeout: float | None) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def timeout(self, *, raise_if_elapsed: bool = True) -> float | None:
        """Seconds left until the deadline; :obj:`None` without one.

        Raises:
            TimeoutError: The deadline passed and ``raise_if_elapsed`` is set.
        """
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if raise_if_elapsed and left <= 0:
            raise TimeoutError("timed out")
        return max(left, 0.0)


NO_DEADLINE = Deadline(None)
"""A :class:`Deadline` that never passes, shared: it holds no state."""

# Serializes Latch.set(), which is rare: once per latch, in effect.
_setting = threading.Lock()


class Latch:
    """An event that is set once and stays set, for threads to wait for.

    What :class:`threading.Event` does without ``clear()``, in a lock: an
    idle connection holds a few, and an Event (a Condition and its deque of
    waiters) takes 1.2 KiB, a Latch about 150 bytes.
    """

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._set = False
        # Held until set(); each waiter takes it, then hands it on.
        self._lock = threading.Lock()
        self._lock.acquire()

    def is_set(self) -> bool:
        """Whether :meth:`set` was called."""
        return self._set

    def set(self) -> None:
        """Release every thread waiting, and those to come. Idempotent."""
        if self._set:
            return
        with _setting:
            if not self._set:
                self._set = True
                self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the latch is set, ``timeout`` seconds at most; return whether it is."""
        if self._set:
            return True
        if not self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return False
        self._lock.release()
        return True


def poller(sock: socket.socket, *, write: bool = False) -> Callable[[float | None], bool]:
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
