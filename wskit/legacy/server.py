"""websockets' legacy server API, over :mod:`wskit.asyncio.server`.

A legacy server, as tutorials for websockets 13 and earlier wrote it::

    import asyncio
    from wskit.legacy.server import serve

    async def echo(websocket, path):
        async for message in websocket:
            await websocket.send(message)

    start_server = serve(echo, "localhost", 8765)
    asyncio.get_event_loop().run_until_complete(start_server)
    asyncio.get_event_loop().run_forever()

:func:`serve` takes the legacy arguments (``create_protocol``,
``extra_headers``, ``process_request(path, request_headers)``...). Each
connection is a :class:`WebSocketServerProtocol`, a
:class:`wskit.asyncio.server.ServerConnection` that has the legacy
attributes and hooks, so subclasses may override :meth:`~WebSocketServerProtocol.process_request`
and :meth:`~WebSocketServerProtocol.select_subprotocol` as the legacy documentation showed. The
server is a :class:`WebSocketServer`, a
:class:`wskit.asyncio.server.Server` that also has ``websockets``.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import http
import inspect
import warnings
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeAlias, cast

from ..asyncio import server
from ..asyncio.legacy import current_style
from ..asyncio.server import Server, ServerConnection
from ..datastructures import Headers, HeadersLike
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..http11 import SERVER, Request, Response
from ..server import ServerProtocol
from ..shared.serving import DEFAULT_BACKLOG
from ..typing import LoggerLike, Origin, StatusLike, Subprotocol
from .exceptions import AbortHandshake
from .protocol import (
    WebSocketCommonProtocol,
    broadcast,
    check_loop,
    close_timeout_of,
    negotiated_extensions,
    pop_old_arguments,
)

__all__ = [
    "HTTPResponse",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "broadcast",
    "serve",
    "unix_serve",
]

Handler: TypeAlias = (
    "Callable[[WebSocketServerProtocol], Awaitable[Any]]"
    " | Callable[[WebSocketServerProtocol, str], Awaitable[Any]]"
)

HTTPResponse: TypeAlias = tuple[StatusLike, HeadersLike, bytes]
"""What ``process_request`` returns to answer with HTTP: ``(status, headers, body)``."""

HeadersLikeOrCallable: TypeAlias = "HeadersLike | Callable[[str, Headers], HeadersLike]"

LegacyProcessRequest: TypeAlias = Callable[
    [str, Headers], Awaitable[HTTPResponse | None] | HTTPResponse | None
]
LegacySelectSubprotocol: TypeAlias = Callable[
    [Sequence[Subprotocol], Sequence[Subprotocol]], Subprotocol | None
]


class WebSocketServerProtocol(WebSocketCommonProtocol, ServerConnection):
    """A connection accepted by a legacy server; the handler receives it.

    :func:`serve` creates it with ``create_protocol(ws_handler, ws_server,
    **options)``; subclass it and pass the subclass as ``create_protocol``
    to override :meth:`process_request` or :meth:`select_subprotocol`.

    Args:
        ws_handler: Connection handler, ``handler(websocket)`` or the
            deprecated ``handler(websocket, path)``.
        ws_server: The server.
        extra_headers: Headers added to the response of a successful
            handshake, or a function of the request's path and headers that
            returns them.
        process_request: What :meth:`process_request` calls, if given.
        select_subprotocol: What :meth:`select_subprotocol` calls, if given.
        others: As for :func:`serve`.
    """

    is_client = False
    side = "server"

    def __init__(
        self,
        ws_handler: Handler,
        ws_server: WebSocketServer,
        *,
        logger: LoggerLike | None = None,
        origins: Sequence[Origin | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        extra_headers: HeadersLikeOrCallable | None = None,
        server_header: str | None = SERVER,
        process_request: LegacyProcessRequest | None = None,
        select_subprotocol: LegacySelectSubprotocol | None = None,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = None,
        max_size: int | None = 2**20,
        max_queue: int | None = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        host: str | None = None,
        port: int | None = None,
        secure: bool | None = None,
        legacy_recv: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        timeout: float | None = None,
    ) -> None:
        close_timeout = close_timeout_of(close_timeout, timeout)
        check_loop(loop)
        if origins is not None and "" in origins:  # websockets 6.0 and earlier
            warnings.warn("use None instead of '' in origins", DeprecationWarning, stacklevel=2)
            origins = [None if origin == "" else origin for origin in origins]
        core = ServerProtocol(
            origins=origins,
            extensions=extensions,
            subprotocols=subprotocols,
            # The core binds it to itself; the legacy method is this connection's.
            select_subprotocol=lambda _, offered: self._pick_subprotocol(offered),
            max_size=max_size,
            logger=ws_server.logger if logger is None else logger,
        )
        super().__init__(
            core,
            ws_server,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self.ws_handler: Callable[[WebSocketServerProtocol], Awaitable[Any]] = current_style(
            ws_handler, stacklevel=3
        )
        self.ws_server = ws_server
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.extra_headers = extra_headers
        self.server_header = server_header
        self.open_timeout = open_timeout
        self.read_limit = read_limit
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol
        self._set_legacy_attributes(host, port, secure, legacy_recv)

    @property
    def origin(self) -> Origin | None:
        """The ``Origin`` header of the handshake request, once accepted."""
        return self.protocol.origin

    async def process_request(self, path: str, request_headers: Headers) -> HTTPResponse | None:
        """Look at the handshake request; return an HTTP response to send it instead.

        Override it in a subclass, or pass ``process_request`` to
        :func:`serve`: to answer a health check on some path, or to refuse
        a request with 401 or 403.

        Args:
            path: Path and query of the request.
            request_headers: Headers of the request.

        Returns:
            ``(status, headers, body)`` to answer with it, or :obj:`None` to
            go on with the WebSocket handshake.
        """
        if self._process_request is None:
            return None
        response = self._process_request(path, request_headers)
        if inspect.isawaitable(response):
            return await response
        # websockets 7.0 took plain functions.
        warnings.warn("declare process_request as a coroutine", DeprecationWarning, stacklevel=2)
        return response

    def select_subprotocol(
        self,
        client_subprotocols: Sequence[Subprotocol],
        server_subprotocols: Sequence[Subprotocol],
    ) -> Subprotocol | None:
        """Pick a subprotocol that the client and the server both support.

        The legacy rule: the lowest sum of the positions in both lists wins;
        with none in common, the connection goes on without a subprotocol.
        A tie goes to the client's preference (the legacy server left it to
        the order of a set, which changes from one run to the next).
        Override it, or pass ``select_subprotocol`` to :func:`serve`.
        """
        if self._select_subprotocol is not None:
            return self._select_subprotocol(client_subprotocols, server_subprotocols)
        common = [name for name in client_subprotocols if name in server_subprotocols]
        if not common:
            return None
        # min() keeps the first of equal keys: the client's order breaks ties.
        return min(
            common,
            key=lambda name: client_subprotocols.index(name) + server_subprotocols.index(name),
        )

    def _pick_subprotocol(self, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        """The core's ``select_subprotocol``: the legacy method, when both sides have some."""
        if not offered or not self.available_subprotocols:
            return None
        return self.select_subprotocol(offered, self.available_subprotocols)

    async def _answer_request(self, request: Request) -> Response | None:
        """Run the legacy :meth:`process_request`; turn its tuple into a response."""
        answer: Any
        try:
            answer = self.process_request(request.path, request.headers)
            if inspect.isawaitable(answer):
                answer = await answer
            else:
                warnings.warn(
                    "declare process_request as a coroutine", DeprecationWarning, stacklevel=1
                )
        except AbortHandshake as exc:
            answer = (exc.status, exc.headers, exc.body)
        if answer is None:
            return None
        status, headers, body = cast(HTTPResponse, answer)
        status = http.HTTPStatus(status)
        response_headers = Headers(headers)
        response_headers.setdefault("Date", email.utils.formatdate(usegmt=True))
        response_headers.setdefault("Content-Length", str(len(body)))
        response_headers.setdefault("Content-Type", "text/plain")
        response_headers.setdefault("Connection", "close")
        return Response(status.value, status.phrase, response_headers, body)

    def _add_extra_headers(self, request: Request, response: Response) -> None:
        """Add ``extra_headers`` to the response of a successful handshake."""
        extra_headers = self.extra_headers
        if extra_headers is None or response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS:
            return
        if callable(extra_headers):
            extra_headers = extra_headers(request.path, request.headers)
        extra = Headers(extra_headers)
        # As in the legacy server, these may replace the defaults.
        for name in ("Date", "Server"):
            if name in extra and name in response.headers:
                del response.headers[name]
        response.headers.update(extra)


async def _process_request(connection: ServerConnection, request: Request) -> Response | None:
    return await cast(WebSocketServerProtocol, connection)._answer_request(request)


def _process_response(connection: ServerConnection, request: Request, response: Response) -> None:
    cast(WebSocketServerProtocol, connection)._add_extra_headers(request, response)


async def _run_handler(connection: ServerConnection) -> None:
    legacy = cast(WebSocketServerProtocol, connection)
    await legacy.ws_handler(legacy)


class WebSocketServer(Server):
    """A legacy WebSocket server, as awaiting :func:`serve` returns it.

    A :class:`wskit.asyncio.server.Server`: ``close()``, ``wait_closed()``,
    ``sockets``, ``serve_forever()``... whose handshake hooks and handler
    are those of each :class:`WebSocketServerProtocol`.

    Args:
        logger: Logger; ``logging.getLogger("wskit.server")`` by default.
        open_timeout: Seconds for the opening handshake.
        server_header: Value of the ``Server`` header; :obj:`None` omits it.
    """

    def __init__(
        self,
        logger: LoggerLike | None = None,
        *,
        open_timeout: float | None = 10,
        server_header: str | None = SERVER,
    ) -> None:
        super().__init__(
            _run_handler,
            process_request=_process_request,
            process_response=_process_response,
            server_header=server_header,
            open_timeout=open_timeout,
            logger=logger,
        )

    @property
    def websockets(self) -> set[WebSocketServerProtocol]:
        """The connections whose handler hasn't returned yet, handshake included."""
        return cast(set[WebSocketServerProtocol], set(self.handlers))


class Serve(server.serve):
    """Create a legacy WebSocket server listening on ``host`` and ``port``.

    Await it to get the :class:`WebSocketServer`, also with
    ``loop.run_until_complete()``; or use it as an asynchronous context
    manager, which closes the server on exit. It may be created outside the
    event loop: nothing happens until it is awaited.

    Args:
        ws_handler: Connection handler: a coroutine function that takes the
            :class:`WebSocketServerProtocol`, and the request's path too
            (deprecated).
        host: Network interfaces to listen on.
        port: TCP port to listen on.
        create_protocol: :class:`WebSocketServerProtocol` or a subclass, or a
            function that takes the same arguments and returns one.
        extra_headers: Headers added to successful handshake responses, or a
            function of the request's path and headers that returns them.
        process_request: ``process_request(path, request_headers)``, a
            coroutine function (plain functions are deprecated) that returns
            ``(status, headers, body)`` to answer with HTTP, or :obj:`None`.
        select_subprotocol: ``select_subprotocol(client_subprotocols,
            server_subprotocols)`` returns the subprotocol to use.
        max_queue: Frames buffered before reading pauses.
        read_limit: Accepted and ignored: reads are bounded by ``max_size``.
        others: As for :func:`wskit.asyncio.server.serve`. Other keyword
            arguments go to :meth:`~asyncio.loop.create_server`.
    """

    def __init__(
        self,
        ws_handler: Handler,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        create_protocol: Callable[..., WebSocketServerProtocol] | None = None,
        logger: LoggerLike | None = None,
        compression: str | None = "deflate",
        origins: Sequence[Origin | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        extra_headers: HeadersLikeOrCallable | None = None,
        server_header: str | None = SERVER,
        process_request: LegacyProcessRequest | None = None,
        select_subprotocol: LegacySelectSubprotocol | None = None,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = None,
        max_size: int | None = 2**20,
        max_queue: int | None = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        **kwargs: Any,
    ) -> None:
        self.create_protocol, close_timeout, legacy_recv = pop_old_arguments(
            kwargs, create_protocol, WebSocketServerProtocol, close_timeout
        )
        extensions = negotiated_extensions(
            compression, extensions, subprotocols, enable_server_permessage_deflate
        )
        # Warn once here rather than once per connection.
        self.ws_handler = current_style(ws_handler, stacklevel=3)
        self.host = host  # type: ignore[assignment]  # create_server() takes several too
        self.port = port
        self.logger = logger
        self.open_timeout = open_timeout
        self.server_header = server_header
        self.protocol_options: dict[str, Any] = {
            "host": host,
            "port": port,
            "secure": kwargs.get("ssl") is not None,
            "open_timeout": open_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_size": max_size,
            "max_queue": max_queue,
            "read_limit": read_limit,
            "write_limit": write_limit,
            "legacy_recv": legacy_recv,
            "origins": origins,
            "extensions": extensions,
            "subprotocols": subprotocols,
            "extra_headers": extra_headers,
            "server_header": server_header,
            "process_request": process_request,
            "select_subprotocol": select_subprotocol,
            "logger": logger,
        }
        self.create_server_kwargs = kwargs
        # Not server.serve.__init__(): a legacy server makes its connections
        # with create_protocol; it shares how the server is awaited and closed.
        self.server: WebSocketServer | None = None

    @property
    def ws_server(self) -> WebSocketServer | None:
        """The server, once awaited."""
        return self.server

    async def _create(self) -> WebSocketServer:
        ws_server = WebSocketServer(
            self.logger, open_timeout=self.open_timeout, server_header=self.server_header
        )
        factory = functools.partial(
            self.create_protocol, self.ws_handler, ws_server, **self.protocol_options
        )
        loop = asyncio.get_running_loop()
        kwargs = dict(self.create_server_kwargs)
        kwargs.setdefault("backlog", DEFAULT_BACKLOG)
        if kwargs.pop("unix", False):
            listener = await loop.create_unix_server(factory, kwargs.pop("path", None), **kwargs)
        else:
            listener = await loop.create_server(factory, self.host, self.port, **kwargs)
        ws_server.wrap(listener)
        self.server = ws_server
        return ws_server

    def __await__(self) -> Generator[Any, None, WebSocketServer]:
        return self._create().__await__()

    async def __aenter__(self) -> WebSocketServer:
        return await self


serve = Serve


def unix_serve(ws_handler: Handler, path: str | None = None, **kwargs: Any) -> Serve:
    """Create a legacy WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`serve`, except ``host`` and ``port``.
    """
    return serve(ws_handler, path=path, unix=True, **kwargs)
