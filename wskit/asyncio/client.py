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
import ssl as ssl_module
from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any

from ..client import ClientProtocol
from ..connecting import handshake_request, uses_tls
from ..datastructures import HeadersLike
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT, Response
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import parse_uri
from .connection import Connection

__all__ = ["ClientConnection", "connect", "unix_connect"]


class ClientConnection(Connection):
    """A WebSocket connection opened by :func:`connect`.

    It has :meth:`recv`, :meth:`send` and the rest of
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
        await self.handshake_waiter
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
        open_timeout: Seconds for connecting, TLS and the opening handshake
            together; :obj:`None` waits forever.
        ping_interval: Seconds between keepalive pings; :obj:`None` disables them.
        ping_timeout: Seconds to wait for a keepalive pong; :obj:`None` waits forever.
        close_timeout: Seconds to wait for the closing handshake; :obj:`None`
            waits forever.
        max_size: Largest incoming message in bytes, :obj:`None` for no limit,
            or a ``(max_message_size, max_fragment_size)`` tuple.
        max_queue: Frames buffered before reading pauses, or ``(high, low)``.
        write_limit: Bytes buffered before ``send()`` waits, or ``(high, low)``.
        logger: Logger; ``logging.getLogger("wskit.client")`` by default.
        create_connection: A :class:`ClientConnection` subclass to use.
        kwargs: Passed to :meth:`~asyncio.loop.create_connection`: ``ssl``
            (an :class:`~ssl.SSLContext`, or :obj:`True` for a default one;
            ``wss://`` implies it), ``server_hostname``, ``sock``,
            ``local_addr``...

    Raises:
        InvalidURI: ``uri`` isn't a valid WebSocket URI.
        OSError: The TCP connection failed.
        InvalidHandshake: The opening handshake failed.
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
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: int | tuple[int | None, int | None] | None = 2**20,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: LoggerLike | None = None,
        create_connection: type[ClientConnection] | None = None,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
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
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.create_connection_kwargs = kwargs
        self.connection: ClientConnection | None = None

    async def _open_transport(self) -> ClientConnection:
        """Open the TCP (and TLS) connection; return the connection over it."""
        ws_uri = parse_uri(self.uri)
        kwargs = dict(self.create_connection_kwargs)
        loop = asyncio.get_running_loop()

        def factory() -> ClientConnection:
            protocol = ClientProtocol(ws_uri, **self.protocol_options)
            return self.connection_class(protocol, **self.connection_options)

        ssl = kwargs.pop("ssl", None)
        if uses_tls(ws_uri, ssl):
            if ssl is None or ssl is True:
                ssl = ssl_module.create_default_context()
            kwargs["ssl"] = ssl
            kwargs.setdefault("server_hostname", ws_uri.host)
            kwargs.setdefault("ssl_handshake_timeout", self.open_timeout)
            kwargs.setdefault("ssl_shutdown_timeout", self.close_timeout)

        if kwargs.pop("unix", False):
            _, connection = await loop.create_unix_connection(factory, **kwargs)
        elif kwargs.get("sock") is not None:
            _, connection = await loop.create_connection(factory, **kwargs)
        else:
            _, connection = await loop.create_connection(
                factory, ws_uri.host, ws_uri.port, **kwargs
            )
        return connection

    async def _connect(self) -> ClientConnection:
        try:
            async with asyncio.timeout(self.open_timeout):
                connection = await self._open_transport()
                try:
                    await connection.handshake(self.additional_headers, self.user_agent_header)
                except BaseException:
                    connection.transport.abort()
                    raise
        except TimeoutError as exc:
            raise TimeoutError("timed out during the opening handshake") from exc
        self.connection = connection
        return connection

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientConnection:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.connection is not None:
            await self.connection.close()


def unix_connect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`connect`. ``uri`` defaults to
    ``ws://localhost/``, or ``wss://localhost/`` with ``ssl``; it sets the
    ``Host`` header and the resource path.
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri, unix=True, path=path, **kwargs)
