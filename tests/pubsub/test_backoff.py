"""Reconnection delays: exponential, capped, jittered, reset after success."""

from __future__ import annotations

import random

import pytest

from wskit.pubsub.backoff import Backoff


def test_steps_double_up_to_the_maximum() -> None:
    backoff = Backoff(0.1, 1.0, rng=random.Random(1))
    steps = []
    for _ in range(8):
        steps.append(backoff.step)
        backoff.next_delay()
    assert steps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0])


def test_delays_are_jittered_within_half_to_all_of_the_step() -> None:
    backoff = Backoff(1.0, 1.0, rng=random.Random(2))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.5 <= delay <= 1.0 for delay in delays)
    # Jitter: not all the same, and spread over the range.
    assert max(delays) - min(delays) > 0.3


def test_processes_drift_apart() -> None:
    first = Backoff(0.1, 10.0, rng=random.Random(3))
    second = Backoff(0.1, 10.0, rng=random.Random(4))
    assert [first.next_delay() for _ in range(5)] != [second.next_delay() for _ in range(5)]


def test_reset_starts_over() -> None:
    backoff = Backoff(0.1, 10.0, factor=3.0)
    for _ in range(5):
        backoff.next_delay()
    assert backoff.step == 10.0
    backoff.reset()
    assert backoff.step == 0.1
    assert 0.05 <= backoff.next_delay() <= 0.1


@pytest.mark.parametrize(
    ("minimum", "maximum", "factor"), [(0, 1, 2), (-1, 1, 2), (2, 1, 2), (0.1, 1, 0.5)]
)
def test_invalid_parameters(minimum: float, maximum: float, factor: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        Backoff(minimum, maximum, factor)
