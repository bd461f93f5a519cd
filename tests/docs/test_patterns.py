"""The patterns of docs/howto/patterns.rst ("patterns/handlers.py", "patterns/rpc.py") work.

Each test serves a handler on a free port, in the test's event loop, and
talks to it with wskit's client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from examples.patterns import handlers, rpc
from tests.test_examples import TIMEOUT
from wskit.asyncio.client import connect
from wskit.asyncio.server import Server, ServerConnection, serve


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no news, no subscriber and an empty mailbox."""
    monkeypatch.setattr(handlers, "received", [])
    monkeypatch.setattr(handlers, "subscribers", set())
    monkeypatch.setattr(rpc, "mailbox", asyncio.Queue(100))


@asynccontextmanager
async def serving(handler: Callable[[ServerConnection], object]) -> AsyncIterator[str]:
    """Serve ``handler``; yield its URI. Leaving waits for every handler to return."""
    server: Server
    async with serve(handler, "127.0.0.1", 0) as server:  # type: ignore[arg-type]
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def until(condition: Callable[[], bool]) -> None:
    """Let the server's tasks run until ``condition()`` holds, within TIMEOUT."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0)


def run(test: Callable[[], object]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await test()  # type: ignore[misc]

    asyncio.run(bounded())


def test_consumer_receives_every_message() -> None:
    async def test() -> None:
        async with serving(handlers.consumer_handler) as uri, connect(uri) as websocket:
            await websocket.send("first")
            await websocket.send(b"second")
        assert handlers.received == ["first", b"second"]

    run(test)


def test_producer_sends_what_is_published() -> None:
    async def test() -> None:
        async with serving(handlers.producer_handler) as uri:
            async with connect(uri) as one, connect(uri) as two:
                await until(lambda: len(handlers.subscribers) == 2)
                handlers.publish("news")
                assert [await one.recv(), await two.recv()] == ["news", "news"]
            # The next publish finds the clients gone: the handlers end.
            handlers.publish("late")
            await until(lambda: not handlers.subscribers)

    run(test)


def test_producer_queue_is_bounded() -> None:
    async def test() -> None:
        async with serving(handlers.producer_handler) as uri:
            async with connect(uri) as websocket:
                await until(lambda: len(handlers.subscribers) == 1)
                for number in range(handlers.QUEUE_SIZE + 10):
                    handlers.publish(str(number))
                # The news that didn't fit in the queue was dropped.
                received = [await websocket.recv() for _ in range(handlers.QUEUE_SIZE)]
                assert received == [str(number) for number in range(handlers.QUEUE_SIZE)]
            # The producer waits for news: give it some, to find out that the
            # client left.
            handlers.publish("late")
            await until(lambda: not handlers.subscribers)

    run(test)


def test_both_ends_the_producer_when_the_client_leaves() -> None:
    async def test() -> None:
        async with serving(handlers.handler) as uri:
            async with connect(uri) as websocket:
                await until(lambda: len(handlers.subscribers) == 1)
                handlers.publish("news")
                await websocket.send("tip")
                assert await websocket.recv() == "news"
                await until(lambda: handlers.received == ["tip"])
            # Without publishing anything: the consumer ended, so the producer
            # was cancelled and its subscription dropped.
            await until(lambda: not handlers.subscribers)

    run(test)


def test_rpc_answers_match_requests_by_id() -> None:
    async def test() -> None:
        async with serving(rpc.serve_requests) as uri, rpc.rpc_client(uri) as client:
            assert await client.call("add", a=2, b=3) == 5
            # take() waits for a value; add() is answered meanwhile.
            waiting = asyncio.create_task(client.call("take"))
            assert await client.call("add", a=1, b=1) == 2
            assert not waiting.done()
            assert await client.call("put", value="parcel") is None
            assert await waiting == "parcel"
            with pytest.raises(rpc.RemoteError, match="KeyError: 'divide'"):
                await client.call("divide", a=1, b=0)
            with pytest.raises(rpc.RemoteError, match="TypeError"):
                await client.call("add", a=1)
            assert client.pending == {}

    run(test)


def test_rpc_caller_gives_up_and_late_answers_are_dropped() -> None:
    async def test() -> None:
        async with serving(rpc.serve_requests) as uri, rpc.rpc_client(uri) as client:
            waiting = asyncio.create_task(client.call("take"))
            await until(lambda: len(client.pending) == 1)
            waiting.cancel()  # as asyncio.timeout() does
            await asyncio.gather(waiting, return_exceptions=True)
            assert client.pending == {}
            # The request still runs on the server; its answer finds no caller.
            await client.call("put", value="late")
            await client.call("put", value="on time")
            assert await client.call("take") == "on time"

    run(test)


def test_rpc_pending_calls_fail_when_the_connection_closes() -> None:
    async def test() -> None:
        async with serving(rpc.serve_requests) as uri, rpc.rpc_client(uri) as client:
            waiting = asyncio.create_task(client.call("take"))
            await until(lambda: len(client.pending) == 1)
            await client.websocket.close()
            with pytest.raises(ConnectionError, match="the connection closed"):
                await waiting

    run(test)


def test_rpc_server_answers_a_malformed_request() -> None:
    async def test() -> None:
        async with serving(rpc.serve_requests) as uri, connect(uri) as websocket:
            for malformed in ["not json", "[1, 2]"]:
                await websocket.send(malformed)
                assert json.loads(await websocket.recv())["id"] is None

    run(test)
