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
  permessage-deflate if ``compression``) so that no client library is involved;
- ``traffic``: the same, but each connection sends one ``size``-byte message
  (compressed if deflate was agreed) and reads its echo before it goes idle, so
  that whatever a server allocates on first use (zlib contexts) counts;
- ``broadcast``: ``connections`` lean connections to ``/broadcast``; a control
  connection asks the server for ``messages`` broadcasts of ``size`` bytes to
  all of them at a time, and the client reads every delivery before asking
  again. The server times its broadcasts; that time is the figure's.

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
import selectors
import socket
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, cast

from .peers.base import (
    BROADCAST_PATH,
    CONTROL_PATH,
    COUNT_PATH,
    ECHO_PATH,
    BenchmarkError,
    Connection,
    Peer,
)
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


def _upgrade_request(port: int, compression: bool, path: str = ECHO_PATH) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
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


def _frame(opcode: int, payload: bytes, rsv1: bool = False) -> bytes:
    """A masked frame, with a zero mask key: the payload goes as it is."""
    first = 0x80 | opcode | (0x40 if rsv1 else 0)
    if len(payload) < 126:
        header = struct.pack("!BB", first, 0x80 | len(payload))
    elif len(payload) < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, len(payload))
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, len(payload))
    return header + b"\x00\x00\x00\x00" + payload


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise BenchmarkError("the server closed the connection")
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """Read one unmasked frame from a server: its opcode and payload."""
    first, length = _recv_exactly(sock, 2)
    length &= 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _recv_exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _recv_exactly(sock, 8))
    return first & 0x0F, _recv_exactly(sock, length)


def _compress(message: bytes) -> bytes:
    """A message as permessage-deflate sends it, valid within any window."""
    # A fresh compressor, at most 512 bytes back: every agreed window allows it.
    compressor = zlib.compressobj(wbits=-9, strategy=zlib.Z_RLE)
    return (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def _open_idle(
    peer: Peer,
    port: int,
    count: int,
    compression: bool,
    *,
    path: str = ECHO_PATH,
    message: bytes | None = None,
) -> tuple[list[socket.socket], int]:
    """Open ``count`` connections on plain sockets; return them and how many use deflate.

    With a ``message``, each connection sends it and reads its echo.
    """
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
                request = _upgrade_request(port, compression, path)
                sock.sendall(request if peer.websocket else HELLO)
            accepted = []
            for sock in batch:
                if peer.websocket:
                    accepted.append(_accepted_deflate(_read_response(sock)))
                elif sock.recv(len(HELLO_REPLY), socket.MSG_WAITALL) != HELLO_REPLY:
                    raise BenchmarkError("raw server did not answer")
            deflated += sum(accepted)
            if message is not None:
                for sock, deflate in zip(batch, accepted, strict=True):
                    data = _compress(message) if deflate else message
                    sock.sendall(_frame(0x2, data, rsv1=deflate))
                for sock in batch:
                    _read_frame(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets, deflated


def _close_idle(peer: Peer, sockets: Iterable[socket.socket]) -> None:
    for sock in sockets:
        if peer.websocket:
            with contextlib.suppress(OSError):
                sock.send(CLOSE_FRAME)
        sock.close()


async def idle(peer: Peer, port: int, workload: Result, timing: Timing, control: Control) -> Result:
    """Connections left idle, for the server's memory per connection.

    With a ``size``, each one exchanges a message of that size first.
    """
    count, compression = workload["connections"], workload["compression"]
    size = workload.get("size")
    message = None if size is None else os.urandom(size // 2 + 1).hex().encode()[:size]
    # One connection first: lazy imports and one-off allocations aren't per connection.
    first, _ = _open_idle(peer, port, 1, compression, message=message)
    sockets: list[socket.socket] = []
    try:
        control.mark()
        sockets, deflated = _open_idle(peer, port, count, compression, message=message)
        await asyncio.sleep(min(SETTLE, timing.duration))
        control.mark()
    finally:
        _close_idle(peer, first + sockets)
    if compression and deflated != count:
        raise BenchmarkError(f"the server accepted deflate on {deflated} of {count} connections")
    return {"count": count}


def _count_binary_frames(buffer: bytearray) -> int:
    """Remove the complete frames at the start of ``buffer``; count the binary ones.

    Servers may send pings (keepalive) among the broadcasts: they don't count.
    """
    count = position = 0
    while len(buffer) - position >= 2:
        opcode, length = buffer[position] & 0x0F, buffer[position + 1] & 0x7F
        header = 2
        if length == 126:
            header, length = 4, int.from_bytes(buffer[position + 2 : position + 4], "big")
        elif length == 127:
            header, length = 10, int.from_bytes(buffer[position + 2 : position + 10], "big")
        if len(buffer) - position < header + length:
            break
        count += opcode == 0x2
        position += header + length
    del buffer[:position]
    return count


def _read_deliveries(sockets: list[socket.socket], expected: int) -> None:
    """Read ``expected`` binary messages from every socket (what the server broadcast)."""
    selector = selectors.DefaultSelector()
    missing: dict[socket.socket, int] = {}
    buffers: dict[socket.socket, bytearray] = {}
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        missing[sock] = expected
        buffers[sock] = bytearray()
    try:
        while missing:
            events = selector.select(timeout=30)
            if not events:
                raise BenchmarkError(f"{len(missing)} connections missed broadcasts")
            for key, _ in events:
                sock = cast(socket.socket, key.fileobj)
                buffer = buffers[sock]
                buffer += sock.recv(65536)
                left = missing[sock] - _count_binary_frames(buffer)
                if left <= 0:
                    if left < 0 or buffer:
                        raise BenchmarkError("more messages than broadcast")
                    selector.unregister(sock)
                    del missing[sock]
                else:
                    missing[sock] = left
    finally:
        selector.close()
        for sock in sockets:
            sock.setblocking(True)


async def broadcast(
    peer: Peer, port: int, workload: Result, timing: Timing, control: Control
) -> Result:
    """Broadcasts from the server to many connections, timed by the server."""
    count, size, messages = workload["connections"], workload["size"], workload["messages"]
    sockets: list[socket.socket] = []
    controller: list[socket.socket] = []
    try:
        sockets, _ = _open_idle(peer, port, count, False, path=BROADCAST_PATH)
        controller, _ = _open_idle(peer, port, 1, False, path=CONTROL_PATH)
        await asyncio.sleep(min(SETTLE, timing.duration))
        command = _frame(0x1, f"{messages} {size}".encode())

        def run(deadline: float) -> tuple[int, float]:
            deliveries, seconds = 0, 0.0
            while True:
                controller[0].sendall(command)
                _, reply = _read_frame(controller[0])
                reached, elapsed = reply.split()
                if int(reached) != count:
                    raise BenchmarkError(f"broadcast reached {int(reached)} of {count}")
                _read_deliveries(sockets, messages)
                deliveries += messages * count
                seconds += float(elapsed)
                if time.perf_counter() >= deadline:
                    return deliveries, seconds

        run(time.perf_counter() + timing.warmup)
        control.mark()
        cpu = time.process_time()
        deliveries, seconds = run(time.perf_counter() + timing.duration)
        cpu = time.process_time() - cpu
        control.mark()
    finally:
        _close_idle(peer, controller + sockets)
    return {"count": deliveries, "seconds": seconds, "client_cpu": cpu}


WORKLOADS: dict[str, Callable[[Peer, int, Result, Timing, Control], Awaitable[Result]]] = {
    "rtt": rtt,
    "stream": stream,
    "concurrent": concurrent,
    "handshakes": handshakes,
    "idle": idle,
    "traffic": idle,
    "broadcast": broadcast,
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
