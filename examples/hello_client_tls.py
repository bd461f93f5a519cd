"""Send a name to hello_server_tls.py over TLS and print its greeting.

The server's certificate is self-signed, so the client trusts it explicitly
with ``cafile``: it still checks that the certificate matches the host.

Run it with ``python examples/hello_client_tls.py [NAME]``; without a name, it
asks for one. ``PORT=...`` picks the server's port (8765 by default).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from pathlib import Path

from wskit.asyncio.client import connect

CERTIFICATE = Path(__file__).with_name("localhost.pem")


async def main(name: str, port: int) -> None:
    ssl_context = ssl.create_default_context(cafile=CERTIFICATE)
    async with connect(f"wss://127.0.0.1:{port}", ssl=ssl_context) as websocket:
        await websocket.send(name)
        greeting = await websocket.recv()
        print(greeting)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else input("What's your name? ")
    asyncio.run(main(name, int(os.environ.get("PORT", "8765"))))
