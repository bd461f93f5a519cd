"""The style of older tutorials, on top of the asyncio implementation.

Tutorials written for websockets 10 and earlier start servers like this::

    import asyncio
    import wskit

    async def echo(websocket, path):
        async for message in websocket:
            await websocket.send(message)

    start_server = wskit.serve(echo, "localhost", 8765)
    asyncio.get_event_loop().run_until_complete(start_server)
    asyncio.get_event_loop().run_forever()

``wskit.serve`` and ``wskit.unix_serve`` are the functions below: they call
:func:`wskit.asyncio.server.serve` and :func:`~wskit.asyncio.server.unix_serve`,
and when the handler takes a second argument, they pass it the request's
path, with a :exc:`DeprecationWarning`. Everything else in those tutorials
already works with the asyncio implementation: ``wskit.connect``,
``await websocket.ping()`` (it returns an awaitable for the pong),
``wskit.exceptions.ConnectionClosedError``, ``exc.code`` and ``exc.reason``.

To migrate, drop the ``path`` argument and read ``websocket.request.path``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, cast

from ..http11 import Request
from . import server
from .server import ServerConnection

__all__ = ["serve", "unix_serve"]

Handler: TypeAlias = (
    Callable[[ServerConnection], Awaitable[None]]
    | Callable[[ServerConnection, str], Awaitable[None]]
)

_DEPRECATED = (
    "handler(websocket, path) is deprecated: define handler(websocket) and read "
    "websocket.request.path"
)


def _takes_path(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` needs two positional arguments: the older style."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # no signature to read: the current style, then
        return False
    try:
        signature.bind(None)
    except TypeError:
        pass
    else:
        return False
    try:
        signature.bind(None, None)
    except TypeError:
        return False
    return True


def _current_style(handler: Handler) -> Callable[[ServerConnection], Awaitable[None]]:
    """Return ``handler``, or a handler that passes it the path, with a warning."""
    if not _takes_path(handler):
        return cast("Callable[[ServerConnection], Awaitable[None]]", handler)
    # Warn where the application calls wskit.serve(): two frames up.
    warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=3)
    with_path = cast("Callable[[ServerConnection, str], Awaitable[None]]", handler)

    async def handler_with_path(connection: ServerConnection) -> None:
        # The handshake sets the request before any handler runs.
        await with_path(connection, cast(Request, connection.request).path)

    return handler_with_path


def serve(
    handler: Handler, host: str | None = None, port: int | None = None, **kwargs: Any
) -> server.serve:
    """:func:`wskit.asyncio.server.serve`, accepting ``handler(websocket, path)`` too.

    Create the server outside the event loop, as older tutorials do, then
    start it with ``loop.run_until_complete()``; or use it as
    :func:`wskit.asyncio.server.serve`. A handler that takes the path gets
    ``websocket.request.path`` (path and query).

    Warns:
        DeprecationWarning: ``handler`` takes a ``path`` argument.
    """
    return server.serve(_current_style(handler), host, port, **kwargs)


def unix_serve(handler: Handler, path: str | None = None, **kwargs: Any) -> server.serve:
    """:func:`wskit.asyncio.server.unix_serve`, accepting ``handler(websocket, path)`` too."""
    return server.unix_serve(_current_style(handler), path, **kwargs)
