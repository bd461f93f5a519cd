"""A chat room in FastAPI, served by uvicorn with the wskit WebSocket engine.

The app is plain FastAPI: nothing in it knows about wskit. The engine is
picked where uvicorn starts::

    uvicorn examples.fastapi.app:app --ws wskit.uvicorn:WebSocketProtocol

or ``python examples/fastapi/app.py [PORT]``, which does the same from Python
on 127.0.0.1, port 8765 by default. Open the URL uvicorn prints in a few tabs
and chat.

Tabs send the text they type; the server sends JSON to everyone:
``{"type": "message", "name": ..., "text": ...}`` for each message and
``{"type": "users", "count": n}`` when someone comes or goes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).with_name("index.html").read_text()
# A name is what a tab shows next to its messages: keep it short.
MAX_NAME = 20

app = FastAPI()
members: set[WebSocket] = set()


async def tell_everyone(message: dict[str, object]) -> None:
    text = json.dumps(message)
    # A member who left meanwhile is dropped by its own handler.
    await asyncio.gather(*(member.send_text(text) for member in members), return_exceptions=True)


@app.get("/")
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.websocket("/chat")
async def chat(websocket: WebSocket, name: str = "anonymous") -> None:
    name = name.strip()[:MAX_NAME] or "anonymous"
    await websocket.accept()
    members.add(websocket)
    try:
        await tell_everyone({"type": "users", "count": len(members)})
        while True:
            text = await websocket.receive_text()
            await tell_everyone({"type": "message", "name": name, "text": text})
    except WebSocketDisconnect:
        pass
    finally:
        members.discard(websocket)
        await tell_everyone({"type": "users", "count": len(members)})


def main() -> None:
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    uvicorn.run(app, host="127.0.0.1", port=port, ws="wskit.uvicorn:WebSocketProtocol")


if __name__ == "__main__":
    main()
