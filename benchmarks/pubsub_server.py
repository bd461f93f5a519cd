"""One hub server's cost per delivery, measured alone, for callgrind.

This process is one of the three servers of ``benchmarks.pubsub_scale``: a
:class:`~wskit.pubsub.Hub` on a :class:`~wskit.pubsub.RedisBroker`, serving
``--clients`` WebSocket clients in ``--rooms`` rooms (333 in 100 by
default: a third of that benchmark's 1,000, so about 3.3 members per room).
A child process connects the clients (raw sockets), then publishes
``--count`` messages to random rooms straight to Redis, ``--batch`` at a time
in one write, and waits until its clients have them all before the next
batch: the server reads about a batch per read from its Redis link. At
10,000 messages per second in ``pubsub_scale``, a server reads a few per
read. It prints its CPU time per delivery, handshakes left out.

The figure that matters is callgrind's, which the load of the machine
doesn't change (the system calls' cost in the kernel is left out). valgrind
follows this process only, not the child or redis-server: run it with two
counts and divide the difference of the totals by the difference of the
deliveries, so that start-up, handshakes and warm-up cancel out::

    for n in 2000 6000; do
        valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \\
            .venv/bin/python -m benchmarks.pubsub_server --count $n
    done
    # (Ir of /tmp/cg.6000 - Ir of /tmp/cg.2000) / (deliveries of 6000 - of 2000)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import subprocess
import sys
import time

from benchmarks.pubsub import raise_file_limit, redis_hub_server, run_on
from tests.pubsub.redis_server import RedisServer
from wskit.pubsub import RedisBroker

TIMEOUT = 600.0  # seconds the child may take, under valgrind too: --timeout
PAYLOAD = "x" * 16
FRAME = 2 + len(PAYLOAD)  # bytes of each message's frame on the wire
JOINED = b"\x81\x06joined"


async def serve_hub(
    redis_url: str, history: int, timeout: float, arguments: list[str]
) -> tuple[float, int]:
    """Serve the child's clients; return the CPU seconds and the deliveries after they joined."""
    async with redis_hub_server(redis_url, history) as port:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.pubsub_server",
            "--drive",
            str(port),
            redis_url,
            *arguments,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                assert await child.stdout.readline() == b"ready\n"
                started = time.process_time()
                deliveries = int(await child.stdout.readline())
                used = time.process_time() - started
                await child.wait()
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        if child.returncode:
            raise subprocess.CalledProcessError(child.returncode, "benchmarks.pubsub_server")
    return used, deliveries


class Client(asyncio.Protocol):
    """A raw WebSocket client that counts the bytes of the frames it gets."""

    def __init__(self, driver: Driver, joined: asyncio.Future[None]) -> None:
        self.driver = driver
        self.joined = joined
        self.head = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.joined.done():
            self.driver.received(len(data))
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end >= 0 and len(self.head) >= end + 4 + len(JOINED):
            assert self.head[end + 4 : end + 4 + len(JOINED)] == JOINED
            self.joined.set_result(None)
            self.driver.received(len(self.head) - end - 4 - len(JOINED))


class Driver:
    """The child: clients in rooms, and a publisher that waits for each batch."""

    def __init__(self) -> None:
        self.bytes = 0
        self.target = 0
        self.arrived: asyncio.Future[None] | None = None

    def received(self, size: int) -> None:
        self.bytes += size
        if self.arrived is not None and self.bytes >= self.target:
            self.arrived.set_result(None)
            self.arrived = None

    async def run(self, port: int, redis_url: str, args: argparse.Namespace) -> None:
        loop = asyncio.get_running_loop()
        members = [0] * args.rooms
        joins = []
        for number in range(args.clients):
            room = number % args.rooms
            members[room] += 1
            joined: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(
                functools.partial(Client, self, joined), "127.0.0.1", port
            )
            transport.write(
                f"GET /room{room} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            joins.append(joined)
        await asyncio.gather(*joins)
        rng = random.Random(0)
        deliveries = 0
        async with RedisBroker(redis_url, history=args.history) as broker:
            await broker.wait_connected()
            print("ready", flush=True)
            for first in range(0, args.count, args.batch):
                for _ in range(min(args.batch, args.count - first)):
                    room = rng.randrange(args.rooms)
                    await broker.publish(f"room{room}", PAYLOAD)
                    deliveries += members[room]
                self.target = deliveries * FRAME
                self.arrived = arrived = loop.create_future()
                await broker.flush()
                await arrived
        print(deliveries, flush=True)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line; run the server, or the driver in the child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="messages published")
    parser.add_argument("--batch", type=int, default=4, help="messages per write to Redis")
    parser.add_argument("--clients", type=int, default=333)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--history", type=int, default=0, help="the broker's history")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds for it all")
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the server's event loop"
    )
    parser.add_argument("--drive", nargs=2, metavar=("PORT", "REDIS_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    raise_file_limit()
    if args.drive is not None:
        port, redis_url = args.drive
        asyncio.run(asyncio.wait_for(Driver().run(int(port), redis_url, args), args.timeout))
        return
    arguments = [
        f"--count={args.count}",
        f"--batch={args.batch}",
        f"--clients={args.clients}",
        f"--rooms={args.rooms}",
        f"--history={args.history}",
        f"--timeout={args.timeout}",
    ]
    with RedisServer() as redis_server:
        used, deliveries = run_on(
            args.loop, serve_hub(redis_server.url, args.history, args.timeout, arguments)
        )
    print(
        f"hub server: {used / deliveries * 1e6:.2f} us CPU per delivery ({args.count} messages "
        f"in batches of {args.batch}, {deliveries} deliveries, {args.clients} clients in "
        f"{args.rooms} rooms, history {args.history}, {args.loop})"
    )


if __name__ == "__main__":
    main()
