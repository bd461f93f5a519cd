"""websockets' legacy client API, over :mod:`wskit.asyncio.client`.

A legacy client::

    import asyncio
    from wskit.legacy.client import connect

    async def hello():
        async with connect("ws://localhost:8765", extra_headers={"X-Token": "1"}) as websocket:
            await websocket.send("Hello world!")
            print(await websocket.recv())

    asyncio.get_event_loop().run_until_complete(hello())

:func:`connect` takes the legacy arguments (``extra_headers``,
``create_protocol``...) and connects with
:func:`wskit.asyncio.client.connect`: redirects, TLS and timeouts are
handled there. Each connection is a :class:`WebSocketClientProtocol`, a
:class:`wskit.asyncio.client.ClientConnection` with the legacy attributes.
A refused handshake raises :exc:`~wskit.legacy.exceptions.InvalidStatusCode`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Sequence
from typing import Any, cast

from ..asyncio import client
from ..asyncio.client import ClientConnection
from ..client import ClientProtocol
from ..datastructures import HeadersLike
from ..exceptions import InvalidStatus
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..http11 import USER_AGENT
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI, parse_uri
from .exceptions import InvalidStatusCode
from .protocol import (
    WebSocketCommonProtocol,
    check_loop,
    close_timeout_of,
    negotiated_extensions,
    pop_old_arguments,
)

__all__ = ["WebSocketClientProtocol", "connect", "unix_connect"]


class WebSocketClientProtocol(WebSocketCommonProtocol, ClientConnection):
    """A connection opened by the legacy :func:`connect`.

    :func:`connect` creates it with ``create_protocol(**options)``;
    subclass it and pass the subclass as ``create_protocol`` to add to it.

    Args:
        host: Host of the URI.
        port: Port of the URI.
        secure: Whether the URI is ``wss://``.
        others: As for :func:`connect`.
    """

    is_client = True
    side = "client"

    def __init__(
        self,
        *,
        logger: LoggerLike | None = None,
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        extra_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
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
        secure = bool(secure)
        # The legacy connection learns its URI at the handshake; until then,
        # the core has the host and port, which are all it needs to connect.
        uri = WebSocketURI(
            secure, host or "localhost", port or (443 if secure else 80), path="/", query=""
        )
        core = ClientProtocol(
            uri, origin=origin, extensions=extensions, subprotocols=subprotocols,
            max_size=max_size, logger=logger,
        )  # fmt: skip
        super().__init__(
            core,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
            write_limit=write_limit,
        )
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.extra_headers = extra_headers
        self.user_agent_header = user_agent_header
        self.read_limit = read_limit
        self._set_legacy_attributes(host, port, secure, legacy_recv)


class Connect(client.connect):
    """Connect to the WebSocket server at ``uri``, with the legacy API's arguments.

    Await it, also with ``loop.run_until_complete()``, or use it as an
    asynchronous context manager, which closes the connection on exit; or
    iterate over it to reconnect.

    Args:
        uri: URI of the server, ``ws://`` or ``wss://``.
        create_protocol: :class:`WebSocketClientProtocol` or a subclass, or a
            function that takes the same arguments and returns one.
        extra_headers: Headers added to the handshake request.
        max_queue: Frames buffered before reading pauses.
        read_limit: Accepted and ignored: reads are bounded by ``max_size``.
        others: As for :func:`wskit.asyncio.client.connect`, whose other
            keyword arguments are accepted too (``proxy`` included, but no
            proxy is used by default, as in the legacy API).

    Raises:
        InvalidStatusCode: The server refused the handshake.
        ValueError: ``ssl`` is given for a ``ws://`` URI.
        others: As for :func:`wskit.asyncio.client.connect`.
    """

    def __init__(
        self,
        uri: str,
        *,
        create_protocol: Callable[..., WebSocketClientProtocol] | None = None,
        logger: LoggerLike | None = None,
        compression: str | None = "deflate",
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        extra_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
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
            kwargs, create_protocol, WebSocketClientProtocol, close_timeout
        )
        if not parse_uri(uri).secure and kwargs.get("ssl") is not None:
            raise ValueError(
                "connect() received a ssl argument for a ws:// URI, use a wss:// URI to enable TLS"
            )
        extensions = negotiated_extensions(
            compression, extensions, subprotocols, enable_client_permessage_deflate
        )
        self.protocol_factory_options: dict[str, Any] = {
            "logger": logger,
            "origin": origin,
            "extensions": extensions,
            "subprotocols": subprotocols,
            "extra_headers": extra_headers,
            "user_agent_header": user_agent_header,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_size": max_size,
            "max_queue": max_queue,
            "read_limit": read_limit,
            "write_limit": write_limit,
            "legacy_recv": legacy_recv,
        }
        kwargs.setdefault("proxy", None)
        super().__init__(
            uri,
            compression=None,
            additional_headers=extra_headers,
            user_agent_header=user_agent_header,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            logger=logger,
            create_connection=cast(type[ClientConnection], self._create_protocol),
            **kwargs,
        )

    def _create_protocol(self, core: ClientProtocol, **options: Any) -> WebSocketClientProtocol:
        """Make the legacy connection for an attempt to connect to ``core.uri``.

        The asyncio client calls it where it would create a
        :class:`~wskit.asyncio.client.ClientConnection`, with a core made for
        the URI of this attempt (redirects change it). The legacy connection
        makes its own core from the legacy arguments; it takes the URI.
        """
        uri = core.uri
        connection: WebSocketClientProtocol = self.create_protocol(
            **self.protocol_factory_options, host=uri.host, port=uri.port, secure=uri.secure
        )
        connection.protocol.uri = uri
        return connection

    async def _connect(self) -> WebSocketClientProtocol:
        try:
            return cast(WebSocketClientProtocol, await super()._connect())
        except InvalidStatus as exc:
            refused = InvalidStatusCode(exc.response.status_code, exc.response.headers)
            refused.response = exc.response
            raise refused from exc

    def __await__(self) -> Generator[Any, None, WebSocketClientProtocol]:
        return self._connect().__await__()

    async def __aenter__(self) -> WebSocketClientProtocol:
        # Through the asyncio client's, which records the connection that
        # __aexit__() closes.
        return cast(WebSocketClientProtocol, await super().__aenter__())


connect = Connect


def unix_connect(path: str | None = None, uri: str = "ws://localhost/", **kwargs: Any) -> Connect:
    """Connect to a legacy-API WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`connect`; ``uri`` sets the ``Host``
    header and the resource path.
    """
    return connect(uri, path=path, unix=True, **kwargs)
