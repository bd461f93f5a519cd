"""Tests for benchmarks.sync_teardown: it measures what it says, on a few connections."""

from __future__ import annotations

import pytest

from benchmarks import sync_teardown


@pytest.mark.parametrize(("impl", "threads"), [("sync", 21), ("asyncio", 0)])
def test_measure_a_few_connections(impl: str, threads: int) -> None:
    result = sync_teardown.measure(impl, 20, timeout=30)
    assert result["connections"] == 20
    assert 0 < result["teardown"] < 30
    assert result["cpu"] >= 0
    assert result["failed"] == 0
    assert result["probes"] >= 1
    assert result["stall"] < 30
    assert result["rss/conn"] > 0
    # A handler thread per connection on threads, and a reader for them all.
    assert round(result["threads/conn"] * 20) == threads


def test_main_prints_a_line_per_count(capsys: pytest.CaptureFixture[str]) -> None:
    sync_teardown.main(["-n", "5", "10", "--json"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        '{"connections": 5',
        '{"connections": 10',
    ]
