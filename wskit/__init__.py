"""wskit: WebSockets for Python, with the API of the ``websockets`` package.

The top-level package re-exports the Sans-I/O core, the data structures and
the exceptions. The I/O layers live in :mod:`wskit.asyncio` and
:mod:`wskit.sync`.

As in websockets, the asyncio implementation is here too: ``serve``,
``connect``, ``route``, ``broadcast``... They are imported on first use, so
that ``import wskit`` alone doesn't load asyncio. ``wskit.serve`` and
``wskit.connect`` also accept the legacy style of older tutorials (see
:mod:`wskit.asyncio.legacy`), and the legacy API's names are here, deprecated
(see :mod:`wskit.legacy`).
"""

from __future__ import annotations

import importlib
import warnings
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
    "connect": ".asyncio.legacy",
    "unix_connect": ".asyncio.legacy",
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

# The legacy API's names, deprecated as in websockets: where they are imported from.
_DEPRECATED = {
    "BasicAuthWebSocketServerProtocol": ".legacy.auth",
    "basic_auth_protocol_factory": ".legacy.auth",
    "WebSocketClientProtocol": ".legacy.client",
    "AbortHandshake": ".legacy.exceptions",
    "InvalidStatusCode": ".legacy.exceptions",
    "RedirectHandshake": ".legacy.exceptions",
    "WebSocketProtocolError": ".legacy.exceptions",
    "WebSocketCommonProtocol": ".legacy.protocol",
    "WebSocketServer": ".legacy.server",
    "WebSocketServerProtocol": ".legacy.server",
}

if TYPE_CHECKING:
    from .asyncio.client import ClientConnection
    from .asyncio.legacy import connect, serve, unix_connect, unix_serve
    from .asyncio.router import Router, route, unix_route
    from .asyncio.server import Server, ServerConnection, basic_auth, broadcast
else:

    def __getattr__(name: str) -> Any:
        """Import the asyncio implementation on first use; the legacy API with a warning."""
        if name in _DEPRECATED:
            warnings.warn(f"wskit.{name} is deprecated", DeprecationWarning, stacklevel=2)
            return getattr(importlib.import_module(_DEPRECATED[name], __name__), name)
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
