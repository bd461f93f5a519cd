#!/usr/bin/env python
# mypy: ignore-errors

# An echo server behind a load balancer, in the shape of websockets 10's
# deployment guides: a health check answered by process_request(path,
# request_headers), a header added to every handshake with extra_headers,
# and a clean exit on SIGTERM. "from wskit.legacy.server import serve"
# stands for "from websockets.legacy.server import serve"; the host and
# port come from the command line, and the server prints the port.

import asyncio
import http
import signal
import sys

from wskit.legacy.server import serve

HOST, PORT = sys.argv[1], int(sys.argv[2])


async def health_check(path, request_headers):  # noqa: RET503 (as the tutorials wrote it)
    if path == "/healthz":
        return http.HTTPStatus.OK, [], b"OK\n"


async def echo(websocket, path):
    async for message in websocket:
        await websocket.send(message)


async def main():
    # Set the stop condition when receiving SIGTERM.
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)

    async with serve(
        echo,
        host=HOST,
        port=PORT,
        process_request=health_check,
        extra_headers=[("X-Served-By", "echo-1")],
    ) as server:
        print(f"listening on port {server.sockets[0].getsockname()[1]}", flush=True)
        await stop
    print("stopped", flush=True)


asyncio.run(main())
