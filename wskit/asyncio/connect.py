"""Connecting to an IP address on asyncio's own event loop in fewer steps.

``loop.create_connection(factory, host, port)`` resolves ``host`` twice
when it is an IP address already (``_ensure_resolved()``, once in
``create_connection()`` and again in ``sock_connect()``: enums, a coroutine
each), then connects in a future of its own with callbacks: ~700 of a
client handshake's ~8,550 bytecodes. Here the socket connects, waits to be
writable, and gets its transport as asyncio's would: the same system calls,
the same exceptions (``OSError(errno, "Connect call failed (host, port)")``).

The transport is made as :mod:`wskit.asyncio.accept` makes it (see
:mod:`wskit.asyncio.transport`). This uses the loop's private
``_add_writer()``/``_remove_writer()``, as ``sock_connect()`` does. Host
names, TLS, any other argument of ``create_connection()``, and loops that
aren't asyncio's own selector loop (uvloop, a loop that overrides how it
connects) keep asyncio's way.
"""

from __future__ import annotations

import asyncio
import socket
from asyncio.log import logger as asyncio_logger
from collections.abc import Callable
from typing import Any, TypeVar

from .transport import make_socket_transport

__all__ = ["connect_directly", "literal_address"]

P = TypeVar("P", bound=asyncio.BaseProtocol)

# asyncio's own create_connection(): a loop that keeps it makes its
# transports with _make_socket_transport(), patched or not, as this does.
_CREATE_CONNECTION = asyncio.SelectorEventLoop.create_connection


def _connects_as_asyncio(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` is asyncio's selector loop, connecting as asyncio does."""
    # The method rather than vars(loop), as in wskit.asyncio.accept; a
    # subclass or a patched instance may override it.
    return (
        isinstance(loop, asyncio.SelectorEventLoop)
        and getattr(loop.create_connection, "__func__", None) is _CREATE_CONNECTION
    )


def literal_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]] | None:
    """The family and address of ``host`` if it's an IP address, as asyncio
    resolves it; :obj:`None` for anything to resolve."""
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        try:
            socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            return None
        return socket.AF_INET6, (host, port, 0, 0)
    return socket.AF_INET, (host, port)


async def connect_directly(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], P],
    host: str,
    port: int,
) -> P | None:
    """``loop.create_connection(factory, host, port)``'s protocol, connected,
    when ``host`` is an IP address and ``loop`` allows; :obj:`None` otherwise:
    then call ``create_connection()``."""
    if not _connects_as_asyncio(loop):
        return None
    resolved = literal_address(host, port)
    if resolved is None:
        return None
    family, address = resolved
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        try:
            sock.connect(address)
        except (BlockingIOError, InterruptedError):
            await _writable(loop, sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error != 0:
                raise OSError(error, f"Connect call failed {address}") from None
        protocol = factory()
        waiter = loop.create_future()
        transport = make_socket_transport(loop, sock, protocol, waiter)
    except BaseException:
        sock.close()
        raise
    try:
        await waiter  # connection_made() has run
    except BaseException:
        transport.close()
        raise
    if loop.get_debug():  # as create_connection() says it
        asyncio_logger.debug(
            "%r connected to %s:%r: (%r, %r)",
            transport.get_extra_info("socket"),
            host,
            port,
            transport,
            protocol,
        )
    return protocol


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Wait until the connecting ``sock`` is writable: connected, or failed."""
    waiter = loop.create_future()
    fd = sock.fileno()
    # The private methods, as sock_connect() does: the public ones check
    # that no transport owns ``fd``, which none does yet (~40 bytecodes).
    loop._add_writer(fd, _wake, waiter)  # type: ignore[attr-defined]
    try:
        await waiter
    finally:
        loop._remove_writer(fd)  # type: ignore[attr-defined]


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
