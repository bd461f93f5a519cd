"""The interface every broker backend implements, and what they all share.

A broker carries messages between processes: a message published on a topic
anywhere reaches every subscriber of that topic everywhere. Backends (in
memory, Redis pub/sub; later Redis Streams, NATS) only move bytes and keep a
link to their server. This module holds the rest, once:

- the registry of handlers per topic, reference-counted, so that a process
  subscribes to a topic on the broker once however many local consumers it
  has, and unsubscribes when the last one leaves;
- the state of the link to the broker and the callbacks told when it drops
  and comes back;
- with a history (:mod:`wskit.pubsub.history`), the position of the last
  message dispatched per topic, and the recovery of what a topic missed
  while the link was down;
- counters.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeAlias
from weakref import WeakSet

from ..typing import BytesLike, Data, LoggerLike
from .exceptions import BrokerClosed, BrokerUnavailable, PubSubError, SubscriptionClosed
from .history import Position, Recovery, is_news
from .subscription import Overflow, Subscription
from .wire import normalize

__all__ = ["Broker", "BrokerStats", "Handler", "LinkCallback", "LinkEvent", "Message"]


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """A message received on a topic.

    Attributes:
        topic: Where it was published.
        data: :class:`str` for text, :class:`bytes` for binary, as published.
        position: Its place in the topic's history, if the broker keeps one.
    """

    topic: str
    data: Data
    position: Position | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class LinkEvent:
    """The link to the broker went down or came back.

    Messages published while the link is down don't reach this process
    through the link. A broker with a history recovers them before it
    reports the link up again; the topics it couldn't recover, or all of
    them without a history, are ``lost``: the application should resync
    whatever state it derives from their messages.

    Attributes:
        connected: Whether the link is up now.
        error: Why the link went down (when ``connected`` is false).
        downtime: When the link comes back after a loss, how long it was
            down, in seconds; :obj:`None` the first time it comes up.
        lost: When the link comes back after a loss, the topics whose
            messages published meanwhile may be missing.
    """

    connected: bool
    error: BaseException | None = None
    downtime: float | None = None
    lost: frozenset[str] = frozenset()


@dataclasses.dataclass(slots=True)
class BrokerStats:
    """Counters of a broker, for monitoring.

    Attributes:
        published: Messages handed to the broker by :meth:`Broker.publish`.
        publish_errors: Calls to :meth:`Broker.publish` that raised
            :exc:`~wskit.pubsub.BrokerUnavailable`.
        lost: Messages accepted by :meth:`Broker.publish` but lost because
            the broker failed before confirming them (never sent twice).
        received: Messages received for topics with local subscribers.
        recovered: Messages missed while the link was down and recovered
            from the history.
        malformed: Messages received that weren't in wskit's format; dropped.
        link_losses: Times the link to the broker went down.
    """

    published: int = 0
    publish_errors: int = 0
    lost: int = 0
    received: int = 0
    recovered: int = 0
    malformed: int = 0
    link_losses: int = 0


Handler: TypeAlias = Callable[[Message], object]
"""Called with each message of a topic, in the broker's task: must not block."""

LinkCallback: TypeAlias = Callable[[LinkEvent], object]
"""Called with each change of the link state."""


class _Topic:
    """The local handlers of a topic, and the task subscribing to it on the broker."""

    __slots__ = ("backlog", "handlers", "position", "ready")

    def __init__(self, ready: asyncio.Task[None]) -> None:
        # Handler -> number of times it was attached.
        self.handlers: dict[Handler, int] = {}
        self.ready = ready
        # The last message dispatched, with a history.
        self.position: Position | None = None
        # Messages received while recovering, dispatched after the recovered ones.
        self.backlog: list[Message] | None = None


class Broker(abc.ABC):
    """A publish/subscribe broker shared by processes.

    Use it as an async context manager, or call :meth:`start` and
    :meth:`close`::

        async with RedisBroker("redis://127.0.0.1:6379/0") as broker:
            async with broker.subscribe("news") as subscription:
                await broker.publish("news", "hello")
                async for message in subscription:
                    print(message.data)

    Delivery is at most once: a message is delivered to the subscribers
    reachable when it's published, never twice. Without a history it's
    never replayed; with one (:attr:`keeps_history`), what a process missed
    while its link was down is recovered, and :meth:`recover` lets a
    consumer catch up from the last position it saw. Link losses, and the
    topics they made lose messages, are reported to
    :meth:`add_link_callback` callbacks.

    Args:
        logger: Logger for link changes and errors; ``wskit.pubsub`` by default.
    """

    def __init__(self, *, logger: LoggerLike | None = None) -> None:
        self.logger: LoggerLike = logger or logging.getLogger("wskit.pubsub")
        self.stats = BrokerStats()
        self.closed = False
        self._topics: dict[str, _Topic] = {}
        self._subscriptions: WeakSet[Subscription] = WeakSet()
        self._link_callbacks: list[LinkCallback] = []
        self._connected = False
        self._connected_event = asyncio.Event()
        self._down_since: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # Lifecycle.

    async def start(self) -> None:  # noqa: B027 (a hook: backends without a link need nothing)
        """Start connecting to the broker in the background; return at once.

        The link comes up when it can; see :meth:`wait_connected`.
        """

    async def close(self) -> None:
        """Stop: disconnect from the broker and end every subscription. Idempotent."""
        if self.closed:
            return
        self.closed = True
        # Anyone waiting for the link must not wait forever.
        self._connected_event.set()
        await self._shutdown()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._topics.clear()
        for subscription in list(self._subscriptions):
            subscription._end(SubscriptionClosed("broker closed"))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # Publishing and subscribing.

    async def publish(self, topic: str, message: Data | BytesLike) -> None:
        """Publish a message on a topic, for every subscriber in every process.

        Subscribers in this process get it through the broker too, so every
        process sees the messages of a topic in the same order. A backend
        may queue the message and return before the broker has it (see
        :meth:`flush`); messages of a topic published by one task keep
        their order. A full queue makes the call wait: load never makes it
        fail.

        Args:
            topic: Where to publish.
            message: :class:`str` for text, bytes-like for binary.

        Raises:
            BrokerUnavailable: The broker couldn't be reached; the message
                wasn't published. It isn't retried.
            BrokerClosed: The broker is closed.
            TypeError: ``message`` is neither a string nor bytes-like.
        """
        self._check_open(topic)
        data = normalize(message)
        try:
            await self._publish(topic, data)
        except BrokerUnavailable:
            self.stats.publish_errors += 1
            raise
        self.stats.published += 1

    async def flush(self) -> None:  # noqa: B027 (a hook: brokers that don't queue have nothing to wait for)
        """Wait until the broker has answered every message published so far.

        Raises:
            BrokerUnavailable: Some of them were lost: the broker failed
                before confirming them (see :attr:`BrokerStats.lost`).
        """

    @property
    def keeps_history(self) -> bool:
        """Whether the broker keeps a history of each topic (see :meth:`recover`)."""
        return False

    async def recover(self, topic: str, since: Position | None = None) -> Recovery:
        """Read what a topic's history holds after a position.

        Args:
            topic: The topic.
            since: The position of the last message the consumer saw;
                :obj:`None` only to learn the topic's latest position.

        Raises:
            BrokerUnavailable: The broker couldn't be reached.
            BrokerClosed: The broker is closed.
            PubSubError: The broker keeps no history.
        """
        self._check_open(topic)
        raise PubSubError(f"{type(self).__name__} keeps no history")

    def subscribe(
        self, topic: str, *, max_queue: int = 64, overflow: Overflow = Overflow.DROP_OLDEST
    ) -> Subscription:
        """Subscribe to a topic: the messages are queued for one consumer.

        Use the result as an async context manager, which unsubscribes at
        the end, or await it, then iterate over it::

            async with broker.subscribe("news") as subscription:
                async for message in subscription:
                    ...

        The subscription is active once entered or awaited: every message
        published after that reaches it (while the link is up).

        Args:
            topic: The topic.
            max_queue: Messages queued before ``overflow`` applies.
            overflow: What to do when the queue is full.

        Raises:
            BrokerClosed: The broker is closed.
            ValueError: ``max_queue`` is less than 1.
        """
        self._check_open(topic)
        subscription = Subscription(self, topic, max_queue=max_queue, overflow=overflow)
        self._subscriptions.add(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """End a subscription; same as ``await subscription.unsubscribe()``."""
        await subscription.unsubscribe()

    async def attach(self, topic: str, handler: Handler) -> None:
        """Call ``handler`` with every message of ``topic``, from now on.

        This is the low-level interface under :meth:`subscribe` and
        :class:`~wskit.pubsub.Hub`: the handler runs in the broker's task and
        must return quickly. The broker subscribes to the topic once, when
        its first handler attaches. Attaching the same handler again counts:
        it must be detached as many times, but it's called once per message.

        Returns once the broker has confirmed the subscription, or at once
        if the link is down (it subscribes when the link comes back).

        Raises:
            BrokerClosed: The broker is closed.
        """
        self._check_open(topic)
        entry = self._topics.get(topic)
        if entry is None:
            entry = self._topics[topic] = _Topic(self._spawn(self._start_topic(topic)))
        entry.handlers[handler] = entry.handlers.get(handler, 0) + 1
        try:
            # Shielded: concurrent attachers of a topic share one subscription.
            await asyncio.shield(entry.ready)
        except asyncio.CancelledError:
            self.discard(topic, handler)
            task = asyncio.current_task()
            if self.closed and task is not None and not task.cancelling():
                raise BrokerClosed("broker closed while subscribing") from None
            raise

    async def detach(self, topic: str, handler: Handler) -> None:
        """Undo one :meth:`attach`; unsubscribe from the topic after the last one.

        Does nothing if the handler isn't attached (or the broker is closed).
        """
        stop = self._release(topic, handler)
        if stop is not None:
            await asyncio.shield(stop)

    def discard(self, topic: str, handler: Handler) -> None:
        """Undo one :meth:`attach` without waiting; for code that can't await."""
        self._release(topic, handler)

    def topics(self) -> list[str]:
        """Return the topics this process subscribes to."""
        return list(self._topics)

    # The link.

    @property
    def connected(self) -> bool:
        """Whether the link to the broker is up."""
        return self._connected

    async def wait_connected(self) -> None:
        """Wait until the link to the broker is up.

        Raises:
            BrokerClosed: The broker is closed.
        """
        await self._connected_event.wait()
        if self.closed:
            raise BrokerClosed("broker closed")

    def add_link_callback(self, callback: LinkCallback) -> None:
        """Call ``callback`` with a :class:`LinkEvent` when the link goes down or up.

        It runs in the broker's task and must return quickly; an exception
        it raises is logged.
        """
        self._link_callbacks.append(callback)

    def remove_link_callback(self, callback: LinkCallback) -> None:
        """Stop calling a callback given to :meth:`add_link_callback`.

        Raises:
            ValueError: It wasn't added.
        """
        self._link_callbacks.remove(callback)

    # For backends.

    @abc.abstractmethod
    async def _publish(self, topic: str, data: Data) -> None:
        """Send a message; raise :exc:`BrokerUnavailable` if it can't be sent."""

    @abc.abstractmethod
    async def _start_topic(self, topic: str) -> None:
        """Subscribe to a topic on the broker (it just got its first handler).

        Return once the broker confirms, or at once while the link is down.
        Never raise for link errors: the topic is in the registry, and the
        backend subscribes to every topic there whenever the link comes up.
        """

    @abc.abstractmethod
    async def _stop_topic(self, topic: str) -> None:
        """Unsubscribe from a topic on the broker (its last handler left)."""

    @abc.abstractmethod
    async def _shutdown(self) -> None:
        """Close the link and release the backend's resources."""

    def _dispatch(self, topic: str, data: Data, position: Position | None = None) -> None:
        """Hand a message received from the broker to the topic's handlers."""
        entry = self._topics.get(topic)
        if entry is None:  # unsubscribed while the message was on its way
            return
        self.stats.received += 1
        message = Message(topic, data, position)
        if entry.backlog is not None:  # recovering: recovered messages go first
            entry.backlog.append(message)
            return
        self._hand_over(entry, message)

    def _hand_over(self, entry: _Topic, message: Message) -> None:
        if message.position is not None:
            entry.position = message.position
        # A copy (a handler may detach itself or others), without a call to list().
        for handler in [*entry.handlers]:
            try:
                handler(message)
            except Exception:
                self.logger.exception("pubsub handler failed on topic %r", message.topic)

    async def _recover_all(self) -> frozenset[str]:
        """After a link loss, fetch what each topic missed; return the topics that lost some.

        Messages that arrive meanwhile wait in each topic's backlog; those
        the history already had are dropped, once.
        """
        topics = dict(self._topics)
        if not self.keeps_history:
            return frozenset(topics)
        for entry in topics.values():
            entry.backlog = []
        try:
            recoveries = await asyncio.gather(
                *[self.recover(topic, entry.position) for topic, entry in topics.items()],
                return_exceptions=True,
            )
        except BaseException:
            for entry in topics.values():
                entry.backlog = None  # the next recovery fetches them again
            raise
        lost = set()
        for (topic, entry), recovery in zip(topics.items(), recoveries, strict=True):
            backlog, entry.backlog = entry.backlog or [], None
            if not isinstance(recovery, Recovery) or not recovery.complete:
                lost.add(topic)
            if isinstance(recovery, Recovery):
                self.stats.recovered += len(recovery.messages)
                backlog = recovery.messages + backlog
            for message in backlog:
                if is_news(message.position, entry.position):  # else the history had it
                    self._hand_over(entry, message)
        return frozenset(lost)

    def _set_connected(
        self,
        connected: bool,
        error: BaseException | None = None,
        lost: frozenset[str] = frozenset(),
    ) -> None:
        """Record a change of the link state and tell the callbacks."""
        if connected is self._connected:
            return
        self._connected = connected
        now = time.monotonic()
        if connected:
            downtime = None if self._down_since is None else now - self._down_since
            self._connected_event.set()
            event = LinkEvent(True, downtime=downtime, lost=lost)
        else:
            self._down_since = now
            self.stats.link_losses += 1
            self._connected_event.clear()
            event = LinkEvent(False, error=error)
        for callback in list(self._link_callbacks):
            try:
                callback(event)
            except Exception:
                self.logger.exception("pubsub link callback failed")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a coroutine in a task the broker keeps, and cancels on close."""
        task = asyncio.get_running_loop().create_task(self._logged(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _logged(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        except Exception:
            # A backend bug must not vanish in a task nobody awaits.
            self.logger.exception("pubsub background task failed")

    def _release(self, topic: str, handler: Handler) -> asyncio.Task[None] | None:
        entry = self._topics.get(topic)
        if entry is None or handler not in entry.handlers:
            return None
        count = entry.handlers[handler] - 1
        if count:
            entry.handlers[handler] = count
            return None
        del entry.handlers[handler]
        if entry.handlers:
            return None
        del self._topics[topic]
        return self._spawn(self._stop_topic(topic))

    def _check_open(self, topic: str) -> None:
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic must be a non-empty string")
        if self.closed:
            raise BrokerClosed("broker closed")
