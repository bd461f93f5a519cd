"""Connect an asyncio client to a handler in memory: no socket, no port.

The client and the server are wskit's own :class:`~wskit.asyncio.client.ClientConnection`
and :class:`~wskit.asyncio.server.ServerConnection`, joined by a pair of
in-memory transports (:mod:`wskit.testing.memory`). Everything above the
transport is what runs in production: the opening handshake (with
``process_request`` and friends), extensions, keepalive, flow control, the
closing handshake, the server's handling of the handler's return or
exception. Only TCP is left out, which makes tests fast and free of ports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, cast

from ..asyncio.client import ClientConnection
from ..asyncio.client import connect as client_connect
from ..asyncio.server import Server, ServerConnection, serve
from ..client import ClientProtocol
from ..uri import WebSocketURI
from .memory import connect_pair

__all__ = ["connect"]

Handler = Callable[[ServerConnection], Awaitable[None]]


class _NoListener:
    """What :class:`~wskit.asyncio.server.Server` closes instead of a listening socket."""

    sockets: tuple[()] = ()
    serving = True

    def close(self) -> None:
        self.serving = False

    async def wait_closed(self) -> None:
        pass

    def is_serving(self) -> bool:
        return self.serving


class connect(client_connect):
    """Connect to ``app`` in memory; use as ``async with`` or ``await``.

    Example::

        async with connect(echo, "/chat") as websocket:
            await websocket.send("hello")
            assert await websocket.recv() == "hello"

    The client has the API of :func:`wskit.asyncio.client.connect`; the
    handler receives a :class:`~wskit.asyncio.server.ServerConnection` with
    the request, its path and headers. On exit, the client closes, then the
    in-memory server closes and waits for the handler to return.

    Args:
        app: The handler, or the application's own :class:`~wskit.asyncio.server.serve`
            call, not awaited (``serve(handler, process_request=...)``), to test
            the application as configured. Its host and port are ignored.
        path: Path and query of the request, e.g. ``"/chat?room=1"``.
        uri: Full URI instead of ``path``, for the ``Host`` header or ``wss``
            (no TLS runs in memory).
        kwargs: Options of :func:`wskit.asyncio.client.connect` for the client;
            ``proxy`` is always off.
    """

    def __init__(
        self, app: Handler | serve, path: str = "/", *, uri: str | None = None, **kwargs: Any
    ) -> None:
        self.serving = app if isinstance(app, serve) else serve(app)
        if uri is None:
            uri = f"ws://testserver{path}"
        kwargs["proxy"] = None
        super().__init__(uri, **kwargs)
        self.server: Server | None = None

    def _start_server(self) -> Server:
        if self.server is None:
            server = Server(self.serving.handler, **self.serving.server_options)
            server.wrap(cast(Any, _NoListener()))
            self.server = self.serving.server = server
        return self.server

    async def _open_transport(self, ws_uri: WebSocketURI) -> ClientConnection:
        server = self._start_server()
        client = self.connection_class(
            ClientProtocol(ws_uri, **self.protocol_options), **self.connection_options
        )
        connect_pair(client, self.serving._connection_factory(server)())
        return client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc_value, traceback)
        await self.aclose_server()

    async def aclose_server(self) -> None:
        """Close the in-memory server and wait for its handlers to return."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
