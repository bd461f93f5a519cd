"""Accepting connections on asyncio's own event loop without a task per connection.

asyncio's selector loop accepts each connection in a task of its own: a
coroutine makes the protocol and the transport, then waits on a future for
the transport to start. A WebSocket server runs a task per connection
already (the handshake and the handler); asyncio's costs as much again in
asyncio's Python, ~41K instructions of a server handshake's ~558K. Here the
listening socket's reader makes the protocol and the transport at once, as
uvloop does: the transport starts on the loop's next pass, as it would
after asyncio's task.

The transport is wskit's own where it can be (see :mod:`wskit.asyncio.transport`),
else the loop's private ``_make_socket_transport()``'s. This uses the server's
``_sockets``, unchanged from Python 3.11 to 3.13; tests hold them to what
this module expects (``tests/asyncio/test_accept.py``). A loop that isn't
asyncio's own selector loop, or that overrides how it accepts or serves
(uvloop, aiofastnet's patched loop), and TLS servers keep asyncio's way.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import socket
from collections.abc import Callable
from typing import Any

from .transport import make_socket_transport, reads_as_asyncio

__all__ = ["accept_directly"]

# As asyncio: errors that say the process or the system is out of a
# resource, after which accepting pauses for a while rather than spinning.
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# How long accepting pauses then, asyncio's ACCEPT_RETRY_DELAY.
RETRY_DELAY = 1.0


def _accepts_as_asyncio(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` is asyncio's selector loop, serving as asyncio does."""
    base = asyncio.SelectorEventLoop
    if not isinstance(loop, base):
        return False
    if not hasattr(loop, "_make_socket_transport"):
        return False  # a Python without it keeps asyncio's way
    # aiofastnet patches the instance's methods; a subclass may override them.
    # Not vars(loop): it would turn the loop's attributes into a dict, which
    # makes every attribute of the loop slower to read (3.11: ~20K
    # instructions per handshake).
    for name in ("_accept_connection", "_start_serving", "create_server", "create_unix_server"):
        function = getattr(getattr(loop, name, None), "__func__", None)
        if function is None or function is not getattr(base, name, None):
            return False
    return True


def accept_directly(
    server: asyncio.Server,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    backlog: int = 100,
) -> bool:
    """Accept ``server``'s connections without a task each, if its loop allows.

    ``server`` is serving, without TLS, created by ``create_server()`` or
    ``create_unix_server()`` with ``protocol_factory``. Returns whether its
    listening sockets' readers were replaced.
    """
    loop = server.get_loop()
    sockets = getattr(server, "_sockets", None)
    if not _accepts_as_asyncio(loop) or not server.is_serving() or not sockets:
        return False
    for sock in sockets:
        _start_accepting(loop, server, sock, protocol_factory, backlog)
    return True


def _start_accepting(
    loop: Any,
    server: asyncio.Server,
    sock: socket.socket,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    backlog: int,
) -> None:
    """Make the reader of one listening socket: accept what's there, up to ``backlog``."""
    # Replaces asyncio's reader; Server.close() removes it as it would asyncio's.
    if sock.fileno() == -1:  # closed while accepting paused
        return
    # What socket.accept() does, without reading the listening socket's
    # family and type again as enums for each connection (~70 bytecodes).
    family, kind, proto = sock.family, sock.type, sock.proto
    # The transports' reads and callbacks run in one context, the values of
    # a copy of this one, as asyncio's would in a copy each.
    context = contextvars.copy_context() if reads_as_asyncio(loop) else None

    def accept() -> None:
        for _ in range(backlog):
            try:
                fd, address = sock._accept()  # type: ignore[attr-defined]
                conn = socket.socket(family, kind, proto, fd)
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # none left
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise  # the loop logs it, as asyncio's reader would
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": exc,
                        "socket": sock,
                    }
                )
                # The socket stays readable: pause rather than spin.
                loop.remove_reader(sock.fileno())
                loop.call_later(
                    RETRY_DELAY, _start_accepting, loop, server, sock, protocol_factory, backlog
                )
                return
            # The protocol and its transport, which starts on the loop's next pass.
            try:
                make_socket_transport(
                    loop,
                    conn,
                    protocol_factory(),
                    extra={"peername": address},
                    server=server,
                    context=context,
                )
            except Exception as exc:
                # As asyncio's accepting task: the connection is dropped, and
                # said only in debug mode.
                conn.close()
                if loop.get_debug():
                    loop.call_exception_handler(
                        {
                            "message": "Error on transport creation for incoming connection",
                            "exception": exc,
                        }
                    )

    loop.add_reader(sock.fileno(), accept)
