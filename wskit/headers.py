"""Parsers and builders for the header values of the opening handshake.

The grammar comes from RFC 9110 (tokens, lists, quoted strings), RFC 6455
(``Sec-WebSocket-*`` headers) and RFC 7617 (Basic authentication).

Parsers are small hand-written scanners that only ever move forward, using
anchored regular expressions without nested quantifiers for runs of
characters. Their cost is linear in the length of the header, whatever a
hostile peer puts in it, and bounded: lists stop at a few dozen items
(:data:`MAX_EXTENSIONS`, :data:`MAX_EXTENSION_PARAMETERS`,
:data:`MAX_SUBPROTOCOLS`, :data:`MAX_TOKENS`), so that a megabyte of headers
can't keep the event loop busy parsing.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence, Sized
from typing import NewType, TypeAlias, TypeVar

from .exceptions import InvalidHeaderFormat, InvalidHeaderValue, SecurityError
from .typing import ExtensionName, ExtensionParameter, Subprotocol

__all__ = [
    "MAX_EXTENSIONS",
    "MAX_EXTENSION_PARAMETERS",
    "MAX_SUBPROTOCOLS",
    "MAX_TOKENS",
    "ConnectionOption",
    "ExtensionHeader",
    "UpgradeProtocol",
    "build_authorization_basic",
    "build_extension",
    "build_host",
    "build_subprotocol",
    "build_www_authenticate_basic",
    "check_list_length",
    "parse_authorization_basic",
    "parse_connection",
    "parse_extension",
    "parse_subprotocol",
    "parse_upgrade",
    "validate_subprotocols",
]

ConnectionOption = NewType("ConnectionOption", str)
"""A connection option, as in the ``Connection`` header."""

UpgradeProtocol = NewType("UpgradeProtocol", str)
"""A protocol, as in the ``Upgrade`` header, e.g. ``websocket`` or ``foo/1.0``."""

ExtensionHeader: TypeAlias = tuple[ExtensionName, Sequence[ExtensionParameter]]
"""An extension and its parameters, as in ``Sec-WebSocket-Extensions``."""

T = TypeVar("T")

MAX_EXTENSIONS = 32
"""Extensions that the ``Sec-WebSocket-Extensions`` headers of a handshake may list.

Offers in a request, accepted extensions in a response. Browsers offer one.
Past it, a server answers 400 and a client fails the handshake, as soon as
the parser gets there.
"""

MAX_EXTENSION_PARAMETERS = 16
"""Parameters that one extension may have in ``Sec-WebSocket-Extensions``.

permessage-deflate defines four. Past it, as past :data:`MAX_EXTENSIONS`.
"""

MAX_SUBPROTOCOLS = 32
"""Subprotocols that the ``Sec-WebSocket-Protocol`` headers of a handshake may list.

Past it, as past :data:`MAX_EXTENSIONS`.
"""

MAX_TOKENS = 32
"""Options in the ``Connection`` headers, protocols in the ``Upgrade`` headers.

A handshake needs one of each. Past it, as past :data:`MAX_EXTENSIONS`.
"""


# RFC 9110 5.6.2: token = 1*tchar.
_token_re = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 9110 7.8: protocol = protocol-name ["/" protocol-version], both tokens.
# "/" isn't a tchar, so the two runs can't compete for the same characters.
_protocol_re = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?")

# RFC 9110 5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text,
# i.e. anything allowed in a quoted string except DQUOTE and backslash.
_qdtext_re = re.compile(r"[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]+")

# RFC 9110 5.6.4: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
_quoted_pair_re = re.compile(r"[\t\x20-\x7e\x80-\xff]")

# What a quoted string can carry once escaped.
_quotable_re = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

# RFC 9110 11.2: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+"
# / "/" ) *"=".
_token68_re = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


# Scanning primitives. Each takes the header, a position and the header name
# for error messages, and returns what it read with the position after it.


def _skip_ows(header: str, pos: int) -> int:
    end = len(header)
    while pos < end and header[pos] in " \t":
        pos += 1
    return pos


def _peek(header: str, pos: int) -> str | None:
    return header[pos] if pos < len(header) else None


def _parse_token(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _token_re.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token", header, pos)
    return match.group(), match.end()


def _parse_quoted_string(header: str, pos: int, name: str) -> tuple[str, int]:
    """Read a quoted string starting at its opening quote; return it unescaped."""
    start = pos
    pos += 1
    parts: list[str] = []
    while True:
        # Plain characters go in one regex run; only backslashes and the
        # closing quote are handled here, so each character is seen once.
        run = _qdtext_re.match(header, pos)
        if run is not None:
            parts.append(run.group())
            pos = run.end()
        char = _peek(header, pos)
        if char == '"':
            return "".join(parts), pos + 1
        if char is None or (char == "\\" and pos + 1 == len(header)):
            raise InvalidHeaderFormat(name, "unterminated quoted string", header, start)
        if char == "\\" and _quoted_pair_re.fullmatch(header, pos + 1, pos + 2):
            parts.append(header[pos + 1])
            pos += 2
            continue
        raise InvalidHeaderFormat(name, "invalid character in quoted string", header, pos)


def _build_quoted_string(value: str) -> str:
    if _quotable_re.fullmatch(value) is None:
        raise ValueError(f"invalid character in quoted string: {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _parse_end(header: str, pos: int, name: str) -> None:
    if pos < len(header):
        raise InvalidHeaderFormat(name, "trailing data", header, pos)


def check_list_length(items: Sized, limit: int, name: str, what: str = "items") -> None:
    """Check that a list parsed from ``name`` headers holds at most ``limit`` items.

    Raises:
        SecurityError: It holds more.
    """
    if len(items) > limit:
        raise SecurityError(f"more than {limit} {what} in {name}")


def _parse_list(
    parse_item: Callable[[str, int, str], tuple[T, int]],
    header: str,
    pos: int,
    name: str,
    limit: int,
) -> list[T]:
    """Parse a comma-separated list with at least one element, at most ``limit``.

    RFC 9110 5.6.1: "a recipient MUST accept lists that satisfy the
    following syntax: #element => [ element ] *( OWS "," OWS [ element ] )",
    so empty elements are skipped. The headers parsed here are 1#element:
    at least one element must be present.

    Raises:
        SecurityError: The list has more than ``limit`` elements; parsing
            stops at the first one too many.
    """
    items: list[T] = []
    pos = _skip_ows(header, pos)
    while _peek(header, pos) == ",":
        pos = _skip_ows(header, pos + 1)
    while True:
        item, pos = parse_item(header, pos, name)
        items.append(item)
        check_list_length(items, limit, name)
        pos = _skip_ows(header, pos)
        if pos == len(header):
            return items
        if header[pos] != ",":
            raise InvalidHeaderFormat(name, "expected comma", header, pos)
        while _peek(header, pos) == ",":
            pos = _skip_ows(header, pos + 1)
        if pos == len(header):
            return items


# Connection and Upgrade (RFC 9110 7.6.1 and 7.8).


def _parse_connection_option(header: str, pos: int, name: str) -> tuple[ConnectionOption, int]:
    token, pos = _parse_token(header, pos, name)
    return ConnectionOption(token), pos


def parse_connection(header: str) -> list[ConnectionOption]:
    """Parse a ``Connection`` header.

    Args:
        header: Value of the ``Connection`` header.

    Returns:
        The connection options, e.g. ``["keep-alive", "Upgrade"]``.

    Raises:
        InvalidHeaderFormat: If the header isn't a list of tokens.
        SecurityError: If it lists more than :data:`MAX_TOKENS`.
    """
    return _parse_list(_parse_connection_option, header, 0, "Connection", MAX_TOKENS)


def _parse_upgrade_protocol(header: str, pos: int, name: str) -> tuple[UpgradeProtocol, int]:
    match = _protocol_re.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected protocol", header, pos)
    return UpgradeProtocol(match.group()), match.end()


def parse_upgrade(header: str) -> list[UpgradeProtocol]:
    """Parse an ``Upgrade`` header.

    Args:
        header: Value of the ``Upgrade`` header.

    Returns:
        The protocols, e.g. ``["websocket"]`` or ``["h2c", "foo/1.0"]``.

    Raises:
        InvalidHeaderFormat: If the header isn't a list of protocols.
        SecurityError: If it lists more than :data:`MAX_TOKENS`.
    """
    return _parse_list(_parse_upgrade_protocol, header, 0, "Upgrade", MAX_TOKENS)


# Sec-WebSocket-Extensions (RFC 6455 9.1).


def _parse_extension_param(header: str, pos: int, name: str) -> tuple[ExtensionParameter, int]:
    # extension-param = token [ "=" (token | quoted-string) ]
    param, pos = _parse_token(header, pos, name)
    after = _skip_ows(header, pos)
    if _peek(header, after) != "=":
        return (param, None), pos
    pos = _skip_ows(header, after + 1)
    if _peek(header, pos) != '"':
        value, pos = _parse_token(header, pos, name)
        return (param, value), pos
    start = pos
    value, pos = _parse_quoted_string(header, pos, name)
    # RFC 6455 9.1: "When using the quoted-string syntax variant, the value
    # after quoted-string unescaping MUST conform to the 'token' ABNF."
    if _token_re.fullmatch(value) is None:
        raise InvalidHeaderFormat(name, "quoted value isn't a token", header, start)
    return (param, value), pos


def _parse_extension_item(header: str, pos: int, name: str) -> tuple[ExtensionHeader, int]:
    # extension = extension-token *( ";" extension-param )
    extension, pos = _parse_token(header, pos, name)
    parameters: list[ExtensionParameter] = []
    pos = _skip_ows(header, pos)
    while _peek(header, pos) == ";":
        pos = _skip_ows(header, pos + 1)
        parameter, pos = _parse_extension_param(header, pos, name)
        parameters.append(parameter)
        check_list_length(parameters, MAX_EXTENSION_PARAMETERS, name, "parameters of one extension")
        pos = _skip_ows(header, pos)
    return (ExtensionName(extension), parameters), pos


def parse_extension(header: str) -> list[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` header.

    Args:
        header: Value of the ``Sec-WebSocket-Extensions`` header.

    Returns:
        One ``(name, parameters)`` pair per extension, in order, where
        ``parameters`` is a list of ``(name, value)`` pairs and ``value`` is
        :obj:`None` for a parameter without a value. Quoted values are
        unescaped::

            [("permessage-deflate", [("client_max_window_bits", None)])]

    Raises:
        InvalidHeaderFormat: If the header doesn't follow the grammar.
        SecurityError: If it lists more than :data:`MAX_EXTENSIONS` extensions,
            or one has more than :data:`MAX_EXTENSION_PARAMETERS` parameters.
    """
    return _parse_list(_parse_extension_item, header, 0, "Sec-WebSocket-Extensions", MAX_EXTENSIONS)


def build_extension(extensions: Sequence[ExtensionHeader]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` header: the reverse of :func:`parse_extension`.

    Args:
        extensions: ``(name, parameters)`` pairs.

    Returns:
        The header value.
    """
    items = []
    for name, parameters in extensions:
        params = "".join(
            f"; {param}" if value is None else f"; {param}={value}" for param, value in parameters
        )
        items.append(f"{name}{params}")
    return ", ".join(items)


# Sec-WebSocket-Protocol (RFC 6455 11.3.4).


def _parse_subprotocol_item(header: str, pos: int, name: str) -> tuple[Subprotocol, int]:
    token, pos = _parse_token(header, pos, name)
    return Subprotocol(token), pos


def parse_subprotocol(header: str) -> list[Subprotocol]:
    """Parse a ``Sec-WebSocket-Protocol`` header.

    Args:
        header: Value of the ``Sec-WebSocket-Protocol`` header.

    Returns:
        The subprotocols, in order of preference.

    Raises:
        InvalidHeaderFormat: If the header isn't a list of tokens.
        SecurityError: If it lists more than :data:`MAX_SUBPROTOCOLS`.
    """
    return _parse_list(
        _parse_subprotocol_item, header, 0, "Sec-WebSocket-Protocol", MAX_SUBPROTOCOLS
    )


def build_subprotocol(subprotocols: Sequence[Subprotocol]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` header: the reverse of :func:`parse_subprotocol`.

    Args:
        subprotocols: Subprotocol names.

    Returns:
        The header value.
    """
    return ", ".join(subprotocols)


def validate_subprotocols(subprotocols: Sequence[Subprotocol]) -> None:
    """Check that ``subprotocols`` can be passed to :func:`build_subprotocol`.

    Args:
        subprotocols: Subprotocol names.

    Raises:
        TypeError: If ``subprotocols`` is a string rather than a sequence of
            strings, or contains something other than strings.
        ValueError: If a subprotocol isn't a token.
    """
    # A str is a sequence of str: catch validate_subprotocols("chat"), which
    # would otherwise offer the subprotocols "c", "h", "a" and "t".
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a list, not a str")
    # A dict or a set iterates too, but has no order of preference.
    if not isinstance(subprotocols, Sequence):
        raise TypeError("subprotocols must be a list")
    items: Iterable[object] = subprotocols
    for subprotocol in items:
        if not isinstance(subprotocol, str):
            raise TypeError(f"subprotocol must be a str, not {type(subprotocol).__name__}")
        if _token_re.fullmatch(subprotocol) is None:
            raise ValueError(f"invalid subprotocol: {subprotocol}")


# Host (RFC 9110 7.2).


def build_host(host: str, port: int, secure: bool, *, always_include_port: bool = False) -> str:
    """Build a ``Host`` header.

    Args:
        host: Host name or IP address; an IPv6 address gets brackets.
        port: Port number.
        secure: Whether the connection uses TLS, for the default port.
        always_include_port: Include the port even when it's the default
            one (80 without TLS, 443 with TLS).

    Returns:
        The header value.
    """
    # RFC 3986 3.2.2: "A host identified by an IPv6 literal address is
    # represented inside square brackets". Names and IPv4 addresses have no
    # colon: they skip parsing, which costs most when it fails.
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            pass  # an address that's already bracketed, or no address
        else:
            host = f"[{host}]"
    if always_include_port or port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host


# Basic authentication (RFC 7617).


def build_www_authenticate_basic(realm: str) -> str:
    """Build a ``WWW-Authenticate`` header for HTTP Basic Auth.

    Args:
        realm: Identifier of the protection space.

    Returns:
        The header value, announcing UTF-8 credentials.

    Raises:
        ValueError: If ``realm`` contains characters that a quoted string
            can't carry, e.g. CR or LF.
    """
    # RFC 7617 2.1: the only allowed charset value is "UTF-8".
    return f'Basic realm={_build_quoted_string(realm)}, charset="UTF-8"'


def parse_authorization_basic(header: str) -> tuple[str, str]:
    """Parse an ``Authorization`` header for HTTP Basic Auth.

    Credentials are decoded as UTF-8; bytes that aren't valid UTF-8 come out
    as surrogate code points (``surrogateescape``).

    Args:
        header: Value of the ``Authorization`` header.

    Returns:
        A ``(username, password)`` pair.

    Raises:
        InvalidHeaderFormat: If the header doesn't follow the grammar.
        InvalidHeaderValue: If the scheme isn't Basic or the credentials
            aren't base64-encoded ``username:password``.
    """
    name = "Authorization"
    # credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]; Basic
    # uses a single space and token68.
    scheme, pos = _parse_token(header, 0, name)
    # RFC 9110 11.1: "It uses a case-insensitive token".
    if scheme.lower() != "basic":
        raise InvalidHeaderValue(name, f"unsupported scheme: {scheme}")
    if _peek(header, pos) != " ":
        raise InvalidHeaderFormat(name, "expected space after scheme", header, pos)
    pos += 1
    match = _token68_re.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token68", header, pos)
    _parse_end(header, match.end(), name)
    try:
        decoded = base64.b64decode(match.group(), validate=True)
    except binascii.Error:
        raise InvalidHeaderValue(name, "expected base64-encoded credentials") from None
    # RFC 7617 2: user-pass = user-id ":" password; the user-id has no colon.
    username, colon, password = decoded.decode("utf-8", "surrogateescape").partition(":")
    if not colon:
        raise InvalidHeaderValue(name, "expected username:password credentials")
    return username, password


def build_authorization_basic(username: str, password: str) -> str:
    """Build an ``Authorization`` header for HTTP Basic Auth.

    The reverse of :func:`parse_authorization_basic`. Credentials are
    encoded as UTF-8; surrogate code points stand for raw bytes.

    Args:
        username: User name; it can't contain a colon.
        password: Password.

    Returns:
        The header value.

    Raises:
        ValueError: If ``username`` contains a colon.
    """
    # RFC 7617 2: "a user-id containing a colon character is invalid".
    if ":" in username:
        raise ValueError("username can't contain a colon")
    user_pass = f"{username}:{password}".encode("utf-8", "surrogateescape")
    return "Basic " + base64.b64encode(user_pass).decode("ascii")
