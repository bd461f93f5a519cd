"""wskit.legacy.exceptions: the legacy API's exceptions, as code written for it reads them."""

from __future__ import annotations

import http

from wskit.datastructures import Headers
from wskit.exceptions import InvalidHandshake, InvalidStatus, ProtocolError
from wskit.legacy.exceptions import (
    AbortHandshake,
    InvalidStatusCode,
    RedirectHandshake,
    WebSocketProtocolError,
)


def test_invalid_status_code() -> None:
    exc = InvalidStatusCode(404, Headers(X="1"))
    assert isinstance(exc, InvalidStatus)
    assert (exc.status_code, exc.headers["X"]) == (404, "1")
    assert (exc.response.status_code, exc.response.reason_phrase) == (404, "Not Found")
    assert str(exc) == "server rejected WebSocket connection: HTTP 404"
    # A status that http.HTTPStatus doesn't know has no reason phrase.
    assert InvalidStatusCode(599, Headers()).response.reason_phrase == ""


def test_abort_and_redirect_handshake() -> None:
    abort = AbortHandshake(403, [("X", "1")], b"no")
    assert isinstance(abort, InvalidHandshake)
    assert abort.status is http.HTTPStatus.FORBIDDEN
    assert str(abort) == "HTTP 403, 1 headers, 2 bytes"
    redirect = RedirectHandshake("ws://elsewhere/")
    assert str(redirect) == "redirect to ws://elsewhere/"
    assert WebSocketProtocolError is ProtocolError
