"""Connect a threading client to a handler without a port.

The threading layer is built on blocking sockets: its connections read in a
thread of their own, with ``recv()`` and timeouts on a real file descriptor.
An in-memory stand-in would have to imitate all of a socket's blocking,
timeout and shutdown behaviour, and would then test that imitation rather
than wskit. :func:`socket.socketpair` gives the real thing without a
network: two connected Unix sockets, no address, no port, nothing another
process can reach. The client and the handler's
:class:`~wskit.sync.server.ServerConnection` run exactly as in production.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from ..sync.client import ClientConnection
from ..sync.client import connect as client_connect
from ..sync.server import ServerConnection, serve

__all__ = ["connect"]

# Seconds to wait for the handler's thread once the client closed.
HANDLER_TIMEOUT = 10


@contextmanager
def connect(
    handler: Callable[[ServerConnection], None],
    path: str = "/",
    *,
    uri: str | None = None,
    server_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Iterator[ClientConnection]:
    """Connect to ``handler`` over a socket pair, in a ``with`` block.

    Example::

        with connect(echo, "/chat") as websocket:
            websocket.send("hello")
            assert websocket.recv() == "hello"

    The handler runs in a thread with a real
    :class:`~wskit.sync.server.ServerConnection`. On exit, the client closes,
    then the server closes and waits up to ``HANDLER_TIMEOUT`` seconds for
    the handler to return.

    Args:
        handler: The connection handler.
        path: Path and query of the request.
        uri: Full URI instead of ``path``.
        server_options: Options of :func:`wskit.sync.server.serve`
            (``process_request``, ``subprotocols``...).
        kwargs: Options of :func:`wskit.sync.client.connect`.
    """
    client_sock, server_sock = socket.socketpair()
    # serve() wants a socket to listen on; this one never binds nor accepts.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server = serve(handler, sock=listener, unix=True, **(server_options or {}))
    except BaseException:
        for sock in (client_sock, server_sock, listener):
            sock.close()
        raise
    with server:
        thread = threading.Thread(
            target=server.handler, args=(server_sock, None), name="wskit test handler"
        )
        thread.start()
        try:
            with client_connect(
                uri or f"ws://testserver{path}", sock=client_sock, proxy=None, **kwargs
            ) as websocket:
                yield cast(ClientConnection, websocket)
        finally:
            server.shutdown()
            thread.join(HANDLER_TIMEOUT)
