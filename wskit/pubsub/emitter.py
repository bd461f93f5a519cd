"""Publish to rooms from synchronous code: a Django view, a worker, a script.

The emitter only publishes: it needs no event loop and no listener, just a
Redis connection, and it writes the format the hubs expect
(:mod:`wskit.pubsub.wire`), so text stays text and bytes stay binary.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from ..typing import BytesLike, Data
from . import streams, wire
from .exceptions import BrokerUnavailable

__all__ = ["RedisEmitter"]


class RedisEmitter:
    """Publish to the rooms of :class:`~wskit.pubsub.Hub` instances on a
    :class:`~wskit.pubsub.RedisBroker`, without asyncio.

    One emitter may be shared by threads: redis-py's client is thread-safe.
    Use it as a context manager, or call :meth:`close`::

        with RedisEmitter("redis://127.0.0.1:6379/0") as emitter:
            emitter.publish("room:42", "hello")

    Args:
        url: Redis URL, as for :class:`~wskit.pubsub.RedisBroker`.
        prefix: Must match the brokers' ``prefix``.
        timeout: Seconds allowed to connect and for ``PUBLISH`` to complete.
        history: Must match the brokers' ``history``, as must the TTLs: the
            messages go in the rooms' history, with their positions.
        history_ttl: As for :class:`~wskit.pubsub.RedisBroker`.
        history_meta_ttl: As for :class:`~wskit.pubsub.RedisBroker`.
        redis_options: More keyword arguments for :meth:`redis.Redis.from_url`.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "wskit:",
        timeout: float = 5.0,
        history: int = 0,
        history_ttl: float = 300.0,
        history_meta_ttl: float = 86400.0,
        **redis_options: Any,
    ) -> None:
        streams.check_limits(history, history_ttl, history_meta_ttl)
        self.prefix = prefix
        self.history = history
        self.history_ttl = history_ttl
        self.history_meta_ttl = history_meta_ttl
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            **redis_options,
            # No retry: a PUBLISH whose answer was lost may have gone through,
            # and sending it again could deliver it twice.
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )
        # Loads the script again if Redis forgot it (NOSCRIPT).
        self._script = self._client.register_script(streams.PUBLISH_SCRIPT)

    def publish(self, room: str, message: Data | BytesLike) -> int:
        """Publish a message to a room, for its members in every process.

        Args:
            room: The room (the hubs' topic).
            message: :class:`str` for text, bytes-like for binary.

        Returns:
            How many processes subscribed to the room got it.

        Raises:
            BrokerUnavailable: Redis couldn't be reached; the message may not
                have been published. It isn't retried.
            TypeError: ``message`` is neither a string nor bytes-like.
        """
        payload = wire.encode(message)
        try:
            if self.history:
                arguments = streams.publish_arguments(
                    self.prefix,
                    room,
                    payload,
                    history=self.history,
                    ttl=self.history_ttl,
                    meta_ttl=self.history_meta_ttl,
                )
                receivers = self._script(keys=arguments[:2], args=arguments[2:])
            else:
                receivers = self._client.publish(wire.channel(self.prefix, room), payload)
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"can't publish to {room!r}: {exc}") from exc
        return int(receivers)

    def close(self) -> None:
        """Close the connections to Redis."""
        self._client.close()

    def __enter__(self) -> RedisEmitter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
