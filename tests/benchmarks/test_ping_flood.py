"""Smoke test of benchmarks/ping_flood.py: it runs, and the connection survives the flood."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import harness


@pytest.mark.parametrize("io", ["asyncio", "sync"])
def test_short_flood(io: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.ping_flood", "--io", io, "--seconds", "1"],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "server RSS" in result.stdout
    assert "and the echo" in result.stdout
