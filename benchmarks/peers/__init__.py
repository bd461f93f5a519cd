"""The libraries the harness compares, one module each, and the loops each runs on.

Every module has ``make_peer(loop)`` and runs as a server or client process:
``python -m benchmarks.peers.<name> server|client ...`` (see
:mod:`benchmarks.peers.process`).
"""

from __future__ import annotations

__all__ = ["DEFAULT_PEERS", "LOOPS", "NO_KINDS", "ONLY_KINDS", "PEERS", "UVICORN_PEERS"]

#: Event loops and threads, in the order reports list them.
LOOPS = ("asyncio", "uvloop", "threads")

#: For each peer: the package it needs (None: the standard library) and its loops.
PEERS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "raw": (None, LOOPS),
    "raw_await": (None, ("asyncio", "uvloop")),
    "wskit": ("wskit", LOOPS),
    "picows": ("picows", ("asyncio", "uvloop")),
    "picows_websockets": ("picows", ("asyncio", "uvloop")),
    "websockets": ("websockets", LOOPS),
    "aiohttp": ("aiohttp", ("asyncio", "uvloop")),
}

#: The same Starlette app under uvicorn with each WebSocket engine (the wskit
#: engine first), measured apart by ``python -m benchmarks.uvicorn``.
UVICORN_PEERS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "uvicorn_wskit": ("uvicorn", ("asyncio", "uvloop")),
    "uvicorn_websockets_sansio": ("uvicorn", ("asyncio", "uvloop")),
    "uvicorn_websockets": ("uvicorn", ("asyncio", "uvloop")),
    "uvicorn_wsproto": ("wsproto", ("asyncio", "uvloop")),
}

#: The libraries the harness compares unless told otherwise.
DEFAULT_PEERS = list(PEERS)
PEERS.update(UVICORN_PEERS)

#: The kinds of measurement a peer takes part in, when not all of them.
ONLY_KINDS: dict[str, tuple[str, ...]] = {"raw_await": ("rtt",)}

#: The kinds a peer can't take part in: raw TCP has no messages to broadcast or
#: to exchange before idling, aiohttp no broadcast.
NO_KINDS: dict[str, tuple[str, ...]] = {
    "raw": ("broadcast", "traffic", "traffic-deflate"),
    "aiohttp": ("broadcast",),
}
