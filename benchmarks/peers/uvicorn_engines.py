"""uvicorn serving a Starlette app, with one WebSocket engine or another.

The server is the same Starlette app under uvicorn whatever the engine
(uvicorn's ``--ws``): the wskit engine or uvicorn's own. The client is the
same for all of them, so that only the server differs: wskit's asyncio
client here, or another library's in the harness's server-only mode
(``--client``), which :mod:`benchmarks.uvicorn` uses with picows' client.
The app is written the way Starlette's documentation shows.
"""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .base import COUNT_PATH, ECHO_PATH, MAX_SIZE, Peer, listen_options
from .websockets_api import AsyncioPeer

__all__ = ["ENGINES", "UvicornPeer", "make_peer"]

#: The peers' names and the ``--ws`` value each gives uvicorn.
ENGINES = {
    "uvicorn_wskit": "wskit.uvicorn:WebSocketProtocol",
    "uvicorn_websockets_sansio": "websockets-sansio",
    "uvicorn_websockets": "websockets",
    "uvicorn_wsproto": "wsproto",
}


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        async for data in websocket.iter_bytes():
            await websocket.send_bytes(data)
    except WebSocketDisconnect:
        pass


async def count(websocket: WebSocket) -> None:
    await websocket.accept()
    received = 0
    while (message := await websocket.receive())["type"] == "websocket.receive":
        if message.get("bytes") is not None:
            received += len(message["bytes"])
        else:
            await websocket.send_text(str(received))
            received = 0


app = Starlette(routes=[WebSocketRoute(ECHO_PATH, echo), WebSocketRoute(COUNT_PATH, count)])


class UvicornPeer(AsyncioPeer):
    """uvicorn with ``engine`` on the server side, wskit's client on the other."""

    def __init__(self, engine: str) -> None:
        super().__init__("wskit")
        self.engine = engine

    async def serve(self, compression: bool, backlog: int | None = None) -> int:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            ws=self.engine,
            ws_max_size=MAX_SIZE,
            ws_ping_interval=None,
            ws_per_message_deflate=compression,
            lifespan="off",
            access_log=False,
            log_level="warning",
            **listen_options(backlog),
        )
        self.server = uvicorn.Server(config)
        serving = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        self.serving = serving  # keep a reference to the task
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port


def make_peer(name: str) -> Peer:
    """The peer of the engine named ``name`` in :data:`ENGINES`."""
    return UvicornPeer(ENGINES[name])
