"""WebSocket clients on trio.

A client in a few lines::

    import trio
    from wskit.trio.client import connect

    async def hello():
        async with connect("ws://localhost:8765") as websocket:
            await websocket.send("Hello world!")
            print(await websocket.recv())

    trio.run(hello)

The connection's tasks run in a nursery that ``async with connect(...)``
opens and closes: none outlives the block.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Literal

import trio

from ..client import ClientProtocol
from ..datastructures import HeadersLike
from ..exceptions import InvalidStatus
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT, Response
from ..protocol import Event
from ..proxy import Proxy, proxy_handshake
from ..reconnect import Retry, backoff, process_exception
from ..shared.connecting import handshake_request, select_proxy, uses_proxy_tls, uses_tls
from ..shared.redirects import Redirects
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI, parse_uri
from .connection import READ_SIZE, Connection

__all__ = ["ClientConnection", "connect", "process_exception", "unix_connect"]


class ClientConnection(Connection):
    """A WebSocket connection opened by :func:`connect`.

    It has :meth:`~.Connection.recv`, :meth:`~.Connection.send` and the rest of
    :class:`~wskit.trio.connection.Connection`. Arguments are those of
    :func:`connect` that shape one connection.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        stream: trio.abc.Stream,
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
            nursery,
            stream,
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
        await self.handshake_done.wait()
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc
        if self.response is None:
            raise ConnectionError("connection closed during the opening handshake")

    def process_event(self, event: Event) -> None:
        """Record the handshake response, then handle frames as usual."""
        if isinstance(event, Response):
            self.response = event
        super().process_event(event)


class connect:
    """Connect to the WebSocket server at ``uri``.

    Use it as an asynchronous context manager, which runs the connection's
    tasks in a nursery of its own and closes the connection on exit::

        async with connect("ws://localhost:8765") as websocket:
            ...

    Or iterate over it to reconnect whenever the connection drops::

        async for websocket in connect("ws://localhost:8765"):
            try:
                ...
            except ConnectionClosed:
                continue

    Each iteration gets a new connection, closed when the iteration ends.
    When an attempt to connect fails, ``process_exception`` tells whether
    it's worth trying again; attempts are spaced by ``reconnect_delays``. An
    exception raised in the body of the loop ends it. The connection's tasks
    run in a nursery inside the iterator, so a loop left with ``break`` must
    close the iterator in the same task, as trio requires of any async
    generator holding a nursery::

        async with contextlib.aclosing(connect(uri).__aiter__()) as websockets:
            async for websocket in websockets:
                ...
                break

    ``connect()`` can't be awaited: trio wants a nursery around the
    connection's tasks.

    Redirects of the opening handshake are followed (see
    :mod:`wskit.shared.redirects`), up to ``WSKIT_MAX_REDIRECTS``, 10 by default.

    Args:
        uri: URI of the server, ``ws://`` or ``wss://``.
        stream: A connected trio stream to use instead of connecting.
        ssl: An :class:`~ssl.SSLContext` for ``wss://``; a default one if
            :obj:`None`.
        server_hostname: Host name for TLS; the URI's by default.
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
        proxy_ssl: An :class:`~ssl.SSLContext` for an ``https://`` proxy.
        proxy_server_hostname: Host name for TLS with the proxy.
        process_exception: Tells, when reconnecting, whether a failed
            attempt is worth retrying; see :func:`wskit.reconnect.process_exception`.
        open_timeout: Seconds for connecting (through the proxy, if any),
            TLS, redirects and the opening handshake together; :obj:`None`
            waits forever.
        ping_interval: Seconds between keepalive pings; :obj:`None` disables them.
        ping_timeout: Seconds to wait for a keepalive pong; :obj:`None` waits forever.
        close_timeout: Seconds to wait for the closing handshake; :obj:`None`
            waits forever.
        reconnect_delays: Starts the sequence of delays between attempts to
            reconnect; :func:`wskit.reconnect.backoff` by default.
        max_size: Largest incoming message in bytes, :obj:`None` for no limit,
            or a ``(max_message_size, max_fragment_size)`` tuple.
        max_queue: Frames buffered before reading pauses, or ``(high, low)``.
        write_limit: Bytes buffered before ``send()`` waits, or ``(high, low)``.
        logger: Logger; ``logging.getLogger("wskit.client")`` by default.
        create_connection: A :class:`ClientConnection` subclass to use.
        kwargs: Passed to :func:`trio.open_tcp_stream`: ``host`` and
            ``port`` connect elsewhere than the URI says (which keeps its
            host name for ``Host`` and TLS), ``happy_eyeballs_delay``,
            ``local_address``.

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
        stream: trio.abc.Stream | None = None,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        compression: str | None = "deflate",
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        proxy: str | Literal[True] | None = True,
        proxy_ssl: ssl_module.SSLContext | None = None,
        proxy_server_hostname: str | None = None,
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
        uses_tls(parse_uri(uri), ssl)  # contradictions fail here, not when connecting
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        self.stream = stream
        self.ssl = ssl
        self.server_hostname = server_hostname
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
        self.proxy_ssl = proxy_ssl
        self.proxy_server_hostname = proxy_server_hostname
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.reconnect_delays = reconnect_delays
        self.open_tcp_stream_kwargs = kwargs
        self.nursery_manager: Any = None
        self.connection: ClientConnection | None = None

    async def _open_stream(self, ws_uri: WebSocketURI) -> trio.abc.Stream:
        """Open the TCP (or Unix) stream to the server, through the proxy if any."""
        kwargs = dict(self.open_tcp_stream_kwargs)
        if self.stream is not None:
            return self.stream
        unix = kwargs.pop("unix", False)
        path = kwargs.pop("path", None)
        host = kwargs.pop("host", None) or ws_uri.host
        port = kwargs.pop("port", None) or ws_uri.port
        proxy = select_proxy(self.proxy, ws_uri, direct=unix)
        if unix:
            return await trio.open_unix_socket(path)
        if proxy is not None:
            return await self._open_tunnel(proxy, host, port, kwargs)
        return await trio.open_tcp_stream(host, port, **kwargs)

    async def _open_tunnel(
        self, proxy: Proxy, host: str, port: int, kwargs: dict[str, Any]
    ) -> trio.abc.Stream:
        """Connect to ``proxy`` and have it open a tunnel to ``host:port``."""
        stream: trio.abc.Stream = await trio.open_tcp_stream(proxy.host, proxy.port, **kwargs)
        try:
            if uses_proxy_tls(proxy, self.proxy_ssl):
                stream = await _start_tls(
                    stream, self.proxy_ssl, self.proxy_server_hostname or proxy.host
                )
            if proxy.resolves_locally(host):
                addresses = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
                host = str(addresses[0][4][0])
            handshake = proxy_handshake(proxy, host, port, user_agent_header=self.user_agent_header)
            while not handshake.established:
                data = handshake.data_to_send()
                if data:
                    await stream.send_all(data)
                if handshake.exc is not None:
                    raise handshake.exc
                received = await stream.receive_some(READ_SIZE)
                if received:
                    handshake.receive_data(received)
                else:
                    handshake.receive_eof()
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return stream

    async def _open_connection(
        self, nursery: trio.Nursery, redirects: Redirects
    ) -> ClientConnection:
        """Open the stream, TLS, and the opening handshake to ``redirects.uri``."""
        ws_uri = redirects.uri
        stream = await self._open_stream(ws_uri)
        try:
            if uses_tls(ws_uri, self.ssl):
                stream = await _start_tls(stream, self.ssl, self.server_hostname or ws_uri.host)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        protocol = ClientProtocol(ws_uri, **self.protocol_options)
        connection = self.connection_class(nursery, stream, protocol, **self.connection_options)
        try:
            await connection.handshake(
                redirects.headers(self.additional_headers), self.user_agent_header
            )
        except BaseException:
            connection.abort()
            with trio.CancelScope(shield=True):
                await connection.wait_closed()
            raise
        return connection

    async def _connect(self, nursery: trio.Nursery) -> ClientConnection:
        """Connect and run the opening handshake, following redirects."""
        redirects = Redirects(parse_uri(self.uri))
        kwargs = self.open_tcp_stream_kwargs
        with trio.move_on_after(float("inf") if self.open_timeout is None else self.open_timeout):
            while True:
                try:
                    connection = await self._open_connection(nursery, redirects)
                except InvalidStatus as exc:
                    moved = redirects.follow(
                        exc.response,
                        sock=self.stream is not None,
                        fixed_address=any(kwargs.get(name) for name in ("unix", "host", "port")),
                    )
                    if not moved:
                        raise
                else:
                    connection.start_keepalive()
                    return connection
        # The loop only ends by returning or raising: here, the scope timed out.
        raise TimeoutError("timed out during the opening handshake")

    async def __aenter__(self) -> ClientConnection:
        # One connection per context: a nested "async with" on the same
        # object would lose the outer connection.
        if self.nursery_manager is not None:
            raise RuntimeError("connect() isn't reentrant")
        self.nursery_manager = trio.open_nursery()
        nursery = await self.nursery_manager.__aenter__()
        try:
            self.connection = await self._connect(nursery)
        except BaseException as exc:
            await self._exit_nursery(type(exc), exc, exc.__traceback__)
            raise
        return self.connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self.connection = self.connection, None
        try:
            if connection is not None:
                await connection.__aexit__(exc_type, exc_value, traceback)
        finally:
            await self._exit_nursery(exc_type, exc_value, traceback)

    async def _exit_nursery(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Leave the nursery; the application sees its own exception, not a group of one."""
        manager, self.nursery_manager = self.nursery_manager, None
        try:
            await manager.__aexit__(exc_type, exc_value, traceback)
        except BaseExceptionGroup as group:
            if len(group.exceptions) != 1 or isinstance(group.exceptions[0], BaseExceptionGroup):
                raise
            exc = group.exceptions[0]
            context = exc.__context__
            try:
                raise exc
            finally:
                exc.__context__ = context
                del exc, group

    async def __aiter__(self) -> AsyncGenerator[ClientConnection]:
        retry = Retry(
            self.process_exception, self.reconnect_delays, self.protocol_options["logger"]
        )
        while True:
            try:
                connection = await self.__aenter__()
            except Exception as exc:
                await trio.sleep(retry.failed(exc))
                continue
            retry.succeeded()
            try:
                yield connection
            except GeneratorExit:  # the loop was left: a normal closure
                await self.__aexit__(None, None, None)
                raise
            except BaseException as exc:
                await self.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            else:
                await self.__aexit__(None, None, None)


async def _start_tls(
    stream: trio.abc.Stream, ssl: ssl_module.SSLContext | None, server_hostname: str
) -> trio.SSLStream[trio.abc.Stream]:
    """Run the TLS handshake over ``stream``; a default context if ``ssl`` is :obj:`None`."""
    context = ssl_module.create_default_context() if ssl is None else ssl
    tls = trio.SSLStream(stream, context, server_hostname=server_hostname, https_compatible=True)
    await tls.do_handshake()
    return tls


def unix_connect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`connect`. ``uri`` defaults to
    ``ws://localhost/``, or ``wss://localhost/`` with ``ssl``; it sets the
    ``Host`` header and the resource path.
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri, unix=True, path=path, **kwargs)
