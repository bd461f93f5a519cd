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

``wskit.serve``, ``wskit.unix_serve``, ``wskit.connect`` and
``wskit.unix_connect`` are the functions below. Called as the current API
documents them, they return :func:`wskit.asyncio.server.serve` and
:func:`wskit.asyncio.client.connect`. Called in the legacy style, they
return the legacy API's (:mod:`wskit.legacy`), with a
:exc:`DeprecationWarning`: that is, with a handler that takes a second
argument (it gets the request's path), with an argument that only the legacy
API has (``create_protocol``, ``extra_headers``...), or with a
``process_request`` whose first parameter is named ``path``, as the legacy
``process_request(path, request_headers)``.

To migrate, see :mod:`wskit.legacy`.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Awaitable, Callable, Collection
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from ..http11 import Request
from . import client, server
from .server import ServerConnection

if TYPE_CHECKING:
    from ..legacy.server import Serve

__all__ = ["connect", "current_style", "serve", "unix_connect", "unix_serve"]

Handler: TypeAlias = (
    Callable[[ServerConnection], Awaitable[None]]
    | Callable[[ServerConnection, str], Awaitable[None]]
)

_DEPRECATED = (
    "handler(websocket, path) is deprecated: define handler(websocket) and read "
    "websocket.request.path"
)

# Arguments that only the legacy API takes: one of them selects it.
_LEGACY_ARGUMENTS = frozenset(
    ("create_protocol", "extra_headers", "klass", "legacy_recv", "loop", "read_limit", "timeout")
)
# Hooks that the current API calls with other arguments than the legacy API:
# with a handler that takes the path and none of the above, they keep the
# current API, as before the legacy API was here.
_CURRENT_HOOKS = frozenset(
    ("create_connection", "process_request", "process_response", "select_subprotocol")
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


def _first_parameter(function: Callable[..., Any]) -> str | None:
    """The name of the first parameter of ``function``, if it can be read."""
    try:
        parameters = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None
    return parameters[0] if parameters else None


def current_style(handler: Any, stacklevel: int) -> Any:
    """Return ``handler``, or a handler that passes it the path, with a warning.

    Args:
        handler: A handler of either style.
        stacklevel: Where the warning points, as for :func:`warnings.warn`
            called here: 2 is this function's caller.
    """
    if not _takes_path(handler):
        return handler
    warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=stacklevel)

    async def handler_with_path(connection: ServerConnection) -> Any:
        # The handshake sets the request before any handler runs.
        return await handler(connection, cast(Request, connection.request).path)

    return handler_with_path


def _legacy_module(name: str) -> ModuleType:
    """Import ``wskit.legacy.<name>``; the caller has warned already."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "wskit.legacy is deprecated", DeprecationWarning)
        return importlib.import_module(f"wskit.legacy.{name}")


def _legacy_reasons(kwargs: Collection[str], process_request: Any = None) -> list[str]:
    """Why a call is in the legacy style: its legacy-only arguments, its legacy hook."""
    reasons = sorted(_LEGACY_ARGUMENTS.intersection(kwargs))
    if process_request is not None and _first_parameter(process_request) == "path":
        reasons.append("process_request(path, request_headers)")
    return reasons


def _warn_legacy(function: str, reasons: list[str]) -> None:
    # Warn where the application calls wskit.serve() or connect(): three frames up.
    warnings.warn(
        f"{function}() with {', '.join(reasons)} runs the legacy API, which is deprecated; "
        "see wskit.legacy to upgrade",
        DeprecationWarning,
        stacklevel=4,
    )


def _serve(handler: Any, kwargs: dict[str, Any], function: str) -> server.serve | Serve:
    reasons = _legacy_reasons(kwargs, kwargs.get("process_request"))
    takes_path = _takes_path(handler)
    # Warn where the application calls wskit.serve(): three frames up.
    handler = current_style(handler, stacklevel=4)
    if reasons:
        _warn_legacy(function, reasons)
    if reasons or (takes_path and not _CURRENT_HOOKS.intersection(kwargs)):
        legacy: Serve = getattr(_legacy_module("server"), function)(handler, **kwargs)
        return legacy
    current: server.serve = getattr(server, function)(handler, **kwargs)
    return current


def serve(
    handler: Handler, host: str | None = None, port: int | None = None, **kwargs: Any
) -> server.serve | Serve:
    """:func:`wskit.asyncio.server.serve`, or the legacy API's for a call in the legacy style.

    Create the server outside the event loop, as older tutorials do, then
    start it with ``loop.run_until_complete()``; or use it as
    :func:`wskit.asyncio.server.serve`. A handler that takes the path gets
    ``websocket.request.path`` (path and query), and a
    :class:`~wskit.legacy.server.WebSocketServerProtocol`; unless the call
    passes hooks of the current API (``process_request(connection,
    request)``, ``process_response``, ``select_subprotocol``,
    ``create_connection``), which keep the current server.

    Returns:
        A :class:`wskit.asyncio.server.serve`, or a
        :class:`wskit.legacy.server.Serve` for a call in the legacy style.

    Warns:
        DeprecationWarning: ``handler`` takes a ``path`` argument, or the call
            is in the legacy style.
    """
    return _serve(handler, {"host": host, "port": port, **kwargs}, "serve")


def unix_serve(handler: Handler, path: str | None = None, **kwargs: Any) -> server.serve | Serve:
    """:func:`wskit.asyncio.server.unix_serve`, or the legacy API's; see :func:`serve`."""
    return _serve(handler, {"path": path, **kwargs}, "unix_serve")


def _connect(kwargs: dict[str, Any], function: str) -> client.connect:
    module: Any = client
    reasons = _legacy_reasons(kwargs)
    if reasons:
        _warn_legacy(function, reasons)
        module = _legacy_module("client")
    connection: client.connect = getattr(module, function)(**kwargs)
    return connection


def connect(uri: str, **kwargs: Any) -> client.connect:
    """:func:`wskit.asyncio.client.connect`, or the legacy API's for a call in the legacy style.

    Returns:
        A :class:`wskit.asyncio.client.connect`, or a
        :class:`wskit.legacy.client.Connect` when given an argument that only
        the legacy API has (``extra_headers``, ``create_protocol``...).
    """
    return _connect({"uri": uri, **kwargs}, "connect")


def unix_connect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> client.connect:
    """:func:`wskit.asyncio.client.unix_connect`, or the legacy API's; see :func:`connect`."""
    if uri is not None:
        kwargs["uri"] = uri
    return _connect({"path": path, **kwargs}, "unix_connect")
