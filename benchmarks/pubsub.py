"""wskit.pubsub: fan-out through a hub, and end-to-end latency across processes via Redis.

Fan-out: this process serves WebSocket connections in one hub room and
publishes messages to it; N clients in a subprocess count the bytes they
receive (raw sockets: their cost stays out of the way). Messages per second
count from the first publish until every client has every message; the
publisher waits when a client's write buffer is half full, so that nothing
is dropped (drops are shown). Server CPU time is this process's.

Latency: two server processes, each with a hub on a RedisBroker; clients
connected to both, in this process; this process publishes through Redis,
at a fixed rate, messages carrying their send time (``time.monotonic_ns()``,
one clock for every process of the machine). Latency is publish to receive,
through Redis, a server process and a WebSocket.

A redis-server is started on a free port (Debian's, as the tests do) unless
``--redis-url`` is given.

    .venv/bin/python -m benchmarks.pubsub
    .venv/bin/python -m benchmarks.pubsub --clients 10 100 1000 --sizes 64 1024
    .venv/bin/python -m benchmarks.pubsub --rate 2000 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import os
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from tests.pubsub.redis_server import RedisServer
from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.pubsub import Broker, Hub, MemoryBroker, RedisBroker

ROOM = "bench"
DELIVERIES = 200_000  # per fan-out case: messages x clients
WRITE_LIMIT = 2**18
TIMEOUT = 120.0
T = TypeVar("T")


# The WebSocket side of a hub: a client joins ROOM, then gets "joined".


def hub_handler(hub: Hub) -> Any:
    async def handler(websocket: ServerConnection) -> None:
        await hub.join(websocket, ROOM)
        await websocket.send("joined")
        await websocket.wait_closed()

    return handler


@asynccontextmanager
async def hub_server(hub: Hub) -> AsyncIterator[int]:
    options: dict[str, Any] = {"compression": None, "ping_interval": None}
    async with serve(
        hub_handler(hub), "127.0.0.1", 0, write_limit=WRITE_LIMIT, **options
    ) as server:
        port: int = server.sockets[0].getsockname()[1]
        yield port


@asynccontextmanager
async def redis_hub_server(redis_url: str, history: int) -> AsyncIterator[int]:
    """Serve a Hub on a RedisBroker; yield the port.

    A client joins the room its path names (``/room7``), then gets ``"joined"``.
    """
    async with RedisBroker(redis_url, history=history) as broker, Hub(broker) as hub:
        await broker.wait_connected()

        async def handler(websocket: ServerConnection) -> None:
            assert websocket.request is not None
            await hub.join(websocket, websocket.request.path.strip("/"))
            await websocket.send("joined")
            await websocket.wait_closed()

        options: dict[str, Any] = {"compression": None, "ping_interval": None}
        async with serve(handler, "127.0.0.1", 0, **options) as server:
            yield server.sockets[0].getsockname()[1]


# Fan-out.


def frame_size(size: int) -> int:
    """Bytes on the wire for an unmasked frame of ``size`` bytes."""
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


class Counter(asyncio.Protocol):
    """A client that does the opening handshake, then only counts bytes."""

    def __init__(self, port: int, expected: int, done: asyncio.Future[None]) -> None:
        self.port = port
        self.expected = expected
        self.done = done
        self.head = b""
        self.received = -1  # until the handshake response is complete

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        if self.received < 0:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            status, _, data = self.head.partition(b"\r\n\r\n")
            if not status.startswith(b"HTTP/1.1 101"):
                self.done.set_exception(RuntimeError(status.decode()))
                return
            self.received = 0
        self.received += len(data)
        if self.received >= self.expected and not self.done.done():
            self.done.set_result(None)


async def run_clients(port: int, count: int, expected: int) -> None:
    """The client subprocess: connect, say "ready", say "done" when all is received."""
    loop = asyncio.get_running_loop()
    transports = []
    dones = []
    for _ in range(count):
        done = loop.create_future()
        transport, _ = await loop.create_connection(
            functools.partial(Counter, port, expected, done), "127.0.0.1", port
        )
        transports.append(transport)
        dones.append(done)
    print("ready", flush=True)
    await asyncio.gather(*dones)
    print("done", flush=True)
    for transport in transports:
        transport.close()


async def fan_out(broker: Broker, clients: int, size: int) -> dict[str, float]:
    messages = max(200, DELIVERIES // clients)
    expected = frame_size(len("joined")) + messages * frame_size(size)
    async with Hub(broker) as hub, hub_server(hub) as port:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.pubsub",
            "--run-clients",
            str(port),
            str(clients),
            str(expected),
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            async with asyncio.timeout(TIMEOUT):
                assert await process.stdout.readline() == b"ready\n"
                while len(hub.members(ROOM)) < clients:
                    await asyncio.sleep(0.01)
                members = list(hub.members(ROOM))
                message = "x" * size
                wall, cpu = time.perf_counter(), time.process_time()
                for number in range(messages):
                    await hub.publish(ROOM, message)
                    if number % 32 == 0:
                        # Let slow readers catch up rather than drop messages.
                        while any(
                            m.transport.get_write_buffer_size() > WRITE_LIMIT // 2 for m in members
                        ):
                            await asyncio.sleep(0.0005)
                assert await process.stdout.readline() == b"done\n"
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        return {
            "messages": messages,
            "msg/s": messages / wall,
            "deliveries/s": messages * clients / wall,
            "cpu_us": cpu / messages * 1e6,
            "dropped": hub.stats.dropped,
        }


# Latency across processes.


async def run_server(redis_url: str) -> None:
    """A server subprocess: a hub on Redis; print the port; run until stdin closes."""
    async with RedisBroker(redis_url) as broker, Hub(broker) as hub:
        await broker.wait_connected()
        async with hub_server(hub) as port:
            print(port, flush=True)
            await asyncio.to_thread(sys.stdin.read)


async def latency(redis_url: str, per_server: int, rate: float, duration: float) -> list[int]:
    samples: list[int] = []

    async def listen(client: ClientConnection) -> None:
        async for message in client:
            samples.append(time.monotonic_ns() - int(message))

    async with AsyncExitStack() as stack:
        servers = []
        for _ in range(2):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.pubsub",
                "--run-server",
                redis_url,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            stack.push_async_callback(stop_server, process)
            assert process.stdout is not None
            async with asyncio.timeout(TIMEOUT):
                servers.append(int(await process.stdout.readline()))
        clients = []
        for port in servers:
            for _ in range(per_server):
                client = await stack.enter_async_context(
                    connect(f"ws://127.0.0.1:{port}/", compression=None, ping_interval=None)
                )
                assert await client.recv() == "joined"
                clients.append(client)
        listeners = [asyncio.create_task(listen(client)) for client in clients]
        broker = await stack.enter_async_context(RedisBroker(redis_url))
        await broker.wait_connected()
        count = int(rate * duration)
        start = time.perf_counter()
        for number in range(count):
            # Paced against the clock, so that a late tick doesn't slow the rate.
            delay = start + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await broker.publish(ROOM, str(time.monotonic_ns()))
        async with asyncio.timeout(TIMEOUT):
            while len(samples) < count * len(clients):
                await asyncio.sleep(0.01)
        for listener in listeners:
            listener.cancel()
    return samples


async def stop_server(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.close()
    try:
        async with asyncio.timeout(10):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


# Main.


async def main(args: argparse.Namespace, redis_url: str) -> None:
    print(f"wskit.pubsub benchmark: Python {sys.version.split()[0]}, Redis at {redis_url}\n")
    print("Fan-out through a hub: N clients in a subprocess, publisher in this process")
    header = (
        f"{'broker':<8}{'clients':>8}{'size':>7}{'messages':>10}"
        f"{'msg/s':>10}{'deliveries/s':>14}{'CPU µs/msg':>12}{'dropped':>9}"
    )
    print(header)
    print("-" * len(header))
    for name in args.brokers:
        for clients in args.clients:
            for size in args.sizes:
                broker: Broker = MemoryBroker() if name == "memory" else RedisBroker(redis_url)
                async with broker:
                    await broker.wait_connected()
                    result = await fan_out(broker, clients, size)
                print(
                    f"{name:<8}{clients:>8}{size:>7}{result['messages']:>10,.0f}"
                    f"{result['msg/s']:>10,.0f}{result['deliveries/s']:>14,.0f}"
                    f"{result['cpu_us']:>12,.1f}{result['dropped']:>9,.0f}"
                )
    print(
        f"\nLatency via Redis: publisher -> Redis -> 2 server processes -> "
        f"{args.per_server} clients each; {args.rate:,.0f} msg/s for {args.duration} s"
    )
    samples = sorted(await latency(redis_url, args.per_server, args.rate, args.duration))
    quantiles = statistics.quantiles(samples, n=100)
    print(
        f"samples {len(samples):,}: p50 {quantiles[49] / 1000:,.0f} µs, "
        f"p90 {quantiles[89] / 1000:,.0f} µs, p99 {quantiles[98] / 1000:,.0f} µs, "
        f"max {samples[-1] / 1000:,.0f} µs"
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", nargs="+", default=["memory", "redis"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 10, 100, 1000])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 1024])
    parser.add_argument("--per-server", type=int, default=5)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--redis-url")
    # Internal: the subprocesses.
    parser.add_argument("--run-clients", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--run-server", help=argparse.SUPPRESS)
    args = parser.parse_args()

    raise_file_limit()
    if args.run_clients:
        asyncio.run(run_clients(*args.run_clients))
    elif args.run_server:
        asyncio.run(run_server(args.run_server))
    else:
        run_main(main, args)


def raise_file_limit() -> None:
    """A thousand clients need more than the usual 1,024 file descriptors."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    """Run the coroutine ``main`` on ``loop`` (``asyncio`` or ``uvloop``); return its result."""
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 (optional: the bench extra)

        return uvloop.run(main)
    return asyncio.run(main)


def run_main(
    main: Callable[[argparse.Namespace, str], Coroutine[Any, Any, None]],
    args: argparse.Namespace,
    loop: str = "asyncio",
) -> None:
    """Run ``main`` on ``--redis-url``, or on a redis-server of its own."""
    if args.redis_url:
        run_on(loop, main(args, args.redis_url))
    else:
        with RedisServer() as server:
            run_on(loop, main(args, server.url))


if __name__ == "__main__":
    cli()
