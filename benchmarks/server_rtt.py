"""One side's cost per round trip, measured alone, for callgrind.

This process runs an echo server (wskit's, or any package with websockets'
asyncio API, such as ``picows.websockets``) on asyncio or uvloop; a child
process drives it with wskit's client: ``--connections`` connections at once
send 64 B messages and wait for each echo, ``--count`` round trips in all.
The server stops after the last one and prints its CPU time per round trip,
handshakes included.

``--side client`` measures the other end: this process runs the package's
client, ``await send(); await recv()`` as above, and the child wskit's echo
server on uvloop.

The figure that matters is callgrind's, which the load of the machine
doesn't change (keepalive pings are off on both sides: their number would
follow the run's duration). valgrind follows this process only, not the client: run it
with two counts and divide the difference of the totals by the difference of
the counts, so that start-up, handshakes and warm-up cancel out::

    for n in 2000 6000; do
        valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \\
            .venv/bin/python -m benchmarks.server_rtt --loop uvloop --count $n
    done
    # (Ir of /tmp/cg.6000 - Ir of /tmp/cg.2000) / 4000

``--package picows.websockets`` measures picows' compiled connection the
same way; ``--picows`` measures picows' callback API, the harness's picows
server (:mod:`benchmarks.peers.picows`, which echoes each frame from its
callback, no task), the bar wskit's server is held to with 1,000
connections. ``--uvicorn ENGINE`` measures uvicorn serving the Starlette echo
endpoint of :mod:`benchmarks.peers.uvicorn_engines` with that WebSocket
engine (``uvicorn_wskit``, ``uvicorn_websockets_sansio``...): the server's
whole cost, Starlette's and uvicorn's included.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import subprocess
import sys
import time
from typing import Any

from .peers import EVENT_LOOPS, UVICORN_PEERS
from .peers.base import ECHO_PATH
from .peers.process import new_event_loop

MESSAGE = b"x" * 64
TIMEOUT = 600  # seconds the client may take, under valgrind too


def run(loop: str, main: Any) -> None:
    """Run the coroutine ``main`` on ``loop`` (one of the harness's event loops)."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(loop)) as runner:
        runner.run(main)


async def serve(package: str, count: int, connections: int) -> float:
    """Echo ``count`` messages from a client in a child process; return CPU seconds."""
    serve = importlib.import_module(f"{package}.asyncio.server").serve
    done = asyncio.Event()
    echoed = 0

    async def echo(websocket: Any) -> None:
        nonlocal echoed
        async for message in websocket:
            await websocket.send(message)
            echoed += 1
            if echoed == count:
                done.set()

    # No keepalive pings, either side: how many fall in a run depends on how
    # long it takes (under valgrind, minutes), not on its round trips.
    server = await serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None)
    try:
        return await measure(server.sockets[0].getsockname()[1], "/", count, connections, done)
    finally:
        server.close()


async def drive_server(package: str, count: int, connections: int) -> float:
    """Run ``package``'s clients against wskit's echo server in a child; return CPU seconds."""
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.server_rtt",
        "--echo-server",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(await server.stdout.readline())
        started = time.process_time()
        async with asyncio.timeout(TIMEOUT):
            await drive(port, "/", count, connections, package)
        return time.process_time() - started
    finally:
        server.kill()
        await server.wait()


async def echo_server() -> None:
    """The child of ``--side client``: wskit's echo server; print its port, serve until killed."""
    from wskit.asyncio.server import serve  # noqa: PLC0415 - the child's side only

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    server = await serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


async def serve_picows(count: int, connections: int) -> float:
    """Like :func:`serve`, with picows' callback API as the server."""
    from .peers.picows import PicowsPeer  # noqa: PLC0415 - imports picows

    peer = PicowsPeer()
    port = await peer.serve(compression=False)
    try:
        # The client checks every echo and fails if one is missing.
        return await measure(port, "/", count, connections, None)
    finally:
        peer.server.close()


async def serve_uvicorn(engine: str, count: int, connections: int) -> float:
    """Like :func:`serve`, with uvicorn and Starlette under the WebSocket ``engine``."""
    from .peers.uvicorn_engines import ENGINES, UvicornPeer  # noqa: PLC0415 - only when asked for

    peer = UvicornPeer(ENGINES[engine])
    port = await peer.serve(compression=False)
    try:
        # The client checks every echo and fails if one is missing.
        return await measure(port, ECHO_PATH, count, connections, None)
    finally:
        peer.server.should_exit = True
        await peer.serving


async def measure(
    port: int, path: str, count: int, connections: int, done: asyncio.Event | None
) -> float:
    """Run the client in a child process until it ends (and ``done`` is set); return CPU seconds."""
    started = time.process_time()
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.server_rtt",
        "--client",
        str(port),
        "--path",
        path,
        "--count",
        str(count),
        "--connections",
        str(connections),
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            if done is not None:
                await done.wait()
            await client.wait()
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
    if client.returncode:
        raise subprocess.CalledProcessError(client.returncode, "benchmarks.server_rtt --client")
    return time.process_time() - started


async def drive(port: int, path: str, count: int, connections: int, package: str = "wskit") -> None:
    """The client: ``connections`` at once, ``count`` round trips in all."""
    connect = importlib.import_module(f"{package}.asyncio.client").connect

    uri = f"ws://127.0.0.1:{port}{path}"
    clients = [
        await connect(uri, compression=None, open_timeout=TIMEOUT, ping_interval=None)
        for _ in range(connections)
    ]

    async def round_trips(websocket: Any, number: int) -> None:
        for _ in range(number):
            await websocket.send(MESSAGE)
            if await websocket.recv() != MESSAGE:
                raise RuntimeError("the server didn't echo the message")

    shares = [count // connections + (index < count % connections) for index in range(connections)]
    await asyncio.gather(
        *(round_trips(ws, share) for ws, share in zip(clients, shares, strict=True))
    )
    for websocket in clients:
        if package == "wskit":
            websocket.transport.abort()
        else:  # picows.websockets' transport is its own
            await websocket.close()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line; run the server, or the client in the child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="wskit", help="e.g. wskit, picows.websockets")
    parser.add_argument(
        "--side",
        choices=("server", "client"),
        default="server",
        help="the package's echo server (driven by wskit's client) or its client (against wskit's)",
    )
    parser.add_argument("--loop", choices=EVENT_LOOPS, default="asyncio")
    parser.add_argument("--count", type=int, default=2000, help="round trips in all")
    parser.add_argument("--connections", type=int, default=100, help="connections at once")
    parser.add_argument(
        "--uvicorn",
        metavar="ENGINE",
        choices=list(UVICORN_PEERS),
        help="uvicorn and Starlette with this engine rather than a package's server",
    )
    parser.add_argument(
        "--picows",
        action="store_true",
        help="picows' callback API (the harness's picows server) rather than a package's server",
    )
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="/", help=argparse.SUPPRESS)
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client is not None:
        run("uvloop", drive(args.client, args.path, args.count, args.connections))
        return
    if args.echo_server:
        run("uvloop", echo_server())
        return
    if (args.uvicorn is not None or args.picows) and args.side == "client":
        parser.error("--uvicorn and --picows measure a server: not with --side client")
    result: list[float] = []

    async def main() -> None:
        if args.picows:
            result.append(await serve_picows(args.count, args.connections))
        elif args.uvicorn is not None:
            result.append(await serve_uvicorn(args.uvicorn, args.count, args.connections))
        elif args.side == "client":
            result.append(await drive_server(args.package, args.count, args.connections))
        else:
            result.append(await serve(args.package, args.count, args.connections))

    run(args.loop, main())
    name = "picows" if args.picows else args.package if args.uvicorn is None else args.uvicorn
    print(
        f"{name} {args.side} on {args.loop}: {result[0] / args.count * 1e6:.1f} us CPU "
        f"per round trip ({args.count} round trips, {args.connections} connections)"
    )


if __name__ == "__main__":
    main()
