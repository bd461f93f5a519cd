"""A broker on Redis pub/sub; needs the ``redis`` package: ``pip install wskit[redis]``.

Each process keeps one Redis connection for its subscriptions (the *link*)
and a small pool for ``PUBLISH``. A listener task owns the link:

- it connects, subscribes to every topic with local handlers in one
  ``SUBSCRIBE``, waits for the confirmations, then reports the link up;
- it reads messages and hands them to the handlers;
- when nothing arrives for ``ping_interval`` it sends a ``PING``; no answer
  within ``ping_timeout`` counts as a dead link (a host gone without closing
  its TCP connections never says so);
- when the link fails it reports it down, waits (exponential backoff with
  jitter) and starts over. An unexpected exception is logged with its
  traceback and handled the same way: the listener never dies silently.

The link is a raw :class:`redis.asyncio.Connection` rather than redis-py's
``PubSub`` helper because ``PubSub`` reconnects and resubscribes on its own,
inside a read: the application would never learn that messages were lost.

Redis pub/sub delivers at most once: messages published while a process's
link is down are lost for that process. Topics are Redis channels named
``prefix + topic``; payloads follow :mod:`wskit.pubsub.wire`.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..typing import Data, LoggerLike
from . import wire
from .backoff import Backoff
from .broker import Broker
from .exceptions import BrokerClosed, BrokerUnavailable

__all__ = ["RedisBroker"]


class RedisBroker(Broker):
    """Topics shared by every process connected to one Redis server.

    Args:
        url: Redis URL, e.g. ``redis://:password@host:6379/0`` or
            ``rediss://`` for TLS. Pub/sub ignores the database number:
            channels are global to the server; ``prefix`` separates
            applications.
        prefix: Prepended to topics to make Redis channel names.
        timeout: Seconds allowed to connect to Redis and for a command,
            such as ``PUBLISH``, to complete.
        ping_interval: Seconds of silence on the link before a ``PING``.
        ping_timeout: Seconds to wait for the answer before the link is
            considered dead.
        backoff_min: First delay before reconnecting, in seconds.
        backoff_max: Longest delay before reconnecting, in seconds.
        logger: Logger for link changes and errors; ``wskit.pubsub`` by default.
        redis_options: More keyword arguments for
            :meth:`redis.asyncio.Redis.from_url`, e.g. ``ssl_ca_certs``.
            The broker sets ``protocol`` (RESP2), ``retry`` (none: a publish
            is never sent twice) and the socket timeouts itself.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "wskit:",
        timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 5.0,
        backoff_min: float = 0.1,
        backoff_max: float = 10.0,
        logger: LoggerLike | None = None,
        **redis_options: Any,
    ) -> None:
        super().__init__(logger=logger)
        self.prefix = prefix
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = Backoff(backoff_min, backoff_max)
        self._client: Redis = Redis.from_url(
            url,
            **redis_options,
            protocol=2,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=timeout,
            # With a socket_timeout, redis-py sends through asyncio.wait_for(),
            # which can swallow a cancellation on Python 3.11: the broker
            # bounds its waits with asyncio.timeout() instead.
            socket_timeout=None,
        )
        self._link_task: asyncio.Task[None] | None = None
        # The state of the current link connection, guarded by _send_lock,
        # which also keeps commands whole on the wire.
        self._send_lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        # Topics sent in SUBSCRIBE (and not UNSUBSCRIBE) on the connection.
        self._wire: set[str] = set()
        # Per topic, a future per SUBSCRIBE awaiting its confirmation, in order.
        self._pending: dict[str, collections.deque[asyncio.Future[None]]] = {}
        # Confirmations awaited before the link counts as up.
        self._initial: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        """Start the listener task, which connects in the background; return at once.

        Raises:
            BrokerClosed: The broker is closed.
        """
        if self.closed:
            raise BrokerClosed("broker closed")
        if self._link_task is None:
            self._link_task = asyncio.get_running_loop().create_task(self._run_link())

    # Publishing.

    async def _publish(self, topic: str, data: Data) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self._client.publish(wire.channel(self.prefix, topic), wire.encode(data))
        except (RedisError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"can't publish on {topic!r}: {exc}") from exc

    # Subscriptions on the wire.

    async def _start_topic(self, topic: str) -> None:
        confirmation = await self._sync(topic)
        if confirmation is not None:
            await confirmation

    async def _stop_topic(self, topic: str) -> None:
        await self._sync(topic)

    async def _sync(self, topic: str) -> asyncio.Future[None] | None:
        """Make the link's subscription to ``topic`` match the registry.

        Deciding under the lock, from the registry as it is when the command
        is sent, keeps quick unsubscribe/subscribe sequences in order.

        Returns:
            The confirmation to wait for, if the topic is being subscribed.
        """
        async with self._send_lock:
            connection = self._connection
            if connection is None:  # link down: the next link subscribes
                return None
            wanted = topic in self._topics
            if wanted == (topic in self._wire):
                pending = self._pending.get(topic)
                return pending[-1] if wanted and pending else None
            if wanted:
                confirmation = asyncio.get_running_loop().create_future()
                self._pending.setdefault(topic, collections.deque()).append(confirmation)
                self._wire.add(topic)
                command = "SUBSCRIBE"
            else:
                confirmation = None
                self._wire.discard(topic)
                command = "UNSUBSCRIBE"
            try:
                await connection.send_command(command, wire.channel(self.prefix, topic))
            except (RedisError, OSError) as exc:
                # Whether Redis got the command is unknown: start the link
                # over (the listener sees it fail), which subscribes afresh.
                self.logger.debug("redis link: %s failed: %s", command, exc)
                await connection.disconnect(nowait=True)
            return confirmation

    # The listener.

    async def _run_link(self) -> None:
        # close() cancels this task; the loop also checks ``closed`` because
        # asyncio.wait_for() can swallow a cancellation on Python 3.11.
        while not self.closed:
            try:
                error = await self._run_connection()
            except Exception as exc:  # a bug, here or in redis-py: log it, start over
                self.logger.exception("redis link: unexpected error")
                error = exc
            if self.closed:
                return
            was_connected = self.connected
            self._set_connected(False, error)
            delay = self.backoff.next_delay()
            if was_connected:
                self.logger.warning("redis link lost: %s; reconnecting in %.2f s", error, delay)
            else:
                self.logger.info("can't reach redis: %s; retrying in %.2f s", error, delay)
            await asyncio.sleep(delay)

    async def _run_connection(self) -> BaseException:
        """Connect, subscribe and listen; return the error that ended the link."""
        pool = self._client.connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)
        try:
            async with asyncio.timeout(self.timeout):
                await connection.connect()  # type: ignore[no-untyped-call]  # unannotated
                await self._subscribe_all(connection)
            await self._listen(connection)
        except (RedisError, OSError, TimeoutError) as exc:
            return exc
        finally:
            await self._drop(connection)
        return BrokerClosed("broker closed")

    async def _subscribe_all(self, connection: AbstractConnection) -> None:
        """Make ``connection`` the link and subscribe to every topic in one command.

        The link is up once Redis has confirmed them all.
        """
        async with self._send_lock:
            self._connection = connection
            topics = list(self._topics)
            self._wire = set(topics)
            for topic in topics:
                confirmation = asyncio.get_running_loop().create_future()
                self._pending.setdefault(topic, collections.deque()).append(confirmation)
                self._initial.add(confirmation)
            if topics:
                channels = [wire.channel(self.prefix, topic) for topic in topics]
                await connection.send_command("SUBSCRIBE", *channels)
        if not topics:
            self._link_up()

    async def _listen(self, connection: AbstractConnection) -> None:
        """Read until the link fails (by raising) or the broker closes."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent: float | None = None
        while not self.closed:
            now = loop.time()
            if ping_sent is None:
                wait = last_heard + self.ping_interval - now
                if wait <= 0:
                    # Bounded: a frozen server with a full TCP window never drains.
                    async with asyncio.timeout(self.ping_timeout), self._send_lock:
                        await connection.send_command("PING")
                    ping_sent = now
                    continue
            else:
                wait = ping_sent + self.ping_timeout - now
                if wait <= 0:
                    raise TimeoutError(f"no answer to PING within {self.ping_timeout} s")
            # A read that times out returns None; redis-py allows reading again.
            response = await connection.read_response(timeout=wait, disconnect_on_error=False)
            if response is None:
                continue
            last_heard = loop.time()
            ping_sent = None
            self._handle(response)

    def _handle(self, response: Any) -> None:
        """Process one reply on the link: a message, a confirmation or a pong."""
        if not isinstance(response, list) or len(response) != 3:
            return  # PONG outside subscribed mode
        kind, channel, payload = response
        # Replies only name channels this link subscribed to.
        topic = wire.topic(self.prefix, channel)
        if kind == b"message":
            try:
                data = wire.decode(payload)
            except ValueError as exc:
                self.stats.malformed += 1
                count = self.stats.malformed
                # Log the 1st, 2nd, 4th, 8th...: a foreign writer mustn't flood the log.
                if count & (count - 1) == 0:
                    self.logger.warning(
                        "dropped malformed message #%d on %r: %s", count, topic, exc
                    )
                return
            self._dispatch(topic, data)
        elif kind == b"subscribe":
            # One confirmation per channel of each SUBSCRIBE sent, in order.
            pending = self._pending[topic]
            confirmation = pending.popleft()
            if not pending:
                del self._pending[topic]
            if not confirmation.done():  # cancelled if its subscriber was
                confirmation.set_result(None)
            if confirmation in self._initial:
                self._initial.discard(confirmation)
                if not self._initial:
                    self._link_up()

    def _link_up(self) -> None:
        self.backoff.reset()
        self.logger.info("redis link up")
        self._set_connected(True)

    async def _drop(self, connection: AbstractConnection) -> None:
        """Close the link and forget its state; release whoever awaits a confirmation."""
        self._connection = None
        self._wire = set()
        self._initial.clear()
        pending, self._pending = self._pending, {}
        await connection.disconnect(nowait=True)
        # Released last, so that they resume after the link is reported down.
        for confirmations in pending.values():
            for confirmation in confirmations:
                if not confirmation.done():
                    confirmation.set_result(None)

    async def _shutdown(self) -> None:
        if self._link_task is not None:
            self._link_task.cancel()
            await asyncio.gather(self._link_task, return_exceptions=True)
        await self._client.aclose()
