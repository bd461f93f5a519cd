"""Commands to Redis, queued and pipelined over a few connections.

A busy server publishes from thousands of tasks at once. One connection per
``PUBLISH`` in flight runs out of connections, and one round trip per
message caps a publisher at a few thousand messages per second. A
:class:`Lane` is one connection with a bounded queue in front of it:

- callers append commands to the queue and return: nothing waits for Redis;
- a writer task takes everything queued (up to ``max_batch`` commands),
  sends it in one write, then reads the replies, while more commands queue
  up for the next batch: the busier the lane, the bigger the batches;
- when the queue is full, callers wait for room (backpressure): a command
  is never dropped for load;
- when Redis fails (the connection breaks, a batch isn't answered within
  ``timeout``), the lane goes down: the commands in flight and queued are
  lost for good (never sent twice, so delivery stays at most once) and
  counted, waiting callers get :exc:`BrokerUnavailable`, and so do new ones
  until a reconnection, tried on demand after a backoff delay, succeeds.

Commands on one lane reach Redis in the order they were queued. A caller
that needs a reply (history reads) passes a future.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, RedisError, ResponseError

from ..typing import LoggerLike
from .backoff import Backoff
from .exceptions import BrokerUnavailable
from .resp import ReplyReader

__all__ = ["Lane", "pack"]

Connector = Callable[[], Coroutine[Any, Any, AbstractConnection]]
_Item = tuple[bytes, "asyncio.Future[Any] | None"]


def pack(*arguments: bytes) -> bytes:
    """Encode a command in RESP, Redis' protocol: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(arguments)]
    for argument in arguments:
        parts.append(b"$%d\r\n%b\r\n" % (len(argument), argument))
    return b"".join(parts)


class Lane:
    """One connection to Redis and the bounded queue of commands in front of it.

    Args:
        connect: Opens a connection ready for commands (authenticated,
            scripts loaded).
        max_queue: Commands queued before callers wait for room.
        max_batch: Commands sent in one write at most.
        timeout: Seconds allowed to connect, and for a batch to be answered.
        backoff: Delays before trying to reconnect after a failure.
        on_lost: Called with the number of messages (commands without a
            reply future) each time some are lost.
        logger: Where lost messages are reported.
    """

    def __init__(
        self,
        connect: Connector,
        *,
        max_queue: int,
        max_batch: int,
        timeout: float,
        backoff: Backoff,
        on_lost: Callable[[int], object],
        logger: LoggerLike | None = None,
    ) -> None:
        self.connect = connect
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.timeout = timeout
        self.backoff = backoff
        self.on_lost = on_lost
        self.logger: LoggerLike = logger or logging.getLogger("wskit.pubsub")
        # Commands accepted; answered or failed; and, of those without a
        # future for their reply, lost (in flight or queued when Redis failed).
        self.accepted = 0
        self.settled = 0
        self.lost = 0
        # Times a caller waited for room.
        self.waits = 0
        self.closed = False
        self._queue: collections.deque[_Item] = collections.deque()
        self._room: collections.deque[asyncio.Future[None]] = collections.deque()
        # Room promised to woken callers that haven't queued yet.
        self._reserved = 0
        self._connection: AbstractConnection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._retry_at = 0.0
        self._settled: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def queued(self) -> int:
        """Commands waiting to be sent."""
        return len(self._queue)

    async def send(self, command: bytes, reply: asyncio.Future[Any] | None = None) -> None:
        """Queue a command; return once it's queued, not once Redis has it.

        Waits while the queue is full. ``reply``, if given, gets Redis' reply
        or the error that prevented it.

        Raises:
            BrokerUnavailable: Redis can't be reached; the command wasn't queued.
        """
        if self._connection is None:
            await self._connect()
        if self._room or len(self._queue) + self._reserved >= self.max_queue:
            await self._wait_for_room()
            self._reserved -= 1
            if self._connection is None:  # went down meanwhile
                error = self._error
                raise BrokerUnavailable(f"redis failed: {error}") from error
        self._queue.append((command, reply))
        self.accepted += 1
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def flush(self) -> int:
        """Wait until every command queued so far was answered or lost.

        Returns:
            How many of them were lost.
        """
        target = self.accepted
        lost = self.lost
        if self.settled < target:
            settled = asyncio.get_running_loop().create_future()
            self._settled.append((target, settled))
            await settled
        return self.lost - lost

    async def close(self) -> None:
        """Send what's queued (within ``timeout``), then disconnect."""
        if self._connection is not None and (self._queue or self._writer is not None):
            try:
                async with asyncio.timeout(self.timeout):
                    await self.flush()
            except TimeoutError:
                pass
        self.closed = True
        for task in (self._connecting, self._writer):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._fail(BrokerUnavailable("broker closed"), [])

    def may_retry(self) -> None:
        """Allow reconnecting at once: Redis was seen to be back."""
        self._retry_at = 0.0

    # Connecting.

    async def _connect(self) -> None:
        if self.closed:
            raise BrokerUnavailable("broker closed")
        if self._connecting is None:
            loop = asyncio.get_running_loop()
            if self._error is not None and loop.time() < self._retry_at:
                # Don't hammer a Redis that just failed: report the failure.
                raise BrokerUnavailable(f"can't reach redis: {self._error}") from self._error
            self._connecting = loop.create_task(self._open())
        # Shielded: the callers waiting for a connection share one attempt.
        await asyncio.shield(self._connecting)
        if self._connection is None:
            error = self._error
            raise BrokerUnavailable(f"can't reach redis: {error}") from error

    async def _open(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                connection = await self.connect()
        except (RedisError, OSError, TimeoutError) as exc:
            self._down(exc)
        else:
            self.backoff.reset()
            self._error = None
            self._connection = connection
            self._writer = asyncio.get_running_loop().create_task(self._run(connection))
        finally:
            self._connecting = None

    def _down(self, error: BaseException) -> None:
        self._error = error
        self._retry_at = asyncio.get_running_loop().time() + self.backoff.next_delay()

    # Writing.

    async def _wait_for_room(self) -> None:
        room = asyncio.get_running_loop().create_future()
        self._room.append(room)
        self.waits += 1
        try:
            await room
        except BaseException:
            if room in self._room:
                self._room.remove(room)
            elif not room.cancelled() and room.exception() is None:
                self._reserved -= 1
                self._pass_room()  # given room it won't use: pass it on
            raise

    def _pass_room(self) -> None:
        """Wake the callers waiting for room, as many as there's room for."""
        space = self.max_queue - len(self._queue) - self._reserved
        while self._room and space > 0:
            room = self._room.popleft()
            if not room.done():
                room.set_result(None)
                self._reserved += 1
                space -= 1

    async def _run(self, connection: AbstractConnection) -> None:
        """Send batches and read replies, in two tasks, until Redis fails.

        Reading all the time, not only after a batch, shows at once that an
        idle connection was closed, and lets the next batch go out before
        the previous one is answered.
        """
        in_flight: collections.deque[_Item] = collections.deque()
        # Per batch in flight: commands not answered yet, and when it's late.
        batches: collections.deque[list[float]] = collections.deque()
        tasks = [
            asyncio.create_task(self._send(connection, in_flight, batches)),
            asyncio.create_task(self._receive(connection, in_flight, batches)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            # From now on, callers connect anew rather than queue here.
            self._connection = self._writer = None
            error = next(iter(done)).exception() or RuntimeError("lane task ended")
            if isinstance(error, RedisError | OSError | TimeoutError):
                self.logger.warning("redis publisher connection lost: %s", error)
            else:  # a bug, here or in redis-py: log it, and start over like for a failure
                self.logger.error("redis publisher: unexpected error", exc_info=error)
            self._down(error)
            if isinstance(error, NoScriptError):
                self.may_retry()  # Redis is there: reconnecting loads the scripts
            self._fail(BrokerUnavailable(f"redis failed: {error}"), list(in_flight))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._connection is connection:  # cancelled by close()
                self._connection = self._writer = None
            await connection.disconnect(nowait=True)

    async def _send(
        self,
        connection: AbstractConnection,
        in_flight: collections.deque[_Item],
        batches: collections.deque[list[float]],
    ) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            # Waits for commands, and for room in flight: memory stays bounded.
            if not queue or len(in_flight) >= self.max_queue:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            count = min(len(queue), self.max_batch)
            batch = [queue.popleft() for _ in range(count)]
            in_flight.extend(batch)
            batches.append([count, loop.time() + self.timeout])
            self._pass_room()
            async with asyncio.timeout(self.timeout):
                await connection.send_packed_command(
                    b"".join([command for command, _ in batch]), check_health=False
                )

    async def _receive(
        self,
        connection: AbstractConnection,
        in_flight: collections.deque[_Item],
        batches: collections.deque[list[float]],
    ) -> None:
        loop = asyncio.get_running_loop()
        reader = ReplyReader(connection)
        while True:
            # Idle, wake up now and then only to see whether a batch left
            # (a closed connection shows at once).
            wait = batches[0][1] - loop.time() if batches else self.timeout
            if wait <= 0:
                raise TimeoutError(f"redis didn't answer within {self.timeout} s")
            for response in await reader.read(wait):
                if not in_flight:
                    raise RedisError(f"unexpected reply from redis: {response!r}")
                if isinstance(response, NoScriptError):
                    # Redis forgot the scripts (SCRIPT FLUSH): what follows fails too.
                    raise response
                self._answered(in_flight.popleft()[1], response)
                batches[0][0] -= 1
                if not batches[0][0]:
                    batches.popleft()

    def _answered(self, reply: asyncio.Future[Any] | None, response: Any) -> None:
        self.settled += 1
        if isinstance(response, ResponseError):
            if reply is None:
                self.lost += 1
                self.on_lost(1)
                self.logger.warning("redis refused a command: %s", response)
            elif not reply.done():
                reply.set_exception(BrokerUnavailable(f"redis refused a command: {response}"))
        elif reply is not None and not reply.done():
            reply.set_result(response)
        self._settle()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)  # room in flight

    def _fail(self, error: BrokerUnavailable, in_flight: list[_Item]) -> None:
        """Count what was in flight and queued as lost, and tell whoever waits."""
        failed = [*in_flight, *self._queue]
        self._queue.clear()
        # Everything accepted is answered or failed now; a command that a bug
        # took off the queue without settling it counts as lost too.
        lost = self.accepted - self.settled - len(failed)
        self.settled = self.accepted
        for _, reply in failed:
            if reply is None:
                lost += 1
            elif not reply.done():
                reply.set_exception(BrokerUnavailable(*error.args))
        if lost:
            self.lost += lost
            self.on_lost(lost)
            self.logger.warning("%d messages to redis lost: %s", lost, error)
        while self._room:
            room = self._room.popleft()
            if not room.done():
                room.set_exception(BrokerUnavailable(*error.args))
        self._settle()

    def _settle(self) -> None:
        if self._settled:
            done = self.settled
            waiting = []
            for target, settled in self._settled:
                if done >= target:
                    if not settled.done():
                        settled.set_result(None)
                else:
                    waiting.append((target, settled))
            self._settled = waiting
