"""Send a name to a hello server and print its greeting, on trio.

The trio twin of ``examples/hello_client.py``; it talks to either server.
Run it with ``python examples/trio/hello_client.py [NAME]``; without a name,
it asks for one. ``PORT=...`` picks the server's port (8765 by default).
"""

from __future__ import annotations

import os
import sys

import trio

from wskit.trio.client import connect


async def main(name: str, port: int) -> None:
    async with connect(f"ws://127.0.0.1:{port}") as websocket:
        await websocket.send(name)
        greeting = await websocket.recv()
        print(greeting)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else input("What's your name? ")
    trio.run(main, name, int(os.environ.get("PORT", "8765")))
