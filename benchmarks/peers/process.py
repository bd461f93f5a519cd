"""The server and client processes the harness starts, one pair per measurement.

Each peer module runs this with its own factory::

    python -m benchmarks.peers.<lib> server --loop uvloop --cpu 0 [--compression]
    python -m benchmarks.peers.<lib> client --loop uvloop --cpu 1 --port PORT --plan JSON

Both talk to the harness in JSON lines. The server prints ``{"port": ...}``
once it listens, then answers every ``mark`` line on its stdin with a snapshot
of its CPU time and resident memory, and exits as soon as its stdin closes.
The client runs the workloads of its plan (:mod:`benchmarks.workloads`); it
prints ``{"mark": ...}`` and waits for a line on its stdin at both ends of
every measured window, so that the harness snapshots the server there too.

Each process pins itself to one CPU, raises its file descriptor limit (5,000
idle connections) and dies by ``SIGALRM`` after ``--timeout`` seconds, however
it is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .. import workloads
from . import LOOPS
from .base import Peer

__all__ = ["StdioControl", "emit", "main", "new_event_loop", "snapshot"]


def emit(message: dict[str, Any]) -> None:
    """Send one JSON line to the harness."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def resident_memory() -> int:
    """This process's resident set size in bytes (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def snapshot() -> dict[str, Any]:
    """CPU time (user + system, all threads) and resident memory of this process."""
    return {"cpu": time.process_time(), "rss": resident_memory()}


def new_event_loop(loop: str) -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's for ``uvloop``, the default one otherwise.

    For ``aiofastnet``, the default loop patched to make aiofastnet's
    transports. Threaded peers run on the default loop too: it only sequences
    their calls.
    """
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 (optional dependency, needed for this loop only)

        return uvloop.new_event_loop()
    if loop == "aiofastnet":
        import aiofastnet  # noqa: PLC0415 (optional dependency, needed for this loop only)

        return aiofastnet.patch_loop(asyncio.new_event_loop())
    return asyncio.new_event_loop()


def _confine(cpu: int | None, timeout: float) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Default action of SIGALRM: the process ends, whatever it is blocked on.
    signal.setitimer(signal.ITIMER_REAL, timeout)


def _answer_marks() -> None:
    for line in sys.stdin:
        if line.strip() == "mark":
            emit(snapshot())
    # The harness closed our stdin: the measurement is over. Exiting at once
    # also ends threaded servers and thousands of idle connections quickly.
    sys.stdout.flush()
    os._exit(0)


async def _serve(peer: Peer, compression: bool, backlog: int | None) -> None:
    port = await peer.serve(compression, backlog)
    emit({"port": port})
    threading.Thread(target=_answer_marks, daemon=True).start()
    await asyncio.Event().wait()


class StdioControl:
    """The client's side of the conversation with the harness."""

    def mark(self) -> None:
        """Ask the harness to snapshot the server, and wait until it has."""
        emit({"mark": True})
        if not sys.stdin.readline():
            raise SystemExit("harness went away")

    def result(self, result: dict[str, Any]) -> None:
        """Report the outcome of one workload."""
        emit({"result": result})

    def error(self, workload: dict[str, Any], error: BaseException) -> None:
        """Report a workload that failed; the next one still runs."""
        emit({"error": f"{type(error).__name__}: {error}", "workload": workload})


def _run(loop: str, main: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=lambda: new_event_loop(loop)) as runner:
        runner.run(main)


def main(make_peer: Callable[[str], Peer], argv: Sequence[str] | None = None) -> None:
    """Run a server or a client process of one peer, as the harness asks.

    Args:
        make_peer: The peer module's factory, given the loop name.
        argv: Command-line arguments (``sys.argv[1:]`` by default).
    """
    parser = argparse.ArgumentParser(description="A benchmark server or client process.")
    parser.add_argument("role", choices=("server", "client"))
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before SIGALRM")
    parser.add_argument("--compression", action="store_true", help="server: accept deflate")
    parser.add_argument("--backlog", type=int, help="server: listen backlog")
    parser.add_argument("--port", type=int, help="client: the server's port")
    parser.add_argument("--plan", help="client: the workloads, as JSON")
    args = parser.parse_args(argv)

    _confine(args.cpu, args.timeout)
    peer = make_peer(args.loop)
    if args.role == "server":
        _run(args.loop, _serve(peer, args.compression, args.backlog))
    else:
        if args.port is None or args.plan is None:
            parser.error("a client needs --port and --plan")
        plan = json.loads(args.plan)
        _run(args.loop, workloads.run_plan(peer, args.port, plan, StdioControl()))
