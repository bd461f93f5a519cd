"""Quick round-trip check: wskit against websockets, asyncio and threads.

A client sends a binary message, an echo server returns it, the client waits
for it: round trips per second and CPU time per round trip, for both
libraries, in one process (client and server share it, so CPU time counts
both ends). Rounds alternate between the libraries and the median is shown.

This is a quick check while developing; the side-by-side harness with
separate processes and more peers is the one that judges performance.

    .venv/bin/python -m benchmarks.roundtrip
    .venv/bin/python -m benchmarks.roundtrip --sizes 64 1048576 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

LIBRARIES = ("wskit", "websockets")
DURATION = 0.5  # seconds of round trips per measurement


def measure(run: Callable[[], int]) -> tuple[float, float]:
    """Return round trips per second and CPU microseconds per round trip."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count / wall, cpu / count * 1e6


def asyncio_round_trips(library: str, size: int) -> tuple[float, float]:
    server_module: Any = importlib.import_module(f"{library}.asyncio.server")
    client_module: Any = importlib.import_module(f"{library}.asyncio.client")

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def main() -> tuple[float, float]:
        options = {"compression": None, "max_size": None}
        async with server_module.serve(echo, "127.0.0.1", 0, **options) as server:
            port = server.sockets[0].getsockname()[1]
            uri = f"ws://127.0.0.1:{port}"
            async with client_module.connect(uri, **options) as websocket:
                message = b"x" * size
                deadline = time.perf_counter() + DURATION
                count = 0
                wall, cpu = time.perf_counter(), time.process_time()
                while time.perf_counter() < deadline:
                    await websocket.send(message)
                    await websocket.recv()
                    count += 1
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                return count / wall, cpu / count * 1e6

    return asyncio.run(main())


def sync_round_trips(library: str, size: int) -> tuple[float, float]:
    server_module: Any = importlib.import_module(f"{library}.sync.server")
    client_module: Any = importlib.import_module(f"{library}.sync.client")

    def echo(websocket: Any) -> None:
        for message in websocket:
            websocket.send(message)

    options = {"compression": None, "max_size": None}
    with server_module.serve(echo, "127.0.0.1", 0, **options) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            with client_module.connect(f"ws://127.0.0.1:{port}", **options) as websocket:
                message = b"x" * size

                def run() -> int:
                    deadline = time.perf_counter() + DURATION
                    count = 0
                    while time.perf_counter() < deadline:
                        websocket.send(message)
                        websocket.recv()
                        count += 1
                    return count

                return measure(run)
        finally:
            server.shutdown()
            thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 16384, 1048576])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    print(f"{'layer':8} {'size':>8} {'library':11} {'rt/s':>9} {'µs CPU/rt':>10} {'ratio':>6}")
    for layer, bench in (("asyncio", asyncio_round_trips), ("sync", sync_round_trips)):
        for size in args.sizes:
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in LIBRARIES}
            for _ in range(args.rounds):
                for name in LIBRARIES:
                    results[name].append(bench(name, size))
            rates = {name: statistics.median(r for r, _ in results[name]) for name in LIBRARIES}
            for name in LIBRARIES:
                cpu = statistics.median(c for _, c in results[name])
                ratio = rates[name] / rates["websockets"]
                rate = rates[name]
                print(f"{layer:8} {size:>8} {name:11} {rate:>9,.0f} {cpu:>10.1f} {ratio:>5.2f}x")


if __name__ == "__main__":
    main()
