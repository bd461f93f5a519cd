"""Round trips of a wskit client and echo server in one process, for callgrind.

The client sends a binary message of ``--size`` bytes and waits for its
echo, ``--warm-up`` times, then ``--count`` times; both ends share the
process, so callgrind counts the instructions of both. The message is
lower-case words separated by spaces, drawn from a fixed seed: it compresses
about as text does (2-3x), where a repeated byte would cost zlib nothing.

Run it under callgrind with two counts and divide the difference of the
totals by the difference of the counts, so that start-up, handshakes and
warm-up cancel out::

    for n in 1000 3000; do
        PYTHONHASHSEED=0 setarch -R valgrind --tool=callgrind \\
            --callgrind-out-file=/tmp/cg.$n \\
            .venv/bin/python -m benchmarks.inprocess_rtt --compression deflate --count $n
    done
    # (Ir of /tmp/cg.3000 - Ir of /tmp/cg.1000) / 2000
"""

from __future__ import annotations

import argparse
import asyncio
import random
from typing import Any

from wskit.asyncio.client import connect
from wskit.asyncio.server import serve


def words(size: int, seed: int = 0) -> bytes:
    """``size`` bytes of lower-case words separated by spaces."""
    rng = random.Random(seed)
    letters = b"abcdefghijklmnopqrstuvwxyz"
    vocabulary = [bytes(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(300)]
    return b" ".join(rng.choices(vocabulary, k=size))[:size]


async def round_trips(size: int, count: int, compression: str | None) -> None:
    """Echo ``count`` messages of ``size`` bytes, checking each echo."""
    message = words(size)

    async def echo(websocket: Any) -> None:
        async for received in websocket:
            await websocket.send(received)

    async with serve(echo, "127.0.0.1", 0, compression=compression, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        uri = f"ws://127.0.0.1:{port}"
        async with connect(uri, compression=compression, max_size=None) as websocket:
            for _ in range(count):
                await websocket.send(message)
                if await websocket.recv() != message:
                    raise AssertionError("the echo differs from the message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, help="bytes per message")
    parser.add_argument("--count", type=int, default=1000, help="round trips measured")
    parser.add_argument("--warm-up", type=int, default=200, help="round trips before")
    parser.add_argument("--compression", choices=["deflate", "none"], default="none")
    args = parser.parse_args()
    compression = None if args.compression == "none" else args.compression
    asyncio.run(round_trips(args.size, args.warm_up + args.count, compression))
    print(f"{args.warm_up} + {args.count} round trips of {args.size} B, {args.compression}")


if __name__ == "__main__":
    main()
