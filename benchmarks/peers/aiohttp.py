"""aiohttp: ``web.WebSocketResponse`` on the server, ``ClientSession.ws_connect`` on the client.

The handlers iterate over the response (``async for msg in ws``) as aiohttp's
documentation shows. One client session holds every connection of the client
process, with no limit on its connector's pool (1,000 connections at once).
The access log is off: it is not part of WebSocket traffic.
"""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from .base import (
    COUNT_PATH,
    COUNT_REQUEST,
    ECHO_PATH,
    MAX_SIZE,
    Connection,
    Peer,
    check_count,
    check_reply,
    listen_options,
)

__all__ = ["make_peer"]


def _server(compression: bool) -> web.Application:
    def websocket() -> web.WebSocketResponse:
        return web.WebSocketResponse(compress=compression, max_msg_size=MAX_SIZE)

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = websocket()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def count(request: web.Request) -> web.WebSocketResponse:
        ws = websocket()
        await ws.prepare(request)
        received = 0
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(str(received))
                received = 0
            elif msg.type == aiohttp.WSMsgType.BINARY:
                received += len(msg.data)
        return ws

    app = web.Application()
    app.router.add_get(ECHO_PATH, echo)
    app.router.add_get(COUNT_PATH, count)
    return app


class _Connection(Connection):
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def round_trips(self, message: bytes, deadline: float) -> int:
        ws = self.ws
        count = 0
        while True:
            await ws.send_bytes(message)
            reply = await ws.receive_bytes()
            count += 1
            if time.perf_counter() >= deadline:
                break
        check_reply(reply, message)
        return count

    async def stream(self, message: bytes, deadline: float) -> int:
        ws = self.ws
        count = 0
        while True:
            await ws.send_bytes(message)
            count += 1
            if time.perf_counter() >= deadline:
                break
        await ws.send_str(COUNT_REQUEST)
        check_count(int(await ws.receive_str()), count * len(message))
        return count

    async def close(self) -> None:
        await self.ws.close()


class AiohttpPeer(Peer):
    """aiohttp on an event loop."""

    session: aiohttp.ClientSession | None = None

    async def serve(self, compression: bool, backlog: int | None = None) -> int:
        self.runner = web.AppRunner(_server(compression), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0, **listen_options(backlog)).start()
        port: int = self.runner.addresses[0][1]
        return port

    async def connect(self, port: int, path: str) -> Connection:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        ws = await self.session.ws_connect(
            f"http://127.0.0.1:{port}{path}", compress=0, max_msg_size=MAX_SIZE
        )
        return _Connection(ws)

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


def make_peer(loop: str) -> Peer:
    """aiohttp on ``loop`` (an event loop; aiohttp has no threaded implementation)."""
    return AiohttpPeer()


if __name__ == "__main__":
    from .process import main

    main(make_peer)
