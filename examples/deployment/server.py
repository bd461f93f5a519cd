"""An echo server shaped for production: the one that systemd, Docker and Kubernetes run.

- It reads where to listen from the environment: ``HOST`` (127.0.0.1 by
  default) and ``PORT`` (8765 by default).
- ``GET /healthz`` answers ``200 OK`` without opening a WebSocket, for load
  balancers and Kubernetes probes; any other path opens a WebSocket.
- SIGTERM, which systemd, Docker and Kubernetes send to stop a service, closes
  the open connections with 1001 (going away) so that clients know to
  reconnect elsewhere, waits for their handlers, then exits with status 0.
- Logs go to standard error, which all three collect.
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
import signal

from wskit.asyncio.server import ServerConnection, serve
from wskit.http11 import Request, Response

HEALTH_CHECK = "/healthz"


def health_check(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == HEALTH_CHECK:
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    return None  # open a WebSocket


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8765"))
    async with serve(echo, host, port, process_request=health_check) as server:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, server.close)
        await server.wait_closed()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    asyncio.run(main())
