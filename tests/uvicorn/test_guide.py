"""The uvicorn guide's apps on the wskit engine: "starlette/app.py" with the
guide's settings, and "fastapi/app.py" (which test_browser.py also runs in
Chromium) with wskit clients."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from examples.fastapi.app import app as fastapi_app
from examples.starlette.app import WEBSOCKET_SETTINGS, app
from wskit.asyncio.client import connect
from wskit.exceptions import ConnectionClosedError

from .harness import ENGINE, Stack, serving


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


async def test_starlette_app_with_the_guide_settings(stack: Stack) -> None:
    settings = dict(WEBSOCKET_SETTINGS)
    assert settings.pop("ws") == ENGINE
    async with serving(app, stack, **settings) as server:
        async with connect(server.url("/echo")) as websocket:
            # The engine negotiated compression, as ws_per_message_deflate asks.
            assert [e.name for e in websocket.protocol.extensions] == ["permessage-deflate"]
            await websocket.send("Hello, Starlette!")
            assert await websocket.recv() == "Hello, Starlette!"
            # ws_max_size applies: a larger message closes the connection with 1009.
            await websocket.send("x" * (settings["ws_max_size"] + 1), compress=False)
            with pytest.raises(ConnectionClosedError) as closed:
                await websocket.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        # Plain HTTP goes to Starlette's routes, on the same port.
        page = await asyncio.to_thread(fetch, f"http://127.0.0.1:{server.port}/")
        assert page.startswith(b"Connect to /echo")


async def test_fastapi_chat(stack: Stack) -> None:
    async with (
        serving(fastapi_app, stack) as server,
        connect(server.url("/chat?name=ada")) as ada,
    ):
        assert json.loads(await ada.recv()) == {"type": "users", "count": 1}
        async with connect(server.url("/chat?name=bob")) as bob:
            for member in (ada, bob):
                assert json.loads(await member.recv()) == {"type": "users", "count": 2}
            await bob.send("hi ada")
            said = {"type": "message", "name": "bob", "text": "hi ada"}
            for member in (ada, bob):
                assert json.loads(await member.recv()) == said
        assert json.loads(await ada.recv()) == {"type": "users", "count": 1}
