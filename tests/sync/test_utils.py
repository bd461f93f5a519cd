"""Tests for wskit.sync.utils: Deadline."""

from __future__ import annotations

import time

import pytest

from wskit.sync.utils import Deadline


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
