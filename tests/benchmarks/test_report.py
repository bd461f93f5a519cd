"""Medians, targets and the markdown report, from figures made up for the purpose."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import report

MIB = 1024 * 1024


def sample(lib: str, value: float, metric: str = "rtt", **fields: Any) -> dict[str, Any]:
    record = {
        "metric": metric,
        "size": 64,
        "compression": False,
        "loop": "asyncio",
        "lib": lib,
        "value": value,
        "client_cpu_us": value / 10,
        "server_cpu_us": value / 20,
    }
    if metric == "idle":
        record.update(size=None)
        del record["client_cpu_us"], record["server_cpu_us"]
    return {**record, **fields}


def result(lib: str, value: float, metric: str = "rtt", **fields: Any) -> dict[str, Any]:
    return {**sample(lib, value, metric, **fields), "rounds": 1}


def test_aggregate_takes_medians_per_case() -> None:
    samples = [
        sample("wskit", 10),
        sample("wskit", 30),
        sample("wskit", 20),
        sample("wskit", 99, loop="uvloop"),
        sample("wskit", 5, size=1024),
        sample("picows", 7),
        sample("wskit", 4096, metric="idle"),
        sample("wskit", 8192, metric="idle", compression=True),
    ]
    results = {
        (r["metric"], r["size"], r["compression"], r["loop"], r["lib"]): r
        for r in report.aggregate(samples)
    }
    assert len(results) == 6
    median = results["rtt", 64, False, "asyncio", "wskit"]
    assert median["rounds"] == 3
    assert median["value"] == 20
    assert median["client_cpu_us"] == 2
    assert median["server_cpu_us"] == 1
    assert results["rtt", 64, False, "uvloop", "wskit"]["value"] == 99
    assert results["rtt", 1024, False, "asyncio", "wskit"]["value"] == 5
    assert results["rtt", 64, False, "asyncio", "picows"]["value"] == 7
    idle = results["idle", None, False, "asyncio", "wskit"]
    assert idle["value"] == 4096
    assert "client_cpu_us" not in idle
    assert results["idle", None, True, "asyncio", "wskit"]["value"] == 8192


def targets(*results: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {
        (t["metric"], t["size"], t["compression"], t["loop"], t["peer"]): t
        for t in report.check_targets(results)
    }


def test_targets_against_picows_at_every_size() -> None:
    checks = targets(
        result("wskit", 100),
        result("picows", 100),
        result("wskit", 90, size=1024),
        result("picows", 100, size=1024),
    )
    assert set(checks) == {
        ("rtt", 64, False, "asyncio", "picows"),
        ("rtt", 1024, False, "asyncio", "picows"),
    }
    assert checks["rtt", 64, False, "asyncio", "picows"]["met"]  # equal is enough
    assert not checks["rtt", 1024, False, "asyncio", "picows"]["met"]
    assert checks["rtt", 1024, False, "asyncio", "picows"]["ratio"] == pytest.approx(0.9)


def test_targets_against_websockets_need_a_factor() -> None:
    checks = targets(
        result("wskit", 300),
        result("websockets", 100),
        result("wskit", 19, size=MIB),
        result("websockets", 10, size=MIB),
        result("wskit", 290, loop="uvloop"),
        result("websockets", 100, loop="uvloop"),
    )
    assert checks["rtt", 64, False, "asyncio", "websockets"]["met"]
    assert checks["rtt", 64, False, "asyncio", "websockets"]["required"] == 3
    assert not checks["rtt", 64, False, "uvloop", "websockets"]["met"]
    assert not checks["rtt", MIB, False, "asyncio", "websockets"]["met"]
    assert checks["rtt", MIB, False, "asyncio", "websockets"]["required"] == 2


def test_targets_for_streaming_and_memory() -> None:
    checks = targets(
        result("wskit", 50, metric="stream"),
        result("picows", 40, metric="stream"),
        result("wskit", 30, metric="stream", size=MIB),
        result("picows", 40, metric="stream", size=MIB),
        result("wskit", 4000, metric="idle"),
        result("websockets", 4000, metric="idle"),
        result("wskit", 4000, metric="idle", compression=True),
        result("websockets", 9000, metric="idle", compression=True),
    )
    assert checks["stream", 64, False, "asyncio", "picows"]["met"]
    assert not checks["stream", MIB, False, "asyncio", "picows"]["met"]
    # Memory must be below websockets', not equal.
    assert not checks["idle", None, False, "asyncio", "websockets"]["met"]
    assert checks["idle", None, True, "asyncio", "websockets"]["met"]


def test_targets_skip_what_was_not_measured() -> None:
    checks = targets(
        result("wskit", 100),
        result("aiohttp", 100),
        result("picows", 100, size=1024),
        result("wskit", 100, loop="threads"),
        result("websockets", 10, loop="threads"),
    )
    assert checks == {}


def document(results: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {
        "meta": {
            "command": "python -m benchmarks.harness --rounds 3",
            "machine": "a machine",
            "load": "0.10 0.20 0.30",
            "python": "3.11.7",
            "versions": {"wskit": "0.1"},
            "libs": ["raw", "wskit", "picows", "websockets", "aiohttp"],
            "rounds": 3,
            "duration": 1.0,
            "warmup": 0.3,
            "cpus": [0, 1],
            **meta,
        },
        "results": results,
        "targets": report.check_targets(results),
        "errors": [],
    }


def test_markdown_tables_with_ratios() -> None:
    results = [
        result("raw", 40000),
        result("wskit", 20000),
        result("picows", 25000),
        result("wskit", 150.5, metric="stream", size=MIB),
        result("wskit", 12000, metric="idle"),
        result("websockets", 16000, metric="idle"),
    ]
    text = report.markdown(document(results, note="noisy run, machine shared"))
    lines = text.splitlines()
    assert "- Command: `python -m benchmarks.harness --rounds 3`" in lines
    assert "- **noisy run, machine shared**" in lines
    assert "server on CPU 0, client on CPU 1" in text
    # aiohttp measured nothing: no column.
    header = (
        "| loop | case | raw | wskit | picows | websockets"
        " | wskit/raw | wskit/picows | wskit/websockets |"
    )
    assert lines.count(header) == 5  # rtt, its CPU, stream, its CPU, memory
    assert "| asyncio | 64 B | 40,000 | 20,000 | 25,000 | n/a | 0.50x | 0.80x | n/a |" in lines
    assert "| asyncio | 64 B | 4,000 + 2,000 | 2,000 + 1,000 | 2,500 + 1,250 | n/a |" in text
    assert "| asyncio | 1 MiB | n/a | 150 | n/a | n/a | n/a | n/a | n/a |" in lines
    assert "| asyncio | no compression | n/a | 12,000 | n/a | 16,000 | n/a | n/a | 0.75x |" in lines
    assert "| rtt 64 B: wskit >= picows | asyncio | 0.80x | **no** |" in lines
    assert "| idle no compression: wskit < websockets | asyncio | 0.75x | yes |" in lines
    assert "Errors" not in text


def test_markdown_lists_errors_and_unpinned_runs() -> None:
    data = document([result("wskit", 100)], cpus=None)
    data["errors"] = ["picows on uvloop, rtt: no answer in time"]
    text = report.markdown(data)
    assert "no CPU pinning" in text
    assert "### Errors\n\n- picows on uvloop, rtt: no answer in time\n" in text
    assert "Targets" not in text
