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

With a broker that keeps a history, a client that reconnects (to any
process) says where it was, and :meth:`Hub.join` sends it what it missed
before anything new::

    hub = Hub(RedisBroker(url, history=1000), render=with_position)
    recovery = await hub.join(websocket, room, since=Position(offset, epoch))
    if not recovery.complete:
        ...  # tell the client: some messages can't be recovered
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TypeAlias

from ..asyncio.connection import BURST_WRITE_SIZE, Connection
from ..asyncio.server import _append_to_bursts, _write_bursts, broadcast
from ..frames import CloseCode
from ..protocol import OPEN
from ..shared.messages import encode
from ..speedups import build_frame
from ..typing import BytesLike, Data
from .broker import Broker, Message
from .history import Position, Recovery, is_news
from .subscription import Overflow

__all__ = ["Hub", "HubStats"]

SLOW_CLIENT_REASON = "too slow: messages were lost"
Render: TypeAlias = Callable[[Message], Data]


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
        render: Makes the WebSocket message sent to members out of each
            message, once for all of them; e.g. to add its
            :attr:`~wskit.pubsub.Message.position`, which clients need to
            resume. By default, members get the data as published.
        max_backlog: Messages held for a member while it catches up
            (:meth:`join` with ``since``); past it, the member is closed
            with code 1013.

    Raises:
        ValueError: ``overflow`` is ``Overflow.DROP_OLDEST``.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        overflow: Overflow = Overflow.DROP_NEWEST,
        render: Render | None = None,
        max_backlog: int = 1000,
    ) -> None:
        if overflow is Overflow.DROP_OLDEST:
            raise ValueError("a hub can't drop the oldest message: it's in a socket buffer")
        self.broker = broker
        self.overflow = overflow
        self.render = render
        self.max_backlog = max_backlog
        self.stats = HubStats()
        self._rooms: dict[str, set[Connection]] = {}
        self._memberships: dict[Connection, set[str]] = {}
        self._watchers: dict[Connection, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # Members catching up: the live messages held for each, by room.
        self._backlogs: dict[tuple[Connection, str], list[Message]] = {}
        # Members whose burst of frames the plain loop started this pass:
        # written once, on the loop's next pass, whatever the messages.
        self._started: list[Connection] = []

    async def join(
        self, connection: Connection, room: str, *, since: Position | None = None
    ) -> Recovery | None:
        """Add a connection to a room; it gets every message published there from now on.

        Idempotent. Returns once the broker confirmed the subscription, or at
        once while the link to the broker is down.

        With a broker that keeps a history, the member first gets the
        messages published after ``since`` (the position of the last one
        it saw), then the new ones, in order, each once.

        Args:
            connection: The member.
            room: The room.
            since: Where the member was, when it comes back.

        Returns:
            With a history, what was recovered: whether it's
            :attr:`~wskit.pubsub.Recovery.complete`, and the room's
            position, where a new member starts; :obj:`None` without one
            (or if the connection was already in the room).

        Raises:
            BrokerClosed: The broker is closed.
            BrokerUnavailable: The history couldn't be read; the member
                isn't in the room.
            ValueError: ``since`` is given but the broker keeps no history.
        """
        if since is not None and not self.broker.keeps_history:
            raise ValueError(f"{type(self.broker).__name__} keeps no history to recover from")
        rooms = self._memberships.get(connection)
        if rooms is None:
            rooms = self._memberships[connection] = set()
            self._watchers[connection] = asyncio.get_running_loop().create_task(
                self._leave_when_closed(connection)
            )
        if room in rooms:
            return None
        rooms.add(room)
        self._rooms.setdefault(room, set()).add(connection)
        recovering = self.broker.keeps_history
        if recovering:
            self._backlogs[connection, room] = []
        attached = False
        try:
            await self.broker.attach(room, self._deliver)
            attached = True
            if recovering:
                return await self._catch_up(connection, room, since)
        except BaseException:
            if self._forget(connection, room) and attached:
                self.broker.discard(room, self._deliver)
            raise
        return None

    async def _catch_up(
        self, connection: Connection, room: str, since: Position | None
    ) -> Recovery:
        """Send a joining member what it missed, then what arrived meanwhile."""
        recovery = await self.broker.recover(room, since)
        seen: Position | None = recovery.position
        for message in recovery.messages:
            await connection.send(self._rendered(message))
        # Empty if the member was dropped meanwhile (then sending fails).
        backlog = self._backlogs.get((connection, room), [])
        while backlog:
            message = backlog.pop(0)
            # The history may have had it already.
            if is_news(message.position, seen):
                seen = message.position
                await connection.send(self._rendered(message))
        # No await since the backlog was found empty: nothing falls in between.
        self._backlogs.pop((connection, room), None)
        return recovery

    def _rendered(self, message: Message) -> Data:
        return message.data if self.render is None else self.render(message)

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
        if self._backlogs:
            members = self._hold(members, message)
        if self.overflow is Overflow.DISCONNECT:
            slow = [member for member in members if _over_write_limit(member)]
            if slow:
                for member in slow:
                    self._disconnect(member)
                members = [member for member in members if member not in slow]
        self._send(members, self._rendered(message))

    def _send(self, members: Iterable[Connection], data: Data) -> None:
        """Send a message to members, as ``broadcast()`` does, for less.

        The frame is built once, and ``broadcast()``'s plain loop appends it
        to the burst of every member that takes it plain (open, without
        extensions), the first one too. The bursts it starts are written on
        the loop's next pass, in one callback for every message handled
        meanwhile, not one per message. The first member that needs more
        goes to ``broadcast()``, with those that follow: each member's
        frames go through its burst, in order, whichever path sent them.
        """
        iterator: Iterator[Connection] = iter(members)
        payload: BytesLike
        if type(data) is str:  # the usual message, without a call to encode()
            is_text, payload = True, data.encode()
        else:
            is_text, payload = encode(data, None)
        # Longer frames never go in a burst (see Connection.burst_limit).
        if len(payload) < BURST_WRITE_SIZE:
            frame = build_frame(0x81 if is_text else 0x82, payload, False)
            started = self._started
            pending = bool(started)
            try:
                rest = _append_to_bursts(iterator, frame, started)
            finally:
                # Even if it raised: the bursts it started must go out.
                if started and not pending:
                    started[0].loop.call_soon(self._write_started)
            if rest is None:
                return
            iterator = itertools.chain((rest,), iterator)
        try:
            broadcast(iterator, payload, text=is_text, raise_exceptions=True)
        except ExceptionGroup as skipped:
            # Over write_limit, or in the middle of sending a fragmented message.
            self.stats.dropped += len(skipped.exceptions)

    def _write_started(self) -> None:
        started, self._started = self._started, []
        _write_bursts(started)

    def _hold(self, members: Iterable[Connection], message: Message) -> list[Connection]:
        """Keep the message for members catching up; return the others."""
        others = []
        for member in list(members):
            backlog = self._backlogs.get((member, message.topic))
            if backlog is None:
                others.append(member)
            elif len(backlog) < self.max_backlog:
                backlog.append(message)
            else:
                self._disconnect(member)
        return others

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
        self._backlogs.pop((connection, room), None)
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
