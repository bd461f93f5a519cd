"""wskit: WebSockets for Python, with the API of the ``websockets`` package.

The top-level package re-exports the Sans-I/O core, the data structures and
the exceptions. The I/O layers live in :mod:`wskit.asyncio` and
:mod:`wskit.sync`.

As in websockets, the asyncio implementation is here too: ``serve``,
``connect``, ``route``, ``broadcast``... They are imported on first use, so
that ``import wskit`` alone doesn't load asyncio. ``wskit.serve`` also
accepts the ``handler(websocket, path)`` of older tutorials: see
:mod:`wskit.asyncio.legacy`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .client import ClientProtocol
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidProtocol,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyFragments,
    TooManyHeaders,
    WebSocketException,
)
from .frames import Close, CloseCode, Frame, Opcode
from .http11 import Request, Response
from .protocol import Protocol, Side, State
from .server import ServerProtocol
from .typing import (
    Data,
    ExtensionName,
    ExtensionParameter,
    LoggerLike,
    Origin,
    StatusLike,
    Subprotocol,
)
from .version import __version__

# The asyncio implementation, by name: where __getattr__ imports it from.
_ASYNCIO = {
    "ClientConnection": ".asyncio.client",
    "connect": ".asyncio.client",
    "unix_connect": ".asyncio.client",
    "Server": ".asyncio.server",
    "ServerConnection": ".asyncio.server",
    "basic_auth": ".asyncio.server",
    "broadcast": ".asyncio.server",
    "serve": ".asyncio.legacy",
    "unix_serve": ".asyncio.legacy",
    "Router": ".asyncio.router",
    "route": ".asyncio.router",
    "unix_route": ".asyncio.router",
}

if TYPE_CHECKING:
    from .asyncio.client import ClientConnection, connect, unix_connect
    from .asyncio.legacy import serve, unix_serve
    from .asyncio.router import Router, route, unix_route
    from .asyncio.server import Server, ServerConnection, basic_auth, broadcast
else:

    def __getattr__(name: str) -> Any:
        """Import the asyncio implementation on first use."""
        if name not in _ASYNCIO:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(_ASYNCIO[name], __name__), name)
        globals()[name] = value  # found directly next time
        return value


__all__ = [
    "ClientConnection",
    "ClientProtocol",
    "Close",
    "CloseCode",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "DuplicateParameter",
    "ExtensionName",
    "ExtensionParameter",
    "Frame",
    "HeaderLineTooLong",
    "Headers",
    "HeadersLike",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidProtocol",
    "InvalidProxy",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "InvalidUpgrade",
    "LoggerLike",
    "MultipleValuesError",
    "NegotiationError",
    "Opcode",
    "Origin",
    "PayloadTooBig",
    "Protocol",
    "ProtocolError",
    "ProxyError",
    "Request",
    "RequestLineTooLong",
    "Response",
    "Router",
    "SecurityError",
    "Server",
    "ServerConnection",
    "ServerProtocol",
    "Side",
    "State",
    "StatusLike",
    "StatusLineTooLong",
    "Subprotocol",
    "TooManyFragments",
    "TooManyHeaders",
    "WebSocketException",
    "__version__",
    "basic_auth",
    "broadcast",
    "connect",
    "route",
    "serve",
    "unix_connect",
    "unix_route",
    "unix_serve",
]
