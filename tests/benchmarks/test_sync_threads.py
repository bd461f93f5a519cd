"""Smoke test of benchmarks/sync_threads.py: round trips on threads, thread by thread."""

from __future__ import annotations

import re
import subprocess
import sys

from benchmarks import harness


def test_a_few_round_trips_reported_per_thread() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.sync_threads", "--libs", "wskit", "--count", "50"],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"wskit: [\d,]+ round trips/s", lines[0]), lines
    rows = [line.split()[0] for line in lines[1:]]
    # Threads of both processes that did work: at least the one in recv() on
    # each side (the client's main thread, the server's handler).
    assert "client" in rows, lines
    assert "server" in rows, lines
    for line in lines[1:]:
        assert re.search(r"[\d.]+ us CPU, [\d.]+ sleeps, +[\d.]+ us waiting for a CPU$", line), line
