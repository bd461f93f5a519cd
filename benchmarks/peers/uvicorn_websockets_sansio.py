"""uvicorn and Starlette with uvicorn's websockets-sansio engine; wskit's client."""

from __future__ import annotations

from .base import Peer
from .uvicorn_engines import make_peer as _make_peer

__all__ = ["make_peer"]


def make_peer(loop: str) -> Peer:
    """The same server on either event loop."""
    return _make_peer("uvicorn_websockets_sansio")


if __name__ == "__main__":
    from .process import main

    main(make_peer)
