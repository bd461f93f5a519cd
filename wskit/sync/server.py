"""WebSocket servers with threads.

A server in a few lines::

    from wskit.sync.server import serve

    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    with serve(echo, "localhost", 8765) as server:
        server.serve_forever()

Each connection runs its handler in a thread of its own; one thread reads
from every connection's socket (:mod:`wskit.sync.reader`).
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import socket
import ssl as ssl_module
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeAlias, cast

from ..auth import credentials_checker, read_credentials, unauthorized
from ..exceptions import ConcurrencyError, InvalidHandshake
from ..extensions.base import ServerExtensionFactory
from ..extensions.permessage_deflate import enable_server_permessage_deflate
from ..frames import CloseCode
from ..http11 import SERVER, Request, Response
from ..protocol import CLOSED, CONNECTING, OPEN
from ..server import ServerProtocol
from ..shared.connecting import check_unix_address, renamed_ssl_context
from ..shared.options import checked_extensions
from ..shared.serving import (
    DEFAULT_BACKLOG,
    BroadcastFrame,
    Responding,
    answer,
    describe_address,
    hook_failed,
    log_handler_exception,
    log_refusal,
)
from ..stats import ServerStats
from ..typing import BytesLike, Data, LoggerLike, Origin, Subprotocol
from ..utils import escape_controls
from .connection import Connection
from .reader import Reader
from .utils import Deadline

__all__ = ["Server", "ServerConnection", "basic_auth", "broadcast", "serve", "unix_serve"]

ProcessRequest: TypeAlias = "Callable[[ServerConnection, Request], Response | None]"
ProcessResponse: TypeAlias = "Callable[[ServerConnection, Request, Response], Response | None]"
SelectSubprotocol: TypeAlias = (
    "Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None]"
)


class ServerConnection(Responding, Connection):
    """A WebSocket connection accepted by a :class:`Server`.

    The handler receives it. Arguments are those of :func:`serve` that shape
    one connection.

    Attributes:
        username: Set by :func:`basic_auth` to the authenticated user.
    """

    def __init__(
        self,
        socket: socket.socket,
        protocol: ServerProtocol,
        server: Server,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
    ) -> None:
        self.protocol: ServerProtocol
        self.server = server
        self.username: str
        super().__init__(
            socket,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )

    idle_threads_give_back = True

    def _start_reading(self) -> None:
        if self._can_lend():
            self.recv_messages.read = self._read_in_recv
        self.server.reader.add(self)

    def _lend(self) -> bool:
        return self.server.reader.lend(self)

    def _give_back(self) -> None:
        self.server.reader.give_back(self)

    def _resume_reading(self) -> None:
        self.server.reader.resume(self)

    def _check_timers(self) -> None:
        self.server.reader.check(self)

    def handshake(
        self,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = SERVER,
        timeout: float | None = None,
    ) -> None:
        """Read the opening handshake request and answer it.

        Raises:
            TimeoutError: No request arrived in time.
            InvalidHandshake: The handshake failed or was refused; a response
                was sent when the client was still there to read it.
        """
        if not self.handshake_done.wait(timeout):
            raise TimeoutError("timed out while waiting for the handshake request")
        request = self.request
        if request is None:  # malformed, or the client left early
            raise self.protocol.handshake_exc or InvalidHandshake("no handshake request")

        try:
            self._answer(request, process_request, process_response, server_header)
        except BaseException:
            # Reading stopped when the request arrived (see process_event):
            # the reader must see how the connection ends.
            self.reading_allowed.set()
            raise
        finally:
            self._resume_reading()
        self._flush()
        # Don't test for OPEN: the client may close right after the 101, and
        # the reader thread may handle that first. The handler then runs and
        # learns how the connection ended.
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def _answer(
        self,
        request: Request,
        process_request: ProcessRequest | None,
        process_response: ProcessResponse | None,
        server_header: str | None,
    ) -> None:
        """Build the response to ``request`` with the hooks, send it, deliver early frames."""
        response = self._call_hook(process_request, request)
        response = answer(
            self.protocol,
            request,
            response,
            serving=self.server.is_serving(),
            server_header=server_header,
        )
        if process_response is not None:
            response = self._call_hook(process_response, request, response) or response

        with self.delivery_lock:
            with self.protocol_mutex:
                # The reader thread runs meanwhile: the client may have left.
                if self.protocol.state is not CONNECTING:
                    raise self.protocol.handshake_exc or InvalidHandshake(
                        "connection closed during the opening handshake"
                    )
                self.response = response
                self.protocol.send_response(response)
                self._queue_writes()
                # Read again (see process_event), unless the frames that
                # came with the request fill the queue as they are delivered.
                self.reading_allowed.set()
                # Frames that came with the request were parsed just now:
                # deliver them at once, not when the next bytes arrive.
                events = self.protocol.events_received()
            self._deliver(events)

    def _call_hook(
        self, hook: Callable[..., Response | None] | None, *args: Any
    ) -> Response | None:
        if hook is None:
            return None
        try:
            return hook(self, *args)
        except Exception as exc:
            return hook_failed(self.protocol, exc)

    def process_event(self, event: Any) -> None:
        """Record the handshake request, then handle frames as usual."""
        if isinstance(event, Request):
            self.request = event
            # Until the response is sent, the core keeps what follows the
            # request unparsed: stop reading, or a client could make it keep
            # anything it sends while process_request() runs.
            self.reading_allowed.clear()
        super().process_event(event)


class Server:
    """A WebSocket server, as returned by :func:`serve`.

    Args:
        socket: The listening socket.
        handler: Called in a new thread with each accepted socket and its
            address.
        logger: Logger; ``logging.getLogger("wskit.server")`` by default.
    """

    def __init__(
        self,
        socket: socket.socket,
        handler: Callable[[socket.socket, Any], None],
        logger: LoggerLike | None = None,
    ) -> None:
        self.socket = socket
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("wskit.server")
        self.logger = logger
        self.serving = True
        self.lock = threading.Lock()
        self.active: set[ServerConnection] = set()
        self.stats = ServerStats()
        """Connections opened and closed, handshakes refused."""
        # Connections in the opening handshake: shutdown() drops those
        # awaiting their request.
        self.opening: set[ServerConnection] = set()
        # Threads running ``handler``; shutdown() may wait for them.
        self.handler_threads: set[threading.Thread] = set()
        # Reads from every connection, in one thread.
        self.reader = Reader()
        # While serve_forever() runs, writing to this pipe wakes it up for
        # shutdown(). serve_forever() opens and closes the pipe itself: an fd
        # closed under a waiting selector would never wake it.
        self.wake_write: int | None = None
        self.logger.info("server listening on %s", describe_address(socket.getsockname()))

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections: the handshake is done and they aren't closed."""
        with self.lock:
            return {connection for connection in self.active if connection.state is OPEN}

    def register(self, connection: ServerConnection) -> None:
        """Track a connection, so that :meth:`shutdown` closes it."""
        with self.lock:
            self.active.add(connection)
        self.stats.connection_opened(connection)

    def unregister(self, connection: ServerConnection) -> None:
        """Stop tracking a connection, once closed."""
        with self.lock:
            self.active.discard(connection)
        self.stats.connection_closed(connection)

    def handshake_started(self, connection: ServerConnection) -> None:
        """Track a connection in the opening handshake, until :meth:`handshake_ended`."""
        with self.lock:
            self.opening.add(connection)
            serving = self.serving
        if not serving:  # shutdown() ran meanwhile: it didn't see this connection
            self._drop_if_awaiting_request(connection)

    def handshake_ended(self, connection: ServerConnection) -> None:
        """Stop tracking a connection that :meth:`handshake_started` tracks."""
        with self.lock:
            self.opening.discard(connection)

    def _drop_if_awaiting_request(self, connection: ServerConnection) -> None:
        # Without a byte of its request, a connection would wait for it until
        # the open timeout, and shutdown() for its thread: there's nothing to
        # answer. With part of a request, it gets its 503, as in websockets.
        if connection.protocol.awaiting_request:
            connection._abort()

    def refused(self, connection: ServerConnection) -> None:
        """Count a handshake refused with an HTTP response."""
        status = connection.protocol.status
        if status is not None:
            self.stats.handshake_refused(status)

    def is_serving(self) -> bool:
        """Whether the server accepts new connections."""
        return self.serving

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called; each gets a thread."""
        with selectors.DefaultSelector() as selector:
            with self.lock:  # shutdown() may close the socket meanwhile
                if not self.serving:
                    return
                selector.register(self.socket, selectors.EVENT_READ)
                wake_read, self.wake_write = os.pipe()
            try:
                self._accept_until_shutdown(selector, wake_read)
            finally:
                with self.lock:
                    os.close(wake_read)
                    os.close(self.wake_write)
                    self.wake_write = None

    def _accept_until_shutdown(self, selector: selectors.BaseSelector, wake_read: int) -> None:
        selector.register(wake_read, selectors.EVENT_READ)
        while self.serving:
            ready = {key.fileobj for key, _ in selector.select()}
            if wake_read in ready or not self.serving:
                break
            try:
                sock, address = self.socket.accept()
            except OSError:  # the client went away already, or shutdown
                continue
            thread = threading.Thread(
                target=self._run_handler,
                args=(sock, address),
                name="wskit handler",
                daemon=True,
            )
            with self.lock:  # started before shutdown() may join it
                self.handler_threads.add(thread)
                thread.start()

    def _run_handler(self, sock: socket.socket, address: Any) -> None:
        try:
            self.handler(sock, address)
        finally:
            with self.lock:
                self.handler_threads.discard(threading.current_thread())

    def shutdown(
        self,
        close_connections: bool = True,
        code: CloseCode | int = CloseCode.GOING_AWAY,
        reason: str = "",
    ) -> None:
        """Stop accepting connections and, by default, close every connection.

        Connections in the opening handshake get a 503, except those that
        haven't sent a byte of their request: they're dropped.

        Args:
            close_connections: Close open connections with ``code`` and
                ``reason``, all at once, and wait until they are closed;
                otherwise leave them open. Either way, wait until every
                handler returns, as websockets does.
            code: Close code for the open connections.
            reason: Close reason for the open connections.

        Raises:
            RuntimeError: Called from a connection handler without closing
                connections: it would wait for itself.
        """
        with self.lock:
            stopping, self.serving = self.serving, False
            if stopping:
                if self.wake_write is not None:
                    os.write(self.wake_write, b"x")
                self.socket.close()
        if stopping:
            self.logger.info("server closing")
        with self.lock:
            opening = list(self.opening)
        for connection in opening:
            self._drop_if_awaiting_request(connection)
        if close_connections:
            connections = self.connections
            for connection in connections:
                connection.start_closing(code, reason)
            for connection in connections:
                connection.wait_for_close()
        # Then wait for the handlers to return, as websockets does. A handler
        # that shuts the server down while closing connections doesn't wait
        # for itself; without closing them, it would forever: join() raises.
        with self.lock:
            threads = list(self.handler_threads)
        for thread in threads:
            if thread is not threading.current_thread() or not close_connections:
                thread.join()

    def fileno(self) -> int:
        """The file descriptor of the listening socket."""
        return self.socket.fileno()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def __getattr__(name: str) -> Any:
    # Names websockets renamed and still accepts, with a warning.
    if name == "WebSocketServer":
        warnings.warn("WebSocketServer was renamed to Server", DeprecationWarning, stacklevel=2)
        return Server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def serve(
    handler: Callable[[ServerConnection], None],
    host: str | None = None,
    port: int | None = None,
    *,
    sock: socket.socket | None = None,
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
    logger: LoggerLike | None = None,
    create_connection: type[ServerConnection] | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on ``host`` and ``port``.

    Call :meth:`~Server.serve_forever` on the result to accept connections;
    use it as a context manager to shut it down on exit. ``handler`` runs in
    a thread per connection; the connection is closed when it returns (with
    1011 if it raised).

    The arguments are those of :func:`wskit.asyncio.server.serve`, except
    ``write_limit`` (writes block instead), plus ``sock``: a listening socket
    to use instead of ``host`` and ``port``. Other keyword arguments go to
    :func:`socket.create_server` (``reuse_port``, ``backlog``: 2048 unless
    given...). ``ssl`` is an :class:`~ssl.SSLContext` for TLS.
    """
    ssl = renamed_ssl_context(ssl, kwargs)
    extensions = checked_extensions(
        extensions, subprotocols, compression, enable_server_permessage_deflate
    )
    connection_class = ServerConnection if create_connection is None else create_connection

    unix = kwargs.pop("unix", False)
    backlog = kwargs.pop("backlog", DEFAULT_BACKLOG)
    if sock is None:
        if unix:
            path = kwargs.pop("path", None)
            check_unix_address(path, sock)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(backlog)
        else:
            sock = socket.create_server((host or "", port or 0), backlog=backlog, **kwargs)
    else:
        # An address beside a socket would be ignored: refuse the contradiction.
        for name, value in (("host", host), ("port", port), ("path", kwargs.get("path"))):
            if value is not None:
                raise ValueError(f"{name} is incompatible with sock")
    server = Server(sock, lambda sock, address: handle(sock), logger)

    def handle(sock: socket.socket) -> None:
        """Run the opening handshake, then the handler, in this thread."""
        deadline = Deadline(open_timeout)
        try:
            if not unix:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if ssl is not None:
                sock.settimeout(deadline.timeout(raise_if_elapsed=False))
                sock = ssl.wrap_socket(sock, server_side=True)
        except (OSError, ValueError) as exc:
            server.logger.info("opening handshake failed: %s", escape_controls(str(exc)))
            sock.close()
            return

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
            logger=server.logger,
        )
        connection = connection_class(
            sock,
            protocol,
            server,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )
        server.handshake_started(connection)
        try:
            connection.handshake(
                process_request,
                process_response,
                server_header,
                deadline.timeout(raise_if_elapsed=False),
            )
        except TimeoutError:
            connection.logger.info("opening handshake timed out")
            connection._abort()
            connection.wait_for_close()
            return
        except InvalidHandshake as exc:
            if connection.protocol.bytes_received == 0 and not server.serving:
                # Dropped by shutdown(): not a failure of the client.
                connection.logger.debug("no request before the server closed")
            else:
                log_refusal(connection.logger, exc, connection.response)
                server.refused(connection)
            connection.wait_for_close()
            return
        except Exception:
            connection.logger.error("opening handshake failed", exc_info=True)
            connection._abort()
            connection.wait_for_close()
            return
        finally:
            server.handshake_ended(connection)

        server.register(connection)
        try:
            handler(connection)
        except Exception as exc:
            log_handler_exception(connection.logger, exc, closed=connection.state is CLOSED)
            connection.close(CloseCode.INTERNAL_ERROR)
        else:
            connection.close()
        finally:
            server.unregister(connection)

    return server


def unix_serve(
    handler: Callable[[ServerConnection], None],
    path: str | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`serve`, except ``host`` and ``port``.
    """
    return serve(handler, unix=True, path=path, **kwargs)


# ThreadPoolExecutor's parameters: broadcast() accepts them for compatibility.
_THREAD_POOL_OPTIONS = frozenset({"max_workers", "thread_name_prefix", "initializer", "initargs"})


def broadcast(
    connections: Iterable[Connection],
    message: Data | BytesLike,
    *,
    raise_exceptions: bool = False,
    text: bool | None = None,
    compress: bool | None = None,
    **thread_pool_options: Any,
) -> None:
    """Send a message to many connections, encoding it once where possible.

    It never waits for a client: what a socket can't take at once waits in
    the connection's queue, in order, for a background thread to write it.
    Connections that aren't open are ignored. Connections that are sending a
    fragmented message, or whose unsent bytes exceed
    :attr:`~wskit.sync.connection.Connection.write_limit` (a slow client), are
    skipped: its queue holds at most that and one message.

    Args:
        connections: The connections to send to.
        message: :class:`str` for text, bytes-like for binary.
        raise_exceptions: Raise an :exc:`ExceptionGroup` of why connections
            were skipped, rather than logging a warning for each.
        text: Overrides the message type, as in ``send()``.
        compress: :obj:`False` sends the message uncompressed, as in ``send()``.
        thread_pool_options: Accepted for code written for
            ``websockets.sync.server.broadcast()``, which writes through a
            thread pool configured by them (``max_workers``,
            ``thread_name_prefix``, ``initializer``, ``initargs``). wskit
            needs no pool, so they have no effect.

    Raises:
        TypeError: The message is of an unsupported type, or an option isn't
            one of the thread pool's.
    """
    unknown = thread_pool_options.keys() - _THREAD_POOL_OPTIONS
    if unknown:
        raise TypeError(f"broadcast() got unexpected keyword arguments: {sorted(unknown)}")
    frame = BroadcastFrame(message, text, compress)

    def write(connection: Connection) -> None:
        with connection.protocol_mutex:
            if connection.protocol.state is not OPEN:
                return
            if connection.fragmented_sender is not None:
                raise ConcurrencyError("sending a fragmented message")
            if connection._over_write_limit():
                raise ConcurrencyError("write buffer is full: the client reads too slowly")
            connection.outgoing.extend(frame.data_for(connection.protocol))
        connection._flush(block=False)

    # Handlers in other threads may add themselves to the set given here, or
    # leave it, while this one broadcasts: iterate a snapshot, taken in one
    # step (a running iteration would raise when the set changes size).
    frame.deliver(tuple(connections), write, raise_exceptions=raise_exceptions)


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], bool] | None = None,
) -> Callable[[ServerConnection, Request], Response | None]:
    """Protect a server with HTTP Basic Authentication; pass the result as ``process_request``.

    As :func:`wskit.asyncio.server.basic_auth`, with a plain function for
    ``check_credentials``.

    Raises:
        ValueError: Neither or both of ``credentials`` and
            ``check_credentials`` were given.
        TypeError: ``credentials`` is invalid.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    check = cast(
        "Callable[[str, str], bool]",
        credentials_checker(credentials) if credentials is not None else check_credentials,
    )

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        credentials = read_credentials(request.headers)
        if isinstance(credentials, str):
            return unauthorized(connection.respond, credentials, realm)
        username, password = credentials
        if not check(username, password):
            return unauthorized(connection.respond, "Invalid credentials\n", realm)
        connection.username = username
        return None

    return process_request
