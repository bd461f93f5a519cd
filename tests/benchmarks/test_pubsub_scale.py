"""benchmarks/pubsub_scale.py runs its three stacks end to end on a tiny workload.

It checks that every message reaches every member of its room and that each
row has its figures, never how fast anything is.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("socketio")


def test_every_stack_delivers_everything() -> None:
    # On uvloop when it's installed (the default), on asyncio's loop below.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.pubsub_scale",
            *("--rates", "100", "200", "--duration", "0.5", "--clients", "30", "--rooms", "3"),
            *("--publish-messages", "2000"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = result.stdout.splitlines()
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
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.pubsub_scale",
            *("--stacks", "wskit", "--rates", "200", "--duration", "0.5"),
            *("--clients", "30", "--rooms", "3", "--publish-messages", "0"),
            *("--loop", "asyncio", "--client-loop", "asyncio"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "3 server processes on asyncio" in result.stdout
    assert "the publisher on asyncio" in result.stdout
    (row,) = [line.split() for line in result.stdout.splitlines() if line.startswith("wskit ")]
    assert row[4] == "1,000/1,000"
