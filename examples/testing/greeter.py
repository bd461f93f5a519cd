"""A small application to test: it greets whoever connects to /hello.

``python greeter.py`` serves it on 127.0.0.1:8765; ``test_greeter.py``
tests it, in memory and over a real socket, with wskit's pytest plugin.
"""

from __future__ import annotations

import asyncio
import os
import sys

from wskit.asyncio.server import ServerConnection, serve


async def greeter(websocket: ServerConnection) -> None:
    """Answer each name (a text message) with a greeting; refuse other paths with 1008."""
    if websocket.request is None or websocket.request.path != "/hello":
        await websocket.close(1008, "try /hello")
        return
    async for name in websocket:
        if isinstance(name, str):
            await websocket.send(f"Hello, {name}!")


def app(port: int = 8765) -> serve:
    """The server as the application runs it (not started until awaited)."""
    return serve(greeter, "127.0.0.1", port, max_size=2**10)


async def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    async with app(port) as server:
        print(f"greeter on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/hello")
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
