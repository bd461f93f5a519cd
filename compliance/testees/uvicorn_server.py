"""Echo server for ``wstest -m fuzzingclient``: a Starlette app under uvicorn.

Usage: ``python uvicorn_server.py [ENGINE]``. ENGINE is uvicorn's ``--ws``
value: ``wskit.uvicorn:WebSocketProtocol`` (the default) or, for comparison,
one of uvicorn's own engines (``websockets-sansio``, ``websockets``,
``wsproto``). It binds a free port of 127.0.0.1, prints it on a line of its
own, then sends every message back until SIGTERM or SIGINT (uvicorn's
graceful shutdown).
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

# As for the other server testees: compression on, messages of up to 16 MiB
# in the 9.x cases, no keepalive pings among the frames the suite checks.
MAX_SIZE = 2**25


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except (WebSocketDisconnect, OSError):
        # Most failure cases end here: the suite breaks the protocol on purpose.
        pass


app = Starlette(routes=[WebSocketRoute("/", echo)])


async def main(engine: str) -> None:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        ws=engine,
        ws_max_size=MAX_SIZE,
        ws_ping_interval=None,
        ws_per_message_deflate=True,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.01)
    print(server.servers[0].sockets[0].getsockname()[1], flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "wskit.uvicorn:WebSocketProtocol"))
