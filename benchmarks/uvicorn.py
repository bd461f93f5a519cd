"""The wskit engine against uvicorn's own, under the same Starlette app.

Usage::

    .venv/bin/python -m benchmarks.uvicorn [--rounds N] [--client picows|wskit] [--quick]
        [--out FILE] [--markdown FILE]

Runs :mod:`benchmarks.harness` on the ``uvicorn_*`` peers (one Starlette echo
app under uvicorn with each WebSocket engine, one client for all): round
trips on one connection at 64 B, 16 KiB and 1 MiB and on 1,000 connections at
once, on asyncio and uvloop, server and client in two processes. The client
is picows' (callbacks, compiled), the fastest there is, so that the server's
share of a round trip shows; ``--client wskit`` drives them with wskit's
asyncio client instead, which costs about as much as the server does. Then it
compares the wskit engine with the fastest stock engine of each case, on
round trips per second and on the server's CPU time per round trip, against
the targets of issue 23: at least 1.3x the round trips at 64 B, at most 0.7x
the server CPU per message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import harness, report
from .peers import UVICORN_PEERS

__all__ = ["compare", "main"]

SUBJECT = "uvicorn_wskit"
SIZES = ["64", "16384", "1048576"]
# What drives every engine: picows' client costs the least, so that round
# trips differ by the server's cost rather than being capped by the client's.
CLIENTS = ("picows", "wskit")
# Issue 23: against the fastest stock engine, at 64 B.
RTT_TARGET = 1.3
CPU_TARGET = 0.7


def _case(record: dict[str, Any], connections: int) -> str:
    if record["metric"] == "concurrent":
        return f"{connections:,} connections, 64 B"
    size = record["size"]
    return (
        f"{size // 1024} KiB"
        if size >= 1024 and size < 2**20
        else ("1 MiB" if size == 2**20 else f"{size} B")
    )


def compare(results: Sequence[dict[str, Any]], connections: int) -> list[dict[str, Any]]:
    """For each loop and case, the wskit engine against the fastest stock engine.

    Args:
        results: The harness's results (medians over rounds).
        connections: How many connections the ``concurrent`` case had.
    """
    rows = []
    cases = sorted(
        {(r["loop"], r["metric"], r["size"]) for r in results if r["lib"] == SUBJECT},
        key=lambda case: (case[0], case[1] == "concurrent", case[2] or 0),
    )
    for loop, metric, size in cases:
        found = [r for r in results if (r["loop"], r["metric"], r["size"]) == (loop, metric, size)]
        ours = next(r for r in found if r["lib"] == SUBJECT)
        stock = [r for r in found if r["lib"] != SUBJECT]
        if not stock:
            continue
        best = max(stock, key=lambda r: r["value"])
        row = {
            "loop": loop,
            "case": _case(ours, connections),
            "wskit": ours["value"],
            "fastest": best["lib"],
            "fastest_value": best["value"],
            "ratio": ours["value"] / best["value"],
            "cpu_ratio": ours["server_cpu_us"] / best["server_cpu_us"],
            "wskit_cpu": ours["server_cpu_us"],
            "fastest_cpu": best["server_cpu_us"],
        }
        if metric == "rtt" and size == 64:
            row["met"] = row["ratio"] >= RTT_TARGET and row["cpu_ratio"] <= CPU_TARGET
        rows.append(row)
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "",
        "### The wskit engine against the fastest stock engine",
        "",
        "Round trips per second and the server's CPU µs per round trip; the",
        f"target at 64 B: >= {RTT_TARGET}x the round trips, <= {CPU_TARGET}x the server CPU.",
        "",
        "| loop | case | wskit | fastest stock engine | round trips | server CPU µs "
        "| server CPU | target met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "" if "met" not in row else "yes" if row["met"] else "**no**"
        lines.append(
            f"| {row['loop']} | {row['case']} | {row['wskit']:,.0f} | "
            f"{row['fastest'].removeprefix('uvicorn_')} {row['fastest_value']:,.0f} | "
            f"{row['ratio']:.2f}x | {row['wskit_cpu']:.1f} vs {row['fastest_cpu']:.1f} | "
            f"{row['cpu_ratio']:.2f}x | {met} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uvicorn", description=__doc__)
    parser.add_argument("--rounds", default="3")
    parser.add_argument(
        "--client", choices=CLIENTS, default=CLIENTS[0], help="the client of every engine"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--no-pin", action="store_true", help="don't pin the processes to CPUs")
    parser.add_argument(
        "--cpus",
        nargs=2,
        metavar=("SERVER", "CLIENT"),
        help="the CPUs the server and the client are pinned to (the harness's default: 0 1)",
    )
    parser.add_argument("--note", help="a line for the report")
    parser.add_argument("--out", type=Path, help="the harness's JSON document")
    parser.add_argument("--markdown", type=Path, help="the report ('-': standard output)")
    args = parser.parse_args(argv)
    command = ["--libs", *UVICORN_PEERS, "--loops", "asyncio", "uvloop"]
    command += ["--kinds", "rtt", "concurrent", "--sizes", *SIZES, "--rounds", args.rounds]
    command += ["--client", args.client]
    if args.quick:
        command.append("--quick")
    if args.no_pin:
        command.append("--no-pin")
    if args.cpus:
        command += ["--cpus", *args.cpus]
    if args.note:
        command += ["--note", args.note]
    if args.out:
        command += ["--out", str(args.out)]
    data = harness.main(command)
    rows = compare(data["results"], data["meta"]["connections"])
    text = report.markdown(data) + markdown(rows)
    if args.markdown is None or str(args.markdown) == "-":
        sys.stdout.write(text)
    else:
        args.markdown.write_text(text, encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
