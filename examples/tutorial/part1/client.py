"""Tutorial, part 1: vote in the poll of server.py and print the results.

Run it with ``python examples/tutorial/part1/client.py OPTION`` (``tea`` or
``coffee``); ``PORT=...`` picks the server's port (8765 by default).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from wskit.asyncio.client import connect


async def vote(choice: str, port: int) -> int:
    async with connect(f"ws://127.0.0.1:{port}") as websocket:
        await websocket.recv()  # the results before this vote, which this client skips
        await websocket.send(json.dumps({"vote": choice}))
        reply = json.loads(await websocket.recv())
    if reply["type"] == "error":
        print(f"Vote refused: {reply['message']}", file=sys.stderr)
        return 1
    print(reply["question"])
    for option, count in reply["votes"].items():
        print(f"{option}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(vote(sys.argv[1], int(os.environ.get("PORT", "8765")))))
