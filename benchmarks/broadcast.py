"""The server's cost of ``broadcast()`` per delivery, user and system time apart.

This process is the server (websockets' API: wskit, websockets or
picows.websockets, on asyncio or uvloop); a child process opens
``--connections`` lean connections (the harness's, upgrade and nothing else)
and reads everything it is sent. Each round broadcasts ``--messages``
messages of ``--size`` bytes back to back, then lets the loop run until
they are written (wskit writes its bursts on the loop's next pass); rounds
are ``--pause`` seconds apart, so the reader keeps up. Keepalive is off:
no ping counts; the garbage collector leaves the connections alone
(``gc.freeze()``), so its passes over them don't either.

    .venv/bin/python -m benchmarks.broadcast --lib wskit --rounds 50

prints user and system µs per delivery over the measured rounds. For
instruction counts, run it twice under callgrind with different
``--rounds`` (the client isn't traced) and divide the difference of the
totals by the deliveries between them::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python -m benchmarks.broadcast --lib wskit --rounds 2 --warmup 1
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import selectors
import subprocess
import sys
from typing import Any

from .peers.base import BROADCAST_PATH
from .peers.process import new_event_loop
from .workloads import _open_idle

__all__ = ["main"]


class _LeanPeer:
    """What ``_open_idle`` needs of a peer: it speaks WebSocket."""

    websocket = True


def _client(port: int, connections: int) -> None:
    """Open the connections, say so, and read until standard input closes."""
    sockets, _ = _open_idle(_LeanPeer(), port, connections, False, path=BROADCAST_PATH)  # type: ignore[arg-type]
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:
                return
            key.fileobj.recv(65536)  # type: ignore[union-attr]


async def _server(args: argparse.Namespace) -> None:
    server_module: Any = importlib.import_module(f"{args.lib}.asyncio.server")
    subscribers: set[Any] = set()
    connected = asyncio.Event()

    async def handler(websocket: Any) -> None:
        subscribers.add(websocket)
        if len(subscribers) == args.connections:
            connected.set()
        await websocket.wait_closed()

    server = await server_module.serve(
        handler, "127.0.0.1", 0, compression=None, ping_interval=None
    )
    port = server.sockets[0].getsockname()[1]
    command = [sys.executable, "-m", "benchmarks.broadcast", "--client", str(port)]
    client = subprocess.Popen(
        [*command, "--connections", str(args.connections)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(connected.wait(), 120)
        assert client.stdout is not None
        if await asyncio.to_thread(client.stdout.readline) != b"ready\n":
            raise RuntimeError("the client didn't open its connections")
        message = b"x" * args.size
        broadcast = server_module.broadcast

        async def rounds(count: int) -> None:
            for _ in range(count):
                for _ in range(args.messages):
                    broadcast(subscribers, message)
                await asyncio.sleep(0)  # the bursts go out
                await asyncio.sleep(args.pause)

        await rounds(args.warmup)
        # The connections live on: collections that walk them are noise here.
        gc.collect()
        gc.freeze()
        before = os.times()
        await rounds(args.rounds)
        after = os.times()
        deliveries = args.rounds * args.messages * args.connections
        pauses = args.rounds * args.pause
        print(
            f"{args.lib} on {args.loop}: {deliveries} deliveries, per delivery "
            f"user {(after.user - before.user) * 1e6 / deliveries:.2f} µs, "
            f"system {(after.system - before.system) * 1e6 / deliveries:.2f} µs; "
            f"elapsed {after.elapsed - before.elapsed - pauses:.2f} s besides pauses"
        )
    finally:
        assert client.stdin is not None
        client.stdin.close()
        client.wait(30)
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--lib", default="wskit", choices=("wskit", "websockets", "picows.websockets"))
    add("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    add("--connections", type=int, default=1000)
    add("--messages", type=int, default=10, help="broadcasts per round, back to back")
    add("--size", type=int, default=64)
    add("--rounds", type=int, default=50)
    add("--warmup", type=int, default=5, help="rounds before the measured ones")
    add("--pause", type=float, default=0.02, help="seconds between rounds")
    add("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        _client(args.client, args.connections)
        return
    with asyncio.Runner(loop_factory=lambda: new_event_loop(args.loop)) as runner:
        runner.run(_server(args))


if __name__ == "__main__":
    main()
