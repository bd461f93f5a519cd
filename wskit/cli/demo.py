"""``wskit demo``: a page and its WebSockets on one port.

The page (``static/``) shows a counter that any tab can change, the number
of users online, and a clock that ticks in every tab at once. One server
answers it all: ``process_request`` serves the files over plain HTTP and
lets WebSocket handshakes for two endpoints through:

- ``/counter``: tabs send ``+`` or ``-``; the server broadcasts
  ``{"value": n}`` when the counter changes and ``{"users": n}`` when a tab
  comes or goes.
- ``/clock``: the server broadcasts ``{"time": ms}`` (milliseconds since the
  epoch) to every tab at the start of each second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from importlib.resources import files
from typing import TextIO
from urllib.parse import urlsplit

from ..asyncio.server import Server, ServerConnection, broadcast, serve
from ..datastructures import Headers
from ..http11 import Request, Response
from .errors import OK, report
from .serve import listening_urls
from .signals import on_stop_signals

__all__ = ["Demo", "main", "running"]

# Path, file in static/, media type.
PAGES = [
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/demo.css", "demo.css", "text/css; charset=utf-8"),
    ("/demo.js", "demo.js", "text/javascript; charset=utf-8"),
    ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    # Browsers that ignore the page's <link rel="icon"> ask for this one.
    ("/favicon.ico", "favicon.svg", "image/svg+xml"),
]
STEPS = {"+": 1, "-": -1}
TICK = 1.0


def main(args: argparse.Namespace) -> int:
    """Run ``wskit demo``; return the exit status."""
    return asyncio.run(run(args))


async def run(args: argparse.Namespace, stdout: TextIO = sys.stdout) -> int:
    """Serve the demo until SIGINT or SIGTERM; return the exit status."""
    stop = asyncio.Event()
    try:
        async with running(args.host, args.port) as server:
            (url, *_) = listening_urls(server, "http")
            print(f"wskit demo: open {url} in several tabs; Ctrl-C stops", file=stdout, flush=True)
            with on_stop_signals(stop.set):
                await stop.wait()
    except Exception as exc:
        return report(exc, f"{args.host}:{args.port}", sys.stderr)
    return OK


@contextlib.asynccontextmanager
async def running(host: str, port: int, tick: float = TICK) -> AsyncIterator[Server]:
    """Serve the demo on ``host`` and ``port`` while in this block."""
    demo = Demo(tick)
    async with serve(demo.handler, host, port, process_request=demo.process_request) as server:
        ticker = asyncio.create_task(demo.tick())
        try:
            yield server
        finally:
            ticker.cancel()


class Demo:
    """The state of the demo, shared by every tab, and its handlers.

    Args:
        tick: Seconds between two ticks of the clock.
    """

    def __init__(self, tick: float = TICK) -> None:
        self.interval = tick
        static = files(__package__).joinpath("static")
        self.pages = {
            path: (static.joinpath(name).read_bytes(), media_type)
            for path, name, media_type in PAGES
        }
        self.value = 0
        self.users: set[ServerConnection] = set()
        self.clocks: set[ServerConnection] = set()
        # The time of the tick that tick() waits for, once it runs.
        self.next_tick: float | None = None

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Serve the page's files; let handshakes for the two endpoints through."""
        path = request.path.partition("?")[0]
        if "Upgrade" in request.headers:
            if path not in ("/counter", "/clock"):
                return connection.respond(HTTPStatus.NOT_FOUND, "No WebSocket here.\n")
            # Only the demo's own page may connect: another site open in the
            # browser could otherwise press + for its visitors.
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != request.headers.get("Host"):
                return connection.respond(HTTPStatus.FORBIDDEN, "Cross-origin request.\n")
            return None
        if path not in self.pages:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found.\n")
        body, media_type = self.pages[path]
        headers = Headers(
            {
                "Content-Type": media_type,
                "Content-Length": str(len(body)),
                "Cache-Control": "no-cache",
                "Content-Security-Policy": "default-src 'self'",
                "X-Content-Type-Options": "nosniff",
                "Connection": "close",
            }
        )
        return Response(HTTPStatus.OK, "OK", headers, body)

    async def handler(self, websocket: ServerConnection) -> None:
        """Route a connection to its endpoint (``process_request`` let only those through)."""
        if websocket.request is not None and websocket.request.path.startswith("/counter"):
            await self.counter(websocket)
        else:
            await self.clock(websocket)

    async def counter(self, websocket: ServerConnection) -> None:
        self.users.add(websocket)
        try:
            broadcast(self.users, json.dumps({"users": len(self.users)}))
            await websocket.send(json.dumps({"value": self.value}))
            async for message in websocket:
                step = STEPS.get(message) if isinstance(message, str) else None
                if step is not None:
                    self.value += step
                    broadcast(self.users, json.dumps({"value": self.value}))
        finally:
            self.users.remove(websocket)
            broadcast(self.users, json.dumps({"users": len(self.users)}))

    async def clock(self, websocket: ServerConnection) -> None:
        self.clocks.add(websocket)
        try:
            # Show the time now rather than at the next tick, but not past
            # that tick if it is late: the tab's clock would go back.
            now = time.time()
            if self.next_tick is not None:
                now = min(now, self.next_tick)
            await websocket.send(self.time_message(now))
            await websocket.wait_closed()
        finally:
            self.clocks.remove(websocket)

    def time_message(self, now: float) -> str:
        return json.dumps({"time": round(now * 1000)})

    async def tick(self) -> None:
        """Broadcast the time to every clock at the start of each tick."""
        while True:
            now = time.time()
            tick = self.next_tick = (now // self.interval + 1) * self.interval
            await asyncio.sleep(tick - now)
            # The tick's own time: waking up a little early or late doesn't
            # show the same second twice, or skip one.
            broadcast(self.clocks, self.time_message(tick))
