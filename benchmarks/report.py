"""Medians over rounds, the issue's targets, and the markdown report of a harness run."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from .peers import EVENT_LOOPS, LOOPS

__all__ = ["aggregate", "check_targets", "markdown"]

Record = dict[str, Any]

SUBJECT = "wskit"
BASELINE = "raw"
MIB = 1024 * 1024

# metric: title, unit, whether higher is better, what CPU time is counted per.
METRICS: dict[str, tuple[str, str, bool, str | None]] = {
    "rtt": ("Round trips per second, one connection", "round trips/s", True, "round trip"),
    "stream": ("Streaming, one connection, client to server", "MB/s", True, "message"),
    "concurrent": (
        "Round trips per second, many connections at once",
        "round trips/s",
        True,
        "round trip",
    ),
    "handshakes": ("Handshakes per second (open and close)", "handshakes/s", True, "handshake"),
    "idle": ("Server memory per idle connection", "bytes", False, None),
    "traffic": (
        "Server memory per connection, idle after one message each way",
        "bytes",
        False,
        None,
    ),
    "broadcast": ("Broadcast to many connections", "deliveries/s", True, "delivery"),
}
# Memory figures: per connection, by compression.
MEMORY = ("idle", "traffic")


def _key(record: Record) -> tuple[Any, ...]:
    return record["metric"], record["size"], record["compression"], record["loop"], record["lib"]


def aggregate(samples: Iterable[Record]) -> list[Record]:
    """The median of every figure over rounds, per metric, size, compression, loop and library."""
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for sample in samples:
        groups[_key(sample)].append(sample)
    results = []
    for (metric, size, compression, loop, lib), group in groups.items():
        result: Record = {
            "metric": metric,
            "size": size,
            "compression": compression,
            "loop": loop,
            "lib": lib,
            "rounds": len(group),
            "value": statistics.median(sample["value"] for sample in group),
        }
        for cpu in ("client_cpu_us", "server_cpu_us"):
            if cpu in group[0]:
                result[cpu] = statistics.median(sample[cpu] for sample in group)
        results.append(result)
    return results


def _index(results: Iterable[Record]) -> dict[tuple[Any, ...], Record]:
    return {_key(result): result for result in results}


def check_targets(results: Sequence[Record]) -> list[Record]:
    """Compare wskit with the figures issue 7 asks it to beat, where both were measured.

    wskit's round trips per second at least picows' at every size, 3x websockets'
    at 64 B and 2x at 1 MiB; streaming at least picows' at 64 B and 1 MiB; memory
    per idle connection below websockets', with and without compression. On
    each event loop.
    """
    index = _index(results)
    sizes = sorted({r["size"] for r in results if r["metric"] == "rtt"})
    wanted: list[tuple[str, int | None, bool, str, float]] = []
    wanted += [("rtt", size, False, "picows", 1.0) for size in sizes]
    wanted += [("rtt", 64, False, "websockets", 3.0), ("rtt", MIB, False, "websockets", 2.0)]
    wanted += [("stream", 64, False, "picows", 1.0), ("stream", MIB, False, "picows", 1.0)]
    wanted += [("idle", None, compression, "websockets", 1.0) for compression in (False, True)]
    # Issue 22: memory after traffic, broadcast.
    traffic_sizes = sorted({r["size"] for r in results if r["metric"] == "traffic"})
    wanted += [("traffic", size, True, "websockets", 0.5) for size in traffic_sizes]
    wanted += [
        ("traffic", size, False, peer, 1.0)
        for size in traffic_sizes
        for peer in ("websockets", "picows", "picows_websockets", "aiohttp")
    ]
    broadcast_sizes = sorted({r["size"] for r in results if r["metric"] == "broadcast"})
    wanted += [("broadcast", size, False, "websockets", 5.0) for size in broadcast_sizes]
    checks = []
    for loop in EVENT_LOOPS:
        for metric, size, compression, peer, factor in wanted:
            ours = index.get((metric, size, compression, loop, SUBJECT))
            theirs = index.get((metric, size, compression, loop, peer))
            if ours is None or theirs is None:
                continue
            higher = METRICS[metric][2]
            ratio = ours["value"] / theirs["value"]
            checks.append(
                {
                    "metric": metric,
                    "size": size,
                    "compression": compression,
                    "loop": loop,
                    "peer": peer,
                    "required": factor,
                    "ratio": ratio,
                    # Memory must be strictly below; speed at least the factor.
                    "met": ratio >= factor if higher else ratio < factor,
                }
            )
    return checks


def _size(size: int | None) -> str:
    if size is None:
        return ""
    if size >= MIB:
        return f"{size // MIB} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def _case(metric: str, size: int | None, compression: bool) -> str:
    if metric in MEMORY:
        case = "deflate" if compression else "no compression"
        return f"{case}, {_size(size)}" if size else case
    return _size(size)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or not theirs:
        return "n/a"
    return f"{ours / theirs:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _sections(results: Sequence[Record], libs: Sequence[str]) -> list[str]:
    index = _index(results)
    others = [lib for lib in libs if lib != SUBJECT]
    ratio_libs = others if SUBJECT in libs else []
    lines: list[str] = []
    for metric, (title, unit, higher, per) in METRICS.items():
        cases = sorted(
            {
                (r["loop"], r["size"] or 0, r["compression"])
                for r in results
                if r["metric"] == metric
            },
            key=lambda case: (_loop_order(case[0]), case[1], case[2]),
        )
        if not cases:
            continue
        better = "higher" if higher else "lower"
        lines += ["", f"### {title} ({unit}, {better} is better)", ""]
        header = ["loop", "case", *libs] + [f"{SUBJECT}/{lib}" for lib in ratio_libs]
        value_rows, cpu_rows = [], []
        for loop, size, compression in cases:
            found = {lib: index.get((metric, size or None, compression, loop, lib)) for lib in libs}
            values = {lib: r["value"] if r else None for lib, r in found.items()}
            cpus = {
                lib: r["client_cpu_us"] + r["server_cpu_us"] if r and "client_cpu_us" in r else None
                for lib, r in found.items()
            }
            case = _case(metric, size or None, compression)
            value_rows.append(
                [loop, case]
                + [_number(v) if v is not None else "n/a" for v in values.values()]
                + [_ratio(values.get(SUBJECT), values[lib]) for lib in ratio_libs]
            )
            cpu_rows.append(
                [loop, case]
                + [
                    f"{_number(r['client_cpu_us'])} + {_number(r['server_cpu_us'])}"
                    if r and "client_cpu_us" in r
                    else "n/a"
                    for r in found.values()
                ]
                + [_ratio(cpus.get(SUBJECT), cpus[lib]) for lib in ratio_libs]
            )
        lines += _table(header, value_rows)
        if per is not None:
            lines += ["", f"CPU µs per {per}, client + server (lower is better):", ""]
            lines += _table(header, cpu_rows)
    return lines


def _loop_order(loop: str) -> int:
    return LOOPS.index(loop) if loop in LOOPS else len(LOOPS)


def _targets(checks: Sequence[Record]) -> list[str]:
    if not checks:
        return []
    rows = []
    for check in checks:
        relation = ">=" if METRICS[check["metric"]][2] else "<"
        factor = f"{check['required']:g}x " if check["required"] != 1 else ""
        case = _case(check["metric"], check["size"], check["compression"])
        rows.append(
            [
                f"{check['metric']} {case}: {SUBJECT} {relation} {factor}{check['peer']}",
                check["loop"],
                f"{check['ratio']:.2f}x",
                "yes" if check["met"] else "**no**",
            ]
        )
    return [
        "",
        "### Targets (issues 7 and 22)",
        "",
        *_table(["target", "loop", "ratio", "met"], rows),
    ]


def markdown(data: Record) -> str:
    """The report of a run (the harness's JSON document) as markdown."""
    meta = data["meta"]
    libs = [lib for lib in meta["libs"] if any(r["lib"] == lib for r in data["results"])]
    lines = [
        "## Benchmark results",
        "",
        f"- Command: `{meta['command']}`",
        f"- Machine: {meta['machine']}; load average {meta['load']} at the start",
        f"- Python {meta['python']}; {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
        f"- {meta['rounds']} interleaved rounds, median shown; windows of {meta['duration']} s "
        f"after {meta['warmup']} s of warm-up; server on CPU {meta['cpus'][0]}, "
        f"client on CPU {meta['cpus'][1]}"
        if meta["cpus"]
        else f"- {meta['rounds']} interleaved rounds, median shown; no CPU pinning",
        "- Compression off, except memory with deflate; binary messages; ratios are "
        f"{SUBJECT}'s figure divided by the other library's",
    ]
    if meta.get("client"):
        lines.append(f"- Server-only mode: every server driven by {meta['client']}'s client")
    if meta.get("note"):
        lines.append(f"- **{meta['note']}**")
    lines += _sections(data["results"], libs)
    lines += _targets(data["targets"])
    if data["errors"]:
        lines += ["", "### Errors", ""] + [f"- {error}" for error in data["errors"]]
    return "\n".join(lines) + "\n"
