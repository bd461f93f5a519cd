"""Timeouts for blocking calls."""

from __future__ import annotations

import time

__all__ = ["Deadline"]


class Deadline:
    """A point in time by which a sequence of blocking calls must be done.

    Args:
        timeout: Seconds from now; :obj:`None` for no deadline.
    """

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
