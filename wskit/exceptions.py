"""The exceptions wskit raises.

The tree mirrors the ``websockets`` package so that ``except`` clauses keep
working after a migration::

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK
    │   └── ConnectionClosedError
    ├── InvalidURI
    ├── InvalidProxy
    ├── InvalidHandshake
    │   ├── SecurityError
    │   │   ├── RequestLineTooLong
    │   │   ├── StatusLineTooLong
    │   │   ├── HeaderLineTooLong
    │   │   └── TooManyHeaders
    │   ├── ProxyError
    │   │   ├── InvalidProxyMessage
    │   │   └── InvalidProxyStatus
    │   ├── InvalidMessage
    │   ├── InvalidMethod
    │   ├── InvalidProtocol
    │   ├── InvalidStatus
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   └── InvalidUpgrade
    │   └── NegotiationError
    │       ├── DuplicateParameter
    │       ├── InvalidParameterName
    │       └── InvalidParameterValue
    ├── TooManyFragments
    ├── ProtocolError
    ├── PayloadTooBig
    ├── InvalidState
    └── ConcurrencyError
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .frames import Close
    from .http11 import Response

__all__ = [
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DuplicateParameter",
    "HeaderLineTooLong",
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
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "ProxyError",
    "RequestLineTooLong",
    "SecurityError",
    "StatusLineTooLong",
    "TooManyFragments",
    "TooManyHeaders",
    "WebSocketException",
]


class WebSocketException(Exception):
    """Base class for every exception defined by wskit."""


class ConnectionClosed(WebSocketException):
    """Raised when using a connection that is closed or closing.

    Args:
        rcvd: Close frame received from the peer, if any.
        sent: Close frame sent to the peer, if any.
        rcvd_then_sent: Whether the received close frame came before the sent
            one; :obj:`None` unless both frames exist.
    """

    def __init__(
        self,
        rcvd: Close | None,
        sent: Close | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent

    def __str__(self) -> str:
        if self.rcvd is None and self.sent is None:
            return "no close frame received or sent"
        if self.rcvd is None:
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """Deprecated: close code received from the peer, 1006 if none was.

        Read ``rcvd.code``, or the connection's ``close_code``, instead.
        """
        _deprecated_attribute("code")
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """Deprecated: close reason received from the peer, empty if none was.

        Read ``rcvd.reason``, or the connection's ``close_reason``, instead.
        """
        _deprecated_attribute("reason")
        return "" if self.rcvd is None else self.rcvd.reason


def _deprecated_attribute(name: str) -> None:
    # Deprecated in websockets 13.1, which still has them, with this warning.
    warnings.warn(
        f"ConnectionClosed.{name} is deprecated; read ConnectionClosed.rcvd.{name} "
        f"or the connection's close_{name}",
        DeprecationWarning,
        stacklevel=3,
    )


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed properly: 1000 or 1001 (or no code) both ways."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error or without a closing handshake."""


class InvalidURI(WebSocketException):
    """Raised when a URI is not a valid WebSocket URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid WebSocket URI: {self.msg}"


class InvalidProxy(WebSocketException):
    """Raised when a proxy URI is not valid."""

    def __init__(self, proxy: str, msg: str) -> None:
        self.proxy = proxy
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.proxy} isn't a valid proxy: {self.msg}"


class InvalidHandshake(WebSocketException):
    """Base class for every failure of the opening handshake."""


class SecurityError(InvalidHandshake):
    """A handshake exceeded a limit that protects the implementation."""


class RequestLineTooLong(SecurityError):
    """The HTTP request line is longer than the limit."""


class StatusLineTooLong(SecurityError):
    """The HTTP status line is longer than the limit."""


class HeaderLineTooLong(SecurityError):
    """An HTTP header line is longer than the limit."""


class TooManyHeaders(SecurityError):
    """An HTTP message has more headers than the limit."""


class ProxyError(InvalidHandshake):
    """Connecting through a proxy failed."""


class InvalidProxyMessage(ProxyError):
    """The proxy sent a malformed HTTP response."""


class InvalidProxyStatus(ProxyError):
    """The proxy refused the connection with a non-2xx status."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code:d}"


class InvalidMessage(InvalidHandshake):
    """The handshake message is malformed HTTP."""


class InvalidMethod(InvalidHandshake):
    """The handshake request uses a method other than GET."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __str__(self) -> str:
        return f"invalid HTTP method; expected GET; got {self.method}"


class InvalidProtocol(InvalidHandshake):
    """The handshake uses an HTTP version other than HTTP/1.1."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def __str__(self) -> str:
        return f"invalid HTTP protocol; expected HTTP/1.1; got {self.protocol}"


class InvalidStatus(InvalidHandshake):
    """The server answered the handshake with a status other than 101."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing or has an invalid value."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """A header could not be parsed.

    Args:
        name: Header name.
        error: What went wrong.
        header: Header value.
        pos: Position in ``header`` where the error was found.
    """

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """A header has a value that is well-formed but not acceptable."""


class InvalidOrigin(InvalidHeader):
    """The ``Origin`` header is missing or not allowed."""

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The ``Upgrade`` or ``Connection`` header does not ask for WebSocket."""


class NegotiationError(InvalidHandshake):
    """Extension or subprotocol negotiation failed."""


class DuplicateParameter(NegotiationError):
    """An extension parameter appears more than once."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """An extension parameter has an unknown name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """An extension parameter has an invalid value."""

    def __init__(self, name: str, value: str | None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class TooManyFragments(WebSocketException):
    """A message arrived in more frames than the limit allows."""

    def __init__(self, max_fragments: int) -> None:
        self.max_fragments = max_fragments

    def __str__(self) -> str:
        return f"message has more than {self.max_fragments} fragments"


class ProtocolError(WebSocketException):
    """The peer violated the WebSocket protocol (the connection fails with 1002)."""


class PayloadTooBig(WebSocketException):
    """A frame or message exceeds the size limit (the connection fails with 1009).

    Args:
        size_or_message: Size of the payload; an explanation instead is
            deprecated, as in websockets.
        max_size: The limit that was exceeded.
        current_size: Bytes of the message already received before this frame.
    """

    def __init__(
        self,
        size_or_message: int | str | None,
        max_size: int | None = None,
        current_size: int | None = None,
    ) -> None:
        if isinstance(size_or_message, str):
            warnings.warn(
                "PayloadTooBig(message) is deprecated; pass PayloadTooBig(size, max_size)",
                DeprecationWarning,
                stacklevel=2,
            )
            self.size: int | None = None
            self.message: str | None = size_or_message
        else:
            self.size = size_or_message
            self.message = None
        self.max_size = max_size
        self.current_size = current_size

    def __str__(self) -> str:
        if self.message is not None:
            return self.message
        frame = "frame" if self.size is None else f"frame of {self.size} bytes"
        message = f"{frame} over the {self.max_size} bytes limit"
        if self.current_size:
            message += f" after {self.current_size} bytes of the message"
        return message

    def set_current_size(self, current_size: int | None) -> None:
        """Record how much of the message was received before this frame."""
        self.current_size = current_size


class InvalidState(WebSocketException, AssertionError):
    """An operation is not allowed in the connection's current state.

    This is a bug in the calling code, hence the :exc:`AssertionError` base.
    """


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines or threads tried to read (or stream-write) at once."""
