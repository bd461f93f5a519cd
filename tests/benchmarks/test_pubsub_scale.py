"""benchmarks/pubsub_scale.py runs its three stacks end to end on a tiny workload.

It checks that every message reaches every member of its room and that each
row has its figures, never how fast anything is.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("socketio")


def run(*arguments: str) -> list[str]:
    """Run the benchmark on 30 clients in 3 rooms; return the lines it printed."""
    command = [sys.executable, "-m", "benchmarks.pubsub_scale", "--clients", "30", "--rooms", "3"]
    result = subprocess.run(
        [*command, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return result.stdout.splitlines()


def test_every_stack_delivers_everything() -> None:
    # On uvloop when it's installed (the default), on asyncio's loop below.
    lines = run("--rates", "100", "200", "--duration", "0.5", "--publish-messages", "2000")
    # Publishing: with and without history, nothing failed, nothing lost.
    publishing = [line.split() for line in lines if line.startswith(("0 ", "1000 "))]
    assert [(row[0], row[3], row[4]) for row in publishing] == [
        ("0", "0", "0"),
        ("1000", "0", "0"),
    ]
    rows = [line.split() for line in lines if line.startswith(("wskit ", "wskit+", "socketio "))]
    assert [(row[0], row[1]) for row in rows] == [
        (stack, rate) for stack in ("wskit", "wskit+history", "socketio") for rate in ("100", "200")
    ]
    for row in rows:
        delivered, expected = row[4].split("/")
        assert delivered == expected == {"100": "500", "200": "1,000"}[row[1]]
        assert all(float(figure.rstrip("%")) >= 0 for figure in row[5:])


def test_on_asyncios_own_loop() -> None:
    lines = run(
        *("--stacks", "wskit", "--rates", "200", "--duration", "0.5", "--publish-messages", "0"),
        *("--loop", "asyncio", "--client-loop", "asyncio"),
    )
    assert "3 server processes on asyncio" in lines[0]
    assert "the publisher on asyncio" in lines[0]
    (row,) = [line.split() for line in lines if line.startswith("wskit ")]
    assert row[4] == "1,000/1,000"
