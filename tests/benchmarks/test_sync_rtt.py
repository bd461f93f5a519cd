"""Smoke test of benchmarks/sync_rtt.py: one side's round trips on threads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import harness


@pytest.mark.parametrize("side", ["client", "server"])
def test_round_trips_end_with_both_processes(side: str) -> None:
    # Both processes exit once the round trips are done: nothing waits for a
    # message that never comes.
    subprocess.run(
        [sys.executable, "-m", "benchmarks.sync_rtt", "--side", side, "--count", "50"],
        cwd=harness.ROOT,
        timeout=120,
        check=True,
    )
