"""Side-by-side benchmark: wskit against its peers, server and client in separate processes.

Run it from the repository root (the peers install with ``pip install -e ".[bench]"``)::

    .venv/bin/python -m benchmarks.harness --out results.json --markdown results.md
    .venv/bin/python -m benchmarks.harness --quick --libs wskit raw --loops asyncio

For every round, every loop, every kind of measurement and every library, in
that order (so libraries alternate and drift hits them alike), the harness
starts a server process pinned to one CPU and a client process pinned to the
other, runs the client's plan (:mod:`benchmarks.workloads`) and snapshots the
server's CPU time and memory at both ends of every measured window. Figures are
the median over rounds. See benchmarks/README.md for what each one means.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import select
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

from . import report
from .peers import DEFAULT_LOOPS, DEFAULT_PEERS, LOOPS, NO_KINDS, ONLY_KINDS, PEERS

__all__ = ["Job", "main", "plan_job", "run_job"]

ROOT = Path(__file__).resolve().parent.parent
SIZES = (64, 1024, 16 * 1024, 256 * 1024, 1024 * 1024)
# Kinds of measurement: one server and client pair each, in this order.
KINDS = (
    "rtt",
    "stream",
    "concurrent",
    "handshakes",
    "idle",
    "idle-deflate",
    "traffic",
    "traffic-deflate",
    "broadcast",
)
# Kinds for which the server accepts permessage-deflate.
DEFLATE_KINDS = ("idle-deflate", "traffic-deflate")
# Threaded peers are compared on one connection only.
THREADS_KINDS = ("rtt", "stream")
QUICK = {
    "rounds": 1,
    "duration": 0.1,
    "warmup": 0.02,
    "connections": 20,
    "handshake_clients": 2,
    "idle": 200,
    "broadcast_connections": 50,
}

Sample = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Job:
    """One server and client pair: a library on a loop, running some workloads."""

    lib: str
    loop: str
    kind: str
    workloads: tuple[dict[str, Any], ...]
    #: The library of the client process, if not ``lib`` (server-only mode).
    client: str | None = None
    #: The server's listen backlog, if not the library's default.
    backlog: int | None = None

    @property
    def compression(self) -> bool:
        """Whether the server accepts permessage-deflate."""
        return self.kind in DEFLATE_KINDS


def plan_job(args: argparse.Namespace, lib: str, loop: str, kind: str) -> Job | None:
    """The job measuring ``kind`` for one library on one loop, if that applies."""
    if loop not in PEERS[lib][1] or (loop == "threads" and kind not in THREADS_KINDS):
        return None
    if kind not in ONLY_KINDS.get(lib, (kind,)) or kind in NO_KINDS.get(lib, ()):
        return None
    if kind == "broadcast" and loop == "threads":
        return None
    workloads: list[dict[str, Any]]
    if kind in ("rtt", "stream"):
        workloads = [{"metric": kind, "size": size} for size in args.sizes]
    elif kind == "concurrent":
        workloads = [{"metric": kind, "size": 64, "connections": args.connections}]
    elif kind == "handshakes":
        workloads = [{"metric": kind, "connections": args.handshake_clients}]
    elif kind == "broadcast":
        workloads = [
            {
                "metric": kind,
                "size": args.broadcast_size,
                "messages": args.broadcast_messages,
                "connections": args.broadcast_connections,
            }
        ]
    else:
        compression = kind in DEFLATE_KINDS
        if compression and lib in ("raw", "picows"):  # neither has permessage-deflate
            return None
        workload = {"metric": "idle", "connections": args.idle, "compression": compression}
        if kind.startswith("traffic"):
            workload.update(metric="traffic", size=args.traffic_size)
        workloads = [workload]
    client = args.client if args.client not in (None, lib) else None
    return Job(lib, loop, kind, tuple(workloads), client, args.backlog)


class Child:
    """A server or client process, read line by line with a deadline."""

    def __init__(self, argv: list[str], stderr: IO[bytes]) -> None:
        self.argv = argv
        self.stderr = stderr
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        self.stdin = cast(IO[bytes], self.popen.stdin)
        self.stdout = cast(IO[bytes], self.popen.stdout)
        self.buffer = b""

    def read(self, deadline: float) -> dict[str, Any] | None:
        """The next JSON line, or None once the process closed its stdout."""
        while True:
            line, newline, rest = self.buffer.partition(b"\n")
            if newline:
                self.buffer = rest
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # a library printed something: not for us
                if isinstance(message, dict):
                    return message
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.stdout], [], [], remaining)[0]:
                raise TimeoutError(f"{self.argv[2]} {self.argv[3]}: no answer in time")
            data = os.read(self.stdout.fileno(), 65536)
            if not data:
                return None
            self.buffer += data

    def write(self, line: str) -> None:
        """Send one line to the process."""
        self.stdin.write(line.encode() + b"\n")
        self.stdin.flush()

    def stop(self, wait: float = 5.0) -> int:
        """Close stdin (a server exits), wait a little, kill if needed; return the exit code."""
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()
        try:
            code = self.popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self.stdout.close()
        return code

    def errors(self) -> str:
        """The end of what the process wrote on stderr."""
        self.stderr.seek(0)
        return self.stderr.read()[-2000:].decode(errors="replace").strip()


def _command(job: Job, role: str, cpu: int | None, timeout: float) -> list[str]:
    lib, loop = job.lib, job.loop
    if role == "client" and job.client is not None:
        # Server-only mode: the one client drives every server, on the same
        # loop where it can (a threaded server gets an event-loop client).
        lib = job.client
        loop = loop if loop in PEERS[lib][1] else "asyncio"
    argv = [sys.executable, "-m", f"benchmarks.peers.{lib}", role, "--loop", loop]
    argv += ["--timeout", str(timeout)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    if role == "server" and job.compression:
        argv.append("--compression")
    if role == "server" and job.backlog is not None:
        argv += ["--backlog", str(job.backlog)]
    return argv


def _sample(job: Job, result: dict[str, Any], marks: list[dict[str, Any]]) -> Sample:
    if len(marks) != 2:
        raise ValueError(f"{len(marks)} server snapshots for one window")
    before, after = marks
    count = result["count"]
    sample: Sample = {
        "lib": job.lib,
        "loop": job.loop,
        "metric": result["metric"],
        "size": result.get("size"),
        "compression": result.get("compression", False),
        "count": count,
    }
    if result["metric"] in ("idle", "traffic"):
        return {**sample, "value": (after["rss"] - before["rss"]) / count}
    seconds = result["seconds"]
    if result["metric"] == "stream":
        value = result["bytes"] / seconds / 1e6
    else:
        value = count / seconds
    return {
        **sample,
        "value": value,
        "seconds": seconds,
        "client_cpu_us": result["client_cpu"] / count * 1e6,
        "server_cpu_us": (after["cpu"] - before["cpu"]) / count * 1e6,
    }


def run_job(
    job: Job, args: argparse.Namespace, cpus: tuple[int, int] | None
) -> tuple[list[Sample], list[str]]:
    """Run one server and client pair; return its samples and its errors."""
    samples: list[Sample] = []
    errors: list[str] = []
    label = f"{job.lib} on {job.loop}, {job.kind}"
    deadline = time.monotonic() + args.timeout
    plan = {
        "timing": {"duration": args.duration, "warmup": args.warmup},
        "workloads": list(job.workloads),
    }
    server_cpu, client_cpu = cpus if cpus else (None, None)
    # Processes outlive the harness's deadline a little, then SIGALRM ends them.
    timeout = args.timeout + 10
    with tempfile.TemporaryFile() as server_log, tempfile.TemporaryFile() as client_log:
        server = Child(_command(job, "server", server_cpu, timeout), server_log)
        client: Child | None = None
        # After a failure, nothing is worth waiting for.
        wait = 5.0
        try:
            started = server.read(deadline)
            if started is None:
                raise RuntimeError("the server exited before listening")
            argv = _command(job, "client", client_cpu, timeout)
            argv += ["--port", str(started["port"]), "--plan", json.dumps(plan)]
            client = Child(argv, client_log)
            marks: list[dict[str, Any]] = []
            while (message := client.read(deadline)) is not None:
                if "mark" in message:
                    server.write("mark")
                    snapshot = server.read(deadline)
                    if snapshot is None:
                        raise RuntimeError("the server exited during a measurement")
                    marks.append(snapshot)
                    client.write("go")
                elif "result" in message:
                    samples.append(_sample(job, message["result"], marks))
                    marks = []
                elif "error" in message:
                    errors.append(f"{label}: {message['workload']}: {message['error']}")
                    marks = []
            if client.stop():
                errors.append(f"{label}: client failed: {client.errors()}")
            client = None
        except Exception as exc:  # one failed pair mustn't lose a long run's other figures
            wait = 0.0
            errors.append(f"{label}: {exc}; server: {server.errors()}")
            if client is not None:
                errors[-1] += f"; client: {client.errors()}"
        finally:
            if client is not None:
                client.stop(wait)
            server.stop(wait)
    return samples, errors


def _available(args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """The libraries and loops that can run here, and what is skipped and why."""
    skipped = []
    libs = []
    for lib in args.libs:
        package, _ = PEERS[lib]
        if package is not None and importlib.util.find_spec(package) is None:
            skipped.append(f"{lib}: not installed")
        else:
            libs.append(lib)
    loops = []
    for loop in args.loops:
        if loop in ("uvloop", "aiofastnet") and importlib.util.find_spec(loop) is None:
            skipped.append(f"{loop}: not installed")
        else:
            loops.append(loop)
    return libs, loops, skipped


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.partition(":")[2].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def _versions(libs: Sequence[str]) -> dict[str, str]:
    versions = {}
    for name in [*libs, "uvloop", "aiofastnet"]:
        package = PEERS[name][0] if name in PEERS else name
        if package is None:
            continue
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    if "wskit" in versions:
        from wskit.speedups import IMPLEMENTATION  # noqa: PLC0415 (only when measured)

        versions["wskit"] += f" ({'C speedups' if IMPLEMENTATION == 'c' else 'pure Python'})"
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if commit:
            versions["wskit"] += f" at {commit}"
    return versions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.harness",
        description="wskit against its peers, server and client in separate processes.",
    )
    add = parser.add_argument
    add("--rounds", type=int, default=5, help="interleaved rounds; figures are medians")
    add("--libs", nargs="+", choices=list(PEERS), default=DEFAULT_PEERS)
    add("--loops", nargs="+", choices=LOOPS, default=list(DEFAULT_LOOPS))
    add("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="what to measure")
    add("--sizes", nargs="+", type=int, default=list(SIZES), help="message sizes in bytes")
    add("--duration", type=float, default=1.0, help="seconds of each measured window")
    add("--warmup", type=float, default=0.3, help="seconds of warm-up before each window")
    add("--connections", type=int, default=1000, help="connections doing round trips at once")
    add("--handshake-clients", type=int, default=10, help="clients opening connections at once")
    add("--backlog", type=int, help="every server's listen backlog (default: each library's own)")
    add("--idle", type=int, default=5000, help="idle connections for the memory figure")
    add("--traffic-size", type=int, default=64, help="bytes of each connection's one message")
    add("--broadcast-connections", type=int, default=10000, help="connections broadcast to")
    add("--broadcast-messages", type=int, default=10, help="broadcasts per request")
    add("--broadcast-size", type=int, default=64, help="bytes of each broadcast message")
    add(
        "--client",
        choices=list(PEERS),
        help="server-only mode: this library's client drives every server (e.g. picows)",
    )
    add("--cpus", nargs=2, type=int, default=[0, 1], metavar=("SERVER", "CLIENT"))
    add("--no-pin", action="store_true", help="don't pin the processes to CPUs")
    add("--timeout", type=float, default=600.0, help="seconds allowed to one server/client pair")
    add("--quick", action="store_true", help="a smoke run: 1 round, tiny windows and counts")
    add("--note", help="a line for the report, e.g. 'noisy run, machine shared'")
    add("--out", type=Path, help="write the JSON document here")
    add("--markdown", type=Path, help="write the markdown report here ('-': standard output)")
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the harness; return the JSON document it writes."""
    argv = list(argv if argv is not None else sys.argv[1:])
    args = _parser().parse_args(argv)
    if args.quick:
        # Explicit options win over the quick defaults.
        given = set(argv)
        for name, value in QUICK.items():
            if f"--{name.replace('_', '-')}" not in given:
                setattr(args, name, value)
    libs, loops, skipped = _available(args)
    cpus = None if args.no_pin else (args.cpus[0], args.cpus[1])
    if cpus and not set(cpus) <= os.sched_getaffinity(0):
        skipped.append(f"pinning: CPUs {cpus} not available")
        cpus = None
    for reason in skipped:
        print(f"skipped: {reason}", file=sys.stderr)

    command = shlex.join(["python", "-m", "benchmarks.harness", *argv])
    meta: dict[str, Any] = {
        "command": command,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "load": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "python": platform.python_version(),
        "versions": _versions(libs),
        "libs": libs,
        "loops": loops,
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "connections": args.connections,
        "handshake_clients": args.handshake_clients,
        "idle": args.idle,
        "traffic_size": args.traffic_size,
        "broadcast_connections": args.broadcast_connections,
        "broadcast_messages": args.broadcast_messages,
        "broadcast_size": args.broadcast_size,
        "client": args.client,
        "cpus": list(cpus) if cpus else None,
        "skipped": skipped,
        "note": args.note,
    }
    samples: list[Sample] = []
    errors: list[str] = []
    for round_ in range(args.rounds):
        for loop in loops:
            for kind in args.kinds:
                for lib in libs:
                    job = plan_job(args, lib, loop, kind)
                    if job is None:
                        continue
                    start = time.monotonic()
                    job_samples, job_errors = run_job(job, args, cpus)
                    for sample in job_samples:
                        sample["round"] = round_
                    samples += job_samples
                    errors += job_errors
                    print(
                        f"round {round_ + 1}/{args.rounds}: {lib} on {loop}, {kind}: "
                        f"{len(job_samples)} figures, {len(job_errors)} errors, "
                        f"{time.monotonic() - start:.1f} s",
                        file=sys.stderr,
                    )
    results = report.aggregate(samples)
    data: dict[str, Any] = {
        "meta": meta,
        "results": results,
        "targets": report.check_targets(results),
        "errors": errors,
        "samples": samples,
    }
    if args.out:
        args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    if args.markdown:
        text = report.markdown(data)
        if str(args.markdown) == "-":
            sys.stdout.write(text)
        else:
            args.markdown.write_text(text, encoding="utf-8")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return data


if __name__ == "__main__":
    main()
