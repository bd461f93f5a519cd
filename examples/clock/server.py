"""A clock in the browser: the server sends the time every second over a WebSocket.

Run it with ``python examples/clock/server.py [PORT]`` (or ``PORT=...``) and
open http://127.0.0.1:8765/. The same port serves the page (``index.html``) and
the WebSocket. ``INTERVAL=...`` changes the period, in seconds.

Each connection runs its own loop, so two tabs tick at their own pace; see
``clock_broadcast`` for one clock shared by every tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from wskit.asyncio.server import ServerConnection, serve
from wskit.datastructures import Headers
from wskit.exceptions import ConnectionClosed
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


async def clock(websocket: ServerConnection) -> None:
    # When the tab goes away, send() raises ConnectionClosed: that's the end.
    with contextlib.suppress(ConnectionClosed):
        while True:
            await websocket.send(datetime.now(UTC).isoformat(timespec="milliseconds"))
            await asyncio.sleep(INTERVAL)


async def main(port: int) -> None:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with serve(clock, "127.0.0.1", port, process_request=serve_page):
        print(f"Serving on http://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(port))
