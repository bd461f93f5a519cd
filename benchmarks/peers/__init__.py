"""The libraries the harness compares, one module each, and the loops each runs on.

Every module has ``make_peer(loop)`` and runs as a server or client process:
``python -m benchmarks.peers.<name> server|client ...`` (see
:mod:`benchmarks.peers.process`).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_LOOPS",
    "DEFAULT_PEERS",
    "EVENT_LOOPS",
    "LOOPS",
    "NO_KINDS",
    "ONLY_KINDS",
    "PEERS",
    "UVICORN_PEERS",
]

#: The event loops: asyncio's own, uvloop, and asyncio's own with aiofastnet's
#: compiled transports (``aiofastnet.patch_loop()``), which picows uses on
#: asyncio's loop whatever the loop: measured apart, it shows what a compiled
#: transport buys the libraries that run on the loop's own.
EVENT_LOOPS = ("asyncio", "uvloop", "aiofastnet")

#: Event loops and threads, in the order reports list them.
LOOPS = (*EVENT_LOOPS, "threads")

#: The loops the harness measures unless told otherwise.
DEFAULT_LOOPS = ("asyncio", "uvloop", "threads")

#: For each peer: the package it needs (None: the standard library) and its loops.
PEERS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "raw": (None, LOOPS),
    "raw_await": (None, EVENT_LOOPS),
    "wskit": ("wskit", LOOPS),
    "picows": ("picows", EVENT_LOOPS),
    "picows_websockets": ("picows", EVENT_LOOPS),
    "websockets": ("websockets", LOOPS),
    "aiohttp": ("aiohttp", EVENT_LOOPS),
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
