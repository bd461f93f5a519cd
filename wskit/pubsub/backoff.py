"""Delays between attempts to reach a broker: exponential, capped, jittered.

When a broker restarts, every process of a deployment loses its link at the
same moment. Without jitter they would all come back in lockstep and knock
on the broker together at each attempt; a random share of each delay spreads
them out.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays that double after each failure, from ``minimum`` up to ``maximum``.

    Each delay is drawn uniformly between half and all of the current step
    ("equal jitter"): never zero, so a broken broker isn't hammered, and
    spread enough that processes drift apart.

    Args:
        minimum: First step, in seconds.
        maximum: Largest step, in seconds.
        factor: Growth of the step after each failure.
        rng: Source of randomness (for reproducible tests).

    Raises:
        ValueError: The bounds are not ``0 < minimum <= maximum`` or
            ``factor < 1``.
    """

    def __init__(
        self,
        minimum: float = 0.1,
        maximum: float = 10.0,
        factor: float = 2.0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("backoff bounds must satisfy 0 < minimum <= maximum")
        if factor < 1:
            raise ValueError("backoff factor must be at least 1")
        self.minimum = minimum
        self.maximum = maximum
        self.factor = factor
        self.rng = rng if rng is not None else random.Random()
        self.step = minimum

    def next_delay(self) -> float:
        """Return the delay before the next attempt and grow the step."""
        step = self.step
        self.step = min(step * self.factor, self.maximum)
        return self.rng.uniform(step / 2, step)

    def reset(self) -> None:
        """Start again from ``minimum``, after a success."""
        self.step = self.minimum
