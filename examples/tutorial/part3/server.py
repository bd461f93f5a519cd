"""Tutorial, part 3: the poll on the web, behind nginx, which terminates TLS.

Run it with ``python examples/tutorial/part3/server.py [PORT]`` (or
``PORT=...``) on the host where nginx runs, with ``ORIGIN`` set to the
address people open, such as ``ORIGIN=https://poll.example.com``. Stop it
with Ctrl-C or SIGTERM.

The handler is part 2's. The server adds what the web needs: it serves the
page (``index.html``) on the WebSocket's port, answers ``/healthz`` for
monitoring, and refuses WebSocket connections opened by pages of other sites.
It listens on 127.0.0.1 only: visitors reach it through nginx.
"""

from __future__ import annotations

import asyncio
import os
import sys
from http import HTTPStatus
from pathlib import Path

from wskit.asyncio.server import ServerConnection
from wskit.datastructures import Headers
from wskit.http11 import Request, Response

# Import parts 1 and 2 from the repository's root, wherever this script runs from.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from examples.tutorial.part1.server import main
from examples.tutorial.part2.server import poll

PAGE = Path(__file__).with_name("index.html").read_bytes()


def serve_page(connection: ServerConnection, request: Request) -> Response | None:
    """Answer plain HTTP requests; let WebSocket handshakes go on."""
    if "Upgrade" in request.headers:
        return None
    if request.path == "/healthz":
        return connection.respond(HTTPStatus.OK, "OK\n")
    if request.path != "/":
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
    headers = Headers(
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Length": str(len(PAGE)),
            "Cache-Control": "no-cache",
        }
    )
    return Response(HTTPStatus.OK, "OK", headers, PAGE)


def allowed_origins() -> list[str] | None:
    """The site whose pages may connect, from ``ORIGIN``; any site if it's unset."""
    origin = os.environ.get("ORIGIN")
    return None if origin is None else [origin]


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(poll, port, process_request=serve_page, origins=allowed_origins()))
