"""Fan-out across processes and hosts over a broker.

One server process handles thousands of connections; a deployment runs many
processes on many hosts, and a message published anywhere must reach the
clients subscribed everywhere. :mod:`wskit.pubsub` does it on an existing
broker:

- :class:`Broker`: ``publish()``, ``subscribe()`` and link events; backends
  :class:`MemoryBroker` (one process), :class:`RedisBroker` (Redis
  pub/sub, ``pip install wskit[redis]``) and :class:`RedisClusterBroker`
  (sharded pub/sub on a Redis Cluster);
- :class:`Hub`: WebSocket connections in rooms, fed by a broker;
- :class:`RedisEmitter`: publish to rooms from synchronous code.

Publishing queues and pipelines (it waits when the queue is full, never
fails for load). Delivery is at most once; with a history (Redis Streams),
what a process or a client missed is recovered from a :class:`Position`, or
reported as lost; every queue is bounded (:class:`Overflow`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .broker import Broker, BrokerStats, Handler, LinkCallback, LinkEvent, Message
from .exceptions import (
    BrokerClosed,
    BrokerUnavailable,
    PubSubError,
    SlowSubscriber,
    SubscriptionClosed,
)
from .history import Position, Recovery
from .hub import Hub, HubStats
from .memory import MemoryBroker
from .subscription import Overflow, Subscription

if TYPE_CHECKING:
    from .cluster import RedisClusterBroker
    from .emitter import RedisEmitter
    from .redis import RedisBroker

__all__ = [
    "Broker",
    "BrokerClosed",
    "BrokerStats",
    "BrokerUnavailable",
    "Handler",
    "Hub",
    "HubStats",
    "LinkCallback",
    "LinkEvent",
    "MemoryBroker",
    "Message",
    "Overflow",
    "Position",
    "PubSubError",
    "Recovery",
    "RedisBroker",
    "RedisClusterBroker",
    "RedisEmitter",
    "SlowSubscriber",
    "Subscription",
    "SubscriptionClosed",
]

# The Redis classes need the optional redis package: import it on first use.
_LAZY = {
    "RedisBroker": ".redis",
    "RedisClusterBroker": ".cluster",
    "RedisEmitter": ".emitter",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
