"""A counter shared by every tab: anyone can change it, everyone sees it change.

Run it with ``python examples/counter/server.py [PORT]`` (or ``PORT=...``) and
open http://127.0.0.1:8765/ in several tabs.

Messages are JSON. Tabs send ``{"action": "plus"}`` or ``{"action": "minus"}``;
the server sends ``{"type": "value", "value": n}`` when the counter changes
and ``{"type": "users", "count": n}`` when someone comes or goes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from http import HTTPStatus
from pathlib import Path

from wskit.asyncio.server import ServerConnection, broadcast, serve
from wskit.datastructures import Headers
from wskit.http11 import Request, Response

PAGE = Path(__file__).with_name("index.html").read_bytes()
STEPS = {"plus": 1, "minus": -1}

# The state of the application, shared by every connection.
users: set[ServerConnection] = set()
value = 0


def value_message() -> str:
    return json.dumps({"type": "value", "value": value})


def users_message() -> str:
    return json.dumps({"type": "users", "count": len(users)})


async def counter(websocket: ServerConnection) -> None:
    global value
    users.add(websocket)
    try:
        broadcast(users, users_message())
        await websocket.send(value_message())
        async for message in websocket:
            step = STEPS.get(json.loads(message).get("action"), 0)
            if step:
                value += step
                broadcast(users, value_message())
    finally:
        users.remove(websocket)
        broadcast(users, users_message())


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


async def main(port: int) -> None:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with serve(counter, "127.0.0.1", port, process_request=serve_page):
        print(f"Serving on http://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(port))
