"""Smoke test of benchmarks/inprocess_rtt.py: the echoes come back, compressed or not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import harness
from benchmarks.inprocess_rtt import words


@pytest.mark.parametrize("compression", ["deflate", "none"])
def test_a_few_round_trips(compression: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.inprocess_rtt",
            *("--compression", compression, "--size", "1000", "--count", "20", "--warm-up", "5"),
        ],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"5 + 20 round trips of 1000 B, {compression}" in result.stdout


def test_the_message_is_words() -> None:
    message = words(1000)
    assert len(message) == 1000
    assert message == words(1000)
    assert set(message) <= set(b"abcdefghijklmnopqrstuvwxyz ")
