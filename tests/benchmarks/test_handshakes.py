"""Smoke test of benchmarks/handshakes.py: each side completes its handshakes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import harness


@pytest.mark.parametrize("side", ["server", "client"])
def test_a_few_handshakes(side: str) -> None:
    options = ["--count", "20", "--warmup", "5", "--clients", "3", "--timeout", "100"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.handshakes", "--side", side, *options],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"{side} on asyncio: 20 handshakes," in result.stdout
