"""Greet whoever connects: the client sends a name, the server answers "Hello <name>!".

Run it with ``python examples/hello_server.py [PORT]`` (or ``PORT=...``), then
``python examples/hello_client.py Alice`` in another terminal. Stop it with Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from wskit.asyncio.server import ServerConnection, serve


async def hello(websocket: ServerConnection) -> None:
    name = await websocket.recv(decode=True)
    assert isinstance(name, str)  # decode=True always gives text
    await websocket.send(f"Hello {name}!")


async def main(port: int) -> None:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with serve(hello, "127.0.0.1", port):
        print(f"Serving on ws://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(port))
