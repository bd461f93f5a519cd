"""benchmarks.uvicorn: the four uvicorn engines measured side by side, and compared.

A tiny run (``--quick``): it checks that every engine is measured and the
comparison is made, never how fast anything is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import uvicorn as uvicorn_bench
from benchmarks.peers import UVICORN_PEERS


@pytest.mark.parametrize(
    ("option", "client"),
    [
        (["--no-pin"], "picows"),
        (["--no-pin", "--client", "wskit"], "wskit"),
        (["--cpus", "0", "0"], "picows"),
    ],
)
def test_every_engine_is_measured_and_compared(
    tmp_path: Path, option: list[str], client: str
) -> None:
    out, md = tmp_path / "results.json", tmp_path / "results.md"
    rows = uvicorn_bench.main(
        ["--quick", "--rounds", "1", "--out", str(out), "--markdown", str(md), *option]
    )
    cases = {(row["loop"], row["case"]) for row in rows}
    assert cases == {
        (loop, case)
        for loop in ("asyncio", "uvloop")
        for case in ("64 B", "16 KiB", "1 MiB", "20 connections, 64 B")  # --quick: 20
    }
    for row in rows:
        assert row["fastest"] in UVICORN_PEERS
        assert row["fastest"] != "uvicorn_wskit"
        assert row["ratio"] > 0
        assert row["cpu_ratio"] > 0
        # The targets concern 64 B round trips only.
        assert ("met" in row) is (row["case"] == "64 B")
    report = md.read_text()
    assert "The wskit engine against the fastest stock engine" in report
    for lib in UVICORN_PEERS:
        assert lib in report
    assert "### Errors" not in report
    # One client drives every engine: picows' unless told otherwise.
    assert f"every server driven by {client}'s client" in report
    assert f'"client": "{client}"' in out.read_text()
    # Pinned as told: both processes on one CPU with --cpus 0 0.
    if "--cpus" in option:
        assert "server on CPU 0, client on CPU 0" in report
