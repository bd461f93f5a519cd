#!/usr/bin/env python
# mypy: ignore-errors

# WS client, as the tutorials for websockets 10 and earlier wrote it, with
# "import wskit" in place of "import websockets". It echoes a message,
# pings the server, then waits for messages until the server goes away.

import asyncio
import sys

import wskit


async def hello(uri):
    async with wskit.connect(uri) as websocket:
        await websocket.send("Hello world!")
        print(f"< {await websocket.recv()}", flush=True)

        pong_waiter = await websocket.ping()
        await pong_waiter
        print("pong", flush=True)

        try:
            async for message in websocket:
                print(f"< {message}", flush=True)
        except wskit.exceptions.ConnectionClosedError as exc:
            print(f"connection lost: code {exc.code}", flush=True)


asyncio.get_event_loop().run_until_complete(hello(sys.argv[1]))
