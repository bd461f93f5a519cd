#!/usr/bin/env python
# mypy: ignore-errors

# WS server example, in the shape of the "Getting started" page of
# websockets 8 to 10, with "import wskit as websockets" in place of
# "import websockets". The only other change serves the tests: the host and
# port come from the command line, and the server prints the port.

import asyncio
import sys

import wskit as websockets

HOST, PORT = sys.argv[1], int(sys.argv[2])


async def hello(websocket, path):
    name = await websocket.recv()
    print(f"< {name}")

    greeting = f"Hello {name}!"

    await websocket.send(greeting)
    print(f"> {greeting}")


start_server = websockets.serve(hello, HOST, PORT)

server = asyncio.get_event_loop().run_until_complete(start_server)
print(f"listening on port {server.sockets[0].getsockname()[1]}")
asyncio.get_event_loop().run_forever()
