"""The asyncio half of the cheat sheet (docs/howto/cheatsheet.rst).

Every line runs in tests/docs/test_cheatsheet.py: a server with two routes
over TLS, and clients that use each feature once.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.router import route
from wskit.asyncio.server import ServerConnection, broadcast, serve
from wskit.exceptions import ConnectionClosed
from wskit.routing import Map, Rule


# cheat sheet: start
# -- Server: a handler runs per connection; returning closes it.
async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:  # ends when the client closes
        await websocket.send(message)


# -- Broadcast: one message to many connections, waiting for none.
members: set[ServerConnection] = set()


async def chat(websocket: ServerConnection, name: str) -> None:
    members.add(websocket)
    try:
        broadcast(members, f"{name} joined")
        async for message in websocket:
            broadcast(members, message)
    finally:
        members.discard(websocket)


# -- Routing: a handler per path; other paths get 404.
url_map = Map([Rule("/echo", endpoint=echo), Rule("/chat/<name>", endpoint=chat)])


def make_server(port: int, certificate: Path) -> serve:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # TLS: wss://
    tls.load_cert_chain(certificate)
    return route(
        url_map,
        "127.0.0.1",
        port,
        ssl=tls,
        open_timeout=10,  # timeouts in seconds; None waits forever
        ping_interval=20,  # keepalive; ping_timeout=20 closes a dead link
        close_timeout=10,
        compression="deflate",  # the default; None turns it off
        max_size=2**20,  # the largest message accepted
    )
    # Then: async with make_server(...) as server: await server.serve_forever()


# -- Client
async def ask(uri: str, question: str, tls: ssl.SSLContext) -> str:
    # tls = ssl.create_default_context(cafile=...) for a private CA.
    async with connect(uri, ssl=tls, open_timeout=10) as websocket:
        await websocket.send(question)
        async with asyncio.timeout(5):  # a bound on one receive
            return await websocket.recv(decode=True)


# -- Compression: on by default; skip it for one message.
async def send_noise(websocket: ClientConnection, noise: bytes) -> None:
    await websocket.send(noise, compress=False)


# -- Closing: a code and a reason; the peer's loop ends, recv() raises.
async def leave(websocket: ClientConnection) -> None:
    await websocket.close(1001, "going away")


async def listen(uri: str, tls: ssl.SSLContext) -> list[str]:
    heard = []
    async with connect(uri, ssl=tls) as websocket:
        try:
            while True:
                heard.append(await websocket.recv(decode=True))
        except ConnectionClosed as exc:  # ConnectionClosedOK after a clean close
            heard.append(f"closed: {exc.rcvd}")
    return heard


# cheat sheet: end
