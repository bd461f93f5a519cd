"""Route connections to handlers by path, with threads.

A server with a handler per path::

    from wskit.routing import Map, Rule
    from wskit.sync.router import route

    def lobby(websocket):
        websocket.send("Pick a room")

    def room(websocket, name):
        for message in websocket:
            websocket.send(f"{name}: {message}")

    url_map = Map([
        Rule("/", endpoint=lobby),
        Rule("/rooms/<name>", endpoint=room),
    ])

    with route(url_map, "localhost", 8765) as server:
        server.serve_forever()

A path that no rule matches gets an HTTP 404 during the handshake; the
handlers never see it.
"""

from __future__ import annotations

import ssl as ssl_module
from typing import Any, Literal

from ..http11 import Request, Response
from ..shared.dispatch import BaseRouter, URLMap, url_scheme
from .server import Server, ServerConnection, serve

__all__ = ["Router", "route", "unix_route"]


class Router(BaseRouter[ServerConnection]):
    """Dispatch connections to handlers by path; see :class:`~wskit.shared.dispatch.BaseRouter`."""

    def handler(self, connection: ServerConnection) -> None:
        """The connection handler of the server: run the handler that the path chose."""
        handler, arguments = self.route_of(connection)
        handler(connection, **arguments)


def route(
    url_map: URLMap,
    *args: Any,
    server_name: str | None = None,
    ssl: ssl_module.SSLContext | Literal[True] | None = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server that picks each connection's handler by its path.

    As :func:`wskit.asyncio.router.route`, for :func:`wskit.sync.server.serve`
    and handlers that are plain functions.
    """
    router = (Router if create_router is None else create_router)(
        url_map, server_name, url_scheme(ssl)
    )
    if isinstance(ssl, ssl_module.SSLContext):
        kwargs["ssl"] = ssl
    first = kwargs.pop("process_request", None)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if first is not None:
            response: Response | None = first(connection, request)
            if response is not None:
                return response
        return router.route_request(connection, request)

    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: URLMap, path: str | None = None, **kwargs: Any) -> Server:
    """Like :func:`route`, listening on a Unix socket at ``path``."""
    return route(url_map, unix=True, path=path, **kwargs)
