"""Smoke test of benchmarks/broadcast.py: it runs and reports the cost per delivery."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchmarks import harness


@pytest.mark.parametrize("lib", ["wskit", "websockets"])
def test_short_run(lib: str) -> None:
    options = ["--lib", lib, "--connections", "20", "--rounds", "3", "--warmup", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.broadcast", *options, "--pause", "0"],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    figures = re.search(r"(\d+) deliveries, per delivery user ([\d.]+) µs", result.stdout)
    assert figures is not None, result.stdout
    assert int(figures[1]) == 3 * 10 * 20
