"""Where a message stands in its topic's history, and what a recovery found.

A broker that keeps a history (:class:`~wskit.pubsub.RedisBroker` with
``history``) numbers the messages of each topic: 1, 2, 3... The numbering
belongs to an *epoch*: when the history is lost (Redis restarted without
persistence, or the topic stayed silent until its history expired), a new
epoch starts again from 1, and positions of the old one can no longer be
recovered. A consumer that remembers the position of the last message it
saw can come back later and get what it missed, or learn that it can't.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .broker import Message

__all__ = ["Position", "Recovery", "is_news"]


@dataclasses.dataclass(frozen=True, slots=True)
class Position:
    """The place of a message in its topic's history.

    Attributes:
        offset: Its number in the epoch: 1 for the first message; 0 before
            the first one.
        epoch: Names the history the offset belongs to.
    """

    offset: int
    epoch: str


@dataclasses.dataclass(frozen=True, slots=True)
class Recovery:
    """What a topic's history holds after a position; see :meth:`wskit.pubsub.Broker.recover`.

    Attributes:
        messages: The messages after the position asked for, in order.
        position: The position of the topic's latest message when the
            history was read: the consumer is there once it has
            ``messages``.
        complete: Whether ``messages`` are all the messages published after
            the position asked for. When false, some were lost (the history
            was trimmed, expired, or belongs to another epoch): the consumer
            must resync by other means.
    """

    messages: list[Message]
    position: Position
    complete: bool


def is_news(position: Position | None, seen: Position | None) -> bool:
    """Whether a message at ``position`` is new to a consumer that saw ``seen``.

    It is unless both are known, in the same epoch, and ``position`` isn't
    after ``seen``: a message recovered from the history and received live
    too is handed over once.
    """
    if position is None or seen is None or position.epoch != seen.epoch:
        return True
    return position.offset > seen.offset
