"""Smoke test of benchmarks/handshakes.py: each side completes its handshakes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from benchmarks import harness

without_picows = pytest.mark.skipif(
    importlib.util.find_spec("picows") is None, reason="picows isn't installed"
)


@pytest.mark.parametrize(
    ("measured", "side"),
    [
        (["--side", "server"], "server"),
        (["--side", "client"], "client"),
        (["--driver", "wskit"], "server"),
        pytest.param(["--driver", "picows"], "server", marks=without_picows, id="picows-driver"),
        pytest.param(["--picows"], "server", marks=without_picows, id="picows-server"),
        pytest.param(
            ["--picows", "--side", "client"], "client", marks=without_picows, id="picows-client"
        ),
    ],
)
def test_a_few_handshakes(measured: list[str], side: str) -> None:
    options = ["--count", "20", "--warmup", "5", "--clients", "3", "--timeout", "100"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.handshakes", *measured, *options],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"{side} on asyncio: 20 handshakes," in result.stdout
