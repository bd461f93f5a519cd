"""Every example in examples/ runs and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_sansio_pair() -> None:
    lines = run_example("sansio_pair.py").splitlines()
    assert "client received HTTP 101 Switching Protocols" in lines
    assert "server received TEXT 'Hello, wskit!' [13 bytes]" in lines
    assert "client received TEXT 'frag' [4 bytes, continued]" in lines
    assert "client received CONT 6d 65 6e 74 [4 bytes]" in lines
    assert "server received CLOSE 1000 (OK) goodbye [9 bytes]" in lines
    compressed = next(line for line in lines if line.startswith("server sent 9000 bytes"))
    assert int(compressed.split(" in ")[1].split()[0]) < 1000
    assert lines[-2].startswith("client: CLOSED, ConnectionClosedOK(")
    assert lines[-1].startswith("server: CLOSED, ConnectionClosedOK(")
