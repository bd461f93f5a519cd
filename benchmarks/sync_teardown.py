"""Many idle clients leaving at once: how long the server stalls and what it costs.

Run it from the repository root (Linux: it reads the server's ``/proc`` entry)::

    .venv/bin/python -m benchmarks.sync_teardown                  # 1,000 2,500 5,000
    .venv/bin/python -m benchmarks.sync_teardown -n 5000 --impl asyncio

For each count, a fresh echo server process (``wskit.sync`` by default, or
``wskit.asyncio``) gets ``count`` idle WebSocket connections, opened on plain
sockets. The script reports the server's memory and threads per idle
connection, then resets every connection at once (``SO_LINGER`` 0, then
close) and, meanwhile, has new clients connect, exchange one message and
leave, one after the other (one every 50 ms). It reports:

- ``teardown``: seconds until the server has closed every socket it held,
- ``cpu``: the server's CPU seconds (user + system) over that time,
- ``stall``: the longest a new client waited for its echo meanwhile (or
  until the server gave up on it, ``failed``),
- ``rss/conn`` and ``threads/conn``: growth per idle connection, before
  the reset.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Server", "main", "measure"]

ROOT = Path(__file__).resolve().parent.parent
# Connections opened at once: below the listen backlog, so that no SYN is dropped.
OPEN_BATCH = 50
# Bounds every wait on the server (the old teardown of 5,000 took longer).
TIMEOUT = 120.0
REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + base64.b64encode(b"sixteen byte key") + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
# Pause between two new clients, so that serving them adds little to the CPU figure.
PROBE_INTERVAL = 0.05
# A masked text frame "ping" with a zero key, and the server's unmasked echo.
MESSAGE = b"\x81\x84\x00\x00\x00\x00ping"
ECHO = b"\x81\x04ping"


def _serve(impl: str) -> None:
    """The server process: an echo server until its stdin closes."""
    if impl == "sync":
        from wskit.sync.server import ServerConnection, serve  # noqa: PLC0415

        def echo(websocket: ServerConnection) -> None:
            for message in websocket:
                websocket.send(message)

        server = serve(echo, "127.0.0.1", 0, compression=None, backlog=OPEN_BATCH * 2)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(json.dumps({"port": server.socket.getsockname()[1]}), flush=True)
    else:
        import asyncio  # noqa: PLC0415

        from wskit.asyncio.server import ServerConnection as AsyncConnection  # noqa: PLC0415
        from wskit.asyncio.server import serve as async_serve  # noqa: PLC0415

        async def async_echo(websocket: AsyncConnection) -> None:
            async for message in websocket:
                await websocket.send(message)

        async def run() -> None:
            server = await async_serve(
                async_echo, "127.0.0.1", 0, compression=None, backlog=OPEN_BATCH * 2
            )
            port = next(iter(server.sockets)).getsockname()[1]
            print(json.dumps({"port": port}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

        asyncio.run(run())
        return
    sys.stdin.read()


class Server:
    """A server process, observed through ``/proc``."""

    def __init__(self, impl: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sync_teardown", "--serve", impl],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.popen.stdout is not None
        self.port = int(json.loads(self.popen.stdout.readline())["port"])
        self.proc = f"/proc/{self.popen.pid}"

    def cpu(self) -> float:
        """CPU seconds, user and system, of every thread so far."""
        with open(f"{self.proc}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        """Resident memory in bytes."""
        with open(f"{self.proc}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def threads(self) -> int:
        """Number of threads."""
        return len(os.listdir(f"{self.proc}/task"))

    def fds(self) -> int:
        """Number of open file descriptors: the listener, pipes, and a socket per client."""
        return len(os.listdir(f"{self.proc}/fd"))

    def settled_fds(self) -> int:
        """Number of open file descriptors, once it stays the same for 0.2 s."""
        fds, since = self.fds(), time.monotonic()
        while time.monotonic() - since < 0.2:
            time.sleep(0.01)
            if self.fds() != fds:
                fds, since = self.fds(), time.monotonic()
        return fds

    def wait(self, predicate: str, check: Any, timeout: float = TIMEOUT) -> None:
        """Poll until ``check()`` is true; ``predicate`` names it in the error."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"server never reached: {predicate}")
            time.sleep(0.01)

    def stop(self) -> None:
        """End the process."""
        assert self.popen.stdin is not None
        assert self.popen.stdout is not None
        self.popen.stdin.close()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.popen.stdout.close()


def _read_response(sock: socket.socket) -> None:
    """Read the handshake response, up to the blank line; fail unless it's a 101."""
    response = b""
    while not response.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("server closed the connection during the handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {response[:40]!r}")


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` WebSocket connections that then stay silent."""
    sockets: list[socket.socket] = []
    while len(sockets) < count:
        batch = [
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            for _ in range(min(OPEN_BATCH, count - len(sockets)))
        ]
        for sock in batch:
            sock.sendall(REQUEST)
        for sock in batch:
            _read_response(sock)
        sockets.extend(batch)
    return sockets


def reset(sockets: Sequence[socket.socket]) -> None:
    """Close every socket with a TCP reset."""
    linger = struct.pack("ii", 1, 0)
    for sock in sockets:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        sock.close()


def probe(port: int) -> float:
    """Seconds for a new client to connect and get one message echoed."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(REQUEST)
        _read_response(sock)
        sock.sendall(MESSAGE)
        if sock.recv(len(ECHO), socket.MSG_WAITALL) != ECHO:
            raise ConnectionError("wrong echo")
    return time.monotonic() - start


def measure(impl: str, count: int, timeout: float = TIMEOUT) -> dict[str, float]:
    """Open ``count`` idle connections to a fresh server, reset them, and measure.

    A teardown longer than ``timeout`` seconds is reported as infinite.
    """
    server = Server(impl)
    try:
        probe(server.port)  # one-off imports and allocations aren't per connection
        base_fds = server.settled_fds()
        base_rss, base_threads = server.rss(), server.threads()
        sockets = open_idle(server.port, count)
        time.sleep(0.5)  # let the last handlers start
        rss, threads = server.rss(), server.threads()

        latencies: list[float] = []
        failures = 0
        done = threading.Event()

        def probe_until_done() -> None:
            nonlocal failures
            while True:
                started = time.monotonic()
                try:
                    latencies.append(probe(server.port))
                except OSError:  # the server gave up on the client (open_timeout)
                    failures += 1
                    latencies.append(time.monotonic() - started)
                if done.wait(PROBE_INTERVAL):
                    return

        cpu = server.cpu()
        start = time.monotonic()
        reset(sockets)
        prober = threading.Thread(target=probe_until_done)
        prober.start()
        try:
            server.wait("every socket closed", lambda: server.fds() <= base_fds, timeout)
            teardown = time.monotonic() - start
        except TimeoutError:
            teardown = math.inf
        cpu = server.cpu() - cpu
        done.set()
        prober.join()
        if teardown < math.inf:
            server.wait("threads back", lambda: server.threads() <= base_threads, timeout)
    finally:
        server.stop()
    return {
        "connections": count,
        "teardown": teardown,
        "cpu": cpu,
        "stall": max(latencies),
        "probes": len(latencies),
        "failed": failures,
        "rss/conn": (rss - base_rss) / count,
        "threads/conn": (threads - base_threads) / count,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Measure each count in turn and print a line per count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--connections", type=int, nargs="+", default=[1000, 2500, 5000])
    parser.add_argument("--impl", choices=("sync", "asyncio"), default="sync")
    parser.add_argument("--serve", choices=("sync", "asyncio"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT, help="seconds of teardown before giving up"
    )
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.serve:
        _serve(args.serve)
        return
    for count in args.connections:
        result = measure(args.impl, count, args.timeout)
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        print(
            f"{args.impl} {count:6d} connections: teardown {result['teardown']:6.2f} s, "
            f"server CPU {result['cpu']:6.2f} s, longest new client {result['stall']:6.3f} s "
            f"({result['probes']:.0f} clients, {result['failed']:.0f} refused), "
            f"{result['rss/conn'] / 1024:5.1f} KiB and {result['threads/conn']:.2f} threads "
            "per idle connection",
            flush=True,
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
