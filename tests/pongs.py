"""Count the pongs a connection matches with its pings, for the keepalive tests of both layers."""

from __future__ import annotations

from typing import Any

from wskit.shared.keepalive import PendingPings

__all__ = ["count_pongs"]


def count_pongs(pings: PendingPings[Any]) -> list[int]:
    """Count the pings of ``pings`` answered from now on, in the one-item list returned."""
    answered = [0]
    acknowledge = pings.acknowledge

    def counting(payload: bytes, received_at: float) -> list[tuple[Any, float]]:
        waiters = acknowledge(payload, received_at)
        answered[0] += len(waiters)
        return waiters

    pings.acknowledge = counting  # type: ignore[method-assign]
    return answered
