"""HTTP Basic Authentication in websockets' legacy API, over :mod:`wskit.auth`.

::

    serve(
        handler, "localhost", 8765,
        create_protocol=basic_auth_protocol_factory(
            realm="my dev server", credentials=("hello", "iloveyou")
        ),
    )

The handler then finds the user's name in ``websocket.username``.
"""

from __future__ import annotations

import functools
import http
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..auth import credentials_checker, read_credentials
from ..datastructures import Headers
from ..headers import build_www_authenticate_basic
from .server import HTTPResponse, WebSocketServerProtocol

__all__ = ["BasicAuthWebSocketServerProtocol", "basic_auth_protocol_factory"]

Credentials = tuple[str, str]


class BasicAuthWebSocketServerProtocol(WebSocketServerProtocol):
    """A :class:`~wskit.legacy.server.WebSocketServerProtocol` that requires Basic Auth.

    Requests without valid credentials get a 401 response.

    Args:
        realm: Scope of protection, shown by browsers.
        check_credentials: Coroutine function that checks a username and
            password; :meth:`check_credentials` calls it.

    Attributes:
        username: The authenticated user's name.
    """

    realm: str = ""
    username: str | None = None  # type: ignore[assignment]

    def __init__(
        self,
        *args: Any,
        realm: str | None = None,
        check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None = None,
        **kwargs: Any,
    ) -> None:
        if realm is not None:
            self.realm = realm
        self._check_credentials = check_credentials
        super().__init__(*args, **kwargs)

    async def check_credentials(self, username: str, password: str) -> bool:
        """Tell whether the credentials are valid; override it to check elsewhere.

        Without ``check_credentials``, every request is refused.
        """
        if self._check_credentials is None:
            return False
        valid = self._check_credentials(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        return valid

    async def process_request(self, path: str, request_headers: Headers) -> HTTPResponse | None:
        """Refuse requests without valid credentials, then defer to the parent."""
        credentials = read_credentials(request_headers)
        if isinstance(credentials, str):
            return self._unauthorized(credentials)
        username, password = credentials
        if not await self.check_credentials(username, password):
            return self._unauthorized("Invalid credentials\n")
        self.username = username
        return await super().process_request(path, request_headers)

    def _unauthorized(self, text: str) -> HTTPResponse:
        headers = [("WWW-Authenticate", build_www_authenticate_basic(self.realm))]
        return http.HTTPStatus.UNAUTHORIZED, headers, text.encode()


def basic_auth_protocol_factory(
    realm: str | None = None,
    credentials: Credentials | Iterable[Credentials] | None = None,
    check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None = None,
    create_protocol: Callable[..., BasicAuthWebSocketServerProtocol] | None = None,
) -> Callable[..., BasicAuthWebSocketServerProtocol]:
    """Return a ``create_protocol`` for :func:`~wskit.legacy.server.serve` that requires Basic Auth.

    Passwords are compared in constant time.

    Args:
        realm: Scope of protection, shown by browsers.
        credentials: One ``(username, password)`` pair or several.
        check_credentials: Function or coroutine function that checks a
            username and password, instead of ``credentials``.
        create_protocol: :class:`BasicAuthWebSocketServerProtocol` or a subclass.

    Raises:
        TypeError: Neither or both of ``credentials`` and
            ``check_credentials`` were given, or ``credentials`` is invalid.
    """
    if (credentials is None) == (check_credentials is None):
        raise TypeError("provide either credentials or check_credentials")
    if credentials is not None:
        check_credentials = credentials_checker(credentials)
    if create_protocol is None:
        create_protocol = BasicAuthWebSocketServerProtocol
    return functools.partial(create_protocol, realm=realm, check_credentials=check_credentials)
