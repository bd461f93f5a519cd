"""The libraries the harness compares, one module each, and the loops each runs on.

Every module has ``make_peer(loop)`` and runs as a server or client process:
``python -m benchmarks.peers.<name> server|client ...`` (see
:mod:`benchmarks.peers.process`).
"""

from __future__ import annotations

__all__ = ["LOOPS", "ONLY_KINDS", "PEERS"]

#: Event loops and threads, in the order reports list them.
LOOPS = ("asyncio", "uvloop", "threads")

#: For each peer: the package it needs (None: the standard library) and its loops.
PEERS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "raw": (None, LOOPS),
    "raw_await": (None, ("asyncio", "uvloop")),
    "wskit": ("wskit", LOOPS),
    "picows": ("picows", ("asyncio", "uvloop")),
    "websockets": ("websockets", LOOPS),
    "aiohttp": ("aiohttp", ("asyncio", "uvloop")),
}

#: The kinds of measurement a peer takes part in, when not all of them.
ONLY_KINDS: dict[str, tuple[str, ...]] = {"raw_await": ("rtt",)}
