"""Servers and clients for the trio tests, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import pathlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

from wskit.trio.server import Server, ServerConnection, serve

LOCALHOST = "127.0.0.1"
CERTIFICATE = str(pathlib.Path(__file__).parents[2] / "examples" / "localhost.pem")

# Keep the library's own timers out of the way unless a test asks for them.
QUIET: dict[str, Any] = {"ping_interval": None, "close_timeout": 2, "open_timeout": 5}


def server_tls() -> ssl.SSLContext:
    """A server context with the examples' self-signed certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    return context


def client_tls() -> ssl.SSLContext:
    """A client context that trusts the examples' certificate."""
    return ssl.create_default_context(cafile=CERTIFICATE)


async def echo(websocket: ServerConnection) -> None:
    """Send every message back."""
    async for message in websocket:
        await websocket.send(message)


def port_of(server: Server) -> int:
    """The port a server listens on."""
    return int(server.listeners[0].socket.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[ServerConnection], Awaitable[None]] = echo, **kwargs: Any
) -> AsyncIterator[Server]:
    """Run a wskit.trio server on 127.0.0.1; close it on exit."""
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            lambda task_status: serve(
                handler, 0, host=LOCALHOST, task_status=task_status, **{**QUIET, **kwargs}
            )
        )
        async with server:
            yield server


def uri_of(server: Server, scheme: str = "ws") -> str:
    """The URI of a server."""
    return f"{scheme}://{LOCALHOST}:{port_of(server)}/"
