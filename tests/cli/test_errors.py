"""One line and an exit status for every expected failure."""

from __future__ import annotations

import io
import socket
import ssl

import pytest

from wskit.cli.errors import (
    HANDSHAKE_FAILED,
    NETWORK_FAILED,
    USAGE,
    UsageError,
    explain,
    report,
)
from wskit.datastructures import Headers
from wskit.exceptions import InvalidMessage, InvalidStatus, InvalidURI
from wskit.http11 import Response

WHERE = "ws://example.test/"


def refused(status: int, reason: str, body: bytes) -> InvalidStatus:
    return InvalidStatus(Response(status, reason, Headers(), body))


def verification_error() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "self-signed certificate"
    return exc


def handshake_error() -> InvalidMessage:
    exc = InvalidMessage("did not receive a valid HTTP response")
    exc.__cause__ = EOFError("connection closed\r\nFAKE LOG LINE")
    return exc


@pytest.mark.parametrize(
    ("exc", "line", "status"),
    [
        (InvalidURI("http://x", "scheme isn't ws or wss"), "http://x isn't a valid", USAGE),
        (UsageError("invalid --header"), "invalid --header", USAGE),
        (
            refused(403, "Forbidden", b"Go away.\n"),
            "server refused the WebSocket connection: HTTP 403 Forbidden: Go away.",
            HANDSHAKE_FAILED,
        ),
        (
            refused(500, "", b""),
            "server refused the WebSocket connection: HTTP 500",
            HANDSHAKE_FAILED,
        ),
        (
            refused(400, "Bad\x1b[2J", b"line 1\r\n\x1b]0;title\x07line 2"),
            "HTTP 400 Bad\\x1b[2J: line 1\\r\\n\\x1b]0;title\\x07line 2",
            HANDSHAKE_FAILED,
        ),
        (
            refused(404, "Not Found", b"x" * 1000),
            f"HTTP 404 Not Found: {'x' * 200}…",
            HANDSHAKE_FAILED,
        ),
        (
            handshake_error(),
            f"opening handshake with {WHERE} failed: did not receive a valid HTTP response: "
            "connection closed\\r\\nFAKE LOG LINE",
            HANDSHAKE_FAILED,
        ),
        (
            InvalidMessage("no cause"),
            f"opening handshake with {WHERE} failed: no cause",
            HANDSHAKE_FAILED,
        ),
        (TimeoutError(), f"timed out connecting to {WHERE}", NETWORK_FAILED),
        (
            verification_error(),
            f"TLS certificate of {WHERE} rejected: self-signed certificate; "
            "trust it with --cacert FILE, or skip the check with --insecure",
            NETWORK_FAILED,
        ),
        (
            ssl.SSLError(1, "[SSL] wrong version number"),
            f"TLS handshake with {WHERE} failed: ",
            NETWORK_FAILED,
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            f"cannot find the host of {WHERE}: Name or service not known",
            NETWORK_FAILED,
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            f"connection to {WHERE} refused: nothing listens there",
            NETWORK_FAILED,
        ),
        (
            OSError(98, "Address already in use"),
            f"cannot use {WHERE}: Address already in use",
            NETWORK_FAILED,
        ),
        (ConnectionError("closed during the handshake"), "closed during the handshake", 3),
    ],
)
def test_explain(exc: Exception, line: str, status: int) -> None:
    explained = explain(exc, WHERE)
    assert explained is not None
    assert line in explained[0]
    assert explained[0].isprintable()
    assert explained[1] == status


def test_unexpected_exceptions_are_not_explained() -> None:
    assert explain(ValueError("a bug"), WHERE) is None


def test_report_prints_one_line_and_returns_the_status() -> None:
    stderr = io.StringIO()
    assert report(TimeoutError(), WHERE, stderr) == NETWORK_FAILED
    assert stderr.getvalue() == f"wskit: timed out connecting to {WHERE}\n"


def test_report_raises_unexpected_exceptions_again() -> None:
    bug = ValueError("a bug")
    with pytest.raises(ValueError, match="a bug"):
        report(bug, WHERE, io.StringIO())
