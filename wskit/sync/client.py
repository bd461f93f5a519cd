"""WebSocket clients with threads.

A client in a few lines::

    from wskit.sync.client import connect

    with connect("ws://localhost:8765") as websocket:
        websocket.send("Hello world!")
        print(websocket.recv())
"""

from __future__ import annotations

import socket
import ssl as ssl_module
from collections.abc import Sequence
from typing import Any

from ..client import ClientProtocol
from ..connecting import handshake_request, uses_tls
from ..datastructures import HeadersLike
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..headers import validate_subprotocols
from ..http11 import USER_AGENT, Response
from ..protocol import CONNECTING
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import parse_uri
from .connection import Connection
from .utils import Deadline

__all__ = ["ClientConnection", "connect", "unix_connect"]


class ClientConnection(Connection):
    """A WebSocket connection opened by :func:`connect`.

    Arguments are those of :func:`connect` that shape one connection.
    """

    def __init__(
        self,
        socket: socket.socket,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
    ) -> None:
        self.protocol: ClientProtocol
        super().__init__(
            socket,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )

    def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        timeout: float | None = None,
    ) -> None:
        """Send the opening handshake request and read the response.

        Raises:
            TimeoutError: No response arrived in time.
            InvalidHandshake: The server refused the connection or answered
                something that isn't a valid handshake response.
        """
        with self.protocol_mutex:
            self.request = handshake_request(self.protocol, additional_headers, user_agent_header)
            # The reader thread runs already: if the server hung up at once,
            # the handshake failed before the request could go out.
            if self.protocol.state is CONNECTING:
                self.protocol.send_request(self.request)
                self._queue_writes()
        self._flush()
        if not self.handshake_done.wait(timeout):
            raise TimeoutError("timed out while waiting for the handshake response")
        # Don't test for OPEN: the server may close right after accepting, and
        # the reader thread may handle its close frame before this thread
        # wakes up. The connection opened then; recv() reports how it ended.
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc
        if self.response is None:
            raise ConnectionError("connection closed during the opening handshake")

    def process_event(self, event: Any) -> None:
        """Record the handshake response, then handle frames as usual."""
        if isinstance(event, Response):
            self.response = event
        super().process_event(event)


def connect(
    uri: str,
    *,
    sock: socket.socket | None = None,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
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
    logger: LoggerLike | None = None,
    create_connection: type[ClientConnection] | None = None,
    **kwargs: Any,
) -> ClientConnection:
    """Connect to the WebSocket server at ``uri``.

    Use the result as a context manager to close the connection on exit::

        with connect("ws://localhost:8765") as websocket:
            ...

    The arguments are those of :func:`wskit.asyncio.client.connect`, except
    ``write_limit`` (writes block instead), plus ``sock`` (a connected socket
    to use), ``ssl`` (an :class:`~ssl.SSLContext`; ``wss://`` implies a
    default one) and ``server_hostname`` (the name to check the certificate
    against). Other keyword arguments go to :func:`socket.create_connection`.

    Raises:
        InvalidURI: ``uri`` isn't a valid WebSocket URI.
        OSError: The TCP connection failed.
        InvalidHandshake: The opening handshake failed.
        TimeoutError: The opening handshake timed out.
    """
    ws_uri = parse_uri(uri)
    if uses_tls(ws_uri, ssl) and ssl is None:
        ssl = ssl_module.create_default_context()
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    if compression == "deflate":
        extensions = enable_client_permessage_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    connection_class = ClientConnection if create_connection is None else create_connection

    deadline = Deadline(open_timeout)
    unix = kwargs.pop("unix", False)
    path = kwargs.pop("path", None)
    if sock is None:
        if unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(deadline.timeout())
                sock.connect(path)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(
                (ws_uri.host, ws_uri.port), deadline.timeout(), **kwargs
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)

    try:
        if ssl is not None:
            sock.settimeout(deadline.timeout())
            sock = ssl.wrap_socket(sock, server_hostname=server_hostname or ws_uri.host)
        # The connection takes the socket over and makes it non-blocking.
        protocol = ClientProtocol(
            ws_uri,
            origin=origin,
            extensions=extensions,
            subprotocols=subprotocols,
            max_size=max_size,
            logger=logger,
        )
        connection = connection_class(
            sock,
            protocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )
    except BaseException:
        sock.close()
        raise

    try:
        connection.handshake(
            additional_headers, user_agent_header, deadline.timeout(raise_if_elapsed=False)
        )
    except BaseException:
        connection._abort()
        connection.wait_for_close()
        raise
    return connection


def unix_connect(
    path: str | None = None, uri: str | None = None, **kwargs: Any
) -> ClientConnection:
    """Connect to a WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`connect`. ``uri`` defaults to
    ``ws://localhost/``, or ``wss://localhost/`` with ``ssl``.
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri, unix=True, path=path, **kwargs)
