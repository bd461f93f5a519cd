"""The threading half of the cheat sheet (docs/howto/cheatsheet.rst).

Every line runs in tests/docs/test_cheatsheet.py: the same server as the
asyncio half, on threads, and clients that use each feature once.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from wskit.exceptions import ConnectionClosed
from wskit.routing import Map, Rule
from wskit.sync.client import connect
from wskit.sync.connection import Connection
from wskit.sync.router import route
from wskit.sync.server import Server, ServerConnection, broadcast


# cheat sheet: start
# -- Server: a handler runs per connection, in a thread of its own.
def echo(websocket: ServerConnection) -> None:
    for message in websocket:  # ends when the client closes
        websocket.send(message)


# -- Broadcast: one message to many connections, waiting for none.
members: set[ServerConnection] = set()


def chat(websocket: ServerConnection, name: str) -> None:
    members.add(websocket)  # set.add() and discard() are thread-safe
    try:
        broadcast(members, f"{name} joined")
        for message in websocket:
            broadcast(members, message)
    finally:
        members.discard(websocket)


# -- Routing: a handler per path; other paths get 404.
url_map = Map([Rule("/echo", endpoint=echo), Rule("/chat/<name>", endpoint=chat)])


def make_server(port: int, certificate: Path) -> Server:
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
    # Then: with make_server(...) as server: server.serve_forever()
    # and server.shutdown() from another thread stops it.


# -- Client
def ask(uri: str, question: str, tls: ssl.SSLContext) -> str:
    # tls = ssl.create_default_context(cafile=...) for a private CA.
    with connect(uri, ssl=tls, open_timeout=10) as websocket:
        websocket.send(question)
        return websocket.recv(timeout=5, decode=True)  # TimeoutError after 5 s


# -- Compression: on by default; skip it for one message.
def send_noise(websocket: Connection, noise: bytes) -> None:
    websocket.send(noise, compress=False)


# -- Closing: a code and a reason; the peer's loop ends, recv() raises.
def leave(websocket: Connection) -> None:
    websocket.close(1001, "going away")


def listen(uri: str, tls: ssl.SSLContext) -> list[str]:
    heard = []
    with connect(uri, ssl=tls) as websocket:
        try:
            while True:
                heard.append(websocket.recv(decode=True))
        except ConnectionClosed as exc:  # ConnectionClosedOK after a clean close
            heard.append(f"closed: {exc.rcvd}")
    return heard


# cheat sheet: end
