"""Chat rooms by URL: each path picks its handler, with the room's name as an argument.

Run it with ``python examples/router/server.py [PORT]`` (or ``PORT=...``). Then:

- ``ws://127.0.0.1:8765/rooms/<name>``: join a room; every message you send
  goes to everyone in the room, you included, as ``<name>: <message>``;
- ``ws://127.0.0.1:8765/``: the lobby sends the rooms with people in them,
  as JSON (``{"kitchen": 2}``), and closes;
- any other path gets an HTTP 404 during the handshake.

Try it with ``python -m wskit ws://127.0.0.1:8765/rooms/kitchen`` in two
terminals, if you have wskit's command line, or with any WebSocket client.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from wskit.asyncio.router import route
from wskit.asyncio.server import ServerConnection, broadcast
from wskit.routing import Map, Rule

# Who is in each room; a room exists while someone is in it.
rooms: dict[str, set[ServerConnection]] = {}


async def lobby(websocket: ServerConnection) -> None:
    await websocket.send(json.dumps({name: len(people) for name, people in sorted(rooms.items())}))


async def room(websocket: ServerConnection, name: str) -> None:
    people = rooms.setdefault(name, set())
    people.add(websocket)
    try:
        async for message in websocket:
            text = message if isinstance(message, str) else message.decode(errors="replace")
            broadcast(people, f"{name}: {text}")
    finally:
        people.remove(websocket)
        if not people:
            del rooms[name]


url_map = Map(
    [
        Rule("/", endpoint=lobby),
        Rule("/rooms/<name>", endpoint=room),
    ]
)


async def main(port: int) -> None:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with route(url_map, "127.0.0.1", port):
        print(f"Serving on ws://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(port))
