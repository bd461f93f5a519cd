"""picows.websockets: picows' compiled connection behind the API of websockets.

It runs on event loops only; :mod:`benchmarks.peers.websockets_api` drives it
as it drives wskit and websockets, with its own ``broadcast()``.
"""

from __future__ import annotations

from .base import Peer
from .websockets_api import make_peer as _make_peer

__all__ = ["make_peer"]


def make_peer(loop: str) -> Peer:
    """picows.websockets on an event loop."""
    return _make_peer("picows.websockets", loop)


if __name__ == "__main__":
    from .process import main

    main(make_peer)
