"""WebSocket servers on trio.

A server in a few lines::

    import trio
    from wskit.trio.server import serve

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve, echo, 8765)
            ...  # the server runs until server.aclose() or cancellation

    trio.run(main)

:func:`serve` runs until the server is closed, so it is started in a nursery
with :meth:`trio.Nursery.start`, which returns the :class:`Server` once it
listens. Each connection runs in a nursery of its own, inside the server's.
"""

from __future__ import annotations

import functools
import logging
import re
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import TypeAlias, cast

import trio

from ..exceptions import ConcurrencyError, InvalidHandshake
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..headers import validate_subprotocols
from ..http11 import SERVER, Request, Response
from ..protocol import CLOSED, OPEN, Event
from ..server import ServerProtocol
from ..shared.serving import (
    BroadcastFrame,
    Responding,
    async_basic_auth,
    describe_address,
    handshake_response,
    log_handler_exception,
    log_refusal,
)
from ..stats import ServerStats
from ..typing import BytesLike, Data, LoggerLike, Origin, Subprotocol
from .connection import Connection

__all__ = ["Server", "ServerConnection", "basic_auth", "broadcast", "serve"]

ProcessRequest: TypeAlias = (
    "Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]"
)
ProcessResponse: TypeAlias = (
    "Callable[[ServerConnection, Request, Response], Awaitable[Response | None] | Response | None]"
)
SelectSubprotocol: TypeAlias = (
    "Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None]"
)


class ServerConnection(Responding, Connection):
    """A WebSocket connection accepted by a :class:`Server`.

    The handler receives it: it has :meth:`~.Connection.recv`,
    :meth:`~.Connection.send` and the rest of
    :class:`~wskit.trio.connection.Connection`. Arguments are those of
    :func:`serve` that shape one connection.

    Attributes:
        username: Set by :func:`basic_auth` to the authenticated user.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        stream: trio.abc.Stream,
        protocol: ServerProtocol,
        server: Server,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        self.protocol: ServerProtocol
        super().__init__(
            nursery,
            stream,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self.server = server
        self.username: str

    async def handshake(
        self,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = SERVER,
    ) -> None:
        """Read the opening handshake request and answer it.

        Raises:
            InvalidHandshake: The handshake failed or was refused; a response
                was sent when the client was still there to read it.
        """
        await self.handshake_done.wait()
        await handshake_response(
            self,
            process_request,
            process_response,
            server_header,
            serving=self.server.is_serving,
        )
        # Reading stopped when the request arrived (see process_event).
        self.holding_request = False
        self._resume_reading()
        # Frames that came with the request were parsed just now: deliver
        # them at once, not when the next bytes arrive.
        self._handle_received()
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def process_event(self, event: Event) -> None:
        """Record the handshake request, then handle frames as usual."""
        if isinstance(event, Request):
            self.request = event
            # Until the response is sent, the core keeps what follows the
            # request unparsed: stop reading, or a client could make it keep
            # anything it sends while process_request() runs.
            self.holding_request = True
        super().process_event(event)


class Server(trio.abc.AsyncResource):
    """A WebSocket server, as :func:`serve` hands it to :meth:`trio.Nursery.start`.

    Args:
        listeners: The trio listeners that accept connections.
        handler: Called with each new stream; it runs the connection.
        logger: Logger; ``logging.getLogger("wskit.server")`` by default.
    """

    def __init__(
        self,
        listeners: list[trio.SocketListener],
        handler: Callable[[trio.abc.Stream], Awaitable[None]],
        logger: LoggerLike | None = None,
    ) -> None:
        self.listeners = listeners
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("wskit.server")
        self.logger = logger
        self.all_connections: set[ServerConnection] = set()
        # Connections in the opening handshake, with the scope that bounds
        # it: aclose() cancels those awaiting their request, and notes them.
        self.opening: dict[ServerConnection, trio.CancelScope] = {}
        self.dropped: set[ServerConnection] = set()
        self.stats = ServerStats()
        """Connections opened and closed, handshakes refused."""
        self.closing = False
        self.handlers_done = trio.Event()
        self.listen_scope = trio.CancelScope()
        self.handler_nursery: trio.Nursery | None = None

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections: the handshake is done and they aren't closed."""
        return {connection for connection in self.all_connections if connection.state is OPEN}

    def handshake_started(self, connection: ServerConnection, scope: trio.CancelScope) -> None:
        """Track a connection in the opening handshake, bounded by ``scope``."""
        self.opening[connection] = scope
        if self.closing:  # aclose() ran meanwhile: it didn't see this connection
            self._drop_if_awaiting_request(connection, scope)

    def _drop_if_awaiting_request(
        self, connection: ServerConnection, scope: trio.CancelScope
    ) -> None:
        # Without a byte of its request, a connection would wait for it until
        # the open timeout, and aclose() for its task: there's nothing to
        # answer. With part of a request, it gets its 503, as in websockets.
        if connection.protocol.awaiting_request:
            self.dropped.add(connection)
            scope.cancel()

    def is_serving(self) -> bool:
        """Whether the server accepts new connections: :meth:`aclose` wasn't called."""
        return not self.closing

    async def serve_forever(
        self, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Accept connections until :meth:`aclose` is called.

        Cancelled, it aborts every connection, as cancelling a nursery does.
        """
        try:
            # Handlers run in a nursery of their own, so that the listeners
            # close first and the handlers finish after.
            async with trio.open_nursery() as self.handler_nursery:
                with self.listen_scope:
                    async with trio.open_nursery() as listen_nursery:
                        await listen_nursery.start(
                            functools.partial(
                                trio.serve_listeners,
                                self.handler,
                                self.listeners,
                                handler_nursery=self.handler_nursery,
                            )
                        )
                        for listener in self.listeners:
                            address = listener.socket.getsockname()
                            self.logger.info("server listening on %s", describe_address(address))
                        task_status.started(self)
        finally:
            self.handlers_done.set()

    async def aclose(
        self,
        close_connections: bool = True,
        code: CloseCode | int = CloseCode.GOING_AWAY,
        reason: str = "",
    ) -> None:
        """Stop listening and, by default, close every connection; wait for the handlers.

        Connections in the opening handshake get a 503, except those that
        haven't sent a byte of their request: they're dropped. Idempotent.

        Args:
            close_connections: Close open connections with ``code`` and
                ``reason``; otherwise let their handlers finish on their own.
            code: Close code for the open connections.
            reason: Close reason for the open connections.
        """
        if not self.closing:
            self.logger.info("server closing")
            self.closing = True
            self.listen_scope.cancel()
            for connection, scope in self.opening.items():
                self._drop_if_awaiting_request(connection, scope)
            if close_connections and self.handler_nursery is not None:
                for connection in self.connections:
                    self.handler_nursery.start_soon(connection.aclose, code, reason)
        await self.handlers_done.wait()
        self.logger.info("server closed")

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def serve(
    handler: Callable[[ServerConnection], Awaitable[None]],
    port: int | None = None,
    *,
    host: str | bytes | None = None,
    backlog: int | None = None,
    listeners: list[trio.SocketListener] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    origins: Sequence[Origin | re.Pattern[str] | None] | None = None,
    extensions: Sequence[ServerExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    select_subprotocol: SelectSubprotocol | None = None,
    compression: str | None = "deflate",
    process_request: ProcessRequest | None = None,
    process_response: ProcessResponse | None = None,
    server_header: str | None = SERVER,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | tuple[int | None, int | None] | None = 2**20,
    max_queue: int | tuple[int | None, int | None] | None = 16,
    write_limit: int | tuple[int, int | None] = 2**15,
    logger: LoggerLike | None = None,
    create_connection: type[ServerConnection] | None = None,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a WebSocket server on ``port`` until it is closed.

    Start it with :meth:`trio.Nursery.start`, which returns the
    :class:`Server` once it listens; close it with :meth:`Server.aclose`
    (``async with server:`` does), or cancel the nursery::

        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve, handler, 8765)
            async with server:
                await stop.wait()

    ``handler`` runs once per connection, with the :class:`ServerConnection`;
    the connection is closed when it returns (with 1011 if it raised).

    Args:
        handler: Coroutine function that manages a connection.
        port: TCP port to listen on, as for :func:`trio.open_tcp_listeners`.
        host: Network interface to listen on; all of them by default.
        backlog: Listen backlog.
        listeners: Listeners to serve instead of ``port``, ``host`` and
            ``backlog``.
        ssl: An :class:`~ssl.SSLContext` to serve over TLS; the TLS
            handshake counts in ``open_timeout``.
        origins: Acceptable ``Origin`` values, against Cross-Site WebSocket
            Hijacking: strings, compiled regular expressions, :obj:`None` for
            requests without the header. :obj:`None` accepts anything.
        extensions: Supported extensions, in order of preference.
        subprotocols: Supported subprotocols, in order of preference.
        select_subprotocol: Picks a subprotocol among the client's; called
            with the connection and their list.
        compression: ``"deflate"`` enables permessage-deflate (memory-frugal
            settings); :obj:`None` disables it.
        process_request: Called with the connection and the request before
            the handshake, sync or async. Return a :class:`~wskit.http11.Response`
            to answer with it instead of opening a WebSocket, or :obj:`None`
            to go on.
        process_response: Called with the connection, request and response
            before it is sent; may return another response.
        server_header: Value of the ``Server`` header; :obj:`None` omits it.
        open_timeout: Seconds for the TLS and opening handshakes; :obj:`None`
            waits forever.
        ping_interval: Seconds between keepalive pings; :obj:`None` disables them.
        ping_timeout: Seconds to wait for a keepalive pong; :obj:`None` waits forever.
        close_timeout: Seconds to wait for the closing handshake; :obj:`None`
            waits forever.
        max_size: Largest incoming message in bytes, :obj:`None` for no limit,
            or a ``(max_message_size, max_fragment_size)`` tuple.
        max_queue: Frames buffered before reading pauses, or ``(high, low)``.
        write_limit: Bytes buffered before ``send()`` waits, or ``(high, low)``.
        logger: Logger; ``logging.getLogger("wskit.server")`` by default.
        create_connection: A :class:`ServerConnection` subclass to use.
        task_status: Given by :meth:`trio.Nursery.start`.

    Raises:
        ValueError: Contradictory arguments: ``port`` with ``listeners``...
    """
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    if compression == "deflate":
        extensions = enable_server_permessage_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    connection_class = ServerConnection if create_connection is None else create_connection
    if listeners is None:
        if port is None:
            raise ValueError("port is required when listeners is not provided")
        listeners = await trio.open_tcp_listeners(port, host=host, backlog=backlog)
    else:
        for name, value in (("port", port), ("host", host), ("backlog", backlog)):
            if value is not None:
                raise ValueError(f"{name} is incompatible with listeners")
    if logger is None:
        logger = logging.getLogger("wskit.server")

    async def open_connection(stream: trio.abc.Stream, nursery: trio.Nursery) -> ServerConnection:
        if ssl is not None:
            # Here rather than in a TLS listener: the TLS handshake then
            # counts in open_timeout.
            stream = trio.SSLStream(stream, ssl, server_side=True, https_compatible=True)
            await stream.do_handshake()
        connection: ServerConnection
        protocol = ServerProtocol(
            origins=origins,
            extensions=extensions,
            subprotocols=subprotocols,
            select_subprotocol=(
                None
                if select_subprotocol is None
                # The core passes itself; the application expects the connection.
                else lambda _, offered: select_subprotocol(connection, offered)
            ),
            max_size=max_size,
            logger=logger,
        )
        connection = connection_class(
            nursery,
            stream,
            protocol,
            server,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        return connection

    async def handle_stream(stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            try:
                connection = await _open(stream, nursery, open_connection, open_timeout, server)
            except Exception:
                # The TLS handshake failed, or the client left during it.
                await trio.aclose_forcefully(stream)
                return
            if connection is not None:
                try:
                    await _run(connection, handler, server)
                finally:
                    with trio.CancelScope(shield=True):
                        await connection.wait_closed()

    async def _open(
        stream: trio.abc.Stream,
        nursery: trio.Nursery,
        opener: Callable[[trio.abc.Stream, trio.Nursery], Awaitable[ServerConnection]],
        timeout: float | None,
        server: Server,
    ) -> ServerConnection | None:
        connection = None
        with trio.move_on_after(float("inf") if timeout is None else timeout) as scope:
            connection = await opener(stream, nursery)
            server.handshake_started(connection, scope)
            try:
                await connection.handshake(process_request, process_response, server_header)
            except InvalidHandshake as exc:
                log_refusal(connection.logger, exc, connection.response)
                status = connection.protocol.status
                if status is not None:
                    server.stats.handshake_refused(status)
                await connection.wait_closed()
                return None
            except Exception:
                connection.logger.error("opening handshake failed", exc_info=True)
                connection.abort()
                return None
            finally:
                del server.opening[connection]
            return connection
        if connection in server.dropped:
            server.dropped.discard(connection)
            # Nothing to answer: not a failure of the client.
            logger.debug("no request before the server closed")
        elif scope.cancelled_caught:
            logger.info("opening handshake timed out")
        # The connection, if it was created, ends with the nursery's tasks.
        nursery.cancel_scope.cancel()
        return None

    server = Server(listeners, handle_stream, logger)
    await server.serve_forever(task_status=task_status)


async def _run(
    connection: ServerConnection,
    handler: Callable[[ServerConnection], Awaitable[None]],
    server: Server,
) -> None:
    """Run the handler of an open connection, then close the connection."""
    server.all_connections.add(connection)
    server.stats.connection_opened(connection)
    connection.start_keepalive()
    try:
        try:
            await handler(connection)
        except Exception as exc:
            log_handler_exception(connection.logger, exc, closed=connection.state is CLOSED)
            await connection.aclose(CloseCode.INTERNAL_ERROR)
        else:
            await connection.aclose()
    finally:
        server.all_connections.discard(connection)
        server.stats.connection_closed(connection)


async def broadcast(
    connections: Iterable[Connection],
    message: Data | BytesLike,
    *,
    raise_exceptions: bool = False,
    text: bool | None = None,
    compress: bool | None = None,
) -> None:
    """Send a message to many connections at once.

    The frame is encoded once and the same bytes are queued on every
    connection that encodes it alike (see
    :class:`~wskit.shared.serving.BroadcastFrame`). It returns once the
    message is queued everywhere, without waiting for slow peers: connections
    that aren't open are ignored, and connections that can't take the message
    are skipped, those sending a fragmented message and those whose
    ``write_limit`` is already exceeded (a slow client must not grow the
    server's memory).

    Args:
        connections: The connections to send to.
        message: :class:`str` for text, bytes-like for binary.
        raise_exceptions: Raise an :exc:`ExceptionGroup` of why connections
            were skipped, rather than logging a warning for each.
        text: Overrides the message type, as in ``send()``.
        compress: :obj:`False` sends the message uncompressed, as in ``send()``.

    Raises:
        TypeError: The message is of an unsupported type.
    """
    frame = BroadcastFrame(message, text, compress)

    def write(connection: Connection) -> None:
        protocol = connection.protocol
        if protocol.state is not OPEN:
            return
        if connection.fragmented_send is not None:
            raise ConcurrencyError("sending a fragmented message")
        if connection.outgoing_size > connection.write_limit[0]:
            raise ConcurrencyError("write buffer is full: the client reads too slowly")
        connection._write(frame.data_for(protocol))

    frame.deliver(connections, write, raise_exceptions=raise_exceptions)
    await trio.lowlevel.checkpoint()


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Protect a server with HTTP Basic Authentication; pass the result as ``process_request``.

    As :func:`wskit.asyncio.server.basic_auth`: passwords are compared in
    constant time; on success the username is in ``connection.username``;
    otherwise the client gets a 401.

    Args:
        realm: Scope of protection, shown by browsers.
        credentials: One ``(username, password)`` pair or several.
        check_credentials: Function or coroutine function that checks a
            username and password, instead of ``credentials``.

    Raises:
        ValueError: Neither or both of ``credentials`` and
            ``check_credentials`` were given.
        TypeError: ``credentials`` is invalid.
    """
    return cast(
        "Callable[[ServerConnection, Request], Awaitable[Response | None]]",
        async_basic_auth(realm, credentials, check_credentials),
    )
