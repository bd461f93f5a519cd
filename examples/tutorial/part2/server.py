"""Tutorial, part 2: every voter sees the results change as soon as anyone votes.

Run it with ``python examples/tutorial/part2/server.py [PORT]`` (or
``PORT=...``); ``examples/tutorial/part1/client.py`` votes here too. Stop it
with Ctrl-C.

It keeps part 1's poll, its messages and ``main()``, and changes the handler
only: the server keeps the set of open connections and broadcasts the new
results to all of them after each vote.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from wskit.asyncio.server import ServerConnection, broadcast

# Import part 1 from the repository's root, wherever this script runs from.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from examples.tutorial.part1.server import error, main, read_vote, results, votes

# The open connections, shared like the votes.
voters: set[ServerConnection] = set()


async def poll(websocket: ServerConnection) -> None:
    voters.add(websocket)
    try:
        await websocket.send(results())
        async for message in websocket:
            try:
                choice = read_vote(message)
            except ValueError as exc:
                await websocket.send(error(str(exc)))  # to this voter only
                continue
            votes[choice] += 1
            broadcast(voters, results())
    finally:
        voters.remove(websocket)


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(poll, port))
