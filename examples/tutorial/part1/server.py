"""Tutorial, part 1: a poll server that counts votes and tells each voter the results.

Run it with ``python examples/tutorial/part1/server.py [PORT]`` (or
``PORT=...``), then vote with ``python examples/tutorial/part1/client.py tea``.
Stop it with Ctrl-C.

Messages are JSON. On connecting, a voter receives the results; it sends
``{"vote": "tea"}`` and receives the new results, ``{"type": "results",
"question": ..., "votes": {"tea": 1, "coffee": 0}}``, or ``{"type": "error",
"message": ...}`` if the vote isn't valid.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from wskit.asyncio.server import ServerConnection, serve

QUESTION = "Tea or coffee?"
# The state of the poll, shared by every connection: this process runs them all.
votes = {"tea": 0, "coffee": 0}


def results() -> str:
    return json.dumps({"type": "results", "question": QUESTION, "votes": votes})


def error(message: str) -> str:
    return json.dumps({"type": "error", "message": message})


def read_vote(message: str | bytes) -> str:
    """Return the option that a message votes for; raise ValueError if it's not a vote."""
    event = json.loads(message)  # raises ValueError (JSONDecodeError) if not JSON
    choice = event.get("vote") if isinstance(event, dict) else None
    if not isinstance(choice, str) or choice not in votes:
        raise ValueError(f"vote for one of: {', '.join(votes)}")
    return choice


async def poll(websocket: ServerConnection) -> None:
    await websocket.send(results())
    # The loop ends when the voter closes the connection.
    async for message in websocket:
        try:
            choice = read_vote(message)
        except ValueError as exc:
            await websocket.send(error(str(exc)))
            continue
        votes[choice] += 1
        await websocket.send(results())


async def main(
    handler: Callable[[ServerConnection], Awaitable[None]], port: int, **options: Any
) -> None:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    # Options go to serve(): part 3 adds some.
    async with serve(handler, "127.0.0.1", port, **options):
        print(f"Serving on ws://127.0.0.1:{port}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(poll, port))
