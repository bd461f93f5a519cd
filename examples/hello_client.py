"""Send a name to hello_server.py and print its greeting.

Run it with ``python examples/hello_client.py [NAME]``; without a name, it asks
for one. ``PORT=...`` picks the server's port (8765 by default).
"""

from __future__ import annotations

import asyncio
import os
import sys

from wskit.asyncio.client import connect


async def main(name: str, port: int) -> None:
    async with connect(f"ws://127.0.0.1:{port}") as websocket:
        await websocket.send(name)
        greeting = await websocket.recv()
        print(greeting)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else input("What's your name? ")
    asyncio.run(main(name, int(os.environ.get("PORT", "8765"))))
