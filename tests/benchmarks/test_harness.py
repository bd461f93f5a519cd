"""The harness runs real server and client processes and reports what they measured.

These runs are tiny (``--quick``): they check that every figure is there and
makes sense, never how fast anything is.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import harness
from benchmarks.peers import PEERS
from tests.listen_queue import BURST, kernel_allows_burst, queued_connections

SIZES = [64, 16384]


def run(tmp_path: Path, *options: str) -> dict[str, Any]:
    out, md = tmp_path / "results.json", tmp_path / "results.md"
    data = harness.main(["--quick", "--out", str(out), "--markdown", str(md), *options])
    assert json.loads(out.read_text()) == json.loads(json.dumps(data))
    data["markdown"] = md.read_text()
    return data


def cases(data: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {
        (r["metric"], r["size"], r["compression"], r["loop"], r["lib"]) for r in data["results"]
    }


def check_figures(data: dict[str, Any]) -> None:
    assert data["errors"] == []
    for result in data["results"]:
        assert result["rounds"] == 1
        assert result["value"] > 0, result
        if result["metric"] in ("idle", "traffic"):
            assert "client_cpu_us" not in result
        else:
            assert result["client_cpu_us"] > 0, result
            assert result["server_cpu_us"] > 0, result
    for sample in data["samples"]:
        assert sample["round"] == 0
        assert sample["count"] > 0


def test_every_metric_for_wskit_and_the_raw_baseline(tmp_path: Path) -> None:
    sizes = [str(size) for size in SIZES]
    data = run(tmp_path, "--libs", "raw", "wskit", "--loops", "asyncio", "--sizes", *sizes)
    check_figures(data)
    expected: set[tuple[Any, ...]] = set()
    for lib in ("raw", "wskit"):
        for size in SIZES:
            expected.add(("rtt", size, False, "asyncio", lib))
            expected.add(("stream", size, False, "asyncio", lib))
        expected.add(("concurrent", 64, False, "asyncio", lib))
        expected.add(("handshakes", None, False, "asyncio", lib))
        expected.add(("idle", None, False, "asyncio", lib))
    # The raw baseline has no compression to measure, no messages to broadcast.
    expected.add(("idle", None, True, "asyncio", "wskit"))
    expected |= {("traffic", 64, compression, "asyncio", "wskit") for compression in (False, True)}
    expected.add(("broadcast", 64, False, "asyncio", "wskit"))
    assert cases(data) == expected
    for sample in data["samples"]:
        if sample["metric"] == "stream":
            megabytes = sample["count"] * sample["size"] / 1e6
            assert sample["value"] == pytest.approx(megabytes / sample["seconds"])

    meta = data["meta"]
    assert meta["libs"] == ["raw", "wskit"]
    assert meta["cpus"] == [0, 1] or meta["skipped"]
    assert meta["connections"] == 20
    assert meta["idle"] == 200
    assert "wskit" in meta["versions"]

    markdown = data["markdown"]
    assert markdown.startswith("## Benchmark results")
    assert "| loop | case | raw | wskit | wskit/raw |" in markdown
    assert "| asyncio | 16 KiB |" in markdown
    assert "| asyncio | deflate | n/a |" in markdown
    assert "Targets" not in markdown  # no peer to compare with


def test_threads_and_uvloop_against_websockets(tmp_path: Path) -> None:
    data = run(
        tmp_path,
        *("--libs", "wskit", "websockets"),
        *("--loops", "uvloop", "threads"),
        *("--kinds", "rtt", "concurrent"),
        *("--sizes", "1048576"),
    )
    check_figures(data)
    assert cases(data) == {
        ("rtt", 1048576, False, "uvloop", "wskit"),
        ("rtt", 1048576, False, "uvloop", "websockets"),
        ("rtt", 1048576, False, "threads", "wskit"),
        ("rtt", 1048576, False, "threads", "websockets"),
        # Threads are compared on one connection only.
        ("concurrent", 64, False, "uvloop", "wskit"),
        ("concurrent", 64, False, "uvloop", "websockets"),
    }
    # wskit must do 2x websockets at 1 MiB on each event loop, not on threads.
    [target] = data["targets"]
    assert (target["metric"], target["size"], target["loop"]) == ("rtt", 1048576, "uvloop")
    assert target["required"] == 2
    assert "| wskit/websockets |" in data["markdown"]
    assert "| threads | 1 MiB |" in data["markdown"]


@pytest.mark.parametrize(
    ("libs", "loop", "kinds", "size"),
    [
        (("picows", "aiohttp"), "asyncio", ("rtt", "stream"), 1048576),
        # asyncio's loop with aiofastnet's transports, which picows uses anyway.
        (("wskit", "picows_websockets"), "aiofastnet", ("rtt",), 64),
    ],
)
def test_benchmark_only_peers_and_loops(
    tmp_path: Path, libs: tuple[str, ...], loop: str, kinds: tuple[str, ...], size: int
) -> None:
    # Installed by the bench extra, not the test one.
    pytest.importorskip("picows")
    pytest.importorskip("aiohttp")
    data = run(
        tmp_path,
        *("--libs", *libs),
        *("--loops", loop),
        *("--kinds", *kinds),
        *("--sizes", str(size)),
    )
    check_figures(data)
    assert cases(data) == {(kind, size, False, loop, lib) for kind in kinds for lib in libs}


def test_aiofastnet_is_measured_only_when_asked_for() -> None:
    assert harness._parser().parse_args([]).loops == ["asyncio", "uvloop", "threads"]


def test_server_only_mode_broadcast_and_memory_after_traffic(tmp_path: Path) -> None:
    pytest.importorskip("picows")
    data = run(
        tmp_path,
        *("--libs", "wskit", "websockets", "picows", "picows_websockets"),
        *("--loops", "asyncio", "threads"),
        *("--kinds", "rtt", "traffic-deflate", "broadcast"),
        *("--sizes", "64"),
        *("--client", "picows"),
    )
    check_figures(data)
    libs = ("wskit", "websockets", "picows", "picows_websockets")
    expected = {("rtt", 64, False, "asyncio", lib) for lib in libs}
    expected |= {("broadcast", 64, False, "asyncio", lib) for lib in libs}
    # picows' callback API has no permessage-deflate; its websockets API has.
    expected |= {("traffic", 64, True, "asyncio", lib) for lib in libs if lib != "picows"}
    # Threaded servers, driven by picows' client on asyncio; no broadcast there.
    expected |= {("rtt", 64, False, "threads", lib) for lib in ("wskit", "websockets")}
    assert cases(data) == expected
    for sample in data["samples"]:
        if sample["metric"] == "broadcast":
            assert sample["count"] % (50 * 10) == 0  # whole broadcasts to 50 connections
    assert data["meta"]["client"] == "picows"
    markdown = data["markdown"]
    assert "every server driven by picows's client" in markdown
    assert "### Broadcast to many connections (deliveries/s, higher is better)" in markdown
    assert "| asyncio | deflate, 64 B |" in markdown
    targets = {(t["metric"], t["compression"], t["peer"]) for t in data["targets"]}
    assert ("broadcast", False, "websockets") in targets
    assert ("traffic", True, "websockets") in targets


def test_the_client_of_server_only_mode() -> None:
    args = arguments(client="picows")
    job = harness.plan_job(args, "wskit", "threads", "rtt")
    assert job is not None
    assert job.client == "picows"
    argv = harness._command(job, "client", None, 10)
    assert argv[2:6] == ["benchmarks.peers.picows", "client", "--loop", "asyncio"]
    assert harness._command(job, "server", None, 10)[2:6] == [
        "benchmarks.peers.wskit",
        "server",
        "--loop",
        "threads",
    ]
    own = harness.plan_job(args, "picows", "uvloop", "rtt")
    assert own is not None
    assert own.client is None
    assert harness._command(own, "client", None, 10)[2:6] == [
        "benchmarks.peers.picows",
        "client",
        "--loop",
        "uvloop",
    ]


def test_raw_await_measures_round_trips_only(tmp_path: Path) -> None:
    data = run(
        tmp_path,
        *("--libs", "raw", "raw_await"),
        *("--loops", "asyncio", "uvloop", "threads"),
        *("--kinds", "rtt", "stream"),
        *("--sizes", "64"),
    )
    check_figures(data)
    awaiting = {case for case in cases(data) if case[-1] == "raw_await"}
    assert awaiting == {
        ("rtt", 64, False, "asyncio", "raw_await"),
        ("rtt", 64, False, "uvloop", "raw_await"),
    }
    assert "| raw | raw_await |" in data["markdown"]


def arguments(**options: Any) -> argparse.Namespace:
    args = harness._parser().parse_args(["--quick"])
    for name, value in {**harness.QUICK, **options}.items():
        setattr(args, name, value)
    return args


def test_a_failing_workload_is_reported_and_the_others_still_run() -> None:
    # The raw baseline cannot accept permessage-deflate: the idle workload fails.
    workloads = (
        {"metric": "idle", "connections": 2, "compression": True},
        {"metric": "rtt", "size": 64},
    )
    job = harness.Job("raw", "asyncio", "custom", workloads)
    samples, errors = harness.run_job(job, arguments(), None)
    assert [s["metric"] for s in samples] == ["rtt"]
    assert len(errors) == 1
    assert "accepted deflate on 0 of 2 connections" in errors[0]


def test_the_backlog_goes_to_the_server_only() -> None:
    job = harness.plan_job(arguments(backlog=10), "wskit", "asyncio", "handshakes")
    assert job is not None
    assert harness._command(job, "server", None, 10)[-2:] == ["--backlog", "10"]
    assert "--backlog" not in harness._command(job, "client", None, 10)
    default = harness.plan_job(arguments(), "wskit", "asyncio", "handshakes")
    assert default is not None
    assert "--backlog" not in harness._command(default, "server", None, 10)


@pytest.mark.skipif(not kernel_allows_burst(), reason="net.core.somaxconn is below the burst")
@pytest.mark.parametrize("lib", [lib for lib, (_, loops) in PEERS.items() if "asyncio" in loops])
def test_every_event_loop_server_listens_with_the_backlog(lib: str) -> None:
    argv = [sys.executable, "-m", f"benchmarks.peers.{lib}", "server", "--timeout", "60"]
    with subprocess.Popen(
        [*argv, "--backlog", "10"], cwd=harness.ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as server:
        try:
            assert server.stdout is not None
            port = json.loads(server.stdout.readline())["port"]
            server.send_signal(signal.SIGSTOP)  # nothing accepts meanwhile
            queued = queued_connections(("127.0.0.1", port))
        finally:
            server.kill()
    assert queued <= 20 < BURST


def test_a_server_that_does_not_start_is_reported() -> None:
    job = harness.Job("raw", "no-such-loop", "rtt", ({"metric": "rtt", "size": 64},))
    samples, errors = harness.run_job(job, arguments(), None)
    assert samples == []
    assert len(errors) == 1
    assert "the server exited before listening" in errors[0]
    assert "invalid choice: 'no-such-loop'" in errors[0]


def test_a_server_that_hangs_is_stopped_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A server that never listens: the deadline ends the pair, and the process.
    def command(job: harness.Job, role: str, cpu: int | None, timeout: float) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(30)", role, "hang"]

    monkeypatch.setattr(harness, "_command", command)
    job = harness.Job("raw", "asyncio", "rtt", ({"metric": "rtt", "size": 64},))
    started = time.monotonic()
    samples, errors = harness.run_job(job, arguments(timeout=0.5), None)
    assert time.monotonic() - started < 10
    assert samples == []
    assert len(errors) == 1
    assert "no answer in time" in errors[0]


def test_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.harness", "--help"],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--quick" in result.stdout
    assert "--markdown" in result.stdout
