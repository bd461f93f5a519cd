"""The workloads a client process runs, the same for every peer.

A plan is a JSON object sent by the harness::

    {"timing": {"duration": 1.0, "warmup": 0.3},
     "workloads": [{"metric": "rtt", "size": 64}, ...]}

Metrics:

- ``rtt``: round trips on one connection to ``/echo`` (``size`` bytes, binary);
- ``stream``: messages sent back to back on one connection to ``/count``;
- ``concurrent``: round trips on ``connections`` connections at once;
- ``handshakes``: ``connections`` clients in parallel, each opening a
  connection (opening handshake) and closing it (closing handshake), in a loop;
- ``idle``: ``connections`` connections opened and left idle, for the server's
  memory; a lean opener on plain sockets sends the upgrade request (offering
  permessage-deflate if ``compression``) so that no client library is involved.

Every measured workload warms up first, then runs for ``duration`` seconds
between two marks, at which the harness snapshots the server. The client
reports what it did (``count`` of messages, round trips or handshakes,
``seconds``, its own ``client_cpu`` seconds); the harness turns that and the
server's snapshots into figures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from .peers.base import COUNT_PATH, ECHO_PATH, BenchmarkError, Connection, Peer
from .peers.raw import HELLO, HELLO_REPLY

__all__ = ["Control", "Timing", "run_plan"]

# Connections opened at once: below the listen backlog of every server (100),
# else dropped SYNs cost a one-second retransmission each.
OPEN_BATCH = 50
# Time for servers to finish setting up idle connections before the snapshot.
SETTLE = 0.5
# A masked close frame, code 1000 (a zero key leaves the payload as it is): idle
# connections end cleanly rather than fill the server's log with errors.
CLOSE_FRAME = b"\x88\x82\x00\x00\x00\x00\x03\xe8"

Result = dict[str, Any]


class Control(Protocol):
    """How a client process talks to the harness (see :mod:`benchmarks.peers.process`)."""

    def mark(self) -> None:
        """Have the server snapshotted; return when it is done."""

    def result(self, result: Result) -> None:
        """Report one workload's outcome."""

    def error(self, workload: Result, error: BaseException) -> None:
        """Report one workload's failure."""


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds of each measured window and of the warm-up before it."""

    duration: float
    warmup: float


async def _window(
    control: Control, duration: float, work: Callable[[float], Awaitable[int]]
) -> Result:
    control.mark()
    cpu, start = time.process_time(), time.perf_counter()
    count = await work(start + duration)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    control.mark()
    return {"count": count, "seconds": seconds, "client_cpu": cpu}


async def _open(peer: Peer, port: int, count: int) -> list[Connection]:
    batch = asyncio.Semaphore(OPEN_BATCH)

    async def open_one() -> Connection:
        async with batch:
            return await peer.connect(port, ECHO_PATH)

    outcomes = await asyncio.gather(*(open_one() for _ in range(count)), return_exceptions=True)
    connections = [outcome for outcome in outcomes if isinstance(outcome, Connection)]
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            await _close(connections)
            raise outcome
    return connections


async def _close(connections: Iterable[Connection]) -> None:
    await asyncio.gather(*(connection.close() for connection in connections))


async def rtt(peer: Peer, port: int, workload: Result, timing: Timing, control: Control) -> Result:
    """Round trips on one connection."""
    message = os.urandom(workload["size"])
    connection = await peer.connect(port, ECHO_PATH)
    try:
        await connection.round_trips(message, time.perf_counter() + timing.warmup)
        return await _window(
            control, timing.duration, lambda deadline: connection.round_trips(message, deadline)
        )
    finally:
        await connection.close()


async def stream(
    peer: Peer, port: int, workload: Result, timing: Timing, control: Control
) -> Result:
    """Messages sent back to back on one connection, all counted by the server."""
    message = os.urandom(workload["size"])
    connection = await peer.connect(port, COUNT_PATH)
    try:
        await connection.stream(message, time.perf_counter() + timing.warmup)
        result = await _window(
            control, timing.duration, lambda deadline: connection.stream(message, deadline)
        )
    finally:
        await connection.close()
    return {**result, "bytes": result["count"] * len(message)}


async def concurrent(
    peer: Peer, port: int, workload: Result, timing: Timing, control: Control
) -> Result:
    """Round trips on many connections at once."""
    message = os.urandom(workload["size"])
    connections = await _open(peer, port, workload["connections"])

    async def round_trips(deadline: float) -> int:
        counts = await asyncio.gather(*(c.round_trips(message, deadline) for c in connections))
        return sum(counts)

    try:
        await round_trips(time.perf_counter() + timing.warmup)
        return await _window(control, timing.duration, round_trips)
    finally:
        await _close(connections)


async def handshakes(
    peer: Peer, port: int, workload: Result, timing: Timing, control: Control
) -> Result:
    """Connections opened and closed in a loop by parallel clients."""

    async def client(deadline: float) -> int:
        count = 0
        while True:
            connection = await peer.connect(port, ECHO_PATH)
            await connection.close()
            count += 1
            if time.perf_counter() >= deadline:
                return count

    async def clients(deadline: float) -> int:
        counts = await asyncio.gather(*(client(deadline) for _ in range(workload["connections"])))
        return sum(counts)

    await clients(time.perf_counter() + timing.warmup)
    return await _window(control, timing.duration, clients)


def _upgrade_request(port: int, compression: bool) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {ECHO_PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if compression:
        # What browsers offer.
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> bytes:
    response = b""
    while b"\r\n\r\n" not in response:
        data = sock.recv(4096)
        if not data or len(response) > 16384:
            raise BenchmarkError(f"no handshake response: {response[:200]!r}")
        response += data
    return response


def _accepted_deflate(response: bytes) -> bool:
    if not response.startswith(b"HTTP/1.1 101"):
        raise BenchmarkError(f"handshake refused: {response[:200]!r}")
    for line in response.lower().split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip() == b"sec-websocket-extensions" and b"permessage-deflate" in value:
            return True
    return False


def _open_idle(
    peer: Peer, port: int, count: int, compression: bool
) -> tuple[list[socket.socket], int]:
    """Open ``count`` connections on plain sockets; return them and how many use deflate."""
    sockets: list[socket.socket] = []
    deflated = 0
    try:
        while len(sockets) < count:
            batch = [
                socket.create_connection(("127.0.0.1", port), timeout=30)
                for _ in range(min(OPEN_BATCH, count - len(sockets)))
            ]
            sockets.extend(batch)
            for sock in batch:
                sock.sendall(_upgrade_request(port, compression) if peer.websocket else HELLO)
            for sock in batch:
                if peer.websocket:
                    deflated += _accepted_deflate(_read_response(sock))
                elif sock.recv(len(HELLO_REPLY), socket.MSG_WAITALL) != HELLO_REPLY:
                    raise BenchmarkError("raw server did not answer")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets, deflated


async def idle(peer: Peer, port: int, workload: Result, timing: Timing, control: Control) -> Result:
    """Idle connections, for the server's memory per connection."""
    count, compression = workload["connections"], workload["compression"]
    # One connection first: lazy imports and one-off allocations aren't per connection.
    first, _ = _open_idle(peer, port, 1, compression)
    sockets: list[socket.socket] = []
    try:
        control.mark()
        sockets, deflated = _open_idle(peer, port, count, compression)
        await asyncio.sleep(min(SETTLE, timing.duration))
        control.mark()
    finally:
        for sock in first + sockets:
            if peer.websocket:
                with contextlib.suppress(OSError):
                    sock.send(CLOSE_FRAME)
            sock.close()
    if compression and deflated != count:
        raise BenchmarkError(f"the server accepted deflate on {deflated} of {count} connections")
    return {"count": count}


WORKLOADS: dict[str, Callable[[Peer, int, Result, Timing, Control], Awaitable[Result]]] = {
    "rtt": rtt,
    "stream": stream,
    "concurrent": concurrent,
    "handshakes": handshakes,
    "idle": idle,
}


async def run_plan(peer: Peer, port: int, plan: Result, control: Control) -> None:
    """Run every workload of ``plan`` against the server on ``port``, in order.

    A workload that fails is reported and the next one runs.
    """
    timing = Timing(**plan["timing"])
    try:
        for workload in plan["workloads"]:
            try:
                result = await WORKLOADS[workload["metric"]](peer, port, workload, timing, control)
            except Exception as exc:  # reported; the other workloads still count
                control.error(workload, exc)
            else:
                control.result({**workload, **result})
    finally:
        await peer.aclose()
