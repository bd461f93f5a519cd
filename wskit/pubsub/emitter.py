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
from . import wire
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
        redis_options: More keyword arguments for :meth:`redis.Redis.from_url`.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "wskit:",
        timeout: float = 5.0,
        **redis_options: Any,
    ) -> None:
        self.prefix = prefix
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            **redis_options,
            # No retry: a PUBLISH whose answer was lost may have gone through,
            # and sending it again could deliver it twice.
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )

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
