"""Starlette and FastAPI apps under uvicorn with the wskit engine, unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets.asyncio.client as ws_client
from fastapi import FastAPI, WebSocket, WebSocketDisconnect, WebSocketException
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute

from wskit.asyncio.client import connect
from wskit.exceptions import ConnectionClosed

from .harness import Recorder, Stack, serving


def fastapi_app(recorder: Recorder) -> FastAPI:
    app = FastAPI()

    @app.websocket("/rooms/{room}")
    async def room(websocket: WebSocket, room: str, name: str = "anon") -> None:
        if room == "closed":
            raise WebSocketException(code=1008, reason="room closed")
        await websocket.accept()
        try:
            while True:
                data = await websocket.receive_json()
                await websocket.send_json({"room": room, "name": name, "data": data})
        except WebSocketDisconnect as exc:
            recorder.put((exc.code, exc.reason))

    @app.websocket("/bytes")
    async def echo_bytes(websocket: WebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_bytes():
            await websocket.send_bytes(data)

    return app


async def test_fastapi_path_query_and_json(stack: Stack) -> None:
    recorder = Recorder()
    async with serving(fastapi_app(recorder), stack) as server:
        async with connect(server.url("/rooms/blue?name=ada")) as ws:
            await ws.send('{"n": 1}')
            assert await ws.recv() == '{"room":"blue","name":"ada","data":{"n":1}}'
            await ws.close(4000, "done")
        assert await recorder.get() == (4000, "done")


async def test_fastapi_with_websockets_client(stack: Stack) -> None:
    async with (
        serving(fastapi_app(Recorder()), stack) as server,
        ws_client.connect(server.url("/bytes"), max_size=None) as ws,
    ):
        for size in (64, 2**14, 2**20):
            await ws.send(b"b" * size)
            assert await ws.recv() == b"b" * size


async def test_fastapi_exception_before_accept_is_403(stack: Stack) -> None:
    async with serving(fastapi_app(Recorder()), stack) as server:
        response = await server.refusal("/rooms/closed")
        assert response.status_code == 403


async def test_fastapi_unknown_route_is_refused(stack: Stack) -> None:
    async with serving(fastapi_app(Recorder()), stack) as server:
        response = await server.refusal("/nowhere")
        assert response.status_code == 403


async def test_starlette_denial_response(stack: Stack) -> None:
    async def guarded(websocket: Any) -> None:
        await websocket.send_denial_response(PlainTextResponse("go away", status_code=418))

    app = Starlette(routes=[WebSocketRoute("/guarded", guarded)])
    async with serving(app, stack) as server:
        response = await server.refusal("/guarded")
        assert response.status_code == 418
        assert response.body == b"go away"


async def test_starlette_endpoint(stack: Stack) -> None:
    recorder = Recorder()

    class Echo(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket: Any, data: Any) -> None:
            await websocket.send_text(data.upper())

        async def on_disconnect(self, websocket: Any, close_code: int) -> None:
            recorder.put(close_code)

    app = Starlette(routes=[WebSocketRoute("/echo", Echo)])
    async with serving(app, stack) as server:
        async with connect(server.url("/echo")) as ws:
            await ws.send("shout")
            assert await ws.recv() == "SHOUT"
            # The endpoint wants text: binary closes with 1003.
            await ws.send(b"bytes")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1003
        # Starlette reports its own RuntimeError, not the close code it sent.
        assert await recorder.get() == 1011


async def test_starlette_lifespan_and_shutdown(stack: Stack) -> None:
    recorder = Recorder()

    async def watch(websocket: Any) -> None:
        await websocket.accept()
        recorder.put("accepted")
        message = await websocket.receive()
        recorder.put(message["code"])

    app = Starlette(routes=[WebSocketRoute("/watch", watch)])
    async with serving(app, stack, lifespan="on") as server:
        clients = [await connect(server.url("/watch")) for _ in range(3)]
        for _ in clients:
            assert await recorder.get() == "accepted"
        server.server.should_exit = True
        codes = await asyncio.gather(*(client.wait_closed() for client in clients))
        assert codes == [None] * 3
        assert [client.close_code for client in clients] == [1012] * 3
        assert [await recorder.get() for _ in clients] == [1012] * 3
