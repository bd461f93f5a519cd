"""Print what the reload example's server says, reconnecting whenever it restarts.

Run it with ``python examples/reload/client.py`` (``PORT=...`` picks the
server's port). While you develop, shorten the waits between attempts with
``WSKIT_BACKOFF_INITIAL_DELAY=0.1 WSKIT_BACKOFF_MIN_DELAY=0.1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from wskit.asyncio.client import connect
from wskit.exceptions import ConnectionClosed


async def follow(uri: str) -> None:
    # Each turn of the loop is a connection: a new one once the last ends,
    # after a pause while the server is away.
    async for websocket in connect(uri):
        with contextlib.suppress(ConnectionClosed):
            async for message in websocket:
                print(message, flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow(f"ws://127.0.0.1:{os.environ.get('PORT', '8765')}/"))
