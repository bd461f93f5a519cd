"""hello_server.py over TLS: the same greeting, on a wss:// URI.

The certificate and its key are in ``localhost.pem``, self-signed for
``localhost`` and ``127.0.0.1``: good for trying TLS out, not for production.

Run it with ``python examples/hello_server_tls.py [PORT]`` (or ``PORT=...``),
then ``python examples/hello_client_tls.py Alice`` in another terminal.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from pathlib import Path

from wskit.asyncio.server import ServerConnection, serve

CERTIFICATE = Path(__file__).with_name("localhost.pem")


async def hello(websocket: ServerConnection) -> None:
    name = await websocket.recv(decode=True)
    assert isinstance(name, str)  # decode=True always gives text
    await websocket.send(f"Hello {name}!")


async def main(port: int) -> None:
    ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ssl_context.load_cert_chain(CERTIFICATE)

    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with serve(hello, "127.0.0.1", port, ssl=ssl_context):
        print(f"Serving on wss://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(port))
