"""What the asyncio and threading clients share when they open a connection."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast

from ..client import ClientProtocol
from ..datastructures import HeadersLike
from ..http11 import USER_AGENT, Request
from ..proxy import Proxy, get_proxy, parse_proxy
from ..uri import WebSocketURI

__all__ = [
    "check_unix_address",
    "handshake_request",
    "renamed_ssl_context",
    "select_proxy",
    "uses_proxy_tls",
    "uses_tls",
]

T = TypeVar("T")


def uses_tls(uri: WebSocketURI, ssl: object, *, ssl_given: bool = False) -> bool:
    """Tell whether a connection to ``uri`` runs over TLS.

    Args:
        uri: The server's URI: ``wss://`` means TLS.
        ssl: The application's ``ssl`` argument: :obj:`None`, :obj:`True`
            for a default context, or a context.
        ssl_given: Whether the application passed ``ssl`` itself, so that
            ``ssl=None`` with a ``wss://`` URI is refused, as websockets'
            asyncio client does, rather than silently using TLS.

    Raises:
        ValueError: ``ssl`` was given for a ``ws://`` URI, or ``ssl=None``
            for a ``wss://`` URI: contradictions.
    """
    if uri.secure:
        if ssl_given and ssl is None:
            raise ValueError("ssl=None is incompatible with a wss:// URI")
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


def uses_proxy_tls(proxy: Proxy, proxy_ssl: object, *, ssl_given: bool = False) -> bool:
    """Tell whether the connection to ``proxy`` itself runs over TLS.

    Args:
        proxy: The proxy: ``https://`` means TLS.
        proxy_ssl: The application's ``proxy_ssl`` argument.
        ssl_given: Whether the application passed ``proxy_ssl`` itself.

    Raises:
        ValueError: ``proxy_ssl`` was given for a proxy without TLS, or
            ``proxy_ssl=None`` for a proxy with TLS.
    """
    if proxy.tls:
        if ssl_given and proxy_ssl is None:
            raise ValueError(f"proxy_ssl=None is incompatible with a {proxy.scheme}:// proxy")
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
        headers = request.headers
        if user_agent_header is USER_AGENT and "User-Agent" not in headers:
            # Our own, valid value: without setdefault()'s checks (~50
            # bytecodes), as a server adds its default Server header.
            headers.set_insecure("User-Agent", USER_AGENT)
        else:
            headers.setdefault("User-Agent", user_agent_header)
    return request


def check_unix_address(path: object, sock: object) -> None:
    """Check that a Unix socket connection or server has one address.

    Raises:
        ValueError: Neither or both of ``path`` and ``sock`` were given.
    """
    if path is None and sock is None:
        raise ValueError("missing path argument")
    if path is not None and sock is not None:
        raise ValueError("path is incompatible with sock")


def renamed_ssl_context(ssl: T, kwargs: dict[str, Any]) -> T:
    """Take ``ssl_context``, the old name of ``ssl``, out of ``kwargs``.

    The threading client and server of websockets still accept it, with a
    :exc:`DeprecationWarning`; so do wskit's.
    """
    if ssl is None and "ssl_context" in kwargs:
        warnings.warn("ssl_context was renamed to ssl", DeprecationWarning, stacklevel=3)
        return cast(T, kwargs.pop("ssl_context"))
    return ssl
