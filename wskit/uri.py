"""WebSocket URIs (RFC 6455, section 3)."""

from __future__ import annotations

import dataclasses
import urllib.parse

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_authority", "parse_uri"]

DEFAULT_PORTS = {False: 80, True: 443}

# Characters that may stand unescaped in a path or a query (RFC 3986, 3.3
# and 3.4); "%" too, so that existing escapes are kept as they are.
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


@dataclasses.dataclass
class WebSocketURI:
    """A parsed ``ws://`` or ``wss://`` URI.

    Attributes:
        secure: :obj:`True` for ``wss``, :obj:`False` for ``ws``.
        host: Host name in lower case, or IP address (IPv6 without brackets).
        port: Port, the scheme's default when the URI has none.
        path: Path, percent-encoded; may be empty.
        query: Query, percent-encoded; empty when the URI has none.
        username: User name from the URI's user information, if any.
        password: Password from the URI's user information, if any.
    """

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        """The request target of the handshake: path and query."""
        resource = self.path or "/"
        return f"{resource}?{self.query}" if self.query else resource

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` when the URI carries credentials."""
        if self.username is None or self.password is None:
            return None
        return self.username, self.password


# URIs parsed already, without credentials, which aren't kept: a client
# connects to the same few URIs again and again, and urllib.parse and the
# IDNA codec cost a tenth of its handshake. Bounded: once full, the cache
# stays as it is (redirects parse URIs that servers give).
_PARSED: dict[str, tuple[bool, str, int, str, str]] = {}
_MAX_PARSED = 64


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI.

    Non-ASCII host names are IDNA-encoded, and non-ASCII characters in the
    path and query are percent-encoded, so that the handshake stays ASCII.

    Args:
        uri: The URI, such as ``wss://example.com/chat?room=1``.

    Raises:
        InvalidURI: The URI is not a valid WebSocket URI.
    """
    fields = _PARSED.get(uri)
    if fields is not None:
        return WebSocketURI(*fields)
    parsed = _parse_uri(uri)
    if parsed.username is None and len(_PARSED) < _MAX_PARSED:
        _PARSED[uri] = (parsed.secure, parsed.host, parsed.port, parsed.path, parsed.query)
    return parsed


def _parse_uri(uri: str) -> WebSocketURI:
    try:
        parsed = urllib.parse.urlsplit(uri)
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    # "Fragment identifiers are meaningless in the context of WebSocket URIs
    # and MUST NOT be used on these URIs."
    # Without a host, parse_authority() says so first.
    if parsed.hostname and (parsed.fragment or uri.endswith("#")):
        raise InvalidURI(uri, "fragment identifier isn't allowed")
    try:
        host, username, password = parse_authority(parsed)
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    secure = parsed.scheme == "wss"
    return WebSocketURI(
        secure=secure,
        host=host,
        port=DEFAULT_PORTS[secure] if port is None else port,
        path=urllib.parse.quote(parsed.path, safe=_PATH_SAFE),
        query=urllib.parse.quote(parsed.query, safe=_QUERY_SAFE),
        username=username,
        password=password,
    )


def parse_authority(parsed: urllib.parse.SplitResult) -> tuple[str, str | None, str | None]:
    """Check the host and the credentials of a URL that :func:`urllib.parse.urlsplit` parsed.

    Shared by WebSocket URIs and proxy addresses.

    Returns:
        The host, IDNA-encoded, and the username and password, unquoted.

    Raises:
        ValueError: The host is missing or invalid, or the credentials are.
    """
    if not parsed.hostname:
        raise ValueError("hostname isn't provided")
    if parsed.username is not None and parsed.password is None:
        raise ValueError("username provided without password")
    username = _unquote(parsed.username)
    # "a user-id containing a colon character is invalid" (RFC 7617, 2).
    if username is not None and ":" in username:
        raise ValueError("username can't contain a colon")
    try:
        host = parsed.hostname.encode("idna").decode()
    except UnicodeError as exc:
        raise ValueError(f"invalid hostname: {exc}") from None
    return host, username, _unquote(parsed.password)


def _unquote(value: str | None) -> str | None:
    return None if value is None else urllib.parse.unquote(value)
