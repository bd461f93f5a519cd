"""Draw the harness's results as SVG bar charts, for the performance guide.

    python -m benchmarks.charts docs/topics/performance/results.json docs/topics/performance

reads a JSON document written by ``python -m benchmarks.harness --out`` and
writes one chart per event loop and metric, ``<loop>-<metric>.svg``, and its
figures as a table, ``<loop>-<metric>.csv`` (for ``csv-table``), into the
folder: a group of bars per message size (or per compression setting, for
memory), a bar per library, each labelled with its median. Bars are scaled
within their group, since a 64-byte round trip and a 1 MiB one differ by
orders of magnitude. Plain SVG written by hand: no plotting library, and the
same JSON gives the same bytes, so the documentation's charts are checked
against the JSON they came from (tests/benchmarks/test_charts.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from .report import METRICS, _case, _number

__all__ = ["charts", "main"]

WIDTH = 720
LABEL = 110  # width of the library names' column
BAR = 16
GAP = 4
GROUP_GAP = 14
TOP = 46
# One color per library, in the harness's order; wskit stands out.
COLORS = {
    "wskit": "#2a6fdb",
    "picows": "#8a8a8a",
    "websockets": "#b0b0b0",
    "aiohttp": "#c8c8c8",
    "raw": "#5a5a5a",
    "raw_await": "#737373",
}
OTHER = "#d8d8d8"


def chart(title: str, unit: str, higher: bool, groups: list[tuple[str, list[Any]]]) -> str:
    """An SVG of horizontal bars: ``groups`` of ``(label, [(library, value), ...])``."""
    rows = sum(len(bars) for _, bars in groups)
    height = TOP + len(groups) * (20 + GROUP_GAP) + rows * (BAR + GAP) + 10
    better = "higher is better" if higher else "lower is better"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="0" y="18" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="0" y="36" fill="#555555">{escape(unit)}, {better}; '
        "bars scaled within each group</text>",
    ]
    y = TOP
    span = WIDTH - LABEL - 90
    for label, bars in groups:
        parts.append(f'<text x="0" y="{y + 14}" font-weight="bold">{escape(label)}</text>')
        y += 20
        largest = max(value for _, value in bars) or 1
        for lib, value in bars:
            length = max(1, round(span * value / largest))
            color = COLORS.get(lib, OTHER)
            parts += [
                f'<text x="{LABEL - 6}" y="{y + 12}" text-anchor="end">{escape(lib)}</text>',
                f'<rect x="{LABEL}" y="{y}" width="{length}" height="{BAR}" fill="{color}"/>',
                f'<text x="{LABEL + length + 4}" y="{y + 12}">{escape(_number(value))}</text>',
            ]
            y += BAR + GAP
        y += GROUP_GAP
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def table(libs: list[str], groups: list[tuple[str, list[Any]]]) -> str:
    """The figures of a chart as CSV: a row per group, a column per library."""
    present = [lib for lib in libs if any(lib == bar[0] for _, bars in groups for bar in bars)]
    lines = [",".join(["case", *present])]
    for label, bars in groups:
        found = dict(bars)
        cells = [f'"{_number(found[lib])}"' if lib in found else "" for lib in present]
        lines.append(",".join([label, *cells]))
    return "\n".join(lines) + "\n"


def charts(data: dict[str, Any]) -> dict[str, str]:
    """Every chart of a harness document and its table, by file name."""
    libs: list[str] = data["meta"]["libs"]
    drawn: dict[str, str] = {}
    for loop in data["meta"]["loops"]:
        for metric, (title, unit, higher, _) in METRICS.items():
            results = [r for r in data["results"] if r["metric"] == metric and r["loop"] == loop]
            if not results:
                continue
            cases = sorted({(r["size"] or 0, r["compression"]) for r in results})
            groups = []
            for size, compression in cases:
                found = {
                    r["lib"]: r["value"]
                    for r in results
                    if (r["size"] or 0, r["compression"]) == (size, compression)
                }
                bars = [(lib, found[lib]) for lib in libs if lib in found]
                groups.append((_case(metric, size or None, compression), bars))
            drawn[f"{loop}-{metric}.svg"] = chart(f"{title} ({loop})", unit, higher, groups)
            drawn[f"{loop}-{metric}.csv"] = table(libs, groups)
    return drawn


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.charts", description=__doc__)
    parser.add_argument("results", type=Path, help="JSON written by benchmarks.harness --out")
    parser.add_argument("folder", type=Path, help="where to write the SVG files")
    args = parser.parse_args(argv)
    data = json.loads(args.results.read_text(encoding="utf-8"))
    args.folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in charts(data).items():
        path = args.folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
        print(path)
    return written


if __name__ == "__main__":
    main()
