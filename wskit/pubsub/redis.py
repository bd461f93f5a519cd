"""A broker on Redis pub/sub; needs the ``redis`` package: ``pip install wskit[redis]``.

Each process keeps one Redis connection for its subscriptions (the *link*)
and a few for publishing (*lanes*, :mod:`wskit.pubsub.pipeline`): a topic's
messages always go through the same lane, queued and pipelined, many
commands per write. A listener task owns the link:

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
link is down don't reach that process. With ``history``, each topic keeps
its recent messages in a Redis stream (:mod:`wskit.pubsub.streams`), and
what the link missed is recovered when it comes back. Topics are Redis
channels named ``prefix + topic``; payloads follow :mod:`wskit.pubsub.wire`.
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
from . import streams, wire
from .backoff import Backoff
from .broker import Broker
from .exceptions import BrokerClosed, BrokerUnavailable, PubSubError
from .history import Position, Recovery
from .pipeline import Lane, pack
from .resp import ReplyTap

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
        history: Messages kept per topic for recovery (see :meth:`recover`);
            0 keeps none.
        history_ttl: Seconds a message stays in the history.
        history_meta_ttl: Seconds a silent topic keeps its epoch and
            offset: a consumer that comes back later than this learns that
            it can't recover. At least ``history_ttl``.
        publish_connections: Connections that carry published messages
            (the lanes). Each topic uses one, so its messages keep their
            order.
        max_publish_queue: Messages queued per lane before
            :meth:`~wskit.pubsub.Broker.publish` waits for room.
        max_batch: Commands sent in one write, at most.
        sharded: Use sharded pub/sub (``SSUBSCRIBE``, ``SPUBLISH``, Redis 7),
            on one node of a Redis Cluster; see
            :class:`~wskit.pubsub.RedisClusterBroker`, which sets it.
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
        history: int = 0,
        history_ttl: float = 300.0,
        history_meta_ttl: float = 86400.0,
        publish_connections: int = 2,
        max_publish_queue: int = 10_000,
        max_batch: int = 1_000,
        sharded: bool = False,
        logger: LoggerLike | None = None,
        **redis_options: Any,
    ) -> None:
        streams.check_limits(history, history_ttl, history_meta_ttl)
        if publish_connections < 1 or max_publish_queue < 1 or max_batch < 1:
            raise ValueError("publish_connections, max_publish_queue, max_batch must be >= 1")
        super().__init__(logger=logger)
        self.prefix = prefix
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = Backoff(backoff_min, backoff_max)
        self.history = history
        self.sharded = sharded
        # Sharded pub/sub has commands, and reply kinds, of its own.
        self._commands = ("SSUBSCRIBE", "SUNSUBSCRIBE") if sharded else ("SUBSCRIBE", "UNSUBSCRIBE")
        self._kinds = (b"smessage", b"ssubscribe") if sharded else (b"message", b"subscribe")
        self.history_ttl = history_ttl
        self.history_meta_ttl = history_meta_ttl
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
        # Topics sent in SUBSCRIBE (and not UNSUBSCRIBE) on the connection,
        # by channel: the topic of each message is looked up, not decoded.
        self._wire: dict[bytes, str] = {}
        # Per topic, a future per SUBSCRIBE awaiting its confirmation, in order.
        self._pending: dict[str, collections.deque[asyncio.Future[None]]] = {}
        # Confirmations awaited before the link counts as up.
        self._initial: set[asyncio.Future[None]] = set()
        # Recovering what the link missed, before reporting it up again.
        self._comeback: asyncio.Task[None] | None = None
        self._lanes = [
            Lane(
                self._connect_lane,
                max_queue=max_publish_queue,
                max_batch=max_batch,
                timeout=timeout,
                backoff=Backoff(backoff_min, backoff_max),
                on_lost=self._count_lost,
                logger=self.logger,
            )
            for _ in range(publish_connections)
        ]

    async def start(self) -> None:
        """Start the listener task, which connects in the background; return at once.

        Raises:
            BrokerClosed: The broker is closed.
        """
        if self.closed:
            raise BrokerClosed("broker closed")
        if self._link_task is None:
            self._link_task = asyncio.get_running_loop().create_task(self._run_link())

    # Publishing and history.

    async def _publish(self, topic: str, data: Data) -> None:
        if self.history:
            arguments = streams.publish_arguments(
                self.prefix,
                topic,
                wire.encode(data),
                history=self.history,
                ttl=self.history_ttl,
                meta_ttl=self.history_meta_ttl,
                sharded=self.sharded,
            )
            sha = streams.SPUBLISH_SHA if self.sharded else streams.PUBLISH_SHA
            command = pack(b"EVALSHA", sha, b"2", *arguments)
        else:
            command = pack(
                b"SPUBLISH" if self.sharded else b"PUBLISH",
                self._channel(topic),
                wire.encode(data),
            )
        await self._lane(topic).send(command)

    async def flush(self) -> None:
        lost = sum(await asyncio.gather(*[lane.flush() for lane in self._lanes]))
        if lost:
            raise BrokerUnavailable(f"{lost} messages lost: redis failed before confirming them")

    @property
    def keeps_history(self) -> bool:
        return self.history > 0

    async def recover(self, topic: str, since: Position | None = None) -> Recovery:
        if not self.history:
            return await super().recover(topic, since)
        self._check_open(topic)
        stream, meta = streams.keys(self.prefix, topic)
        # EVAL, not EVALSHA: a recovery must work even if Redis forgot the script.
        command = pack(
            b"EVAL",
            streams.READ_SCRIPT.encode(),
            b"2",
            stream,
            meta,
            b"" if since is None else b"%d" % since.offset,
            b"" if since is None else since.epoch.encode(),
            b"%d" % self.history,
            b"%d" % (self.history_meta_ttl * 1000),
        )
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._lane(topic).send(command, reply)
        return streams.recovery(topic, since, await reply, self.history_ttl)

    def _channel(self, topic: str) -> bytes:
        return wire.channel(self.prefix, topic, sharded=self.sharded)

    def _lane(self, topic: str) -> Lane:
        return self._lanes[hash(topic) % len(self._lanes)]

    def _count_lost(self, count: int) -> None:
        self.stats.lost += count

    async def _connect_lane(self) -> AbstractConnection:
        connection = self._new_connection()
        try:
            await connection.connect()  # type: ignore[no-untyped-call]  # unannotated
            if self.history:
                script = streams.SPUBLISH_SCRIPT if self.sharded else streams.PUBLISH_SCRIPT
                await connection.send_command("SCRIPT", "LOAD", script)
                await connection.read_response()
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        return connection

    def _new_connection(self) -> AbstractConnection:
        pool = self._client.connection_pool
        connection: AbstractConnection = pool.connection_class(**pool.connection_kwargs)
        return connection

    # Subscriptions on the wire.

    async def _start_topic(self, topic: str) -> None:
        confirmation = await self._sync(topic)
        if confirmation is not None:
            await confirmation
        if self.history:
            # Where the topic stands, so that a link lost before its first
            # message knows where to recover from.
            try:
                recovery = await self.recover(topic)
            except PubSubError:  # unavailable or closed: nothing to know
                return
            entry = self._topics.get(topic)
            if entry is not None and entry.position is None:
                entry.position = recovery.position

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
            channel = self._channel(topic)
            if wanted == (channel in self._wire):
                pending = self._pending.get(topic)
                return pending[-1] if wanted and pending else None
            if wanted:
                confirmation = asyncio.get_running_loop().create_future()
                self._pending.setdefault(topic, collections.deque()).append(confirmation)
                self._wire[channel] = topic
                command = self._commands[0]
            else:
                confirmation = None
                del self._wire[channel]
                command = self._commands[1]
            try:
                await connection.send_command(command, channel)
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
        connection = self._new_connection()
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
            self._wire = {self._channel(topic): topic for topic in topics}
            for topic in topics:
                confirmation = asyncio.get_running_loop().create_future()
                self._pending.setdefault(topic, collections.deque()).append(confirmation)
                self._initial.add(confirmation)
            if topics:
                channels = list(self._wire)
                if self.sharded:  # one slot per SSUBSCRIBE
                    for channel in channels:
                        await connection.send_command(self._commands[0], channel)
                else:
                    await connection.send_command(self._commands[0], *channels)
        if not topics:
            self._link_up()

    async def _listen(self, connection: AbstractConnection) -> None:
        """Handle replies until the link fails (by raising).

        The replies are handled as they arrive, in the transport's callback
        (:class:`~wskit.pubsub.resp.ReplyTap`): no task wakes per read.
        This task only watches the link. After ``ping_interval`` without a
        reply, it sends a PING; without a reply ``ping_timeout`` after
        that, the link is dead. A busy link doesn't move the deadline at
        each read: the deadline is checked when it passes, so that one timer
        serves a whole ``ping_interval``; a reply to a PING wakes the task,
        which sets the next one at once.
        """
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        reads = 0  # the tap's reads when last_heard was set
        ping_sent: float | None = None
        tap = ReplyTap(connection, self._handle_all)
        while not self.closed:
            now = loop.time()
            if tap.reads != reads:
                reads, last_heard, ping_sent = tap.reads, now, None
            if ping_sent is None:
                deadline = last_heard + self.ping_interval
                if deadline <= now:
                    # Bounded: a frozen server with a full TCP window never drains.
                    async with asyncio.timeout(self.ping_timeout), self._send_lock:
                        await connection.send_command("PING")
                    ping_sent = now
                    continue
            else:
                deadline = ping_sent + self.ping_timeout
                if deadline <= now:
                    raise TimeoutError(f"no answer to PING within {self.ping_timeout} s")
            try:
                async with asyncio.timeout_at(deadline):
                    await tap.wait(reply=ping_sent is not None)
            except TimeoutError:
                pass  # the deadline passed: was it met?

    def _handle_all(self, responses: list[Any]) -> None:
        for response in responses:
            self._handle(response)

    def _handle(self, response: Any) -> None:
        """Process one reply on the link: a message, a confirmation or a pong."""
        if not isinstance(response, list) or len(response) != 3:
            return  # PONG outside subscribed mode
        kind, channel, payload = response
        # Replies only name channels this link subscribed to (and may still
        # be on their way after it unsubscribed).
        topic = self._wire.get(channel)
        if topic is None:
            topic = wire.topic(self.prefix, channel, sharded=self.sharded)
        if kind == self._kinds[0]:
            try:
                position, payload = wire.split_position(payload)
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
            self._dispatch(topic, data, position)
        elif kind == self._kinds[1]:
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
        for lane in self._lanes:  # they needn't wait for their own backoff delay
            lane.may_retry()
        if self.stats.link_losses:
            # Messages were published while the link was down.
            self._comeback = self._spawn(self._come_back())
        else:
            self._set_connected(True)

    async def _come_back(self) -> None:
        lost = await self._recover_all()
        if lost:
            self.logger.warning("messages lost on %d topics while redis was away", len(lost))
        self._set_connected(True, lost=lost)

    async def _drop(self, connection: AbstractConnection) -> None:
        """Close the link and forget its state; release whoever awaits a confirmation."""
        self._connection = None
        self._wire = {}
        self._initial.clear()
        if self._comeback is not None:
            self._comeback.cancel()
            self._comeback = None
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
        for lane in self._lanes:
            await lane.close()
        await self._client.aclose()
