"""``wskit bench URI``: round trips against an echo server, with latency percentiles.

Each of ``--connections`` clients sends ``--messages`` messages of ``--size``
bytes, one at a time, each after the echo of the one before: the figures are
round trips, what an application waiting for answers sees. It prints the
messages per second over all connections and the round-trip time at a few
percentiles. The server must echo: a reply that differs from the message is
an error, rather than a figure for something else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import TextIO

from ..asyncio.client import ClientConnection, connect
from ..exceptions import ConnectionClosed
from .errors import CLOSED, OK, report

__all__ = ["Results", "main", "run"]

PERCENTILES = (50, 90, 99)


class NotAnEcho(Exception):
    """The server answered something else than the message sent."""


class Results:
    """Round-trip times of a run, in seconds, and how long the run took."""

    def __init__(self, latencies: list[float], elapsed: float) -> None:
        self.latencies = sorted(latencies)
        self.elapsed = elapsed

    def percentile(self, percent: int) -> float:
        """The round-trip time that ``percent`` % of the messages didn't exceed."""
        index = max(0, -(-len(self.latencies) * percent // 100) - 1)
        return self.latencies[index]

    def summary(self) -> str:
        """The results in a few lines, times in milliseconds."""
        count = len(self.latencies)
        lines = [
            f"{count} round trips in {self.elapsed:.3f} s: {count / self.elapsed:.0f} messages/s",
            "round trip (ms): "
            + ", ".join(
                f"p{percent} {self.percentile(percent) * 1000:.3f}" for percent in PERCENTILES
            )
            + f", max {self.latencies[-1] * 1000:.3f}",
        ]
        return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Run ``wskit bench``; return the exit status."""
    return asyncio.run(run(args))


async def run(
    args: argparse.Namespace, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    """Connect, measure, print the results; return the exit status."""
    message: str | bytes = os.urandom(args.size) if args.binary else "x" * args.size
    compression = None if args.no_compression else "deflate"
    connections: list[ClientConnection] = []
    try:
        for _ in range(args.connections):
            connections.append(await connect(args.uri, compression=compression, max_size=None))
    except Exception as exc:
        await asyncio.gather(*(websocket.close() for websocket in connections))
        return report(exc, args.uri, stderr)
    try:
        start = time.perf_counter()
        per_connection = await asyncio.gather(
            *(round_trips(websocket, message, args.messages) for websocket in connections)
        )
        elapsed = time.perf_counter() - start
    except NotAnEcho as exc:
        print(f"wskit: {exc}", file=stderr)
        return CLOSED
    except ConnectionClosed as exc:
        print(f"wskit: connection closed during the run: {exc}", file=stderr)
        return CLOSED
    finally:
        await asyncio.gather(*(websocket.close() for websocket in connections))
    results = Results([latency for run in per_connection for latency in run], elapsed)
    print(results.summary(), file=stdout, flush=True)
    return OK


async def round_trips(websocket: ClientConnection, message: str | bytes, count: int) -> list[float]:
    """Send ``message`` ``count`` times, each after the echo of the last; return the times."""
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        await websocket.send(message)
        reply = await websocket.recv()
        latencies.append(time.perf_counter() - start)
        if reply != message:
            raise NotAnEcho(f"the server didn't echo the message: {len(reply)} bytes came back")
    return latencies
