"""wskit: wskit.asyncio on event loops, wskit.sync on threads.

Both come from :mod:`benchmarks.peers.websockets_api`: wskit has the API of websockets.
"""

from __future__ import annotations

from .base import Peer
from .websockets_api import make_peer as _make_peer

__all__ = ["make_peer"]


def make_peer(loop: str) -> Peer:
    """wskit.asyncio on an event loop, wskit.sync on ``threads``."""
    return _make_peer("wskit", loop)


if __name__ == "__main__":
    from .process import main

    main(make_peer)
