"""wskit.pubsub at scale, side by side with python-socketio's Redis manager.

The workload of a chat deployment: three server processes behind one Redis,
1,000 WebSocket clients spread over them, in 100 rooms of 10; a publisher
process sends messages to random rooms at a fixed rate, and every member of
the room gets each one. The same workload runs on:

- ``wskit``: each server a :class:`~wskit.pubsub.Hub` on a
  :class:`~wskit.pubsub.RedisBroker`; the publisher a ``RedisBroker``;
- ``wskit+history``: the same with ``history=1000`` (Redis Streams);
- ``socketio``: each server a ``socketio.AsyncServer`` (aiohttp) with an
  ``AsyncRedisManager``; the publisher an ``AsyncRedisManager(write_only=True)``
  emitting to the room, python-socketio's documented way to emit from an
  outside process.

The clients are the same for all: raw sockets in one subprocess that do the
WebSocket handshake (and Socket.IO's connect packet), then parse frames and
read the publish time in each message (``time.monotonic_ns()``, one clock
for every process of a machine). Per publish rate, the table gives what was
published and delivered per second, the latency from before the publish call
to the client reading the frame (p50, p99, max), the CPU time of the three
servers per delivery, Redis' CPU per published message, and the share of a
core that the clients and the publisher took: on a machine with fewer cores
than the benchmark has processes, what they take is what the servers wait
for.

The servers run on ``--loop``, the clients and the publisher on
``--client-loop``: uvloop for both when it's installed (what a busy server
would run on), else asyncio's own loop.

First, how fast one process publishes: one task awaiting ``publish()`` in a
loop, then 1,000 tasks at once (``--publish-messages``).

    .venv/bin/python -m benchmarks.pubsub_scale
    .venv/bin/python -m benchmarks.pubsub_scale --rates 1000 10000 --stacks wskit socketio
    .venv/bin/python -m benchmarks.pubsub_scale --loop asyncio --client-loop asyncio
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, cast
from urllib.parse import parse_qs

import redis.asyncio
import socketio  # type: ignore[import-untyped]
from aiohttp import web

from benchmarks.pubsub import raise_file_limit, redis_hub_server, run_main, run_on, stop_server
from wskit.pubsub import BrokerUnavailable, RedisBroker

SERVERS = 3
TIMEOUT = 120.0
STACKS = ("wskit", "wskit+history", "socketio")
LOOPS = ("asyncio", "uvloop")
DEFAULT_LOOP = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


# Servers.


async def wskit_server(redis_url: str, history: int) -> None:
    async with redis_hub_server(redis_url, history) as port:
        print(port, flush=True)
        await asyncio.to_thread(sys.stdin.read)


async def socketio_server(redis_url: str) -> None:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=socketio.AsyncRedisManager(redis_url),
        ping_interval=600,
        ping_timeout=600,
        transports=["websocket"],
    )

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: object) -> None:
        room = parse_qs(environ["QUERY_STRING"])["room"][0]
        await sio.enter_room(sid, room)

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await runner.cleanup()


# Clients: raw sockets, the same for every stack.


class Client(asyncio.Protocol):
    """A WebSocket client that records the latency of each message it reads."""

    def __init__(self, engineio: bool, ready: asyncio.Future[None], samples: array[int]) -> None:
        self.engineio = engineio
        self.ready = ready
        self.samples = samples
        self.buffer = bytearray()
        self.open = False
        self.joined = False  # in the room (not for Socket.IO, which has a path of its own)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports aren't asyncio.Transport subclasses; they have its methods.
        self.transport = cast("asyncio.Transport", transport)

    def send(self, text: bytes) -> None:
        # Client frames must be masked; an all-zero key leaves the payload as is.
        assert self.transport is not None
        self.transport.write(bytes([0x81, 0x80 | len(text)]) + b"\0\0\0\0" + text)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        # The usual read once the room is joined: one whole short text frame,
        # its payload the publish time. It costs the least Python, so that
        # the clients leave the cores to the servers they measure.
        if (
            self.joined
            and not self.buffer
            and len(data) == data[1] + 2
            and data[0] == 0x81
            and data[1] < 126
        ):
            self.samples.append(now - int(data[2:]))
            return
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(buffer[:end]).decode()))
                return
            del buffer[: end + 4]
            self.open = True
        start = 0
        size = len(buffer)
        while size - start >= 2:
            length = buffer[start + 1] & 0x7F
            header = 2
            if length == 126:
                if size - start < 4:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 4])
                header = 4
            if size - start < header + length:
                break
            payload = bytes(buffer[start + header : start + header + length])
            start += header + length
            self.handle(payload, now)
        del buffer[:start]

    def handle(self, payload: bytes, now: int) -> None:
        if self.engineio:
            if payload.startswith(b'42["m","'):
                self.samples.append(now - int(payload[8:-2]))
            elif payload.startswith(b"0{"):  # Engine.IO open: connect to "/"
                self.send(b"40")
            elif payload.startswith(b"40"):  # connected, and in the room
                self.ready.set_result(None)
            elif payload == b"2":
                self.send(b"3")
        elif payload == b"joined":
            self.joined = True
            self.ready.set_result(None)
        else:
            self.samples.append(now - int(payload))


async def run_clients(stack: str, ports: list[int], clients: int, rooms: int) -> None:
    """The client subprocess: connect, then answer "report" lines on stdin."""
    loop = asyncio.get_running_loop()
    samples: array[int] = array("q")
    engineio = stack == "socketio"
    readies = []
    for number in range(clients):
        port = ports[number % len(ports)]
        room = f"room{number % rooms}"
        path = f"/socket.io/?EIO=4&transport=websocket&room={room}" if engineio else f"/{room}"
        ready: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_connection(
            functools.partial(Client, engineio, ready, samples), "127.0.0.1", port
        )
        transport.write(HANDSHAKE.format(path=path, port=port).encode())
        readies.append(ready)
    await asyncio.gather(*readies)
    print("ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        expected = int(line)
        deadline = loop.time() + 10
        while len(samples) < expected and loop.time() < deadline:
            await asyncio.sleep(0.05)
        print(json.dumps(list(samples)), flush=True)
        del samples[:]


# The publisher and the sweep.


Publish = Callable[[str, str], Awaitable[None]]


async def publisher(stack: str, redis_url: str, exit_stack: AsyncExitStack) -> Publish:
    if stack == "socketio":
        manager = socketio.AsyncRedisManager(redis_url, write_only=True)

        async def emit(room: str, data: str) -> None:
            await manager.emit("m", data, room=room, namespace="/")

        return emit
    history = 1000 if stack == "wskit+history" else 0
    broker = await exit_stack.enter_async_context(RedisBroker(redis_url, history=history))
    return broker.publish


async def publish_at(
    publish: Publish, rate: float, duration: float, rooms: int, concurrency: int
) -> float:
    """Publish ``rate`` messages per second for ``duration`` seconds; return the rate reached.

    ``concurrency`` tasks share the work, so that a publisher awaiting a
    round trip per message can still keep up. Each publishes the messages
    that are due, then sleeps until its next one is: one task publishes
    those due in the same loop pass in a row, as many tasks would.
    """
    count = int(rate * duration)
    start = time.perf_counter()

    async def worker(first: int) -> None:
        rng = random.Random(first)
        for number in range(first, count, concurrency):
            delay = start + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await publish(f"room{rng.randrange(rooms)}", str(time.monotonic_ns()))

    await asyncio.gather(*[worker(first) for first in range(concurrency)])
    return count / (time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def redis_cpu(redis_url: str) -> float:
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        info = await client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def spawn(*arguments: str, stderr: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.pubsub_scale",
        *arguments,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        limit=2**30,
    )


async def sweep(stack: str, redis_url: str, args: argparse.Namespace) -> None:
    async with AsyncExitStack() as exit_stack:
        # Servers that fall behind write to clients gone at the end: asyncio
        # logs a line per write; keep that out of the table.
        log = exit_stack.enter_context(open(args.log, "a"))  # noqa: SIM115 (closed by the stack)
        servers = []
        for _ in range(SERVERS):
            server = await spawn(
                "--run-server", stack, redis_url, "--loop", args.loop, stderr=log.fileno()
            )
            exit_stack.push_async_callback(stop_server, server)
            assert server.stdout is not None
            async with asyncio.timeout(TIMEOUT):
                servers.append((server, int(await server.stdout.readline())))
        ports = ",".join(str(port) for _, port in servers)
        clients = await spawn(
            *("--run-clients", stack, ports, str(args.clients), str(args.rooms)),
            *("--client-loop", args.client_loop),
            stderr=log.fileno(),
        )
        exit_stack.push_async_callback(stop_server, clients)
        assert clients.stdin is not None
        assert clients.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            assert await clients.stdout.readline() == b"ready\n"
        publish = await publisher(stack, redis_url, exit_stack)
        await publish("warm-up", "0")
        # RedisBroker.publish() returns once the message is queued: one task
        # keeps up. An emit of python-socketio awaits Redis' answer.
        concurrency = 32 if stack == "socketio" else 1
        per_room = args.clients // args.rooms
        for rate in args.rates:
            cpu = [cpu_seconds(server.pid) for server, _ in servers]
            client_cpu = cpu_seconds(clients.pid)
            redis_before = await redis_cpu(redis_url)
            publisher_cpu = time.process_time()
            wall = time.perf_counter()
            reached = await publish_at(publish, rate, args.duration, args.rooms, concurrency)
            publisher_cpu = time.process_time() - publisher_cpu
            expected = int(rate * args.duration) * per_room
            clients.stdin.write(b"%d\n" % expected)
            async with asyncio.timeout(TIMEOUT):
                samples = sorted(json.loads(await clients.stdout.readline()))
            wall = time.perf_counter() - wall
            server_cpu = sum(cpu_seconds(server.pid) for server, _ in servers) - sum(cpu)
            client_cpu = cpu_seconds(clients.pid) - client_cpu
            redis_used = await redis_cpu(redis_url) - redis_before
            delivered = len(samples)
            if delivered > 1:
                quantiles = statistics.quantiles(samples, n=100)
                p50, p99 = quantiles[49] / 1e6, quantiles[98] / 1e6
            else:
                p50 = p99 = float("nan")
            print(
                f"{stack:<14}{rate:>8,.0f}{reached:>10,.0f}{delivered / wall:>14,.0f}"
                f"{delivered:>11,}/{expected:<11,}{p50:>8.2f}{p99:>9.2f}"
                f"{samples[-1] / 1e6 if samples else float('nan'):>9.1f}"
                f"{server_cpu / max(delivered, 1) * 1e6:>12.1f}"
                f"{redis_used / max(reached * args.duration, 1) * 1e6:>11.1f}"
                f"{client_cpu / wall * 100:>10.0f}%{publisher_cpu / args.duration * 100:>10.0f}%",
                flush=True,
            )


async def publishing(redis_url: str, messages: int) -> None:
    """Publish ``messages`` messages of 64 B: from one task, then from 1,000 at once."""
    print("Publishing through RedisBroker, then flush(): messages per second")
    print(f"{'history':<9}{'one task':>10}{'1,000 tasks':>13}{'failed':>8}{'lost':>6}")
    for history in (0, 1000):
        async with RedisBroker(redis_url, history=history) as broker:
            await broker.wait_connected()
            start = time.perf_counter()
            for number in range(messages):
                await broker.publish(f"room{number % 100}", "x" * 64)
            await broker.flush()
            one = messages / (time.perf_counter() - start)
            failed = 0

            async def task(first: int) -> None:
                nonlocal failed
                for number in range(first, messages, 1000):
                    try:
                        await broker.publish(f"room{number % 100}", "x" * 64)
                    except BrokerUnavailable:
                        failed += 1

            start = time.perf_counter()
            await asyncio.gather(*[task(first) for first in range(1000)])
            await broker.flush()
            many = messages / (time.perf_counter() - start)
            print(f"{history:<9}{one:>10,.0f}{many:>13,.0f}{failed:>8}{broker.stats.lost:>6}")
    print()


async def main(args: argparse.Namespace, redis_url: str) -> None:
    if args.publish_messages:
        await publishing(redis_url, args.publish_messages)
    if not args.stacks:
        return
    print(
        f"wskit.pubsub at scale: Python {sys.version.split()[0]}, {SERVERS} server processes "
        f"on {args.loop}, {args.clients} clients in {args.rooms} rooms and the publisher on "
        f"{args.client_loop}, {args.duration} s per rate, Redis at {redis_url}\n"
    )
    header = (
        f"{'stack':<14}{'rate':>8}{'published':>10}{'deliveries/s':>14}"
        f"{'delivered/expected':>23}{'p50 ms':>8}{'p99 ms':>9}{'max ms':>9}"
        f"{'CPU µs/dlv':>12}{'Redis µs':>11}{'clients':>11}{'publisher':>11}"
    )
    print(header)
    print("-" * len(header))
    # clients, publisher: CPU of the client process and of the publishing
    # one (this one), which share the machine (100% = a core).
    for stack in args.stacks:
        await sweep(stack, redis_url, args)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", nargs="*", choices=STACKS, default=list(STACKS))
    parser.add_argument("--rates", nargs="+", type=float, default=[1000, 2000, 5000, 10000])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--redis-url")
    parser.add_argument(
        "--publish-messages",
        type=int,
        default=50_000,
        help="messages for the publishing figures (0: skip them)",
    )
    parser.add_argument("--log", default=os.devnull, help="where the subprocesses' stderr goes")
    parser.add_argument("--loop", choices=LOOPS, default=DEFAULT_LOOP, help="the servers' loop")
    parser.add_argument(
        "--client-loop",
        choices=LOOPS,
        default=DEFAULT_LOOP,
        help="the loop of the clients and of the publisher",
    )
    parser.add_argument("--run-server", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--run-clients", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()

    raise_file_limit()
    if args.run_server:
        stack, redis_url = args.run_server
        if stack == "socketio":
            run_on(args.loop, socketio_server(redis_url))
        else:
            run_on(args.loop, wskit_server(redis_url, 1000 if stack == "wskit+history" else 0))
    elif args.run_clients:
        stack, ports, clients, rooms = args.run_clients
        ports_list = [int(port) for port in ports.split(",")]
        run_on(args.client_loop, run_clients(stack, ports_list, int(clients), int(rooms)))
    else:
        run_main(main, args, args.client_loop)


if __name__ == "__main__":
    cli()
