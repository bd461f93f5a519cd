"""HTTP Basic Authentication for the opening handshake (RFC 7617).

The asyncio and threading servers build their ``basic_auth()`` on these
pieces; only calling a possibly asynchronous ``check_credentials`` differs.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from http import HTTPStatus

from .datastructures import Headers, MultipleValuesError
from .exceptions import InvalidHeader
from .headers import build_www_authenticate_basic, parse_authorization_basic
from .http11 import Response
from .typing import StatusLike

__all__ = ["challenge", "credentials_checker", "read_credentials", "unauthorized"]


def credentials_checker(
    credentials: tuple[str, str] | Iterable[tuple[str, str]],
) -> Callable[[str, str], bool]:
    """Return a function that checks a username and password against a table.

    Passwords are compared in constant time, so that response times don't
    leak how much of a guess was right.

    Args:
        credentials: One ``(username, password)`` pair or several.

    Raises:
        TypeError: ``credentials`` is not made of pairs of strings.
    """
    if isinstance(credentials, tuple) and len(credentials) == 2 and isinstance(credentials[0], str):
        pairs = [credentials]
    else:
        pairs = list(credentials)
    for pair in pairs:
        if not (
            isinstance(pair, tuple)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ):
            raise TypeError(f"invalid credentials argument: {credentials!r}")
    table = {username.encode(): password.encode() for username, password in pairs}

    def check(username: str, password: str) -> bool:
        # Credentials that aren't UTF-8 arrive with lone surrogates (see
        # parse_authorization_basic); encoded this way they are invalid UTF-8,
        # so they match nothing in the table instead of raising.
        username_bytes = username.encode(errors="surrogatepass")
        password_bytes = password.encode(errors="surrogatepass")
        expected = table.get(username_bytes)
        if expected is None:
            # Compare anyway, so that unknown users take as long as known ones.
            hmac.compare_digest(password_bytes, password_bytes)
            return False
        return hmac.compare_digest(password_bytes, expected)

    return check


def read_credentials(headers: Headers) -> tuple[str, str] | str:
    """Read the username and password of a handshake request.

    Returns:
        The ``(username, password)`` pair, or the reason to refuse the
        request, for the body of a 401 response.
    """
    try:
        authorization = headers["Authorization"]
    except KeyError:
        return "Missing credentials\n"
    except MultipleValuesError:
        return "Too many credentials\n"
    try:
        return parse_authorization_basic(authorization)
    except InvalidHeader:
        return "Unsupported credentials\n"


def challenge(headers: Headers, realm: str) -> None:
    """Add the ``WWW-Authenticate`` header of a 401 response."""
    headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)


def unauthorized(respond: Callable[[StatusLike, str], Response], text: str, realm: str) -> Response:
    """Build the 401 response that asks for credentials.

    Args:
        respond: The connection's ``respond()`` method.
        text: Body of the response: why the request was refused.
        realm: Scope of protection, shown by browsers.
    """
    response = respond(HTTPStatus.UNAUTHORIZED, text)
    challenge(response.headers, realm)
    return response
