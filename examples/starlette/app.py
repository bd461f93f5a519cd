"""A Starlette app served by uvicorn with the wskit WebSocket engine (docs/howto/uvicorn.rst).

Run it with ``python examples/starlette/app.py [PORT]``, or with uvicorn's
command line::

    uvicorn examples.starlette.app:app --ws wskit.uvicorn:WebSocketProtocol

``/`` answers plain HTTP; ``/echo`` is a WebSocket that sends every text
message back. Needs ``pip install wskit[uvicorn] starlette``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Connect to /echo with a WebSocket client.\n")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    # iter_text() ends when the client closes the connection.
    async for message in websocket.iter_text():
        await websocket.send_text(message)


app = Starlette(routes=[Route("/", home), WebSocketRoute("/echo", echo)])

# uvicorn's WebSocket settings, which the wskit engine applies.
WEBSOCKET_SETTINGS: dict[str, Any] = {
    "ws": "wskit.uvicorn:WebSocketProtocol",
    "ws_max_size": 2**16,  # largest message, in bytes: larger ones close with 1009
    "ws_max_queue": 16,  # frames received and not read before reading pauses
    "ws_ping_interval": 20.0,  # keepalive, in seconds
    "ws_ping_timeout": 20.0,
    "ws_per_message_deflate": True,  # compression, if the client offers it
}


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    uvicorn.run(app, host="127.0.0.1", port=port, **WEBSOCKET_SETTINGS)


if __name__ == "__main__":
    main()
