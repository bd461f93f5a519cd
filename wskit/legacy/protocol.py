"""What websockets' legacy server and client connections share, over :mod:`wskit.asyncio`.

:class:`WebSocketCommonProtocol` adds the attributes of the legacy API to a
:class:`wskit.asyncio.connection.Connection`: ``path``,
``request_headers``, ``response_headers``, ``open``, ``closed`` and the
deprecated ``host``, ``port`` and ``secure``. Everything else (``recv()``,
``send()``, ``ping()``, ``close()``, ``close_code``, iteration that stops
after a normal closure and raises
:exc:`~wskit.exceptions.ConnectionClosedError` after an error) is the
asyncio connection's own.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from ..asyncio import server
from ..asyncio.connection import Connection
from ..datastructures import Headers
from ..exceptions import ConnectionClosed
from ..extensions.base import Extension
from ..headers import validate_subprotocols
from ..http11 import Request, Response
from ..protocol import CLOSED, OPEN
from ..typing import BytesLike, Data, Subprotocol

__all__ = ["WebSocketCommonProtocol", "broadcast"]

Extensions = TypeVar("Extensions")


def close_timeout_of(
    close_timeout: float | None, timeout: float | None, stacklevel: int = 3
) -> float | None:
    """Resolve ``close_timeout`` and its old name ``timeout``, which warns.

    The legacy API's default of :obj:`None` means 10 seconds; ``close_timeout``
    wins when both are given. ``stacklevel`` is where the warning points, as
    for :func:`warnings.warn` called by this function's caller.
    """
    if timeout is None:
        timeout = 10
    else:
        warnings.warn("rename timeout to close_timeout", DeprecationWarning, stacklevel=stacklevel)
    return timeout if close_timeout is None else close_timeout


def check_loop(loop: asyncio.AbstractEventLoop | None, stacklevel: int = 3) -> None:
    """Warn about the ``loop`` argument of old versions; the running loop is used."""
    if loop is not None:
        warnings.warn("remove loop argument", DeprecationWarning, stacklevel=stacklevel)


def pop_old_arguments(
    kwargs: dict[str, Any], create_protocol: Any, default: type, close_timeout: float | None
) -> tuple[Any, float | None, bool]:
    """Take from ``kwargs`` the arguments of ``serve()`` or ``connect()`` that older versions had.

    ``timeout``, ``klass`` and ``loop`` warn where the application called;
    ``legacy_recv`` warns when each connection is made.

    Returns:
        ``create_protocol``, ``close_timeout`` and ``legacy_recv``.
    """
    close_timeout = close_timeout_of(close_timeout, kwargs.pop("timeout", None), stacklevel=4)
    klass = kwargs.pop("klass", None)
    if klass is None:
        klass = default
    else:
        warnings.warn("rename klass to create_protocol", DeprecationWarning, stacklevel=3)
    legacy_recv: bool = kwargs.pop("legacy_recv", False)
    check_loop(kwargs.pop("loop", None), stacklevel=4)
    return klass if create_protocol is None else create_protocol, close_timeout, legacy_recv


def negotiated_extensions(
    compression: str | None,
    extensions: Sequence[Extensions] | None,
    subprotocols: Sequence[Subprotocol] | None,
    enable_deflate: Callable[[Sequence[Extensions] | None], Sequence[Extensions]],
) -> Sequence[Extensions] | None:
    """Check ``compression`` and ``subprotocols``; return the extensions to negotiate.

    Raises:
        ValueError: ``compression`` isn't ``"deflate"`` or :obj:`None`.
    """
    if compression == "deflate":
        extensions = enable_deflate(extensions)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    return extensions


class WebSocketCommonProtocol(Connection):
    """A connection of the legacy API: an asyncio connection with the legacy attributes.

    Use :class:`~wskit.legacy.server.WebSocketServerProtocol` or
    :class:`~wskit.legacy.client.WebSocketClientProtocol`.

    Attributes:
        is_client: Whether this is the client side.
        side: ``"client"`` or ``"server"``.
        legacy_recv: Whether ``recv()`` returns :obj:`None` rather than
            raising once the connection is closed (deprecated).
    """

    is_client: bool
    side: str = "undefined"

    def _set_legacy_attributes(
        self, host: str | None, port: int | None, secure: bool | None, legacy_recv: bool
    ) -> None:
        """Keep what the legacy constructors record beyond the asyncio connection's."""
        self._host = host
        self._port = port
        self._secure = secure
        self.legacy_recv = legacy_recv
        if legacy_recv:
            warnings.warn("legacy_recv is deprecated", DeprecationWarning, stacklevel=3)
            self.recv = self._recv_or_none  # type: ignore[method-assign,assignment]

    async def _recv_or_none(self, decode: bool | None = None) -> Data | None:
        try:
            return await Connection.recv(self, decode)
        except ConnectionClosed:
            return None

    @property
    def path(self) -> str:
        """Path and query of the opening handshake request."""
        return cast(Request, self.request).path

    @property
    def request_headers(self) -> Headers:
        """Headers of the opening handshake request."""
        return cast(Request, self.request).headers

    @property
    def response_headers(self) -> Headers:
        """Headers of the opening handshake response."""
        return cast(Response, self.response).headers

    @property
    def extensions(self) -> list[Extension]:
        """Extensions negotiated in the opening handshake."""
        return self.protocol.extensions

    @property
    def open(self) -> bool:
        """Whether the connection is open: the handshake is done and closing hasn't begun.

        Catching :exc:`~wskit.exceptions.ConnectionClosed` tells the same
        without a race.
        """
        return self.protocol.state is OPEN

    @property
    def closed(self) -> bool:
        """Whether the connection is closed. Both are :obj:`False` while opening or closing."""
        return self.protocol.state is CLOSED

    def _address_hint(self) -> str:
        return "remote_address" if self.is_client else "local_address"

    @property
    def host(self) -> str | None:
        """Deprecated: the host passed to ``serve()`` or found in the URI."""
        warnings.warn(
            f"use {self._address_hint()}[0] instead of host", DeprecationWarning, stacklevel=2
        )
        return self._host

    @property
    def port(self) -> int | None:
        """Deprecated: the port passed to ``serve()`` or found in the URI."""
        warnings.warn(
            f"use {self._address_hint()}[1] instead of port", DeprecationWarning, stacklevel=2
        )
        return self._port

    @property
    def secure(self) -> bool | None:
        """Deprecated: whether the connection runs over TLS."""
        warnings.warn("don't use secure", DeprecationWarning, stacklevel=2)
        return self._secure


def broadcast(
    websockets: Iterable[WebSocketCommonProtocol],
    message: Data | BytesLike,
    raise_exceptions: bool = False,
) -> None:
    """Send a message to many connections at once, without waiting.

    :func:`wskit.asyncio.server.broadcast` with the legacy signature, where
    ``raise_exceptions`` may be passed by position. Unlike the legacy
    function, it skips connections whose write buffer is already over
    ``write_limit``, so a slow client doesn't grow the server's memory.

    Args:
        websockets: The connections; those that aren't open are ignored.
        message: :class:`str` for text, bytes-like for binary.
        raise_exceptions: Raise an :exc:`ExceptionGroup` of why connections
            were skipped, rather than logging a warning for each.
    """
    server.broadcast(websockets, message, raise_exceptions=raise_exceptions)
