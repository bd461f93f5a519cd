"""Tests of greeter.py, the way an application using wskit writes them.

``ws_connect`` comes from wskit's pytest plugin, which installing wskit
loads: it serves the handler on a free port of 127.0.0.1 and connects.
"""

from __future__ import annotations

import asyncio

import pytest

from examples.testing.greeter import app, greeter
from wskit.exceptions import ConnectionClosedError
from wskit.testing import connect
from wskit.testing.pytest_plugin import WSConnect


def test_greets(ws_connect: WSConnect) -> None:
    websocket = ws_connect(greeter, "/hello")
    websocket.send("Ada")
    assert websocket.recv() == "Hello, Ada!"


def test_refuses_other_paths(ws_connect: WSConnect) -> None:
    websocket = ws_connect(greeter, "/")
    with pytest.raises(ConnectionClosedError) as raised:
        websocket.recv()
    assert raised.value.rcvd is not None
    assert raised.value.rcvd.code == 1008


def test_in_memory_with_the_application_options() -> None:
    async def scenario() -> None:
        # No socket, no port: the app's own serve() call, with its max_size.
        async with connect(app(), "/hello") as websocket:
            await websocket.send("x" * 2000)
            with pytest.raises(ConnectionClosedError):
                await websocket.recv()
            assert websocket.close_code == 1009  # message too big

    asyncio.run(scenario())
