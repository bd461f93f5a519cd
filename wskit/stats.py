"""Statistics of connections and servers, for monitoring.

Nothing here runs on the per-message path. The Sans-I/O core counts
messages, frames and bytes in slots where it does the work anyway (see
:class:`~wskit.protocol.Protocol`); a connection's ``stats`` reads those
counters, its keepalive's latency and its buffers when asked for. A server
counts at the few points a connection's life turns: opened, closed, refused.
"""

from __future__ import annotations

import operator
import threading
import typing
from collections import Counter
from collections.abc import Iterable

from .frames import CloseCode, Frame
from .protocol import Protocol

__all__ = ["COUNTERS", "ConnectionStats", "ServerStats", "StatsSource", "queued_bytes"]


class ConnectionStats:
    """What a connection has done so far, read at one moment.

    Bytes are those on the wire: handshake, frame headers and payloads as
    sent, compressed when the connection compresses.

    Args:
        protocol: The connection's Sans-I/O protocol, whose counters are read.
        latency: Round-trip time of the last ping answered, in seconds; 0
            before any.
        buffered_incoming: Payload bytes received and not read by the
            application yet.
        buffered_outgoing: Bytes sent by the application and not written to
            the network yet.
    """

    __slots__ = (
        "buffered_incoming",
        "buffered_outgoing",
        "bytes_received",
        "bytes_sent",
        "frames_received",
        "frames_sent",
        "latency",
        "messages_received",
        "messages_sent",
        "pings_received",
        "pings_sent",
        "pongs_received",
    )

    def __init__(
        self,
        protocol: Protocol,
        *,
        latency: float,
        buffered_incoming: int,
        buffered_outgoing: int,
    ) -> None:
        self.messages_received: int = protocol.messages_received
        """Whole data messages received."""
        self.messages_sent: int = protocol.messages_sent
        """Whole data messages sent."""
        self.bytes_received: int = protocol.bytes_received
        """Bytes read from the network."""
        self.bytes_sent: int = protocol.bytes_sent
        """Bytes handed to the network layer (written, or buffered for writing)."""
        self.frames_received: int = protocol.frames_received
        """Frames received, control frames included."""
        self.frames_sent: int = protocol.frames_sent
        """Frames sent, control frames included."""
        self.pings_received: int = protocol.pings_received
        """Pings received (each answered by a pong, unless closing)."""
        self.pings_sent: int = protocol.pings_sent
        """Pings sent, keepalive pings included."""
        self.pongs_received: int = protocol.pongs_received
        """Pongs received, whether they answered a ping or not."""
        self.latency = latency
        """Round-trip time of the last ping answered, in seconds; 0 before any."""
        self.buffered_incoming = buffered_incoming
        """Payload bytes received and not read by the application yet."""
        self.buffered_outgoing = buffered_outgoing
        """Bytes sent by the application and not written to the network yet."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"ConnectionStats({fields})"


def queued_bytes(frames: Iterable[Frame]) -> int:
    """Payload bytes of the frames waiting in a receive queue."""
    return sum(len(frame.data) for frame in frames)


# The counters of ConnectionStats, which the core keeps under the same names.
COUNTERS = (
    "messages_received",
    "messages_sent",
    "bytes_received",
    "bytes_sent",
    "frames_received",
    "frames_sent",
    "pings_received",
    "pings_sent",
    "pongs_received",
)

_read_counters = operator.attrgetter(*COUNTERS)


class StatsSource(typing.Protocol):
    """A connection, as :class:`ServerStats` sees it."""

    @property
    def protocol(self) -> Protocol: ...

    @property
    def stats(self) -> ConnectionStats: ...


class ServerStats:
    """What a server has done since it started: connections and refusals.

    The server updates it when a connection opens or closes and when it
    refuses a handshake, never per message. It keeps the connections open,
    to read their statistics, and adds up those of connections closed.
    Safe to read from another thread: take :attr:`lock`.
    """

    __slots__ = ("_totals", "closed", "connections", "lock", "opened", "refused")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        """Held while the statistics change."""
        self.opened = 0
        """Connections opened: the handshake succeeded."""
        self.connections: set[StatsSource] = set()
        """Connections open now."""
        self.closed: Counter[int] = Counter()
        """Connections closed, by the close code received (1006 when none)."""
        self.refused: Counter[int] = Counter()
        """Handshakes answered with another status than 101, by HTTP status."""
        # The totals in COUNTERS' order, replaced (never changed) when a
        # connection closes: a reader without the lock sees one whole state.
        self._totals = [0] * len(COUNTERS)

    @property
    def totals(self) -> Counter[str]:
        """The counters of :class:`ConnectionStats`, added up over connections closed."""
        return Counter(dict(zip(COUNTERS, self._totals, strict=True)))

    @property
    def open(self) -> int:
        """Connections open now."""
        return len(self.connections)

    def connection_opened(self, connection: StatsSource) -> None:
        """Count a connection whose handshake succeeded."""
        with self.lock:
            self.opened += 1
            self.connections.add(connection)

    def connection_closed(self, connection: StatsSource) -> None:
        """Count a connection that :meth:`connection_opened` counted and that ended."""
        protocol = connection.protocol
        code = protocol.close_code
        # Read and added in C, not in a loop over COUNTERS: once per connection.
        counts = _read_counters(protocol)
        with self.lock:
            self.connections.discard(connection)
            # Plain ints: the keys are labels in reports.
            self.closed[int(CloseCode.ABNORMAL_CLOSURE if code is None else code)] += 1
            self._totals = list(map(operator.add, self._totals, counts))

    def handshake_refused(self, status: int) -> None:
        """Count a handshake answered with HTTP ``status``."""
        with self.lock:
            self.refused[status] += 1

    def __repr__(self) -> str:
        return (
            f"ServerStats(open={self.open}, opened={self.opened}, "
            f"closed={dict(self.closed)}, refused={dict(self.refused)})"
        )
