"""Smoke test of benchmarks/pubsub_server.py: each room's members get every message; a report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import harness


@pytest.mark.parametrize(
    ("history", "loop"), [("0", "asyncio"), ("100", "asyncio"), ("0", "uvloop")]
)
def test_a_few_batches(history: str, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.pubsub_server",
            *("--count", "25", "--batch", "4", "--clients", "12", "--rooms", "5"),
            *("--history", history, "--timeout", "60", "--loop", loop),
        ],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # The driver waits for every delivery of each batch: the server reports once they all came.
    # 25 random rooms of 5, each with 2 or 3 members: between 50 and 75 deliveries.
    assert "us CPU per delivery (25 messages in batches of 4, " in result.stdout
    deliveries = int(result.stdout.split(" deliveries")[0].rsplit(" ", 1)[1])
    assert 50 <= deliveries <= 75
    assert f"12 clients in 5 rooms, history {history}, {loop})" in result.stdout
