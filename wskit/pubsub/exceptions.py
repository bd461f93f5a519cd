"""Errors raised by :mod:`wskit.pubsub`."""

from __future__ import annotations

__all__ = [
    "BrokerClosed",
    "BrokerUnavailable",
    "PubSubError",
    "SlowSubscriber",
    "SubscriptionClosed",
]


class PubSubError(Exception):
    """Base class of the errors of :mod:`wskit.pubsub`."""


class BrokerUnavailable(PubSubError):
    """The broker couldn't be reached or failed.

    From ``publish()``: the message wasn't published. From ``flush()``:
    messages accepted earlier were lost, Redis having failed before
    confirming them. From ``RedisEmitter.publish()``: the message may or may
    not have been published.

    Delivery is at most once: wskit never publishes a message twice, so it
    doesn't retry. The application decides whether to try again.
    """


class BrokerClosed(PubSubError):
    """The broker was closed: it doesn't publish or subscribe anymore."""


class SubscriptionClosed(PubSubError):
    """The subscription ended: it was unsubscribed or its broker closed.

    Iterating over a subscription stops quietly instead.
    """


class SlowSubscriber(PubSubError):
    """The consumer fell ``max_queue`` messages behind and was cut off.

    Raised by subscriptions with :attr:`~wskit.pubsub.Overflow.DISCONNECT`.
    Messages were lost: the consumer should subscribe again and resync.
    """
