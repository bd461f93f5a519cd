"""Tests for wskit.sync.utils: Deadline and Latch."""

from __future__ import annotations

import threading
import time

import pytest

from wskit.sync.utils import Deadline, Latch


def test_no_deadline_never_expires() -> None:
    deadline = Deadline(None)
    assert deadline.deadline is None
    assert deadline.timeout() is None
    assert deadline.timeout(raise_if_elapsed=False) is None


def test_timeout_counts_down_from_the_start() -> None:
    deadline = Deadline(10)
    first = deadline.timeout()
    assert first is not None
    assert 9 < first <= 10
    time.sleep(0.05)
    second = deadline.timeout()
    assert second is not None
    assert second <= first - 0.04


def test_elapsed_deadline_raises_timeout_error() -> None:
    deadline = Deadline(0.01)
    time.sleep(0.02)
    with pytest.raises(TimeoutError):
        deadline.timeout()


def test_zero_timeout_is_elapsed_at_once() -> None:
    with pytest.raises(TimeoutError):
        Deadline(0).timeout()


def test_elapsed_deadline_without_raising_returns_zero() -> None:
    deadline = Deadline(-1)
    assert deadline.timeout(raise_if_elapsed=False) == 0.0
    with pytest.raises(TimeoutError):
        deadline.timeout()


# Latch.


def test_latch_starts_unset_and_waits_out_its_timeout() -> None:
    latch = Latch()
    assert not latch.is_set()
    start = time.monotonic()
    assert not latch.wait(0.05)
    assert time.monotonic() - start >= 0.04
    assert not latch.wait(0)
    assert not latch.wait(-1)  # an elapsed deadline: don't wait


def test_latch_set_releases_every_waiter_now_and_later() -> None:
    latch = Latch()
    woken: list[bool] = []
    waiters = [threading.Thread(target=lambda: woken.append(latch.wait())) for _ in range(5)]
    for waiter in waiters:
        waiter.start()
    latch.set()
    for waiter in waiters:
        waiter.join(5)
        assert not waiter.is_alive()
    assert woken == [True] * 5
    assert latch.is_set()
    assert latch.wait()
    assert latch.wait(0)
    assert latch.wait(1)


def test_latch_set_is_idempotent_even_from_many_threads() -> None:
    latch = Latch()
    start = threading.Barrier(8, timeout=5)
    errors: list[BaseException] = []

    def set_it() -> None:
        start.wait()
        try:
            for _ in range(100):
                latch.set()
        except BaseException as exc:  # releasing the lock twice raises RuntimeError
            errors.append(exc)

    setters = [threading.Thread(target=set_it) for _ in range(8)]
    for setter in setters:
        setter.start()
    for setter in setters:
        setter.join(5)
    assert errors == []
    assert latch.wait(0)
    # Still a lock held by nobody: each waiter takes it and hands it on.
    assert latch.wait(0)
