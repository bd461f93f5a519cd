"""Exceptions of websockets' legacy API.

The legacy client raises :exc:`InvalidStatusCode` when the server answers
the handshake with another status than 101. It is an
:exc:`~wskit.exceptions.InvalidStatus` too, so code written for either API
catches it.
"""

from __future__ import annotations

import http

from ..datastructures import Headers, HeadersLike
from ..exceptions import InvalidHandshake, InvalidMessage, InvalidStatus
from ..exceptions import ProtocolError as WebSocketProtocolError
from ..http11 import Response
from ..typing import StatusLike

__all__ = [
    "AbortHandshake",
    "InvalidMessage",
    "InvalidStatusCode",
    "RedirectHandshake",
    "WebSocketProtocolError",
]


class InvalidStatusCode(InvalidStatus):
    """The server refused the opening handshake with an HTTP status other than 101.

    Attributes:
        status_code: The status code of the response.
        headers: The headers of the response.
        response: The whole response, body included.
    """

    def __init__(self, status_code: int, headers: Headers) -> None:
        try:
            reason = http.HTTPStatus(status_code).phrase
        except ValueError:
            reason = ""
        super().__init__(Response(status_code, reason, headers))
        self.status_code = status_code
        self.headers = headers


class AbortHandshake(InvalidHandshake):
    """Raised in ``process_request`` to answer with this HTTP response instead.

    Returning ``(status, headers, body)`` from ``process_request`` does the
    same.

    Args:
        status: HTTP status code.
        headers: Response headers.
        body: Response body.
    """

    def __init__(self, status: StatusLike, headers: HeadersLike, body: bytes = b"") -> None:
        self.status = http.HTTPStatus(status)
        self.headers = Headers(headers)
        self.body = body

    def __str__(self) -> str:
        return f"HTTP {self.status:d}, {len(self.headers)} headers, {len(self.body)} bytes"


class RedirectHandshake(InvalidHandshake):
    """The server redirected the opening handshake to ``uri``.

    wskit's client follows redirects itself (see :mod:`wskit.shared.redirects`);
    the class exists for code that names it.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __str__(self) -> str:
        return f"redirect to {self.uri}"
