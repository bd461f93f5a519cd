"""Round trips on threads, thread by thread: CPU, sleeps and waits for a CPU.

Run it from the repository root (Linux: it reads ``/proc``)::

    .venv/bin/python -m benchmarks.sync_threads
    .venv/bin/python -m benchmarks.sync_threads --libs wskit --count 20000 --pin

An echo server (``<lib>.sync.server``) runs in a child process; this process
connects with ``<lib>.sync.client`` and does ``count`` round trips of 64 B
after 1,000 of warm-up. For each thread of either process that did work,
per round trip: CPU time, voluntary context switches (each a sleep, then a
wake-up), and time spent runnable but waiting for a CPU (``schedstat``),
which grows when other processes load the machine. With ``--pin``, the
server runs on CPU 0 and the client on CPU 1, as the harness does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

Sample = dict[int, tuple[str, int, int, int]]


def threads() -> Sample:
    """Per thread of this process: name, CPU ns, voluntary switches, runqueue wait ns."""
    sample: Sample = {}
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    for tid in map(int, os.listdir("/proc/self/task")):
        name = names.get(tid, "?")
        try:
            with open(f"/proc/self/task/{tid}/status") as file:
                status = file.read()
            with open(f"/proc/self/task/{tid}/schedstat") as file:
                cpu, wait = map(int, file.read().split()[:2])
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        switches = next(
            int(line.split()[1])
            for line in status.splitlines()
            if line.startswith("voluntary_ctxt_switches")
        )
        sample[tid] = (name, cpu, switches, wait)
    return sample


def per_round_trip(before: Sample, after: Sample, count: int) -> list[dict[str, Any]]:
    rows = []
    for tid, (name, cpu, switches, wait) in after.items():
        if tid not in before:
            continue
        row: dict[str, Any] = {
            "thread": name,
            "cpu_us": (cpu - before[tid][1]) / 1000 / count,
            "switches": (switches - before[tid][2]) / count,
            "wait_us": (wait - before[tid][3]) / 1000 / count,
        }
        if row["cpu_us"] > 0.5 or row["switches"] > 0.01:
            rows.append(row)
    return rows


def serve(lib: str, count: int) -> None:
    """Echo in a child process; print the threads' figures after ``count`` messages."""
    server_module: Any = importlib.import_module(f"{lib}.sync.server")
    warmup = 1000

    def echo(websocket: Any) -> None:
        before: Sample = {}
        for index, message in enumerate(websocket, 1):
            websocket.send(message)
            if index == warmup:
                before = threads()
            elif index == warmup + count:
                print(json.dumps(per_round_trip(before, threads(), count)), flush=True)

    with server_module.serve(echo, "127.0.0.1", 0, compression=None) as server:
        print(server.socket.getsockname()[1], flush=True)
        server.serve_forever()


def run(lib: str, count: int, pin: bool) -> None:
    command = [sys.executable, "-m", "benchmarks.sync_threads", "--serve", lib, str(count)]
    if pin:
        os.sched_setaffinity(0, {1})
        command = ["taskset", "-c", "0", *command]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        client_module: Any = importlib.import_module(f"{lib}.sync.client")
        message = b"x" * 64
        with client_module.connect(f"ws://127.0.0.1:{port}", compression=None) as websocket:
            for _ in range(1000):
                websocket.send(message)
                websocket.recv()
            before, start = threads(), time.perf_counter()
            for _ in range(count):
                websocket.send(message)
                websocket.recv()
            elapsed, after = time.perf_counter() - start, threads()
            server_rows = json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait()
    print(f"{lib}: {count / elapsed:,.0f} round trips/s")
    for side, rows in (("client", per_round_trip(before, after, count)), ("server", server_rows)):
        for row in rows:
            print(
                f"  {side} {row['thread']:<28} {row['cpu_us']:6.1f} us CPU, "
                f"{row['switches']:.2f} sleeps, {row['wait_us']:6.1f} us waiting for a CPU"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libs", nargs="+", default=["wskit", "websockets"])
    parser.add_argument("--count", type=int, default=10000, help="measured round trips")
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, client on CPU 1")
    parser.add_argument("--serve", nargs=2, metavar=("LIB", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    for lib in args.libs:
        run(lib, args.count, args.pin)


if __name__ == "__main__":
    main()
