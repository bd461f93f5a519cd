"""What the asyncio, threading and trio servers share around the application's hooks.

They call ``process_request`` and ``process_response`` (the asyncio and trio
servers await them when they are coroutines, with :func:`call_hook`), then
build the response the same way, here. They broadcast through
:class:`BroadcastFrame`.
"""

from __future__ import annotations

import http
import inspect
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from typing import Any, Protocol, TypeVar, cast

from ..auth import credentials_checker, read_credentials, unauthorized
from ..exceptions import ConnectionClosed, InvalidHandshake
from ..extensions.permessage_deflate import PerMessageDeflate
from ..frames import BINARY, TEXT, Frame
from ..http11 import SERVER as DEFAULT_SERVER_HEADER
from ..http11 import Request, Response
from ..protocol import SERVER
from ..protocol import Protocol as WebSocketProtocol
from ..server import ServerProtocol
from ..typing import BytesLike, Data, LoggerLike, StatusLike
from ..utils import escape_controls
from .messages import encode

__all__ = [
    "DEFAULT_BACKLOG",
    "BroadcastFrame",
    "Responding",
    "answer",
    "async_basic_auth",
    "call_hook",
    "describe_address",
    "handshake_response",
    "hook_failed",
    "log_handler_exception",
    "log_refusal",
]


class _Logging(Protocol):
    logger: LoggerLike


Connection = TypeVar("Connection", bound=_Logging)

# Connections the kernel queues for a server before the server accepts them.
# asyncio's default (100) and socket.listen()'s (128) overflow when hundreds of
# clients connect at once: the kernel drops their SYNs and each waits a second
# before trying again. The kernel caps the figure at net.core.somaxconn.
DEFAULT_BACKLOG = 2048

_HOOK_FAILED_TEXT = "Failed to open a WebSocket connection.\nSee the server log for details.\n"


class Responding:
    """What every server connection has, asyncio, threading or trio: :meth:`respond`."""

    __slots__ = ()

    protocol: ServerProtocol

    def respond(self, status: StatusLike, text: str) -> Response:
        """Build a plain-text HTTP response, for ``process_request`` to return.

        Args:
            status: HTTP status code.
            text: Body, encoded to UTF-8.
        """
        return self.protocol.reject(status, text)


def answer(
    protocol: ServerProtocol,
    request: Request,
    response: Response | None,
    *,
    serving: bool,
    server_header: str | None,
) -> Response:
    """Return the handshake response to send.

    Args:
        protocol: The connection.
        request: The handshake request.
        response: What ``process_request`` returned: a response to send
            instead of opening the connection, or :obj:`None` to go on.
        serving: Whether the server still accepts connections; when it
            doesn't, the client gets a 503.
        server_header: Value of the ``Server`` header; :obj:`None` omits it.
    """
    if response is None:
        if serving:
            response = protocol.accept(request)
        else:
            response = protocol.reject(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
            )
    if server_header is DEFAULT_SERVER_HEADER:
        # Ours, valid: checking it took ~1.3% of a handshake (uvloop).
        response.headers.set_insecure("Server", server_header)
    elif server_header:
        response.headers["Server"] = server_header
    return response


def hook_failed(protocol: ServerProtocol, exc: Exception) -> Response:
    """Log that a hook raised ``exc`` and return the 500 response to send.

    The client learns that something went wrong, not what: details stay in
    the server's log.
    """
    protocol.logger.error("opening handshake failed", exc_info=exc)
    response = protocol.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, _HOOK_FAILED_TEXT)
    # With the traceback logged, what remains is a refused handshake: the
    # server sends the 500 and closes the connection like any other refusal.
    failure = InvalidHandshake("connection rejected with HTTP 500: a handshake hook failed")
    failure.__cause__ = exc
    response._exception = failure
    return response


def log_refusal(logger: LoggerLike, exc: Exception, response: Response | None) -> None:
    """Log why the opening handshake didn't open a connection, without traceback.

    An answer that the application chose instead of a connection and that
    isn't an error (a health check, a page) is logged at DEBUG; everything
    else at INFO.
    """
    if response is not None and response._exception is None and response.status_code < 400:
        logger.debug("sent HTTP %d %s", response.status_code, response.reason_phrase)
    else:
        # The details of a malformed request are in the cause.
        causes = [str(exc)]
        cause = exc.__cause__
        while cause is not None:
            causes.append(str(cause))
            cause = cause.__cause__
        logger.info("opening handshake failed: %s", escape_controls("; ".join(causes)))


def log_handler_exception(logger: LoggerLike, exc: Exception, *, closed: bool) -> None:
    """Log an exception that escaped the application's connection handler.

    :exc:`~wskit.exceptions.ConnectionClosed` out of a handler whose
    connection is closed only tells how the connection ended: INFO, without
    traceback. Anything else is a bug in the handler: ERROR, with traceback.

    Args:
        logger: The connection's logger.
        exc: The exception.
        closed: Whether the handler's connection is closed.
    """
    if closed and isinstance(exc, ConnectionClosed):
        logger.info("connection closed: %s", exc)
    else:
        logger.error("connection handler failed", exc_info=exc)


def describe_address(sockname: Any) -> str:
    """Describe a socket address for logs: ``host:port``, or a Unix path."""
    if isinstance(sockname, tuple):
        host, port = sockname[:2]
        return f"{host}:{port}"
    return str(sockname)


class BroadcastFrame:
    """One message for many connections, encoded once where possible.

    Frames from a server aren't masked, so server connections that encode the
    message alike share its bytes: those that send it uncompressed (without
    extensions, or with ``compress=False``), and those that compress it from
    a fresh state with the same settings (permessage-deflate without context
    takeover). Connections that compress with context takeover, and client
    connections, which mask, each encode their own.

    Args:
        message: :class:`str` for text, bytes-like for binary.
        text: Overrides the message type, as in ``send()``.
        compress: As in ``send()``: :obj:`False` sends the message uncompressed.

    Raises:
        TypeError: The message is of an unsupported type.
    """

    def __init__(
        self, message: Data | BytesLike, text: bool | None = None, compress: bool | None = None
    ) -> None:
        is_text, data = encode(message, text)
        self.frame = Frame(TEXT if is_text else BINARY, data)
        self.compress = compress
        # Encoded bytes, by what they depend on besides the message (_sharing_key).
        self.shared: dict[Hashable, list[bytes]] = {}

    def data_for(self, protocol: WebSocketProtocol) -> list[bytes]:
        """Return the bytes to write to one connection, which must be open."""
        key = self._sharing_key(protocol)
        data = None if key is None else self.shared.get(key)
        if data is None:
            protocol.send_frame(self.frame, self.compress)
            data = protocol.data_to_send()
            if key is not None:
                self.shared[key] = data
        elif protocol.debug:
            protocol.logger.debug("> %s", self.frame)
        return data

    def _sharing_key(self, protocol: WebSocketProtocol) -> Hashable | None:
        if protocol.side is not SERVER:
            return None
        extensions = protocol.extensions
        if self.compress is False and all(extension.compresses for extension in extensions):
            return ()  # plain: as without extensions
        if not extensions:
            return ()
        (first, *others) = extensions
        if others or not isinstance(first, PerMessageDeflate):
            return None
        return first.message_key()

    def deliver(
        self,
        connections: Iterable[Connection],
        write: Callable[[Connection], object],
        *,
        raise_exceptions: bool,
        fast: Callable[[Iterator[Connection], bytes], Connection | None] | None = None,
    ) -> None:
        """Call ``write`` for each connection; it raises to skip one.

        Skipped connections are logged as warnings on their logger, or, with
        ``raise_exceptions``, gathered in an :exc:`ExceptionGroup` raised
        once every other connection has its message.

        ``fast``, once a connection has encoded the message plain in one
        chunk, takes the connections that follow from the iterator and
        writes that chunk to those it can, without a call per connection;
        it returns the first it can't, which goes to ``write``, or
        :obj:`None` at the end.
        """
        skipped: list[Exception] = []
        shared = self.shared
        iterator = iter(connections)
        connection = next(iterator, None)
        while connection is not None:
            try:
                write(connection)
            except Exception as exc:
                if raise_exceptions:
                    exc.add_note(f"skipped broadcast to {connection!r}")
                    skipped.append(exc)
                else:
                    connection.logger.warning("skipped broadcast: %s", exc)
            plain = shared.get(())
            if fast is not None and plain is not None and len(plain) == 1:
                connection = fast(iterator, plain[0])
            else:
                connection = next(iterator, None)
        if skipped:
            raise ExceptionGroup("skipped broadcast", skipped)


async def call_hook(
    connection: Any, protocol: ServerProtocol, hook: Callable[..., Any], *args: Any
) -> Response | None:
    """Call ``process_request`` or ``process_response``, a function or a coroutine function.

    A hook that raises gets the client a 500 (see :func:`hook_failed`).
    """
    try:
        response = hook(connection, *args)
        if inspect.isawaitable(response):
            response = await response
    except Exception as exc:
        response = hook_failed(protocol, exc)
    return cast(Response | None, response)


async def handshake_response(
    connection: Any,
    process_request: Callable[..., Any] | None,
    process_response: Callable[..., Any] | None,
    server_header: str | None,
    *,
    serving: Callable[[], bool],
) -> None:
    """Answer the handshake request of an asyncio or trio server connection.

    Runs the hooks, builds the response (see :func:`answer`), records it in
    ``connection.response`` and has the core send it. The I/O layer then
    resumes reading and writes what the core has to send. ``serving`` tells
    whether the server still accepts connections, once ``process_request``
    returned: it may have closed meanwhile.

    Raises:
        InvalidHandshake: No valid request arrived: the client sent a
            malformed one, or left before sending one.
    """
    protocol: ServerProtocol = connection.protocol
    request: Request | None = connection.request
    if request is None:
        raise protocol.handshake_exc or InvalidHandshake("no handshake request")
    # Without a hook, no coroutine to make and run.
    if process_request is not None:
        response = await call_hook(connection, protocol, process_request, request)
    else:
        response = None
    response = answer(protocol, request, response, serving=serving(), server_header=server_header)
    if process_response is not None:
        hooked = await call_hook(connection, protocol, process_response, request, response)
        response = hooked or response
    connection.response = response
    protocol.send_response(response)


class _Authenticating(Protocol):
    username: str

    def respond(self, status: StatusLike, text: str) -> Response: ...


def async_basic_auth(
    realm: str,
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None,
    check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None,
) -> Callable[[Any, Request], Awaitable[Response | None]]:
    """Return the ``process_request`` of ``basic_auth()`` for the asyncio and trio servers.

    See :func:`wskit.asyncio.server.basic_auth` for the arguments.

    Raises:
        ValueError: Neither or both of ``credentials`` and
            ``check_credentials`` were given.
        TypeError: ``credentials`` is invalid.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    check = cast(
        "Callable[[str, str], Awaitable[bool] | bool]",
        credentials_checker(credentials) if credentials is not None else check_credentials,
    )

    async def process_request(connection: _Authenticating, request: Request) -> Response | None:
        credentials = read_credentials(request.headers)
        if isinstance(credentials, str):
            return unauthorized(connection.respond, credentials, realm)
        username, password = credentials
        valid = check(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return unauthorized(connection.respond, "Invalid credentials\n", realm)
        connection.username = username
        return None

    return process_request
