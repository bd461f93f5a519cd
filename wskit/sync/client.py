"""WebSocket clients with threads.

A client in a few lines::

    from wskit.sync.client import connect

    with connect("ws://localhost:8765") as websocket:
        websocket.send("Hello world!")
        print(websocket.recv())
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl as ssl_module
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, cast

from ..client import ClientProtocol
from ..datastructures import HeadersLike
from ..exceptions import InvalidStatus
from ..extensions.base import ClientExtensionFactory
from ..extensions.permessage_deflate import enable_client_permessage_deflate
from ..http11 import USER_AGENT, Response
from ..protocol import CONNECTING
from ..proxy import Proxy, proxy_handshake
from ..reconnect import Retry, backoff, process_exception
from ..shared.connecting import (
    check_unix_address,
    handshake_request,
    renamed_ssl_context,
    select_proxy,
    uses_proxy_tls,
    uses_tls,
)
from ..shared.options import checked_extensions
from ..shared.redirects import Redirects
from ..tunnel import TunnelHandshake
from ..typing import LoggerLike, Origin, Subprotocol
from ..uri import WebSocketURI, parse_uri
from .connection import Connection
from .utils import Deadline

__all__ = [
    "ClientConnection",
    "connect",
    "process_exception",
    "reconnect",
    "unix_connect",
    "unix_reconnect",
]

_WOULD_BLOCK = (BlockingIOError, ssl_module.SSLWantReadError, ssl_module.SSLWantWriteError)

# Bytes the relay of TLS in TLS holds in each direction before it stops
# reading: the slower side sets the pace.
_RELAY_BUFFER = 2**18


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
    proxy: str | Literal[True] | None = True,
    proxy_ssl: ssl_module.SSLContext | None = None,
    proxy_server_hostname: str | None = None,
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

    To reconnect automatically, iterate over :class:`reconnect` instead.

    The arguments are those of :func:`wskit.asyncio.client.connect`, except
    ``write_limit`` (writes block instead), plus ``sock`` (a connected socket
    to use), ``ssl`` (an :class:`~ssl.SSLContext`; ``wss://`` implies a
    default one), ``server_hostname`` (the name to check the certificate
    against), and for an ``https://`` proxy ``proxy_ssl`` and
    ``proxy_server_hostname``. ``address``, a ``(host, port)`` pair, connects
    elsewhere than the URI says (through the proxy, if any), which keeps its
    host name for ``Host`` and TLS. Other keyword arguments go to
    :func:`socket.create_connection`, to the server or to the proxy.

    Redirects of the opening handshake are followed, as with asyncio.

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
    ssl = renamed_ssl_context(ssl, kwargs)
    ws_uri = parse_uri(uri)
    uses_tls(ws_uri, ssl)  # reject ssl with ws:// at once
    extensions = checked_extensions(
        extensions, subprotocols, compression, enable_client_permessage_deflate
    )
    connection_class = ClientConnection if create_connection is None else create_connection
    unix = kwargs.pop("unix", False)
    path = kwargs.pop("path", None)
    address = kwargs.pop("address", None)
    if sock is not None or unix:
        select_proxy(proxy, ws_uri, direct=True)  # an explicit proxy can't apply

    deadline = Deadline(open_timeout)
    redirects = Redirects(ws_uri)
    while True:
        ws_uri = redirects.uri
        if sock is not None:
            tcp = sock
        elif unix:
            tcp = _connect_unix(cast(str, path), deadline)
        else:
            tcp = _connect_tcp(
                ws_uri,
                address,
                deadline,
                proxy=proxy,
                proxy_ssl=proxy_ssl,
                proxy_server_hostname=proxy_server_hostname,
                user_agent_header=user_agent_header,
                kwargs=kwargs,
            )
        try:
            if uses_tls(ws_uri, ssl):
                context = ssl_module.create_default_context() if ssl is None else ssl
                if isinstance(tcp, ssl_module.SSLSocket):  # an https:// proxy
                    tcp = _tls_in_tls(tcp)
                tcp.settimeout(deadline.timeout())
                tcp = context.wrap_socket(tcp, server_hostname=server_hostname or ws_uri.host)
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
                tcp,
                protocol,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
            )
        except BaseException:
            tcp.close()
            raise

        try:
            connection.handshake(
                redirects.headers(additional_headers),
                user_agent_header,
                deadline.timeout(raise_if_elapsed=False),
            )
        except InvalidStatus as exc:
            connection._abort()
            connection.wait_for_close()
            moved = redirects.follow(
                exc.response,
                sock=sock is not None,
                fixed_address=unix or address is not None,
            )
            if not moved:
                raise
        except BaseException:
            connection._abort()
            connection.wait_for_close()
            raise
        else:
            return connection


def _connect_unix(path: str, deadline: Deadline) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(deadline.timeout())
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_tcp(
    ws_uri: WebSocketURI,
    address: tuple[str, int] | None,
    deadline: Deadline,
    *,
    proxy: str | Literal[True] | None,
    proxy_ssl: ssl_module.SSLContext | None,
    proxy_server_hostname: str | None,
    user_agent_header: str | None,
    kwargs: dict[str, Any],
) -> socket.socket:
    """Open a TCP connection to the server, through a tunnel if there's a proxy."""
    host, port = (ws_uri.host, ws_uri.port) if address is None else address
    selected = select_proxy(proxy, ws_uri)
    if selected is None:
        sock = socket.create_connection((host, port), deadline.timeout(), **kwargs)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        return sock
    proxy_tls = uses_proxy_tls(selected, proxy_ssl)
    sock = socket.create_connection((selected.host, selected.port), deadline.timeout(), **kwargs)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        if proxy_tls:
            context = ssl_module.create_default_context() if proxy_ssl is None else proxy_ssl
            sock.settimeout(deadline.timeout())
            sock = context.wrap_socket(sock, server_hostname=proxy_server_hostname or selected.host)
        _open_tunnel(sock, selected, host, port, deadline, user_agent_header=user_agent_header)
    except BaseException:
        sock.close()
        raise
    return sock


def _open_tunnel(
    sock: socket.socket,
    proxy: Proxy,
    host: str,
    port: int,
    deadline: Deadline,
    *,
    user_agent_header: str | None,
) -> None:
    """Ask the proxy at the other end of ``sock`` for a tunnel to ``host:port``."""
    if proxy.resolves_locally(host):
        host = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
    handshake: TunnelHandshake = proxy_handshake(
        proxy, host, port, user_agent_header=user_agent_header
    )
    while True:
        data = handshake.data_to_send()
        if data:
            sock.settimeout(deadline.timeout())
            sock.sendall(data)
        if handshake.established:
            return
        if handshake.exc is not None:
            raise handshake.exc
        sock.settimeout(deadline.timeout())
        data = sock.recv(4096)
        if data:
            handshake.receive_data(data)
        else:
            handshake.receive_eof()


def _tls_in_tls(outer: ssl_module.SSLSocket) -> socket.socket:
    """Return a socket whose bytes travel inside the TLS connection ``outer``.

    TLS with the server inside TLS with an ``https://`` proxy: an
    :class:`~ssl.SSLSocket` can't wrap another one, and the connection
    needs a real socket to wait on, so a thread relays bytes between a
    socket pair and ``outer``. It ends, closing ``outer``, when the
    returned socket closes.
    """
    inner, local = socket.socketpair()
    thread = threading.Thread(
        target=_relay, args=(outer, local), name="wskit proxy relay", daemon=True
    )
    thread.start()
    return inner


def _relay(outer: ssl_module.SSLSocket, local: socket.socket) -> None:
    with contextlib.closing(outer), contextlib.closing(local):
        outer.setblocking(False)
        local.setblocking(False)
        to_outer = bytearray()
        to_local = bytearray()
        local_open = outer_open = True
        eof_forwarded = False
        with contextlib.suppress(OSError):
            while local_open or to_outer:
                readers: list[socket.socket] = []
                if local_open and len(to_outer) < _RELAY_BUFFER:
                    readers.append(local)
                if outer_open and len(to_local) < _RELAY_BUFFER:
                    readers.append(outer)
                writers = [sock for sock, data in ((outer, to_outer), (local, to_local)) if data]
                readable: list[socket.socket]
                writable: list[socket.socket]
                if outer in readers and outer.pending():
                    readable, writable = [outer], []  # decrypted already: poll can't see it
                else:
                    readable, writable, _ = select.select(readers, writers, [])
                for sock in writable:
                    data = to_outer if sock is outer else to_local
                    with contextlib.suppress(*_WOULD_BLOCK):
                        del data[: sock.send(data)]
                for sock in readable:
                    try:
                        chunk = sock.recv(_RELAY_BUFFER)
                    except _WOULD_BLOCK:
                        continue  # TLS: half a record so far
                    if sock is outer:
                        to_local += chunk
                        outer_open = bool(chunk)
                    else:
                        to_outer += chunk
                        local_open = bool(chunk)
                if not outer_open and not to_local and not eof_forwarded:
                    local.shutdown(socket.SHUT_WR)  # the connection sees the end
                    eof_forwarded = True


def unix_connect(
    path: str | None = None, uri: str | None = None, **kwargs: Any
) -> ClientConnection:
    """Connect to a WebSocket server listening on a Unix socket at ``path``.

    Takes the same arguments as :func:`connect`. ``uri`` defaults to
    ``ws://localhost/``, or ``wss://localhost/`` with ``ssl``.
    """
    check_unix_address(path, kwargs.get("sock"))
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri, unix=True, path=path, **kwargs)


class reconnect:
    """Connect to the WebSocket server at ``uri``, and again whenever needed.

    Iterate over it to get a new connection each time the last one ends::

        for websocket in reconnect("ws://localhost:8765"):
            try:
                ...
            except ConnectionClosed:
                continue

    Each connection is closed when its iteration ends. When an attempt to
    connect fails, ``process_exception`` tells whether it's worth trying
    again (a refused connection, a 503) or not (a 403, an invalid URI,
    which are raised); attempts are spaced by ``reconnect_delays``. An
    exception raised in the body of the loop ends it.

    Used as a context manager, it connects once, like :func:`connect`.

    Args:
        uri: URI of the server.
        process_exception: Tells whether a failed attempt is worth retrying:
            returns :obj:`None` to retry, or the exception to raise. See
            :func:`wskit.reconnect.process_exception`.
        reconnect_delays: Starts the sequence of delays between attempts;
            :func:`wskit.reconnect.backoff` by default, tuned by
            ``WSKIT_BACKOFF_*`` environment variables.
        kwargs: The arguments of :func:`connect`.
    """

    def __init__(
        self,
        uri: str,
        *,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        reconnect_delays: Callable[[], Generator[float, None, None]] = backoff,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.process_exception = process_exception
        self.reconnect_delays = reconnect_delays
        self.kwargs = kwargs
        self.connection: ClientConnection | None = None

    def __iter__(self) -> Iterator[ClientConnection]:
        retry = Retry(self.process_exception, self.reconnect_delays, self.kwargs.get("logger"))
        while True:
            try:
                connection = connect(self.uri, **self.kwargs)
            except Exception as exc:
                time.sleep(retry.failed(exc))
                continue
            retry.succeeded()
            try:
                yield connection
            finally:
                connection.close()

    def __enter__(self) -> ClientConnection:
        self.connection = connect(self.uri, **self.kwargs)
        return self.connection

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.connection is not None:
            self.connection.close()


def unix_reconnect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> reconnect:
    """Like :class:`reconnect`, with a server listening on a Unix socket at ``path``.

    ``uri`` defaults as in :func:`unix_connect`.
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return reconnect(uri, unix=True, path=path, **kwargs)
