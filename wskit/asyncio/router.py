"""Route connections to handlers by path, on asyncio.

A server with a handler per path::

    import asyncio
    from wskit.asyncio.router import route
    from wskit.routing import Map, Rule

    async def lobby(websocket):
        await websocket.send("Pick a room")

    async def room(websocket, name):
        async for message in websocket:
            await websocket.send(f"{name}: {message}")

    url_map = Map([
        Rule("/", endpoint=lobby),
        Rule("/rooms/<name>", endpoint=room),
    ])

    async def main():
        async with route(url_map, "localhost", 8765) as server:
            await server.serve_forever()

    asyncio.run(main())

A path that no rule matches gets an HTTP 404 during the handshake; the
handlers never see it.
"""

from __future__ import annotations

import ssl as ssl_module
from typing import Any, Literal

from ..shared.dispatch import BaseRouter, URLMap, routing_hook, url_scheme
from .server import ServerConnection, serve

__all__ = ["Router", "route", "unix_route"]


class Router(BaseRouter[ServerConnection]):
    """Dispatch connections to handlers by path; see :class:`~wskit.shared.dispatch.BaseRouter`."""

    async def handler(self, connection: ServerConnection) -> None:
        """The connection handler of the server: run the handler that the path chose."""
        handler, arguments = self.route_of(connection)
        await handler(connection, **arguments)


def route(
    url_map: URLMap,
    *args: Any,
    server_name: str | None = None,
    ssl: ssl_module.SSLContext | Literal[True] | None = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> serve:
    """Create a WebSocket server that picks each connection's handler by its path.

    Use it as :func:`~wskit.asyncio.server.serve`, which it calls. Handlers
    are the endpoints of the URL map's rules; they receive the connection
    and the values of the rule's placeholders as keyword arguments.

    Args:
        url_map: A :class:`wskit.routing.Map`, or a ``werkzeug.routing.Map``
            (werkzeug isn't needed otherwise).
        args: ``host`` and ``port``, as for :func:`~wskit.asyncio.server.serve`.
        server_name: Host name for host matching and redirect URLs; the
            ``Host`` header of each request by default.
        ssl: An :class:`~ssl.SSLContext` to serve over TLS, or :obj:`True`
            when TLS ends in a proxy in front of the server: redirects then
            point to ``wss://`` URLs.
        create_router: A :class:`Router` subclass to use.
        kwargs: For :func:`~wskit.asyncio.server.serve`. A ``process_request``
            runs before routing; routing happens only if it returns
            :obj:`None`.
    """
    router = (Router if create_router is None else create_router)(
        url_map, server_name, url_scheme(ssl)
    )
    if isinstance(ssl, ssl_module.SSLContext):
        kwargs["ssl"] = ssl
    process_request = routing_hook(router, kwargs.pop("process_request", None))
    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: URLMap, path: str | None = None, **kwargs: Any) -> serve:
    """Like :func:`route`, listening on a Unix socket at ``path``."""
    return route(url_map, unix=True, path=path, **kwargs)
