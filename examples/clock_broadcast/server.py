"""One clock for every tab: a single ticker broadcasts the time to all connections.

Run it with ``python examples/clock_broadcast/server.py [PORT]`` (or
``PORT=...``) and open http://127.0.0.1:8765/ in several tabs: they tick
together. ``INTERVAL=...`` changes the period, in seconds.

Compare with ``clock``: here connection handlers do nothing but wait, and
``broadcast()`` writes each tick to every open connection without waiting
for any of them, so a slow client can't hold the others back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from wskit.asyncio.server import Server, ServerConnection, broadcast, serve
from wskit.datastructures import Headers
from wskit.http11 import Request, Response

INTERVAL = float(os.environ.get("INTERVAL", "1"))
PAGE = Path(__file__).with_name("index.html").read_bytes()


def serve_page(connection: ServerConnection, request: Request) -> Response | None:
    """Answer plain HTTP requests; let WebSocket handshakes go on."""
    if "Upgrade" in request.headers:
        return None
    if request.path != "/":
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
    headers = Headers(
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Length": str(len(PAGE)),
            "Connection": "close",
        }
    )
    return Response(HTTPStatus.OK, "OK", headers, PAGE)


async def listen(websocket: ServerConnection) -> None:
    # The ticker does the sending: keep the connection open until the tab leaves.
    await websocket.wait_closed()


async def tick(server: Server) -> None:
    while True:
        broadcast(server.connections, datetime.now(UTC).isoformat(timespec="milliseconds"))
        await asyncio.sleep(INTERVAL)


async def main(port: int) -> None:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with serve(listen, "127.0.0.1", port, process_request=serve_page) as server:
        ticker = asyncio.create_task(tick(server))
        print(f"Serving on http://127.0.0.1:{port}", flush=True)
        await stop.wait()
        ticker.cancel()


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(port))
