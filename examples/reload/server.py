"""The server that examples/reload/watch.py restarts: edit GREETING while it runs.

Run it under the watcher::

    python examples/reload/watch.py examples/reload -- python examples/reload/server.py

and connect with ``python examples/reload/client.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from wskit.asyncio.server import ServerConnection, serve

GREETING = "Hello"


async def greet(websocket: ServerConnection) -> None:
    await websocket.send(GREETING)
    await websocket.wait_closed()


async def main(port: int) -> None:
    # SIGTERM, which the watcher sends, closes connections with 1001.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve(greet, "127.0.0.1", port):
        print(f"Serving on ws://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))))
