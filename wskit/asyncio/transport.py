"""The socket transport of a connection wskit makes itself on asyncio's own loop.

On asyncio's selector event loop, ``wskit.asyncio.accept`` and
``wskit.asyncio.connect`` make plain (non-TLS) socket transports
themselves. They take wskit's own, ``SocketTransport`` from the C accelerator
(``wskit/_speedups_transport*.c``), which behaves as asyncio's
``_SelectorSocketTransport`` but reads and writes without Python bytecode,
reads again at once while reads fill the buffer, and sends what
``writelines()`` is given in one system call. Given a context (a server's
transports share one), it runs its reads and callbacks there and is its
own reader handle for the loop: no :class:`asyncio.Handle`, bound method
and context copy per transport for the garbage collector to walk while
the connection is open. Without the accelerator
(``WSKIT_NO_SPEEDUPS=1``, or not built), or on a loop whose
``_make_socket_transport()`` isn't asyncio's own, asyncio's transport, its
pure-Python twin, is made as the loop would make it.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from asyncio.selector_events import BaseSelectorEventLoop
from typing import Any

from ..speedups import socket_transport

__all__ = ["make_socket_transport", "reads_as_asyncio"]

SocketTransport = socket_transport()
_ASYNCIO_MAKE = BaseSelectorEventLoop._make_socket_transport  # type: ignore[attr-defined]
# What the loop does with a reader handle: wskit's transport stands in for
# one only where these are asyncio's own.
_READER_METHODS = ("_add_reader", "_remove_reader", "_process_events", "_run_once")


def reads_as_asyncio(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether wskit's transport can be ``loop``'s reader handle itself."""
    return SocketTransport is not None and all(
        getattr(getattr(loop, name, None), "__func__", None)
        is getattr(BaseSelectorEventLoop, name, None)
        for name in _READER_METHODS
    )


def make_socket_transport(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    protocol: asyncio.BaseProtocol,
    waiter: asyncio.Future[None] | None = None,
    *,
    extra: dict[str, Any] | None = None,
    server: asyncio.Server | None = None,
    context: contextvars.Context | None = None,
) -> asyncio.Transport:
    """What ``loop._make_socket_transport(sock, protocol, waiter, extra=extra,
    server=server)`` returns, with wskit's transport where it can: the
    transport starts on the loop's next pass. ``context``, for wskit's
    transport, where reads and callbacks run, if :func:`reads_as_asyncio`."""
    make = loop._make_socket_transport  # type: ignore[attr-defined]
    if SocketTransport is None or getattr(make, "__func__", None) is not _ASYNCIO_MAKE:
        transport: asyncio.Transport = make(sock, protocol, waiter, extra=extra, server=server)
        return transport
    return SocketTransport(loop, sock, protocol, waiter, extra, server, context=context)
