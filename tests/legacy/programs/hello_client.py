#!/usr/bin/env python
# mypy: ignore-errors

# WS client example, in the shape of the "Getting started" page of
# websockets 8 to 10, with "import wskit as websockets" in place of
# "import websockets". The URI comes from the command line.

import asyncio
import sys

import wskit as websockets


async def hello():
    uri = sys.argv[1]
    async with websockets.connect(uri) as websocket:
        name = input("What's your name? ")

        await websocket.send(name)
        print(f"> {name}")

        greeting = await websocket.recv()
        print(f"< {greeting}")


asyncio.get_event_loop().run_until_complete(hello())
