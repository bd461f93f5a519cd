"""A topic's messages queued for one consumer, in a bounded queue."""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..exceptions import ConcurrencyError
from .exceptions import PubSubError, SlowSubscriber, SubscriptionClosed

if TYPE_CHECKING:
    from .broker import Broker, Message

__all__ = ["Overflow", "Subscription"]


class Overflow(enum.Enum):
    """What happens to a message for a consumer that is too far behind.

    A consumer that reads more slowly than messages arrive must not grow the
    memory of the process: past a bound, messages are dropped, or the
    consumer is cut off. Drops are counted.
    """

    DROP_OLDEST = "drop_oldest"
    """Make room by dropping the oldest queued message: the consumer gets
    the most recent ones (good for state updates, where the latest wins)."""

    DROP_NEWEST = "drop_newest"
    """Drop the message that doesn't fit: the consumer gets a gap after what
    it already has queued (good when older messages matter more)."""

    DISCONNECT = "disconnect"
    """Cut the consumer off: it gets an error and must resync (good when a
    gap is worse than a reconnection)."""


class Subscription:
    """Messages of one topic for one consumer; from :meth:`Broker.subscribe`.

    Enter it with ``async with`` (it unsubscribes at the end) or await it;
    then iterate over it or call :meth:`get`. Iteration stops when the
    subscription ends (:meth:`unsubscribe`, or the broker closes).

    Attributes:
        topic: The topic.
        received: Messages received.
        dropped: Messages dropped because the queue was full, or discarded
            when the consumer was cut off.
    """

    def __init__(self, broker: Broker, topic: str, *, max_queue: int, overflow: Overflow) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.broker = broker
        self.topic = topic
        self.max_queue = max_queue
        self.overflow = overflow
        self.received = 0
        self.dropped = 0
        self._queue: collections.deque[Message] = collections.deque()
        self._getter: asyncio.Future[None] | None = None
        self._attached = False
        self._started = False
        self._ended: PubSubError | None = None

    @property
    def queued(self) -> int:
        """Messages waiting to be read; never more than ``max_queue``."""
        return len(self._queue)

    async def start(self) -> Subscription:
        """Subscribe; ``async with`` and ``await`` do it for you.

        Raises:
            BrokerClosed: The broker is closed.
            RuntimeError: The subscription was already started.
        """
        if self._started:
            raise RuntimeError("subscription already started")
        self._started = True
        await self.broker.attach(self.topic, self._put)
        self._attached = True
        return self

    def __await__(self) -> Generator[Any, None, Subscription]:
        return self.start().__await__()

    async def __aenter__(self) -> Subscription:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.unsubscribe()

    async def unsubscribe(self) -> None:
        """End the subscription. Idempotent."""
        self._end(SubscriptionClosed("unsubscribed"))
        if self._attached:
            self._attached = False
            await self.broker.detach(self.topic, self._put)

    async def get(self) -> Message:
        """Return the next message, waiting for one if needed.

        Messages queued before the subscription ended are still returned.

        Raises:
            SubscriptionClosed: The subscription ended.
            SlowSubscriber: The consumer was cut off (``Overflow.DISCONNECT``).
            ConcurrencyError: Another coroutine is already waiting here.
            RuntimeError: The subscription wasn't started.
        """
        while not self._queue:
            if self._ended is not None:
                # A new instance each time: re-raising one would pile up tracebacks.
                raise type(self._ended)(*self._ended.args)
            if not self._started:
                raise RuntimeError("subscription not started: await it or use async with")
            if self._getter is not None:
                raise ConcurrencyError("another coroutine is already waiting for a message")
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        return self._queue.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def _put(self, message: Message) -> None:
        """The broker's handler for the topic."""
        self.received += 1
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.dropped += 1
            if self.overflow is Overflow.DROP_NEWEST:
                return
            if self.overflow is Overflow.DISCONNECT:
                self.dropped += len(queue)
                queue.clear()
                self._end(SlowSubscriber(f"more than {self.max_queue} messages behind"))
                self._attached = False
                self.broker.discard(self.topic, self._put)
                return
            queue.popleft()
        queue.append(message)
        self._wake()

    def _end(self, error: PubSubError) -> None:
        """Stop receiving; what's queued can still be read, then ``error`` is raised."""
        if self._ended is None:
            self._ended = error
            self._wake()

    def _wake(self) -> None:
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)
