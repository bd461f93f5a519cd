"""A chat served by several processes: a message posted on any of them reaches everyone.

Start Redis, then as many servers as you like, each on its own port::

    python examples/pubsub/chat.py 8001
    python examples/pubsub/chat.py 8002
    python examples/pubsub/chat.py 8003

and open http://127.0.0.1:8001/?name=alice, http://127.0.0.1:8002/?name=bob...
Add ``&room=...`` to chat in another room. Redis is at ``REDIS_URL``
(``redis://127.0.0.1:6379/0`` by default).

Tabs send their text. Every server sends JSON: ``{"type": "message",
"user": ..., "text": ...}`` for what someone wrote, ``{"type": "notice",
"text": ...}`` for news from the server itself. Messages published to a
room also carry their ``offset`` and ``epoch``: the room's last
``HISTORY`` messages stay in Redis, and a page that lost its connection
reconnects (to any server: ``&servers=host:port,host:port`` lists them)
with the last position it saw, and gets what it missed, then the rest, each
line once. A server whose link to Redis dropped recovers what it missed
the same way. When the history doesn't reach back far enough, the users
are told that messages are missing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sys
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from wskit.asyncio.server import Server, ServerConnection, broadcast, serve
from wskit.datastructures import Headers
from wskit.http11 import Request, Response
from wskit.pubsub import BrokerUnavailable, Hub, LinkEvent, Message, Position, RedisBroker

PAGE = Path(__file__).with_name("index.html").read_bytes()
CONNECT_TIMEOUT = 10  # seconds to reach Redis at startup
HISTORY = 1000  # messages kept per room for pages that reconnect
MISSING = "Some messages were lost while you were away."


def notice(text: str) -> str:
    return json.dumps({"type": "notice", "text": text})


def parameter(request: Request, name: str, default: str, limit: int) -> str:
    """Read ``?name=value`` from the request, cut to ``limit`` characters."""
    values = parse_qs(urlsplit(request.path).query).get(name)
    return values[0][:limit] if values else default


def with_position(message: Message) -> str:
    """What members get: the published JSON object, plus its position."""
    assert message.position is not None  # the broker keeps a history
    position = {"offset": message.position.offset, "epoch": message.position.epoch}
    try:
        published = json.loads(message.data)
    except ValueError:
        published = None
    if not isinstance(published, dict):  # from a foreign writer: show it as a notice
        published = {"type": "notice", "text": str(message.data)[:1000]}
    return json.dumps({**published, **position})


def since(request: Request) -> Position | None:
    """The position a reconnecting page saw last (``&offset=...&epoch=...``)."""
    offset = parameter(request, "offset", "", 20)
    if not offset.isdigit():
        return None
    return Position(int(offset), parameter(request, "epoch", "", 64))


async def chat(websocket: ServerConnection, hub: Hub) -> None:
    assert websocket.request is not None
    name = parameter(websocket.request, "name", "anonymous", 32)
    room = parameter(websocket.request, "room", "lobby", 64)
    # From now on, whatever is published to the room reaches this user,
    # whichever server it comes from; first, what the page missed, if it
    # comes back. The user leaves when the connection closes.
    recovery = await hub.join(websocket, room, since=since(websocket.request))
    assert recovery is not None  # the broker keeps a history
    if not recovery.complete:
        await websocket.send(notice(MISSING))
    # The room's position, for a page that hasn't seen any message yet.
    position = {"offset": recovery.position.offset, "epoch": recovery.position.epoch}
    welcome = {"type": "notice", "text": f"Hello {name}, welcome to {room}.", **position}
    await websocket.send(json.dumps(welcome))
    async for text in websocket:
        if not isinstance(text, str) or not text.strip():
            continue
        message = json.dumps({"type": "message", "user": name, "text": text[:1000]})
        try:
            await hub.publish(room, message)
        except BrokerUnavailable:
            await websocket.send(notice("Not sent: this server lost touch with the others."))


def tell_users(server: Server, hub: Hub, event: LinkEvent) -> None:
    """Tell users on this server when the link to Redis drops, and what it lost."""
    if not event.connected:
        broadcast(server.connections, notice("This server lost touch with the others..."))
        return
    if event.downtime is None:
        return  # the first connection: nothing was lost
    # What the history had was recovered; tell the rooms where it wasn't enough.
    broadcast(server.connections, notice(f"Back after {event.downtime:.1f} s."))
    for room in event.lost:
        broadcast(hub.members(room), notice(MISSING))


def serve_page(connection: ServerConnection, request: Request) -> Response | None:
    """Answer plain HTTP requests; let WebSocket handshakes go on."""
    if "Upgrade" in request.headers:
        return None
    if urlsplit(request.path).path != "/":
        return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
    headers = Headers(
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Length": str(len(PAGE)),
            "Connection": "close",
        }
    )
    return Response(HTTPStatus.OK, "OK", headers, PAGE)


async def main(port: int, redis_url: str) -> int:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with (
        RedisBroker(redis_url, history=HISTORY) as broker,
        Hub(broker, render=with_position) as hub,
    ):
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await broker.wait_connected()
        except TimeoutError:
            print(f"Can't reach Redis at {redis_url}", file=sys.stderr)
            return 1
        async with serve(
            functools.partial(chat, hub=hub), "127.0.0.1", port, process_request=serve_page
        ) as server:
            broker.add_link_callback(functools.partial(tell_users, server, hub))
            print(f"Serving on http://127.0.0.1:{port}", flush=True)
            await stop.wait()
    return 0


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    sys.exit(asyncio.run(main(port, redis_url)))
