"""WebSocket servers on asyncio.

A server in a few lines::

    import asyncio
    from wskit.asyncio.server import serve

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async def main():
        async with serve(echo, "localhost", 8765) as server:
            await server.serve_forever()

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeAlias, cast

from ..exceptions import ConcurrencyError, InvalidHandshake
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..http11 import SERVER, Request, Response
from ..protocol import CLOSED, CONNECTING, OPEN
from ..protocol import SERVER as SERVER_SIDE
from ..server import ServerProtocol
from ..shared.options import checked_extensions
from ..shared.serving import (
    DEFAULT_BACKLOG,
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
from .accept import accept_directly
from .connection import Connection
from .timers import Deadline, shared_starter

__all__ = ["Server", "ServerConnection", "basic_auth", "broadcast", "serve", "unix_serve"]

ProcessRequest: TypeAlias = (
    "Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]"
)
ProcessResponse: TypeAlias = (
    "Callable[[ServerConnection, Request, Response], Awaitable[Response | None] | Response | None]"
)
SelectSubprotocol: TypeAlias = (
    "Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None]"
)


MAX_SHARED_DELAYS = 8
"""How many delays a server's timers share loop timers for (see Server._start_timer)."""


class ServerConnection(Responding, Connection):
    """A WebSocket connection accepted by a :class:`Server`.

    The handler receives it: it has :meth:`~.Connection.recv`,
    :meth:`~.Connection.send` and the rest of
    :class:`~wskit.asyncio.connection.Connection`. Arguments are those of
    :func:`serve` that shape one connection.

    Attributes:
        username: Set by :func:`basic_auth` to the authenticated user.
    """

    def __init__(
        self,
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
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self.server = server
        self.username: str

    # Set when bytes came after the handshake request: reading then waits for
    # the response (see _handle_received). A class default, not an attribute
    # set in __init__: most connections never set it.
    held_input = False

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
        await cast("asyncio.Future[None]", self.handshake_waiter)
        self.handshake_waiter = None  # see Connection.__init__
        await handshake_response(
            self,
            process_request,
            process_response,
            server_header,
            serving=self.server.is_serving,
        )
        if self.held_input or self.writing_paused:
            # Reading stopped when bytes came after the request (see
            # _handle_received). They were parsed just now: deliver them at
            # once, not when the next bytes arrive.
            self._resume_reading()
            self._handle_received()
        else:
            # Most handshakes: the response is all there is to handle. Alone,
            # its write skips handling events there are none of (~100 bytecodes).
            self._send_data()
        # Don't test for OPEN: a close frame may have come with the request.
        # The handler then runs and learns how the connection ended.
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc
        self.start_keepalive()

    def process_event(self, event: Any) -> None:
        """Record the handshake request, then handle frames as usual."""
        if isinstance(event, Request):
            self.request = event
        super().process_event(event)

    def _handle_received(self) -> None:
        # Until the response is sent, the core holds what follows the request
        # unparsed: stop reading once it holds anything, or a client could
        # make it keep whatever it sends while process_request() runs. Not
        # when the request arrives: most clients send nothing more before the
        # response, and pausing and resuming cost ~45K instructions per
        # connection on asyncio's loop.
        protocol = self.protocol
        if protocol.state is CONNECTING and not protocol.eof_sent:
            if protocol.held:
                self._pause_reading()
                self.held_input = True
            # Before the response, the core writes nothing unless it refused
            # the request (EOF then), and nothing reaches the reader.
            self._process_events()
            return
        super()._handle_received()

    def _call_later(
        self, delay: float, callback: Callable[[], object]
    ) -> asyncio.TimerHandle | Deadline:
        return self.server._start_timer(delay, callback)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake and the handler for this new connection."""
        super().connection_made(transport)
        self.server.start_connection_handler(self)


class Server:
    """A WebSocket server, as returned by :func:`serve`.

    It wraps an :class:`asyncio.Server` and keeps track of connections, so
    that closing the server closes them properly.
    """

    def __init__(
        self,
        handler: Callable[[ServerConnection], Awaitable[None]],
        *,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = SERVER,
        open_timeout: float | None = 10,
        logger: LoggerLike | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.handler = handler
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        self.open_timeout = open_timeout
        # By delay: the open timeout, and the keepalive and close timers
        # of the connections (see call_later).
        self._timer_starters: dict[float, Callable[..., asyncio.TimerHandle | Deadline]] = {}
        self._start_open_timer = None if open_timeout is None else self._timer_starter(open_timeout)
        # The open timer's callback only cancels a task: it runs in this
        # context, not in a copy made for each connection (a Context object
        # more for the garbage collector to track until the handshake ends).
        self._open_timer_context = contextvars.copy_context()
        if logger is None:
            logger = logging.getLogger("wskit.server")
        self.logger = logger
        self.handlers: dict[ServerConnection, asyncio.Task[None]] = {}
        # Connections whose handshake the server cancelled (see _handle):
        # True when the open timeout expired, False when the server closed.
        self._cut_short: dict[ServerConnection, bool] = {}
        self.stats = ServerStats()
        """Connections opened and closed, handshakes refused."""
        self.close_task: asyncio.Task[None] | None = None
        self.closed_waiter: asyncio.Future[None] = self.loop.create_future()
        self.server: asyncio.Server

    def wrap(self, server: asyncio.Server) -> None:
        """Attach the listening :class:`asyncio.Server`."""
        self.server = server
        for sock in server.sockets:
            self.logger.info("server listening on %s", describe_address(sock.getsockname()))

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections: the handshake is done and they aren't closed."""
        return {connection for connection in self.handlers if connection.state is OPEN}

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return tuple(self.server.sockets)

    def start_connection_handler(self, connection: ServerConnection) -> None:
        """Run the handshake and the handler of a new connection in a task."""
        self.handlers[connection] = self.loop.create_task(self._handle(connection))

    async def _handle(self, connection: ServerConnection) -> None:
        opened = False
        try:
            # A timer that cancels this task, rather than asyncio.timeout():
            # the same cancellation without a context manager's objects and
            # calls on every connection (see timer_starter). Not wait_for(),
            # which runs the handshake in a task of its own on Python 3.11.
            timer = None
            if self._start_open_timer is not None:
                timer = self._start_open_timer(
                    self._open_timed_out, connection, context=self._open_timer_context
                )
            try:
                await connection.handshake(
                    self.process_request, self.process_response, self.server_header
                )
            except asyncio.CancelledError:
                timed_out = self._cut_short_by_server(connection)
                if timed_out is None:
                    raise
                if timed_out:
                    connection.logger.info("opening handshake timed out")
                else:  # nothing to answer: not a failure of the client
                    connection.logger.debug("no request before the server closed")
                connection.transport.close()
                return
            except InvalidHandshake as exc:
                log_refusal(connection.logger, exc, connection.response)
                status = connection.protocol.status
                if status is not None:
                    self.stats.handshake_refused(status)
                return
            except Exception:
                connection.logger.error("opening handshake failed", exc_info=True)
                connection.transport.abort()
                return
            finally:
                if timer is not None:
                    timer.cancel()
                if self._cut_short:  # also when a hook swallowed the cancellation
                    self._cut_short.pop(connection, None)

            self.stats.connection_opened(connection)
            opened = True
            try:
                await self.handler(connection)
            except Exception as exc:
                log_handler_exception(connection.logger, exc, closed=connection.state is CLOSED)
                await connection.close(CloseCode.INTERNAL_ERROR)
            else:
                await connection.close()
        finally:
            await connection.wait_closed()
            if opened:
                self.stats.connection_closed(connection)
            del self.handlers[connection]

    def _timer_starter(self, delay: float) -> Callable[..., asyncio.TimerHandle | Deadline]:
        return shared_starter(self.loop, self._timer_starters, MAX_SHARED_DELAYS, delay)

    def _start_timer(
        self, delay: float, callback: Callable[..., object], *args: Any
    ) -> asyncio.TimerHandle | Deadline:
        """Call ``callback(*args)`` after ``delay``, on the timers this server shares.

        For the timers of its connections, which all use the same few delays.
        """
        start = self._timer_starters.get(delay)  # nearly always there: no call
        if start is None:
            start = self._timer_starter(delay)
        return start(callback, *args)

    def _open_timed_out(self, connection: ServerConnection) -> None:
        self._cut_short_handshake(connection, timed_out=True)

    def _cut_short_handshake(self, connection: ServerConnection, *, timed_out: bool) -> None:
        self._cut_short[connection] = timed_out
        self.handlers[connection].cancel()

    def _cut_short_by_server(self, connection: ServerConnection) -> bool | None:
        """Whether the open timeout (True) or the closing server (False) cancelled
        the handshake, and nothing else did; :obj:`None` otherwise."""
        timed_out = self._cut_short.get(connection)
        # As asyncio.timeout(): a cancellation from elsewhere wins.
        if timed_out is None or self.handlers[connection].uncancel() != 0:
            return None
        return timed_out

    def close(
        self,
        close_connections: bool = True,
        code: CloseCode | int = CloseCode.GOING_AWAY,
        reason: str = "",
    ) -> None:
        """Stop listening and, by default, close every connection.

        Returns at once; :meth:`wait_closed` waits for the end. Connections
        in the opening handshake get a 503, except those that haven't sent a
        byte of their request: they're dropped.

        Args:
            close_connections: Close open connections with ``code`` and
                ``reason``; otherwise let their handlers finish on their own.
            code: Close code for the open connections.
            reason: Close reason for the open connections.
        """
        if self.close_task is None:
            self.close_task = self.loop.create_task(self._close(close_connections, code, reason))

    async def _close(self, close_connections: bool, code: CloseCode | int, reason: str) -> None:
        self.logger.info("server closing")
        self.server.close()
        # Let connections that are mid-handshake see that the server stopped.
        await asyncio.sleep(0)
        # Those still awaiting their request would wait for it until the
        # open timeout: there's nothing to answer, drop them now. Those
        # with part of a request get their 503, as in websockets.
        for connection in self.handlers:
            if connection.protocol.awaiting_request:
                self._cut_short_handshake(connection, timed_out=False)
        if close_connections:
            closing = [
                self.loop.create_task(connection.close(code, reason))
                for connection in self.handlers
                if connection.state is not CONNECTING
            ]
            if closing:
                await asyncio.wait(closing)
        await self.server.wait_closed()
        if self.handlers:
            await asyncio.wait(self.handlers.values())
        self.closed_waiter.set_result(None)
        self.logger.info("server closed")

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection handler returned."""
        await asyncio.shield(self.closed_waiter)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the server runs on."""
        return self.loop

    def is_serving(self) -> bool:
        """Whether the server accepts new connections."""
        return self.server.is_serving()

    async def start_serving(self) -> None:
        """Start accepting connections, when created with ``start_serving=False``."""
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Accept connections until the server is closed or the coroutine is cancelled.

        It returns once :meth:`close` has closed the server. Cancelling it
        closes the server as :meth:`close` does, open connections with 1001,
        waits for the end, then raises :exc:`asyncio.CancelledError`.
        """
        # Not asyncio.Server.serve_forever(): cancelled, it waits for the
        # connections to end without closing them, which can take forever.
        try:
            if not self.is_serving():
                await self.start_serving()
            await self.wait_closed()
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


class serve:
    """Create a WebSocket server listening on ``host`` and ``port``.

    Use it as an asynchronous context manager, which closes the server on
    exit, or await it to get the :class:`Server`::

        async with serve(handler, "localhost", 8765) as server:
            await server.serve_forever()

    ``handler`` runs once per connection, with the
    :class:`ServerConnection`; the connection is closed when it returns (with
    1011 if it raised).

    Args:
        handler: Coroutine function that manages a connection.
        host: Network interfaces to listen on, as for
            :meth:`~asyncio.loop.create_server`.
        port: TCP port to listen on.
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
            to answer with it instead of opening a WebSocket (health checks,
            authentication, serving a page) or :obj:`None` to go on.
        process_response: Called with the connection, request and response
            before it is sent; may return another response.
        server_header: Value of the ``Server`` header; :obj:`None` omits it.
        open_timeout: Seconds for the opening handshake; :obj:`None` waits forever.
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
        kwargs: Passed to :meth:`~asyncio.loop.create_server`: ``ssl``,
            ``sock``, ``reuse_port``, ``backlog`` (2048 unless given,
            where asyncio's is 100)...
    """

    def __init__(
        self,
        handler: Callable[[ServerConnection], Awaitable[None]],
        host: str | None = None,
        port: int | None = None,
        *,
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
        **kwargs: Any,
    ) -> None:
        extensions = checked_extensions(
            extensions, subprotocols, compression, enable_server_permessage_deflate
        )
        connection_class = ServerConnection if create_connection is None else create_connection
        self.handler = handler
        self.host = host
        self.port = port
        self.server_options: dict[str, Any] = {
            "process_request": process_request,
            "process_response": process_response,
            "server_header": server_header,
            "open_timeout": open_timeout,
            "logger": logger,
        }
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", open_timeout)
            kwargs.setdefault("ssl_shutdown_timeout", close_timeout)
        self.create_server_kwargs = kwargs
        self.connection_options: dict[str, Any] = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_queue": max_queue,
            "write_limit": write_limit,
        }
        self.protocol_options: dict[str, Any] = {
            "origins": origins,
            "extensions": extensions,
            "subprotocols": subprotocols,
            "max_size": max_size,
        }
        self.select_subprotocol = select_subprotocol
        self.connection_class = connection_class
        self.server: Server | None = None

    def _connection_factory(self, server: Server) -> Callable[[], ServerConnection]:
        """Return what asyncio calls to make a connection for each new socket."""
        select_subprotocol = self.select_subprotocol

        def factory() -> ServerConnection:
            connection: ServerConnection
            protocol = ServerProtocol(
                select_subprotocol=(
                    None
                    if select_subprotocol is None
                    # The core passes itself; the application expects the connection.
                    else lambda _, offered: select_subprotocol(connection, offered)
                ),
                logger=server.logger,
                **self.protocol_options,
            )
            connection = self.connection_class(protocol, server, **self.connection_options)
            return connection

        return factory

    async def _create(self) -> Server:
        server = Server(self.handler, **self.server_options)
        self.server = server
        loop = asyncio.get_running_loop()
        kwargs = dict(self.create_server_kwargs)
        kwargs.setdefault("backlog", DEFAULT_BACKLOG)
        factory = self._connection_factory(server)
        if kwargs.pop("unix", False):
            listener = await loop.create_unix_server(factory, **kwargs)
        else:
            listener = await loop.create_server(factory, self.host, self.port, **kwargs)
        if kwargs.get("ssl") is None:
            accept_directly(listener, factory, kwargs["backlog"])
        server.wrap(listener)
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        server = cast(Server, self.server)  # set by __aenter__
        server.close()
        await server.wait_closed()


def unix_serve(
    handler: Callable[[ServerConnection], Awaitable[None]],
    path: str | None = None,
    **kwargs: Any,
) -> serve:
    """Create a WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`serve`, except ``host`` and ``port``.
    """
    return serve(handler, unix=True, path=path, **kwargs)


def broadcast(
    connections: Iterable[Connection],
    message: Data | BytesLike,
    *,
    text: bool | None = None,
    raise_exceptions: bool = False,
    compress: bool | None = None,
) -> None:
    """Send a message to many connections at once, without waiting.

    The frame is encoded once and the same bytes are written to every
    connection that encodes it alike: those that don't compress it, and those
    that compress it without context takeover, per set of settings
    (connections with context takeover each compress their own). It is
    written on the event loop's next pass, with whatever else was sent or
    broadcast to the connection meanwhile, in one system call per connection.
    Connections that aren't open are ignored. Connections that can't take the message are
    skipped: those sending a fragmented message and those whose write buffer
    is already over ``write_limit`` (a slow client must not grow the server's
    memory).

    Args:
        connections: The connections to send to.
        message: :class:`str` for text, bytes-like for binary.
        text: Overrides the message type, as in ``send()``.
        raise_exceptions: Raise an :exc:`ExceptionGroup` of why connections
            were skipped, rather than logging a warning for each.
        compress: :obj:`False` sends the message uncompressed, as in ``send()``.

    Raises:
        TypeError: The message is of an unsupported type.
    """
    frame = BroadcastFrame(message, text, compress)
    # Connections whose burst this call started: written on the loop's next pass.
    started: list[Connection] = []

    def write(connection: Connection) -> None:
        protocol = connection.protocol
        if protocol.state is not OPEN:
            return
        if connection.fragmented_send_waiter is not None:
            raise ConcurrencyError("sending a fragmented message")
        buffered = connection.transport.get_write_buffer_size()
        if connection.burst is not None:
            buffered += connection.burst_size
        if buffered > connection.write_limit[0]:
            raise ConcurrencyError("write buffer is full: the client reads too slowly")
        for data in frame.data_for(protocol):
            _write_in_burst(connection, data, started)

    def fast(connections: Iterator[Connection], data: bytes) -> Connection | None:
        return _append_to_bursts(connections, data, started)

    try:
        frame.deliver(connections, write, raise_exceptions=raise_exceptions, fast=fast)
    finally:
        # Even when skipped connections raise: the others' bursts must go out.
        if started:
            started[0].loop.call_soon(_write_bursts, started)


def _write_in_burst(connection: Connection, data: bytes, started: list[Connection]) -> None:
    """Add a frame to the connection's burst, as send() does with back-to-back messages.

    Messages broadcast one after the other reach each connection in one
    system call, not one each: on a server with many connections, that call
    is most of what a broadcast costs.
    """
    if len(data) >= connection.burst_limit:
        connection._write(data)
        return
    burst = connection.burst
    if burst is None:
        connection.burst = [data]
        connection.burst_size = len(data)
        started.append(connection)
        return
    burst.append(data)
    connection.burst_size += len(data)
    if connection.burst_size >= connection.burst_limit:
        connection._write_burst()


class _UnbufferedBurst(list[bytes]):
    """A burst that _append_to_bursts() started on an empty write buffer.

    Nothing is written to the transport while a connection has a burst
    (whatever writes sends the burst first: the order of frames depends on
    it), and what it buffers only drains: so its buffer is still empty, and
    broadcasts that follow needn't ask the transport for its size.
    """

    __slots__ = ()


def _append_to_bursts(
    connections: Iterator[Connection], data: bytes, started: list[Connection]
) -> Connection | None:
    """Add a frame to the burst of each connection that takes it plain; see broadcast().

    What broadcast()'s ``write()`` and :func:`_write_in_burst` do for an
    open server connection without extensions or debug log, inlined in one
    loop, without a call per connection but, once per loop pass, for the
    write buffer's size (see :class:`_UnbufferedBurst`): with many
    connections, what a broadcast costs besides its system calls is the
    objects it reads per connection. Returns the first connection that
    needs more than that (or is skipped), for the general rules, or
    :obj:`None` at the end. Connections that aren't open are passed over.
    """
    size = len(data)
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not OPEN:
            continue
        burst = connection.burst
        # An unbuffered burst passed these checks, which can't change, this pass.
        unbuffered = type(burst) is _UnbufferedBurst
        if not unbuffered and (
            protocol.extensions or protocol.side is not SERVER_SIDE or protocol.debug
        ):
            return connection
        if connection.fragmented_send_waiter is not None or size >= connection.burst_limit:
            return connection
        if burst is None:
            buffered = connection.transport.get_write_buffer_size()
            if buffered > connection.write_limit[0]:
                return connection
            connection.burst = [data] if buffered else _UnbufferedBurst((data,))
            connection.burst_size = size
            started.append(connection)
            continue
        buffered = connection.burst_size
        if not unbuffered:
            buffered += connection.transport.get_write_buffer_size()
        if buffered > connection.write_limit[0]:
            return connection
        burst.append(data)
        connection.burst_size += size
        if connection.burst_size >= connection.burst_limit:
            connection._write_burst()
    return None


def _write_bursts(connections: list[Connection]) -> None:
    for connection in connections:
        connection._write_burst()


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Protect a server with HTTP Basic Authentication; pass the result as ``process_request``.

    Passwords are compared in constant time. On success the username is in
    ``connection.username``; otherwise the client gets a 401 response.

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
