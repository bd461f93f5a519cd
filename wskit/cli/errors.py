"""Exit statuses of the command line, and one-line explanations of failures.

A command-line tool should answer a mistake or a failed connection with a
sentence, not a traceback: :func:`explain` turns the exceptions that
connecting and listening raise into that sentence and an exit status.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import TextIO

from ..exceptions import InvalidHandshake, InvalidProxy, InvalidStatus, InvalidURI, ProxyError
from ..utils import escape_controls

__all__ = [
    "CLOSED",
    "HANDSHAKE_FAILED",
    "INTERRUPTED",
    "NETWORK_FAILED",
    "OK",
    "USAGE",
    "UsageError",
    "explain",
    "report",
]

OK = 0
CLOSED = 1
USAGE = 2
NETWORK_FAILED = 3
HANDSHAKE_FAILED = 4
INTERRUPTED = 130

EXIT_STATUSES = f"""\
exit status:
  {OK}    the connection closed normally (1000 or 1001, or as asked by /close,
       Ctrl-D, --count or the end of input); a server stopped by Ctrl-C
  {CLOSED}    the connection closed with an error code or was lost
  {USAGE}    bad command line: unknown option, invalid URI or proxy, unreadable file
  {NETWORK_FAILED}    network failure: unknown host, connection refused, TLS error,
       timeout, proxy failure; or a server couldn't listen on its port
  {HANDSHAKE_FAILED}    the server refused the WebSocket handshake (HTTP error status)
  {INTERRUPTED}  interrupted by Ctrl-C"""

# How much of a refusal's body goes into the error line.
BODY_EXCERPT = 200


class UsageError(Exception):
    """A command-line argument can't be used; the message says which and why."""


def explain(exc: Exception, where: str) -> tuple[str, int] | None:
    """Describe a failure to connect to or listen on ``where`` in one line.

    Args:
        exc: What connecting or listening raised.
        where: The URI or address, for the message.

    Returns:
        The line and the exit status, or :obj:`None` for an exception that
        isn't an expected failure (a bug deserves its traceback).
    """
    if isinstance(exc, InvalidURI | InvalidProxy | UsageError):
        return str(exc), USAGE
    if isinstance(exc, ProxyError):
        return f"proxy failed to reach {where}: {with_cause(exc)}", NETWORK_FAILED
    if isinstance(exc, InvalidStatus):
        return refusal(exc), HANDSHAKE_FAILED
    if isinstance(exc, InvalidHandshake):
        return f"opening handshake with {where} failed: {with_cause(exc)}", HANDSHAKE_FAILED
    if isinstance(exc, TimeoutError):
        return f"timed out connecting to {where}", NETWORK_FAILED
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate of {where} rejected: {exc.verify_message}; "
            "trust it with --cacert FILE, or skip the check with --insecure",
            NETWORK_FAILED,
        )
    if isinstance(exc, ssl.SSLError):
        # OpenSSL's reason ("WRONG_VERSION_NUMBER") is the useful part, when set.
        openssl_reason = getattr(exc, "reason", None) or exc
        return f"TLS handshake with {where} failed: {openssl_reason}", NETWORK_FAILED
    if isinstance(exc, socket.gaierror):
        return f"cannot find the host of {where}: {exc.strerror}", NETWORK_FAILED
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {where} refused: nothing listens there", NETWORK_FAILED
    if isinstance(exc, OSError):
        # asyncio words errors its own way ("error while attempting to bind
        # on address ..."): the system's message for the errno is clearer.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return f"cannot use {where}: {reason}", NETWORK_FAILED
    return None


def report(exc: Exception, where: str, stderr: TextIO) -> int:
    """Print the explanation of ``exc`` on ``stderr``; return the exit status.

    Raises:
        Exception: ``exc`` itself, if it isn't an expected failure.
    """
    explained = explain(exc, where)
    if explained is None:
        raise exc
    line, status = explained
    print(f"wskit: {line}", file=stderr)
    return status


def with_cause(exc: Exception) -> str:
    """Describe ``exc`` and what caused it, escaped: peers write some of it."""
    reason = str(exc) if exc.__cause__ is None else f"{exc}: {exc.__cause__}"
    return escape_controls(reason)


def refusal(exc: InvalidStatus) -> str:
    """Describe a refused handshake with its status and the start of its body."""
    response = exc.response
    line = f"server refused the WebSocket connection: HTTP {response.status_code}"
    if response.reason_phrase:
        line += f" {escape_controls(response.reason_phrase)}"
    body = response.body.decode(errors="replace").strip()
    if body:
        if len(body) > BODY_EXCERPT:
            body = body[:BODY_EXCERPT] + "…"
        line += f": {escape_controls(body)}"
    return line
