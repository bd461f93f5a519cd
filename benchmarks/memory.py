"""Server memory per connection: idle, then after one message, with and without compression.

    python -m benchmarks.memory                       # 1,000 connections, 1 KiB messages
    python -m benchmarks.memory --connections 2000 --size 16384 --layers asyncio

Compression settings: ``none``; ``deflate``, wskit's default (4 KiB windows,
``memLevel=5``); ``zlib-defaults``, permessage-deflate with zlib's defaults
(32 KiB windows, ``memLevel=8``), which is what most libraries use.

For each layer (asyncio, threading) and compression setting, a server runs in
a process of its own (``python -m benchmarks.memory server ...``) and reports
its resident memory (``/proc/self/statm``) when asked on standard input.
This process opens the connections with wskit's asyncio client, then:

1. idle: resident memory after every connection opened, minus before, divided
   by the number of connections;
2. after one message: each client sends one text message of ``--size``
   bytes (compressible JSON-like text) and reads the echo; the same division,
   still from the memory before any connection. A compressed connection's
   zlib state is allocated with its first message, so this is what an active
   connection costs.

Figures measure; they don't judge. Prints a markdown table; ``--out`` writes
the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import wskit.asyncio.server as asyncio_server_module
import wskit.sync.server as sync_server_module
from wskit.asyncio.client import connect
from wskit.extensions.permessage_deflate import ServerPerMessageDeflateFactory

ROOT = Path(__file__).resolve().parents[1]
COMPRESSION = ("none", "deflate", "zlib-defaults")
# Bounds every wait on the server process.
TIMEOUT = 60.0


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def raise_file_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# The server process.


def server_options(compression: str) -> dict[str, Any]:
    """The arguments of ``serve()`` for a compression setting."""
    if compression == "zlib-defaults":
        return {"compression": None, "extensions": [ServerPerMessageDeflateFactory()]}
    return {"compression": None if compression == "none" else compression}


async def asyncio_server(compression: str) -> None:
    async def echo(websocket: asyncio_server_module.ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with asyncio_server_module.serve(
        echo, "127.0.0.1", 0, max_size=None, **server_options(compression)
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        await asyncio.to_thread(answer, port)
        server.close()


def sync_server(compression: str) -> None:
    def echo(websocket: sync_server_module.ServerConnection) -> None:
        for message in websocket:
            websocket.send(message)

    with sync_server_module.serve(
        echo, "127.0.0.1", 0, max_size=None, **server_options(compression)
    ) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        answer(server.socket.getsockname()[1])
        server.shutdown()


def answer(port: int) -> None:
    """Print the port, then the resident memory for each line read, until EOF."""
    print(port, flush=True)
    for _ in sys.stdin:
        print(rss(), flush=True)


# The measuring process.


class Server:
    """A server process and the pipe that asks it for its memory."""

    def __init__(self, layer: str, compression: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.memory", "server", layer, compression],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        self.stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        self.port = int(self.stdout.readline())

    def rss(self) -> int:
        self.stdin.write("rss\n")
        self.stdin.flush()
        return int(self.stdout.readline())

    def stop(self) -> None:
        self.stdin.close()
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stdout.close()


def message(size: int) -> str:
    """Text that compresses as application messages do, ``size`` characters long."""
    unit = '{"user": "alice", "event": "move", "x": 12, "y": 34}, '
    return (unit * (size // len(unit) + 1))[:size]


async def measure(layer: str, compression: str, connections: int, size: int) -> dict[str, Any]:
    server = Server(layer, compression)
    offer = None if compression == "none" else "deflate"
    try:
        uri = f"ws://127.0.0.1:{server.port}/"
        # One connection and one message first: imports and caches that the
        # first connection causes aren't per-connection memory.
        async with connect(uri, compression=offer) as warmup:
            await warmup.send(message(size))
            await warmup.recv()
        base = await asyncio.to_thread(server.rss)
        clients = [await connect(uri, compression=offer) for _ in range(connections)]
        negotiated = all(bool(client.protocol.extensions) for client in clients)
        assert negotiated == (offer is not None), "compression wasn't as asked"
        idle = await asyncio.to_thread(server.rss)
        payload = message(size)
        for client in clients:
            await client.send(payload)
        for client in clients:
            assert await client.recv() == payload
        active = await asyncio.to_thread(server.rss)
        await asyncio.gather(*(client.close() for client in clients))
    finally:
        await asyncio.to_thread(server.stop)
    return {
        "layer": layer,
        "compression": compression,
        "connections": connections,
        "size": size,
        "idle": (idle - base) / connections,
        "after_one_message": (active - base) / connections,
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| layer | compression | idle (KiB/connection) | after one message (KiB/connection) |",
        "|---|---|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result['layer']} | {result['compression']} | {result['idle'] / 1024:.1f} "
            f"| {result['after_one_message'] / 1024:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    raise_file_limit()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["server"]:
        layer, compression = argv[1:3]
        if layer == "asyncio":
            asyncio.run(asyncio_server(compression))
        else:
            sync_server(compression)
        return []
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024, help="message size in bytes")
    parser.add_argument(
        "--layers", nargs="+", choices=["asyncio", "sync"], default=["asyncio", "sync"]
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    results = [
        asyncio.run(measure(layer, compression, args.connections, args.size))
        for layer in args.layers
        for compression in COMPRESSION
    ]
    sys.stdout.write(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
