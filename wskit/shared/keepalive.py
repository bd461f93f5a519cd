"""Pings awaiting their pong, shared by the asyncio and threading layers.

RFC 6455, section 5.5.3: "A Pong frame sent in response to a Ping frame must
have identical Application data as found in the message body of the Ping frame
being replied to." A pong also answers every ping sent before the one it
matches: the peer may answer only the latest of several pings.
"""

from __future__ import annotations

import os
from typing import Generic, TypeVar

from ..exceptions import ConcurrencyError
from ..typing import BytesLike

__all__ = ["PendingPings"]

Waiter = TypeVar("Waiter")


class PendingPings(Generic[Waiter]):
    """Pings sent and not answered yet, each with what waits for its pong.

    ``Waiter`` is whatever the I/O layer wakes up when the pong arrives: an
    :class:`asyncio.Future`, a :class:`threading.Event`...
    """

    def __init__(self) -> None:
        # Insertion order is sending order, which acknowledge() relies on.
        self.pings: dict[bytes, tuple[Waiter, float]] = {}
        self.latency = 0.0
        """Round-trip time of the last ping answered, in seconds."""

    def __len__(self) -> int:
        return len(self.pings)

    def payload(self, data: BytesLike | str | None) -> bytes:
        """Choose the payload of the next ping.

        Args:
            data: The payload the application asked for; :obj:`None` for a
                random one. A string is encoded to UTF-8.

        Raises:
            ConcurrencyError: A ping with the same payload awaits its pong.
        """
        if data is None:
            payload = os.urandom(4)
            while payload in self.pings:
                payload = os.urandom(4)
            return payload
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if payload in self.pings:
            raise ConcurrencyError("already waiting for a pong with the same data")
        return payload

    def add(self, payload: bytes, waiter: Waiter, sent_at: float) -> None:
        """Remember a ping sent at ``sent_at`` (a monotonic clock reading)."""
        self.pings[payload] = (waiter, sent_at)

    def acknowledge(self, payload: bytes, received_at: float) -> list[tuple[Waiter, float]]:
        """Match a pong with the ping it answers.

        Returns:
            The waiters of that ping and of every earlier one, each with its
            round-trip time; nothing when the pong answers no ping.
        """
        if payload not in self.pings:
            return []
        payloads = list(self.pings)
        answered = []
        for ping_payload in payloads[: payloads.index(payload) + 1]:
            waiter, sent_at = self.pings.pop(ping_payload)
            answered.append((waiter, received_at - sent_at))
        self.latency = answered[-1][1]
        return answered

    def clear(self) -> list[Waiter]:
        """Forget every pending ping and return their waiters."""
        waiters = [waiter for waiter, _ in self.pings.values()]
        self.pings.clear()
        return waiters
