"""What every connection object exposes, whichever I/O layer runs it.

The asyncio and threading connections both derive these attributes from the
Sans-I/O :class:`~wskit.protocol.Protocol` they drive; they add how to wait.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar, cast

from ..http11 import Request, Response
from ..protocol import Protocol, State
from ..typing import LoggerLike, Subprotocol
from .keepalive import PendingPings

__all__ = ["ConnectionAttributes", "ConnectionExtra"]

Waiter = TypeVar("Waiter")


class ConnectionExtra(Mapping[str, object]):
    """The ``extra`` of a connection's logger: ``websocket``, the connection.

    It holds the connection weakly. The connection holds its logger, and so
    does its core: a strong reference back would make a cycle of every
    connection, which only the garbage collector frees (see ARCHITECTURE.md,
    performance devices).
    """

    __slots__ = ("connection",)

    def __init__(self, connection: object) -> None:
        self.connection = weakref.ref(connection)

    def __getitem__(self, key: str) -> object:
        if key != "websocket":
            raise KeyError(key)
        return self.connection()

    def __iter__(self) -> Iterator[str]:
        return iter(("websocket",))

    def __len__(self) -> int:
        return 1


class ConnectionAttributes(Generic[Waiter]):
    """The attributes of a connection that come from its Sans-I/O protocol.

    Args:
        protocol: The Sans-I/O connection.

    ``Waiter`` is what waits for a pong in the I/O layer.
    """

    # What's set once lives in slots, out of the instance dict, which CPython
    # keeps fast only up to 29 attributes (see wskit.protocol.Protocol). The
    # I/O layers do the same with their settings and closing state.
    __slots__ = ("__dict__", "__weakref__", "request", "response")

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        # Every record names the connection, including the core's.
        self.logger: LoggerLike = logging.LoggerAdapter(protocol.logger, ConnectionExtra(self))
        """Logger for this connection."""
        protocol.logger = self.logger
        self.debug = protocol.debug
        self.request: Request | None = None
        """The opening handshake request."""
        self.response: Response | None = None
        """The opening handshake response."""
        self.pings: PendingPings[Waiter] = PendingPings()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.id)[:8]} {self.protocol.state.name}>"

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection (a random UUID), handy in logs.

        The core's :attr:`~wskit.protocol.Protocol.id`, drawn when first read.
        """
        return self.protocol.id

    @id.setter
    def id(self, value: uuid.UUID) -> None:
        self.protocol.id = value

    @property
    def state(self) -> State:
        """State of the WebSocket connection: CONNECTING, OPEN, CLOSING or CLOSED."""
        return self.protocol.state

    @property
    def subprotocol(self) -> Subprotocol | None:
        """Subprotocol negotiated in the opening handshake, if any."""
        return cast(Subprotocol | None, getattr(self.protocol, "subprotocol", None))

    @property
    def close_code(self) -> int | None:
        """Close code received from the peer, once the connection is closed."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """Close reason received from the peer, once the connection is closed."""
        return self.protocol.close_reason

    @property
    def latency(self) -> float:
        """Round-trip time of the last ping answered, in seconds; 0 before any."""
        return self.pings.latency
