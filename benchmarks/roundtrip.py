"""Quick round-trip check: wskit against websockets, on asyncio, threads and trio.

A client sends a binary message, an echo server returns it, the client waits
for it: round trips per second and CPU time per round trip, for both
libraries, in one process (client and server share it, so CPU time counts
both ends). Rounds alternate between the libraries and the median is shown.
On trio, trio-websocket runs too.

This is a quick check while developing; the side-by-side harness with
separate processes and more peers is the one that judges performance.

    .venv/bin/python -m benchmarks.roundtrip
    .venv/bin/python -m benchmarks.roundtrip --sizes 64 1048576 --rounds 5
    .venv/bin/python -m benchmarks.roundtrip --layers trio
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

import trio
import trio_websocket

LIBRARIES = ("wskit", "websockets")
# trio-websocket is trio's own WebSocket library, on wsproto.
TRIO_LIBRARIES = ("wskit", "websockets", "trio-websocket")
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


def trio_round_trips(library: str, size: int) -> tuple[float, float]:
    if library == "trio-websocket":
        return trio.run(_trio_websocket_round_trips, size)
    server_module: Any = importlib.import_module(f"{library}.trio.server")
    client_module: Any = importlib.import_module(f"{library}.trio.client")

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def main() -> tuple[float, float]:
        options: dict[str, Any] = {"compression": None, "max_size": None}
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: server_module.serve(
                    echo, 0, host="127.0.0.1", task_status=task_status, **options
                )
            )
            port = server.listeners[0].socket.getsockname()[1]
            uri = f"ws://127.0.0.1:{port}"
            async with client_module.connect(uri, proxy=None, **options) as websocket:

                async def round_trip(message: bytes) -> None:
                    await websocket.send(message)
                    await websocket.recv()

                result = await _async_measure(round_trip, size)
            await server.aclose()
        return result

    return trio.run(main)


async def _trio_websocket_round_trips(size: int) -> tuple[float, float]:
    async def echo(request: Any) -> None:
        websocket = await request.accept()
        try:
            while True:
                await websocket.send_message(await websocket.get_message())
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: trio_websocket.serve_websocket(
                echo, "127.0.0.1", 0, None, max_message_size=2**30, task_status=task_status
            )
        )
        uri = f"ws://127.0.0.1:{server.port}"
        async with trio_websocket.open_websocket_url(uri, max_message_size=2**30) as websocket:

            async def round_trip(message: bytes) -> None:
                await websocket.send_message(message)
                await websocket.get_message()

            result = await _async_measure(round_trip, size)
        nursery.cancel_scope.cancel()
    return result


async def _async_measure(round_trip: Any, size: int) -> tuple[float, float]:
    """Round trips per second and CPU microseconds per round trip, for DURATION."""
    message = b"x" * size
    deadline = time.perf_counter() + DURATION
    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() < deadline:
        await round_trip(message)
        count += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count / wall, cpu / count * 1e6


LAYERS: dict[str, tuple[Callable[[str, int], tuple[float, float]], tuple[str, ...]]] = {
    "asyncio": (asyncio_round_trips, LIBRARIES),
    "sync": (sync_round_trips, LIBRARIES),
    "trio": (trio_round_trips, TRIO_LIBRARIES),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 16384, 1048576])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    args = parser.parse_args()

    print(f"{'layer':8} {'size':>8} {'library':14} {'rt/s':>9} {'µs CPU/rt':>10} {'ratio':>6}")
    for layer in args.layers:
        bench, libraries = LAYERS[layer]
        for size in args.sizes:
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in libraries}
            for _ in range(args.rounds):
                for name in libraries:
                    results[name].append(bench(name, size))
            rates = {name: statistics.median(r for r, _ in results[name]) for name in libraries}
            for name in libraries:
                cpu = statistics.median(c for _, c in results[name])
                ratio = rates[name] / rates["websockets"]
                rate = rates[name]
                print(f"{layer:8} {size:>8} {name:14} {rate:>9,.0f} {cpu:>10.1f} {ratio:>5.2f}x")


if __name__ == "__main__":
    main()
