"""Send a name to hello_server.py and print its greeting, without asyncio.

Run it with ``python examples/sync/hello_client.py [NAME]``; without a name,
it asks for one. ``PORT=...`` picks the server's port (8765 by default). It
works with either hello server, threaded or asyncio.
"""

from __future__ import annotations

import os
import sys

from wskit.sync.client import connect


def main(name: str, port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}") as websocket:
        websocket.send(name)
        greeting = websocket.recv()
        print(greeting)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else input("What's your name? ")
    main(name, int(os.environ.get("PORT", "8765")))
