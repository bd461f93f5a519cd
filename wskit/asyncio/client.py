"""WebSocket clients on asyncio.

A client in a few lines::

    import asyncio
    from wskit.asyncio.client import connect

    async def hello():
        async with connect("ws://localhost:8765") as websocket:
            await websocket.send("Hello world!")
            print(await websocket.recv())

    asyncio.run(hello())
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Literal, cast

from ..client import ClientProtocol
from ..datastructures import HeadersLike
from ..exceptions import InvalidStatus
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..http11 import USER_AGENT, Response
from ..proxy import Proxy, proxy_handshake
from ..reconnect import Retry, backoff, process_exception
from ..shared.connecting import handshake_request, select_proxy, uses_proxy_tls, uses_tls
from ..shared.options import checked_extensions
from ..shared.redirects import Redirects
from ..tunnel import TunnelHandshake
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI, parse_uri
from .connect import connect_directly
from .connection import Connection
from .timers import call_later

__all__ = ["ClientConnection", "connect", "process_exception", "unix_connect"]

# Arguments of create_connection() for TLS with the server; with a proxy,
# they go to start_tls() instead.
_TLS_ARGUMENTS = ("server_hostname", "ssl_handshake_timeout", "ssl_shutdown_timeout")


class ClientConnection(Connection):
    """A WebSocket connection opened by :func:`connect`.

    It has :meth:`~.Connection.recv`, :meth:`~.Connection.send` and the rest of
    :class:`~wskit.asyncio.connection.Connection`. Arguments are those of
    :func:`connect` that shape one connection.
    """

    def __init__(
        self,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        self.protocol: ClientProtocol
        super().__init__(
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )

    async def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> None:
        """Send the opening handshake request and read the response.

        Raises:
            InvalidHandshake: The server refused the connection or answered
                something that isn't a valid handshake response.
        """
        self.request = handshake_request(self.protocol, additional_headers, user_agent_header)
        self.protocol.send_request(self.request)
        self._send_data()
        await cast("asyncio.Future[None]", self.handshake_waiter)
        self.handshake_waiter = None  # see Connection.__init__
        # Don't test for OPEN: the server may close right after accepting, and
        # its close frame may be handled before this coroutine resumes. The
        # connection then opened; recv() reports how it ended.
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc
        if self.response is None:
            raise ConnectionError("connection closed during the opening handshake")
        self.start_keepalive()

    def process_event(self, event: Any) -> None:
        """Record the handshake response, then handle frames as usual."""
        if isinstance(event, Response):
            self.response = event
        super().process_event(event)


class connect:
    """Connect to the WebSocket server at ``uri``.

    Use it as an asynchronous context manager, which closes the connection
    on exit, or await it to get the :class:`ClientConnection`::

        async with connect("ws://localhost:8765") as websocket:
            ...

    Or iterate over it to reconnect whenever the connection drops::

        async for websocket in connect("ws://localhost:8765"):
            try:
                ...
            except ConnectionClosed:
                continue

    Each iteration gets a new connection, closed when the iteration ends.
    When an attempt to connect fails, :func:`process_exception` tells
    whether it's worth trying again (a refused connection, a 503) or not (a
    403, an invalid URI, which are raised); attempts are spaced by
    ``reconnect_delays``, an exponential backoff by default. An exception
    raised in the body of the loop ends it.

    Redirects of the opening handshake are followed (see
    :mod:`wskit.shared.redirects`), up to ``WSKIT_MAX_REDIRECTS``, 10 by default.

    Args:
        uri: URI of the server, ``ws://`` or ``wss://``.
        origin: Value of the ``Origin`` header, for servers that check it.
        extensions: Extensions to offer, in order of preference.
        subprotocols: Subprotocols to offer, in order of preference.
        compression: ``"deflate"`` offers permessage-deflate; :obj:`None`
            doesn't.
        additional_headers: Extra headers for the handshake request.
        user_agent_header: Value of the ``User-Agent`` header; :obj:`None`
            omits it.
        proxy: :obj:`True` uses the proxy configured by environment
            variables, if any (see :mod:`wskit.proxy`); :obj:`None` connects
            directly; a string is the address of a proxy such as
            ``http://user:pass@proxy:3128`` or ``socks5h://proxy:1080``.
        process_exception: Tells, when reconnecting, whether a failed
            attempt is worth retrying: returns :obj:`None` to retry, or the
            exception to raise. See :func:`wskit.reconnect.process_exception`.
        open_timeout: Seconds for connecting (through the proxy, if any),
            TLS, redirects and the opening handshake together; :obj:`None`
            waits forever.
        ping_interval: Seconds between keepalive pings; :obj:`None` disables them.
        ping_timeout: Seconds to wait for a keepalive pong; :obj:`None` waits forever.
        close_timeout: Seconds to wait for the closing handshake; :obj:`None`
            waits forever.
        reconnect_delays: Starts the sequence of delays between attempts to
            reconnect; :func:`wskit.reconnect.backoff` by default, tuned by
            ``WSKIT_BACKOFF_*`` environment variables.
        max_size: Largest incoming message in bytes, :obj:`None` for no limit,
            or a ``(max_message_size, max_fragment_size)`` tuple.
        max_queue: Frames buffered before reading pauses, or ``(high, low)``.
        write_limit: Bytes buffered before ``send()`` waits, or ``(high, low)``.
        logger: Logger; ``logging.getLogger("wskit.client")`` by default.
        create_connection: A :class:`ClientConnection` subclass to use.
        kwargs: Passed to :meth:`~asyncio.loop.create_connection`: ``ssl``
            (an :class:`~ssl.SSLContext`, or :obj:`True` for a default one;
            ``wss://`` implies it), ``server_hostname``, ``sock``,
            ``local_addr``... ``host`` and ``port`` connect elsewhere than
            the URI says, which keeps its host name for ``Host`` and TLS.
            Through a proxy, ``ssl``, ``server_hostname``,
            ``ssl_handshake_timeout`` and ``ssl_shutdown_timeout`` apply to
            TLS with the server; the same names prefixed with ``proxy_``
            (``proxy_ssl``...) to TLS with an ``https://`` proxy; the others
            to the connection to the proxy.

    Raises:
        InvalidURI: ``uri`` isn't a valid WebSocket URI.
        InvalidProxy: ``proxy`` isn't a valid proxy address.
        OSError: The TCP connection failed.
        ProxyError: The proxy didn't open a tunnel to the server.
        InvalidHandshake: The opening handshake failed.
        SecurityError: A redirect went from ``wss://`` to ``ws://``, or
            there were too many.
        TimeoutError: The opening handshake timed out.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        compression: str | None = "deflate",
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        proxy: str | Literal[True] | None = True,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        reconnect_delays: Callable[[], Generator[float, None, None]] = backoff,
        max_size: int | tuple[int | None, int | None] | None = 2**20,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: LoggerLike | None = None,
        create_connection: type[ClientConnection] | None = None,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        extensions = checked_extensions(
            extensions, subprotocols, compression, enable_client_permessage_deflate
        )
        self.protocol_options: dict[str, Any] = {
            "origin": origin,
            "extensions": extensions,
            "subprotocols": subprotocols,
            "max_size": max_size,
            "logger": logger,
        }
        self.connection_options: dict[str, Any] = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_queue": max_queue,
            "write_limit": write_limit,
        }
        self.connection_class = ClientConnection if create_connection is None else create_connection
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.proxy = proxy
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.reconnect_delays = reconnect_delays
        self.create_connection_kwargs = kwargs
        self.connection: ClientConnection | None = None

    async def _open_transport(self, ws_uri: WebSocketURI) -> ClientConnection:
        """Open the TCP (and TLS) connection; return the connection over it."""
        loop = asyncio.get_running_loop()

        def factory() -> ClientConnection:
            protocol = ClientProtocol(ws_uri, **self.protocol_options)
            return self.connection_class(protocol, **self.connection_options)

        kwargs = self.create_connection_kwargs
        if kwargs or ws_uri.secure:
            tls, proxy_tls, unix, host, port, kwargs = self._split_options(ws_uri)
        else:  # nothing to split: most connects
            tls, proxy_tls, unix, host, port = {}, {}, False, ws_uri.host, ws_uri.port

        proxy = select_proxy(self.proxy, ws_uri, direct=unix or kwargs.get("sock") is not None)
        if proxy is not None:
            return await self._open_tunnel(
                proxy, host, port, factory, tls=tls, proxy_tls=proxy_tls, kwargs=kwargs
            )
        if unix:
            _, connection = await loop.create_unix_connection(factory, **tls, **kwargs)
        elif kwargs.get("sock") is not None:
            _, connection = await loop.create_connection(factory, **tls, **kwargs)
        else:
            if not kwargs and not tls:  # an IP address: connect without resolving
                direct = await connect_directly(loop, factory, host, port)
                if direct is not None:
                    return direct
            _, connection = await loop.create_connection(factory, host, port, **tls, **kwargs)
        return connection

    def _split_options(
        self, ws_uri: WebSocketURI
    ) -> tuple[dict[str, Any], dict[str, Any], bool, str, int, dict[str, Any]]:
        """Sort the arguments of create_connection() out.

        Returns: TLS with the server, TLS with the proxy, whether ``unix``,
        the host and port to connect to, and the remaining arguments.
        """
        kwargs = dict(self.create_connection_kwargs)
        ssl_given = "ssl" in kwargs
        ssl = kwargs.pop("ssl", None)
        tls: dict[str, Any] = {}
        if uses_tls(ws_uri, ssl, ssl_given=ssl_given):
            tls = {name: kwargs.pop(name) for name in _TLS_ARGUMENTS if name in kwargs}
            tls["ssl"] = ssl_module.create_default_context() if ssl is None or ssl is True else ssl
            tls.setdefault("server_hostname", ws_uri.host)
            tls.setdefault("ssl_handshake_timeout", self.open_timeout)
            tls.setdefault("ssl_shutdown_timeout", self.close_timeout)
        proxy_tls = (
            {
                name: kwargs.pop(f"proxy_{name}")
                for name in ("ssl", *_TLS_ARGUMENTS)
                if f"proxy_{name}" in kwargs
            }
            if kwargs
            else {}
        )
        unix = kwargs.pop("unix", False)
        host = kwargs.pop("host", None) or ws_uri.host
        port = kwargs.pop("port", None) or ws_uri.port
        return tls, proxy_tls, unix, host, port, kwargs

    async def _open_tunnel(
        self,
        proxy: Proxy,
        host: str,
        port: int,
        factory: Callable[[], ClientConnection],
        *,
        tls: dict[str, Any],
        proxy_tls: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> ClientConnection:
        """Open a tunnel to the server through ``proxy``, then the connection in it."""
        loop = asyncio.get_running_loop()
        if uses_proxy_tls(proxy, proxy_tls.get("ssl"), ssl_given="ssl" in proxy_tls):
            if proxy_tls.get("ssl") in (None, True):
                proxy_tls["ssl"] = ssl_module.create_default_context()
            proxy_tls.setdefault("server_hostname", proxy.host)
            proxy_tls.setdefault("ssl_handshake_timeout", self.open_timeout)
            proxy_tls.setdefault("ssl_shutdown_timeout", self.close_timeout)
        else:
            proxy_tls = {}
        if proxy.resolves_locally(host):
            addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            host = str(addresses[0][4][0])
        handshake = proxy_handshake(proxy, host, port, user_agent_header=self.user_agent_header)
        transport, tunnel = await loop.create_connection(
            lambda: _TunnelProtocol(handshake), proxy.host, proxy.port, **proxy_tls, **kwargs
        )
        try:
            await tunnel.opened
            connection = factory()
            if tls:
                ssl = tls.pop("ssl")
                tls_transport = await loop.start_tls(transport, connection, ssl, **tls)
                transport = cast(asyncio.Transport, tls_transport)
                connection.connection_made(transport)
            else:
                transport.set_protocol(connection)
                connection.connection_made(transport)
                transport.resume_reading()
        except BaseException:
            transport.abort()
            raise
        return connection

    async def _connect(self) -> ClientConnection:
        # A timer that cancels this task, rather than asyncio.timeout(): the
        # same cancellation and the same TimeoutError, without the context
        # manager's objects and calls on every connect (as the server's open
        # timeout does). As with asyncio.timeout(), a cancellation from
        # elsewhere wins.
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Timeout should be used inside a task")
        # The handshake, following redirects, in this coroutine: one less
        # in the chain that every resumption goes through.
        uri = parse_uri(self.uri)  # before the timer: an invalid URI leaves none
        # Made at the first redirect: most handshakes have none.
        redirects: Redirects | None = None
        kwargs = self.create_connection_kwargs
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = None
        if self.open_timeout is not None:
            cancelling = task.cancelling()
            timer = call_later(asyncio.get_running_loop(), self.open_timeout, expire)
        try:
            while True:
                connection = await self._open_transport(uri)
                try:
                    await connection.handshake(
                        self.additional_headers
                        if redirects is None
                        else redirects.headers(self.additional_headers),
                        self.user_agent_header,
                    )
                except InvalidStatus as exc:
                    connection.transport.abort()
                    if redirects is None:
                        redirects = Redirects(uri)
                    moved = redirects.follow(
                        exc.response,
                        sock=kwargs.get("sock") is not None,
                        fixed_address=any(kwargs.get(name) for name in ("unix", "host", "port")),
                    )
                    if not moved:
                        raise
                    uri = redirects.uri
                except BaseException:
                    connection.transport.abort()
                    raise
                else:
                    return connection
        except asyncio.CancelledError as exc:
            if not expired:
                raise
            expired = False  # the timer's request withdrawn here, not below
            if task.uncancel() > cancelling:
                raise
            timeout = TimeoutError()  # what asyncio.timeout() raises
            timeout.__cause__ = timeout.__context__ = exc
            raise TimeoutError("timed out during the opening handshake") from timeout
        except TimeoutError as exc:  # a TLS handshake's timeout, for one
            raise TimeoutError("timed out during the opening handshake") from exc
        finally:
            if timer is not None:
                timer.cancel()
                if expired:  # too late to cancel anything: withdraw the request
                    task.uncancel()

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._connect().__await__()

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        retry = Retry(
            self.process_exception, self.reconnect_delays, self.protocol_options["logger"]
        )
        while True:
            try:
                connection = await self
            except Exception as exc:
                await asyncio.sleep(retry.failed(exc))
                continue
            retry.succeeded()
            try:
                yield connection
            finally:
                await connection.close()

    async def __aenter__(self) -> ClientConnection:
        # One connection per context: a nested "async with" on the same
        # object would lose the outer connection, as websockets says too.
        if self.connection is not None:
            raise RuntimeError("connect() isn't reentrant")
        self.connection = await self
        return self.connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.close()


class _TunnelProtocol(asyncio.Protocol):
    """Run a proxy handshake on a new connection to the proxy."""

    def __init__(self, handshake: TunnelHandshake) -> None:
        self.handshake = handshake
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._progress()

    def data_received(self, data: bytes) -> None:
        self.handshake.receive_data(data)
        self._progress()

    def eof_received(self) -> None:
        self.handshake.receive_eof()
        self._progress()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("proxy closed the connection"))

    def _progress(self) -> None:
        data = self.handshake.data_to_send()
        if data:
            self.transport.write(data)
        if self.opened.done():
            return  # input after a failure changes nothing
        if self.handshake.exc is not None:
            self.opened.set_exception(self.handshake.exc)
        elif self.handshake.established:
            # The tunnel's bytes are for the WebSocket connection, which
            # takes over the transport.
            self.transport.pause_reading()
            self.opened.set_result(None)


def unix_connect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`connect`. ``uri`` defaults to
    ``ws://localhost/``, or ``wss://localhost/`` with ``ssl``; it sets the
    ``Host`` header and the resource path.
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri, unix=True, path=path, **kwargs)
