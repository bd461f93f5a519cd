"""Smoke test of benchmarks/server_rtt.py: each side does every round trip and reports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import harness


def server_rtt(*args: str) -> str:
    """What ``benchmarks.server_rtt`` prints for 25 round trips on 3 connections."""
    result = subprocess.run(
        [
            sys.executable,
            *("-m", "benchmarks.server_rtt", *args),
            *("--count", "25", "--connections", "3"),
        ],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "per round trip (25 round trips, 3 connections)" in result.stdout
    return result.stdout


@pytest.mark.parametrize(
    ("option", "package", "loop"),
    [
        ("--package", "wskit", "asyncio"),
        ("--package", "wskit", "uvloop"),
        ("--package", "picows.websockets", "uvloop"),
        ("--package", "wskit", "aiofastnet"),
        # uvicorn and Starlette: the client checks every echo.
        ("--uvicorn", "uvicorn_wskit", "uvloop"),
        ("--uvicorn", "uvicorn_websockets_sansio", "asyncio"),
    ],
)
def test_a_few_round_trips(option: str, package: str, loop: str) -> None:
    assert f"{package} server on {loop}: " in server_rtt(option, package, "--loop", loop)


@pytest.mark.parametrize(
    ("package", "loop"),
    [("wskit", "uvloop"), ("wskit", "asyncio"), ("picows.websockets", "uvloop")],
)
def test_a_few_round_trips_of_a_client(package: str, loop: str) -> None:
    # The client checks every echo and fails if one is missing.
    output = server_rtt("--side", "client", "--package", package, "--loop", loop)
    assert f"{package} client on {loop}: " in output
