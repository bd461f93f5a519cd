"""Rooms of WebSocket connections, fed by a broker shared by every process.

A deployment runs many server processes; a client connects to one of them.
The hub lets any process send to a room and reach its members everywhere::

    hub = Hub(RedisBroker("redis://redis.internal:6379/0"))

    async def handler(websocket):
        await hub.join(websocket, "room:42")
        async for message in websocket:
            await hub.publish("room:42", message)

Each process subscribes to a room on the broker once, while it has members
there, and sends each message to its local members with
:func:`~wskit.asyncio.server.broadcast`: the frame is encoded once for all
of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from types import TracebackType

from ..asyncio.connection import Connection
from ..asyncio.server import broadcast
from ..frames import CloseCode
from ..protocol import OPEN
from ..typing import BytesLike, Data
from .broker import Broker, Message
from .subscription import Overflow

__all__ = ["Hub", "HubStats"]

SLOW_CLIENT_REASON = "too slow: messages were lost"


@dataclasses.dataclass(slots=True)
class HubStats:
    """Counters of a hub, for monitoring.

    Attributes:
        messages: Messages received for rooms with local members.
        dropped: Messages not sent to a member that couldn't take them.
        disconnected: Members closed for being too slow
            (``Overflow.DISCONNECT``).
    """

    messages: int = 0
    dropped: int = 0
    disconnected: int = 0


class Hub:
    """Connections grouped in rooms; a message published to a room reaches
    its members in every process that shares the broker.

    Members leave their rooms when their connection closes.

    A member's queue is its connection's write buffer, bounded by its
    ``write_limit``: a message for a member whose buffer is already over
    the limit is either dropped for that member (``Overflow.DROP_NEWEST``,
    the default) or the member is closed with code 1013 (Try Again Later,
    ``Overflow.DISCONNECT``). 1013 rather than 1008 (Policy Violation): the
    client did nothing wrong, the server is shedding a consumer it can't
    keep up with; the client should reconnect after a pause and resync,
    since it missed messages. ``Overflow.DROP_OLDEST`` isn't available:
    bytes handed to a connection's transport can't be recalled.

    Args:
        broker: Carries messages between processes.
        overflow: What to do with a member that can't take a message.

    Raises:
        ValueError: ``overflow`` is ``Overflow.DROP_OLDEST``.
    """

    def __init__(self, broker: Broker, *, overflow: Overflow = Overflow.DROP_NEWEST) -> None:
        if overflow is Overflow.DROP_OLDEST:
            raise ValueError("a hub can't drop the oldest message: it's in a socket buffer")
        self.broker = broker
        self.overflow = overflow
        self.stats = HubStats()
        self._rooms: dict[str, set[Connection]] = {}
        self._memberships: dict[Connection, set[str]] = {}
        self._watchers: dict[Connection, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def join(self, connection: Connection, room: str) -> None:
        """Add a connection to a room; it gets every message published there from now on.

        Idempotent. Returns once the broker confirmed the subscription, or at
        once while the link to the broker is down.

        Raises:
            BrokerClosed: The broker is closed.
        """
        rooms = self._memberships.get(connection)
        if rooms is None:
            rooms = self._memberships[connection] = set()
            self._watchers[connection] = asyncio.get_running_loop().create_task(
                self._leave_when_closed(connection)
            )
        if room in rooms:
            return
        rooms.add(room)
        self._rooms.setdefault(room, set()).add(connection)
        try:
            await self.broker.attach(room, self._deliver)
        except BaseException:
            self._forget(connection, room)
            raise

    async def leave(self, connection: Connection, room: str) -> None:
        """Remove a connection from a room. Does nothing if it isn't there."""
        if self._forget(connection, room):
            await self.broker.detach(room, self._deliver)

    async def leave_all(self, connection: Connection) -> None:
        """Remove a connection from all its rooms."""
        for room in list(self._memberships.get(connection, ())):
            await self.leave(connection, room)

    def rooms(self, connection: Connection) -> set[str]:
        """Return the rooms of a connection."""
        return set(self._memberships.get(connection, ()))

    def members(self, room: str) -> set[Connection]:
        """Return the connections of this process in a room."""
        return set(self._rooms.get(room, ()))

    async def publish(self, room: str, message: Data | BytesLike) -> None:
        """Send a message to every member of a room, in every process.

        Members in this process get it through the broker too, so that every
        member sees the messages of a room in the same order.

        Raises:
            BrokerUnavailable: The broker couldn't be reached; the message
                may not have been published. It isn't retried.
            BrokerClosed: The broker is closed.
            TypeError: ``message`` is neither a string nor bytes-like.
        """
        await self.broker.publish(room, message)

    async def close(self) -> None:
        """Empty every room; the broker stays open (it may serve others)."""
        tasks = [*self._watchers.values(), *self._closing]
        for connection in list(self._memberships):
            await self.leave_all(connection)
        for task in tasks:
            task.cancel()
        # Cancelling a close() doesn't stop the closing handshake: the
        # connection finishes it on its own.
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _deliver(self, message: Message) -> None:
        """The broker's handler for every room with local members."""
        # The hub is attached to a topic exactly while the room has members.
        members: Iterable[Connection] = self._rooms[message.topic]
        self.stats.messages += 1
        if self.overflow is Overflow.DISCONNECT:
            slow = [member for member in members if _over_write_limit(member)]
            if slow:
                for member in slow:
                    self._disconnect(member)
                members = self._rooms.get(message.topic, ())
        try:
            broadcast(members, message.data, raise_exceptions=True)
        except ExceptionGroup as skipped:
            # Over write_limit, or in the middle of sending a fragmented message.
            self.stats.dropped += len(skipped.exceptions)

    def _disconnect(self, connection: Connection) -> None:
        self.stats.disconnected += 1
        for room in list(self._memberships.get(connection, ())):
            self._forget(connection, room)
            self.broker.discard(room, self._deliver)
        task = asyncio.get_running_loop().create_task(
            connection.close(CloseCode.TRY_AGAIN_LATER, SLOW_CLIENT_REASON)
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _forget(self, connection: Connection, room: str) -> bool:
        """Remove a membership locally; return whether there was one."""
        rooms = self._memberships.get(connection)
        if rooms is None or room not in rooms:
            return False
        rooms.discard(room)
        members = self._rooms[room]
        members.discard(connection)
        if not members:
            del self._rooms[room]
        if not rooms:
            del self._memberships[connection]
            watcher = self._watchers.pop(connection)
            if watcher is not asyncio.current_task():
                watcher.cancel()
        return True

    async def _leave_when_closed(self, connection: Connection) -> None:
        await connection.wait_closed()
        await self.leave_all(connection)


def _over_write_limit(connection: Connection) -> bool:
    """Whether ``broadcast()`` would skip the connection for a full write buffer."""
    return (
        connection.protocol.state is OPEN
        and connection.transport.get_write_buffer_size() > connection.write_limit[0]
    )
