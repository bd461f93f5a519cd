"""The examples of the topic guides (examples/topics) do what the guides say."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from examples.topics import auth, broadcast, logs
from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.exceptions import ConnectionClosed, InvalidStatus
from wskit.frames import CloseCode

# Every test's whole run.
TIMEOUT = 20

# The files these tests run, as the guides include them.
FILES = ("topics/auth.py", "topics/broadcast.py", "topics/logs.py")

Handler = Callable[[ServerConnection], Awaitable[None]]


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await test()

    asyncio.run(bounded())


async def close_code(websocket: ClientConnection) -> int:
    """Read until the server closes; return its close code."""

    async def read_all() -> None:
        while True:
            await websocket.recv()

    with pytest.raises(ConnectionClosed) as closed:
        await read_all()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


# Authentication


def test_token_in_query() -> None:
    async def test() -> None:
        async with serve(auth.greet, "127.0.0.1", 0, process_request=auth.token_in_query) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/?token=token-for-alice") as websocket:
                assert await websocket.recv() == "Hello alice!"
            for query in ("", "?token=guess"):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(f"ws://127.0.0.1:{port}/{query}")
                assert refused.value.response.status_code == 401

    run(test)


def test_session_cookie() -> None:
    async def test() -> None:
        async with serve(auth.greet, "127.0.0.1", 0, process_request=auth.session_cookie) as server:
            uri = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
            cookie = {"Cookie": "theme=dark; session=token-for-bob"}
            async with connect(uri, additional_headers=cookie) as websocket:
                assert await websocket.recv() == "Hello bob!"
            for headers in ({}, {"Cookie": "session=guess"}, {"Cookie": '"; ;=='}):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(uri, additional_headers=headers)
                assert refused.value.response.status_code == 401

    run(test)


def test_token_in_first_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "AUTH_TIMEOUT", 0.2)

    async def test() -> None:
        async with serve(auth.token_in_first_message, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
            async with connect(uri) as websocket:
                await websocket.send("token-for-alice")
                assert await websocket.recv() == "Hello alice!"
            async with connect(uri) as websocket:
                await websocket.send("guess")
                assert await close_code(websocket) == CloseCode.POLICY_VIOLATION
            async with connect(uri) as websocket:  # sends nothing
                assert await close_code(websocket) == CloseCode.POLICY_VIOLATION
                assert websocket.close_reason == "authentication timed out"

    run(test)


# Broadcasting


async def clients(handler: Handler, count: int) -> tuple[Any, list[ClientConnection]]:
    server = await serve(handler, "127.0.0.1", 0)
    uri = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
    return server, [await connect(uri) for _ in range(count)]


async def until(condition: Callable[[], bool]) -> None:
    """Let the server's handlers run until ``condition()`` (bounded by the test's timeout)."""
    while not condition():
        await asyncio.sleep(0.001)


def test_announce_reaches_every_client() -> None:
    async def test() -> None:
        server, connections = await clients(broadcast.register, 3)
        await until(lambda: len(broadcast.CLIENTS) == 3)
        broadcast.announce("news")
        for websocket in connections:
            assert await websocket.recv() == "news"
        for websocket in connections:
            await websocket.close()
        await until(lambda: not broadcast.CLIENTS)
        server.close()
        await server.wait_closed()

    run(test)


def test_relay_keeps_order() -> None:
    async def test() -> None:
        relay = broadcast.Relay()
        server, connections = await clients(relay.handler, 2)
        await until(lambda: len(relay.queues) == 2)
        for number in range(10):
            relay.publish(str(number))
        for websocket in connections:
            assert [await websocket.recv() for _ in range(10)] == [str(n) for n in range(10)]
        server.close()
        await server.wait_closed()

    run(test)


def test_relay_disconnects_a_client_too_far_behind() -> None:
    async def test() -> None:
        relay = broadcast.Relay(backlog=2)
        server, [websocket] = await clients(relay.handler, 1)
        await until(lambda: len(relay.queues) == 1)
        for number in range(3):  # three at once: the queue holds two
            relay.publish(str(number))
        assert not relay.queues
        assert await close_code(websocket) == CloseCode.TRY_AGAIN_LATER
        server.close()
        await server.wait_closed()

    run(test)


# Logging


@pytest.fixture
def log() -> Any:
    """Configure wskit's logging as the example does; yield its output; undo it."""
    wskit = logging.getLogger("wskit")
    level = wskit.level
    handler = logs.configure(debug=True)
    assert isinstance(handler, logging.StreamHandler)
    output = io.StringIO()
    handler.setStream(output)
    yield output
    wskit.removeHandler(handler)
    wskit.setLevel(level)


def test_log_lines_name_their_connection(log: io.StringIO) -> None:
    async def handler(websocket: ServerConnection) -> None:
        while True:
            await websocket.recv()

    async def test() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
            async with connect(uri) as websocket:
                await websocket.send("hi")

    run(test)
    lines = log.getvalue().splitlines()
    assert any(re.search(r"INFO wskit.server \[-\] server listening on ", line) for line in lines)
    # The handler's recv() raised ConnectionClosedOK once the client closed.
    tagged = r"wskit\.server \[[0-9a-f]{8}\] "
    assert any(re.search(f"INFO {tagged}connection closed: ", line) for line in lines)
    # debug=True: every frame, with its connection.
    assert any(re.search(f"DEBUG {tagged}< TEXT 'hi'", line) for line in lines)
