"""Run the Autobahn|Testsuite against wskit's servers and clients; summarize.

Usage::

    .venv/bin/python compliance/run.py [--mode fast|full] [--agent NAME ...] [--out DIR]

The agents are ``asyncio-server``, ``sync-server``, ``trio-server``,
``asyncio-client``, ``sync-client``, ``trio-client`` and ``uvicorn-server``
(all by default). For a server, the echo server in
``compliance/testees/`` starts on a free port of 127.0.0.1 and ``wstest -m
fuzzingclient`` runs the cases against it; for a client, ``wstest -m
fuzzingserver`` starts on a free port and the client testee runs the cases
against it. Every process is bounded in time and stopped at the end.

The reports (wstest's HTML and JSON, the logs) go to ``--out``; the summary
is printed and written there as ``SUMMARY.md`` and ``summary.json``. The exit
status is 1 if any case is FAILED or NON-STRICT (or did not run), 0 otherwise.
wstest comes from ``.venv-autobahn/`` (see ``compliance/setup.sh``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

COMPLIANCE = Path(__file__).resolve().parent
ROOT = COMPLIANCE.parent
WSTEST_PYTHON = ROOT / ".venv-autobahn" / "py27" / "bin" / "python"
WSTEST = [str(WSTEST_PYTHON), str(COMPLIANCE / "wstest_local.py")]

# The Starlette echo app of testees/uvicorn_server.py under uvicorn, with the
# wskit engine and, for comparison, each of uvicorn's own (--ws values).
UVICORN_ENGINES = {
    "uvicorn-server": "wskit.uvicorn:WebSocketProtocol",
    "uvicorn-websockets-sansio-server": "websockets-sansio",
    "uvicorn-websockets-server": "websockets",
    "uvicorn-wsproto-server": "wsproto",
}
# By default, wskit's agents; the stock engines run when asked by name.
AGENTS = (
    "asyncio-server",
    "sync-server",
    "trio-server",
    "asyncio-client",
    "sync-client",
    "trio-client",
    "uvicorn-server",
)

# From the worst to the best: a case gets the worst of its two verdicts.
RESULTS = ("FAILED", "NON-STRICT", "UNIMPLEMENTED", "INFORMATIONAL", "OK")

# The suite's case families (autobahntestsuite.case.CaseCategories).
FAMILIES = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved Bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 Handling",
    "7": "Close Handling",
    "9": "Limits/Performance",
    "10": "Misc (auto-fragmentation)",
    "12": "WebSocket Compression (different payloads)",
    "13": "WebSocket Compression (different parameters)",
}

# Seconds to wait for a process to start listening, or to stop when asked.
STARTUP_TIMEOUT = 30
STOP_TIMEOUT = 10


@dataclasses.dataclass
class CaseResult:
    case: str
    result: str  # one of RESULTS
    behavior: str
    behavior_close: str
    remote_close_code: int | None
    duration_ms: int
    detail: str  # why, when the result is not OK


@dataclasses.dataclass
class AgentRun:
    agent: str
    seconds: float
    cases: list[CaseResult]
    missing: list[str]  # cases selected but absent from the report
    error: str  # what went wrong with the run itself, if anything

    def counts(self, family: str | None = None) -> Counter[str]:
        counts: Counter[str] = Counter(
            case.result for case in self.cases if family is None or _family(case.case) == family
        )
        counts["FAILED"] += sum(1 for case in self.missing if family in (None, _family(case)))
        return counts


def _family(case: str) -> str:
    return case.split(".", 1)[0]


def _case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case.split("."))


def worst(*verdicts: str) -> str:
    """Combine wstest verdicts; values it may add later count as FAILED."""
    ranks = [RESULTS.index(v) if v in RESULTS else 0 for v in verdicts]
    return RESULTS[min(ranks)]


# Processes.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running(command: Sequence[str], log: IO[str], **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    """Start a process in its own session; stop it (and its children) on exit."""
    process = subprocess.Popen(
        command,
        stdout=kwargs.pop("stdout", log),
        stderr=log,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def wait_listening(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with status {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"not listening on port {port} after {STARTUP_TIMEOUT} s")


def read_port(process: subprocess.Popen[str]) -> int:
    """The server testees print the port they bound on their first line."""
    if process.stdout is None:
        raise RuntimeError("testee started without a pipe on stdout")
    # readline() blocks: the testee exits (EOF) or prints within the startup
    # timeout, which the caller enforces by killing it.
    line = process.stdout.readline()
    if not line.strip().isdigit():
        raise RuntimeError(f"testee did not print its port (got {line!r})")
    return int(line)


def wstest_env() -> dict[str, str]:
    # The suite's dependencies warn about Python 2 on every start.
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


@dataclasses.dataclass
class Job:
    """What running the cases for one agent takes."""

    name: str  # the agent's name in wstest's reports
    testee: Path
    arguments: list[str]
    cases: dict[str, list[str]]
    reports: Path
    testee_log: IO[str]
    wstest_log: IO[str]
    timeout: float


def run_agent(agent: str, cases: dict[str, list[str]], out: Path, timeout: float) -> AgentRun:
    """Run the selected cases for one agent and read wstest's report."""
    directory = out / agent
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    error = ""
    engine = UVICORN_ENGINES.get(agent)
    with (
        (directory / "testee.log").open("w") as testee_log,
        (directory / "wstest.log").open("w") as wstest_log,
    ):
        job = Job(
            name=f"wskit-{agent}" if agent in AGENTS else agent,
            testee=COMPLIANCE
            / "testees"
            / ("uvicorn_server.py" if engine else f"{agent.replace('-', '_')}.py"),
            arguments=[engine] if engine else [],
            cases=cases,
            reports=directory / "reports",
            testee_log=testee_log,
            wstest_log=wstest_log,
            timeout=timeout,
        )
        try:
            if agent.endswith("-server"):
                run_server_agent(job)
            else:
                run_client_agent(job)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            error = str(exc)
    seconds = time.monotonic() - started
    results = read_reports(job.reports, job.name)
    selected = resolve_cases(cases)
    missing = sorted(set(selected) - {result.case for result in results}, key=_case_key)
    return AgentRun(agent, seconds, results, missing, error)


def run_server_agent(job: Job) -> None:
    """Start the echo server testee, then point wstest's fuzzing client at it."""
    command = [sys.executable, str(job.testee), *job.arguments]
    with running(command, job.testee_log, stdout=subprocess.PIPE) as server:
        timer = _kill_after(server, STARTUP_TIMEOUT)
        try:
            port = read_port(server)
        finally:
            timer.cancel()
        spec = {
            "outdir": str(job.reports),
            "servers": [{"agent": job.name, "url": f"ws://127.0.0.1:{port}"}],
            **job.cases,
        }
        spec_file = write_spec(job.reports.parent / "fuzzingclient.json", spec)
        command = [*WSTEST, "-m", "fuzzingclient", "-s", str(spec_file)]
        with running(command, job.wstest_log, env=wstest_env()) as wstest:
            wstest.wait(job.timeout)
        if wstest.returncode != 0:
            raise RuntimeError(f"wstest exited with status {wstest.returncode}")


def run_client_agent(job: Job) -> None:
    """Start wstest's fuzzing server, then the client testee against it."""
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    spec = {"url": url, "outdir": str(job.reports), **job.cases}
    spec_file = write_spec(job.reports.parent / "fuzzingserver.json", spec)
    # --webport 0: no web server for browsing the reports.
    command = [*WSTEST, "-m", "fuzzingserver", "--webport", "0", "-s", str(spec_file)]
    with running(command, job.wstest_log, env=wstest_env()) as wstest:
        wait_listening(port, wstest)
        command = [sys.executable, str(job.testee), url, job.name]
        with running(command, job.testee_log) as client:
            client.wait(job.timeout)
        if client.returncode != 0:
            raise RuntimeError(f"client testee exited with status {client.returncode}")


def _kill_after(process: subprocess.Popen[str], seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, stop, (process,))
    timer.start()
    return timer


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


# Reading the results.


def resolve_cases(cases: dict[str, list[str]]) -> list[str]:
    """Expand the case patterns of a spec with the suite's own code."""
    script = (
        "import json, sys\n"
        "from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories, "
        "CaseSetname, CaseBasename\n"
        "from autobahntestsuite.caseset import CaseSet\n"
        "case_set = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)\n"
        "print(json.dumps(case_set.parseSpecCases(json.load(sys.stdin))))\n"
    )
    output = subprocess.run(
        [str(WSTEST_PYTHON), "-c", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        env=wstest_env(),
        timeout=60,
    ).stdout
    resolved: list[str] = json.loads(output)
    return resolved


def read_reports(reports: Path, name: str) -> list[CaseResult]:
    index = reports / "index.json"
    if not index.exists():
        return []
    by_case = json.loads(index.read_text()).get(name, {})
    results = []
    for case, entry in by_case.items():
        behavior, behavior_close = entry["behavior"], entry["behaviorClose"]
        result = worst(behavior, behavior_close)
        detail = ""
        if result != "OK":
            report = json.loads((reports / entry["reportfile"]).read_text())
            detail = f"{report.get('result', '')} / {report.get('resultClose', '')}"
        results.append(
            CaseResult(
                case,
                result,
                behavior,
                behavior_close,
                entry.get("remoteCloseCode"),
                entry.get("duration", 0),
                detail,
            )
        )
    results.sort(key=lambda result: _case_key(result.case))
    return results


# The summary.


def output(command: Sequence[str], **kwargs: Any) -> str:
    """What a short command prints; empty if it fails."""
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, **kwargs
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def versions() -> dict[str, str]:
    # "Autobahn 0.10.9\nAutobahnTestSuite 0.8.2"
    wstest = output([*WSTEST, "--autobahnversion"], env=wstest_env()).split() or ["?"] * 4
    python27 = output(
        [str(WSTEST_PYTHON), "-c", "import platform; print(platform.python_version())"]
    )
    wskit = (
        output(
            [
                sys.executable,
                "-c",
                "import wskit, wskit.speedups as s; print(wskit.__version__, s.IMPLEMENTATION)",
            ],
            cwd=ROOT,
        ).split()
        or ["?"] * 2
    )
    revision = output(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT) or "unknown"
    dirty = output(["git", "status", "--porcelain", "--", "wskit", "compliance/testees"], cwd=ROOT)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wstest": f"autobahntestsuite {wstest[3]} (autobahn {wstest[1]}) on CPython {python27}",
        "testees": f"CPython {platform.python_version()}, wskit {wskit[0]} (speedups: {wskit[1]})",
        "revision": revision + (" with local changes" if dirty else ""),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    }


def summarize(runs: list[AgentRun], mode: str, info: dict[str, str]) -> str:
    lines = [
        f"# Autobahn|Testsuite: wskit, {mode} mode",
        "",
        f"- date: {info['date']}",
        f"- wstest: {info['wstest']}",
        f"- testees: {info['testees']}",
        f"- git revision: {info['revision']}",
        f"- machine: {info['machine']}",
        "",
        "A case counts as OK only if both of wstest's verdicts, on the exchange",
        "(`behavior`) and on the closing handshake (`behaviorClose`), are OK.",
        "",
        "| agent | cases | " + " | ".join(RESULTS[::-1]) + " | minutes |",
        "|---|---:|" + "---:|" * len(RESULTS) + "---:|",
    ]
    for run in runs:
        counts = run.counts()
        total = len(run.cases) + len(run.missing)
        row = " | ".join(str(counts[result]) for result in RESULTS[::-1])
        lines.append(f"| {run.agent} | {total} | {row} | {run.seconds / 60:.1f} |")

    lines += ["", "## Per case family", ""]
    lines.append("| family | " + " | ".join(run.agent for run in runs) + " |")
    lines.append("|---|" + "---|" * len(runs))
    families = sorted(
        {_family(case.case) for run in runs for case in run.cases}
        | {_family(case) for run in runs for case in run.missing},
        key=int,
    )
    for family in families:
        cells = []
        for run in runs:
            counts = run.counts(family)
            cells.append(", ".join(f"{counts[r]} {r}" for r in RESULTS[::-1] if counts[r]) or "-")
        title = FAMILIES.get(family, "")
        lines.append(f"| {family}. {title} | " + " | ".join(cells) + " |")

    lines += ["", "## Cases not OK", ""]
    not_ok = [(run.agent, case) for run in runs for case in run.cases if case.result != "OK"]
    troubled = [run for run in runs if run.missing or run.error]
    if not not_ok and not troubled:
        lines.append("None.")
    for agent, case in not_ok:
        lines.append(
            f"- {agent} {case.case}: {case.result} (behavior {case.behavior}, "
            f"behaviorClose {case.behavior_close}, close code {case.remote_close_code}): "
            f"{case.detail}"
        )
    for run in troubled:
        if run.error:
            lines.append(f"- {run.agent}: the run failed: {run.error}")
        if run.missing:
            lines.append(
                f"- {run.agent}: {len(run.missing)} cases did not run (FAILED): "
                + ", ".join(run.missing)
            )
    return "\n".join(lines) + "\n"


def load_cases(mode: str) -> dict[str, list[str]]:
    spec = json.loads((COMPLIANCE / "specs" / f"{mode}.json").read_text())
    return {key: spec[key] for key in ("cases", "exclude-cases") if key in spec}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode",
        choices=("fast", "full"),
        default="fast",
        help="the cases of compliance/specs/MODE.json (default: fast)",
    )
    parser.add_argument(
        "--agent",
        choices=sorted({*AGENTS, *UVICORN_ENGINES}),
        action="append",
        dest="agents",
        help="run this agent only; repeat for several (default: wskit's five)",
    )
    parser.add_argument("--out", type=Path, help="reports directory (compliance/reports/MODE)")
    parser.add_argument("--summary", type=Path, help="also write the summary to this file")
    parser.add_argument(
        "--timeout", type=float, help="seconds per agent; default: 900 (fast), 14400 (full)"
    )
    args = parser.parse_args(argv)
    if not WSTEST_PYTHON.exists():
        parser.error(f"{WSTEST_PYTHON} is missing: run compliance/setup.sh first")
    agents = args.agents or list(AGENTS)
    out: Path = (args.out or COMPLIANCE / "reports" / args.mode).resolve()
    timeout = args.timeout or (900 if args.mode == "fast" else 14400)
    cases = load_cases(args.mode)
    info = versions()

    runs = []
    for agent in agents:
        print(f"== {agent}: {args.mode} mode, reports in {out / agent}", flush=True)
        run = run_agent(agent, cases, out, timeout)
        counts = run.counts()
        print(
            f"   {run.seconds:.0f} s: " + ", ".join(f"{counts[r]} {r}" for r in RESULTS[::-1]),
            flush=True,
        )
        runs.append(run)

    summary = summarize(runs, args.mode, info)
    (out / "SUMMARY.md").write_text(summary)
    if args.summary is not None:
        args.summary.write_text(summary)
    (out / "summary.json").write_text(
        json.dumps(
            {"mode": args.mode, **info, "agents": [dataclasses.asdict(run) for run in runs]},
            indent=2,
        )
        + "\n"
    )
    print(summary)
    failed = any(run.counts()["FAILED"] or run.counts()["NON-STRICT"] or run.error for run in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
