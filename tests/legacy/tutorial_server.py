#!/usr/bin/env python
# mypy: ignore-errors

# WS echo server, as the tutorials for websockets 10 and earlier wrote it,
# with "import wskit" in place of "import websockets". The only other
# changes serve the tests: the port comes from the command line (0 picks a
# free one) and the server prints the port it listens on.

import asyncio
import sys

import wskit

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8765


async def echo(websocket, path):
    print(f"connection on {path}", flush=True)
    async for message in websocket:
        await websocket.send(message)


start_server = wskit.serve(echo, "127.0.0.1", PORT)

server = asyncio.get_event_loop().run_until_complete(start_server)
print(f"listening on port {server.sockets[0].getsockname()[1]}", flush=True)
asyncio.get_event_loop().run_forever()
