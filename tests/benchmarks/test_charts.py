"""The performance guide's charts and tables are drawn from the JSON committed beside them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks import charts, memory

PERFORMANCE = Path(__file__).resolve().parents[2] / "docs" / "topics" / "performance"


def test_committed_charts_match_their_json() -> None:
    """Regenerating from results.json gives the committed files, byte for byte."""
    drawn = charts.charts(json.loads((PERFORMANCE / "results.json").read_text()))
    assert "asyncio-rtt.svg" in drawn
    for name, text in drawn.items():
        assert (PERFORMANCE / name).read_text() == text, f"{name}: run benchmarks.charts again"
    committed = {path.name for path in PERFORMANCE.glob("*.svg")}
    committed |= {path.name for path in PERFORMANCE.glob("*.csv")}
    assert committed == set(drawn)


def test_memory_guide_shows_the_committed_figures() -> None:
    page = (PERFORMANCE.parent / "memory.rst").read_text()
    rows = re.findall(
        r"   \* - (asyncio|threading)\n     - .*\n     - ([\d.]+)\n     - ([\d.]+)", page
    )
    figures = json.loads((PERFORMANCE / "memory.json").read_text())
    assert rows == [
        (
            "threading" if r["layer"] == "sync" else r["layer"],
            f"{r['idle'] / 1024:.1f}",
            f"{r['after_one_message'] / 1024:.1f}",
        )
        for r in figures
    ]


def test_chart_draws_every_figure(tmp_path: Path) -> None:
    data = {
        "meta": {"libs": ["wskit", "websockets"], "loops": ["asyncio"]},
        "results": [
            {
                "metric": "rtt",
                "size": 64,
                "compression": False,
                "loop": "asyncio",
                "lib": "wskit",
                "value": 2000.0,
            },
            {
                "metric": "rtt",
                "size": 64,
                "compression": False,
                "loop": "asyncio",
                "lib": "websockets",
                "value": 500.0,
            },
        ],
    }
    results = tmp_path / "results.json"
    results.write_text(json.dumps(data))
    written = charts.main([str(results), str(tmp_path / "out")])
    assert sorted(path.name for path in written) == ["asyncio-rtt.csv", "asyncio-rtt.svg"]
    svg = (tmp_path / "out" / "asyncio-rtt.svg").read_text()
    widths = [int(width) for width in re.findall(r'<rect x="\d+" y="\d+" width="(\d+)"', svg)]
    assert widths[0] == 4 * widths[1]  # wskit's bar, four times websockets'
    assert ">2,000<" in svg
    assert ">500<" in svg
    csv = (tmp_path / "out" / "asyncio-rtt.csv").read_text()
    assert csv == 'case,wskit,websockets\n64 B,"2,000","500"\n'


def test_memory_benchmark_runs(tmp_path: Path) -> None:
    """A smoke run: a few connections per setting, figures for each."""
    out = tmp_path / "memory.json"
    results = memory.main(["--connections", "3", "--layers", "asyncio", "sync", "--out", str(out)])
    assert [(r["layer"], r["compression"]) for r in results] == [
        (layer, compression)
        for layer in ("asyncio", "sync")
        for compression in ("none", "deflate", "zlib-defaults")
    ]
    assert json.loads(out.read_text()) == results
