"""What the asyncio and threading clients share when they open a connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from .client import ClientProtocol
from .datastructures import HeadersLike
from .http11 import Request
from .proxy import Proxy, get_proxy, parse_proxy
from .uri import WebSocketURI

__all__ = ["handshake_request", "select_proxy", "uses_proxy_tls", "uses_tls"]


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


def select_proxy(
    proxy: str | Literal[True] | None,
    uri: WebSocketURI,
    *,
    direct: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Proxy | None:
    """Return the proxy to connect through, if any.

    Args:
        proxy: The application's ``proxy`` argument: :obj:`True` for the
            environment's configuration, :obj:`None` for no proxy, or the
            address of a proxy.
        uri: The server's URI.
        direct: The application gave a socket or a Unix socket path, which
            leaves no place for a proxy.
        environ: Environment variables; :data:`os.environ` by default.

    Raises:
        InvalidProxy: The proxy's address isn't valid.
        ValueError: ``proxy`` names a proxy while ``direct`` is set.
    """
    if proxy is True:
        proxy = None if direct else get_proxy(uri, environ)
    elif proxy is not None and direct:
        raise ValueError("proxy argument is incompatible with sock or a Unix socket")
    return None if proxy is None else parse_proxy(proxy)


def uses_proxy_tls(proxy: Proxy, proxy_ssl: object) -> bool:
    """Tell whether the connection to ``proxy`` itself runs over TLS.

    Args:
        proxy: The proxy: ``https://`` means TLS.
        proxy_ssl: The application's ``proxy_ssl`` argument.

    Raises:
        ValueError: ``proxy_ssl`` was given for a proxy without TLS.
    """
    if proxy.tls:
        return True
    if proxy_ssl is not None:
        raise ValueError(f"proxy_ssl argument is incompatible with a {proxy.scheme}:// proxy")
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
