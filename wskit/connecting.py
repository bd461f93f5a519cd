"""What the asyncio and threading clients share when they open a connection."""

from __future__ import annotations

from .client import ClientProtocol
from .datastructures import HeadersLike
from .http11 import Request
from .uri import WebSocketURI

__all__ = ["handshake_request", "uses_tls"]


def uses_tls(uri: WebSocketURI, ssl: object) -> bool:
    """Tell whether a connection to ``uri`` runs over TLS.

    Args:
        uri: The server's URI: ``wss://`` means TLS.
        ssl: The application's ``ssl`` argument: :obj:`None`, :obj:`True`
            for a default context, or a context.

    Raises:
        ValueError: ``ssl`` was given for a ``ws://`` URI, a contradiction.
    """
    if uri.secure:
        return True
    if ssl is not None:
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    return False


def handshake_request(
    protocol: ClientProtocol,
    additional_headers: HeadersLike | None,
    user_agent_header: str | None,
) -> Request:
    """Build the opening handshake request, with the application's headers.

    Args:
        protocol: The connection.
        additional_headers: Headers to add to the request.
        user_agent_header: Value of ``User-Agent`` unless ``additional_headers``
            has one; :obj:`None` omits it.
    """
    request = protocol.connect()
    if additional_headers is not None:
        request.headers.update(additional_headers)
    if user_agent_header:
        request.headers.setdefault("User-Agent", user_agent_header)
    return request
