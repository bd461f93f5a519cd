"""The socket transport of a connection wskit makes itself on asyncio's own loop.

On asyncio's selector event loop, :mod:`wskit.asyncio.accept` and
:mod:`wskit.asyncio.connect` make plain (non-TLS) socket transports
themselves. They take wskit's own, ``SocketTransport`` from the C accelerator
(``wskit/_speedups_transport*.c``), which behaves as asyncio's
``_SelectorSocketTransport`` but reads and writes without Python bytecode, and
calls a connection's C read path directly. Without the accelerator
(``WSKIT_NO_SPEEDUPS=1``, or not built), or on a loop whose
``_make_socket_transport()`` isn't asyncio's own, asyncio's transport, its
pure-Python twin, is made as the loop would make it.
"""

from __future__ import annotations

import asyncio
import socket
from asyncio.selector_events import BaseSelectorEventLoop
from typing import Any

from ..speedups import socket_transport

__all__ = ["make_socket_transport"]

SocketTransport = socket_transport()
_ASYNCIO_MAKE = BaseSelectorEventLoop._make_socket_transport  # type: ignore[attr-defined]


def make_socket_transport(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    protocol: asyncio.BaseProtocol,
    waiter: asyncio.Future[None] | None = None,
    *,
    extra: dict[str, Any] | None = None,
    server: asyncio.Server | None = None,
) -> asyncio.Transport:
    """What ``loop._make_socket_transport(sock, protocol, waiter, extra=extra,
    server=server)`` returns, with wskit's transport where it can: the
    transport starts on the loop's next pass."""
    make = loop._make_socket_transport  # type: ignore[attr-defined]
    if SocketTransport is None or getattr(make, "__func__", None) is not _ASYNCIO_MAKE:
        transport: asyncio.Transport = make(sock, protocol, waiter, extra=extra, server=server)
        return transport
    return SocketTransport(loop, sock, protocol, waiter, extra, server)
