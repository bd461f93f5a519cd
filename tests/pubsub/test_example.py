"""examples/pubsub/chat.py: three server processes on three ports behind one Redis;
a client that reconnects to another process resumes where it was."""

from __future__ import annotations

import asyncio
import json
from contextlib import ExitStack
from typing import Any

from wskit.asyncio.client import ClientConnection, connect
from wskit.pubsub import RedisEmitter

from ..test_examples import fetch_page, running
from .redis_server import RedisServer
from .support import TIMEOUT

HISTORY = 1000  # as in the example


async def next_json(client: ClientConnection, *, position: bool = False) -> Any:
    """Return the next JSON message, without its position unless ``position``."""
    async with asyncio.timeout(TIMEOUT):
        message = await client.recv()
    assert isinstance(message, str)
    parsed = json.loads(message)
    if not position:
        parsed.pop("offset", None)
        parsed.pop("epoch", None)
    return parsed


def test_chat_across_three_processes(redis_server: RedisServer) -> None:
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running("pubsub/chat.py", "http", REDIS_URL=redis_server.url))
            for _ in range(3)
        ]
        assert "new WebSocket(" in fetch_page(servers[0].port)

        async def main() -> None:
            names = ["alice", "bob", "carol"]
            users = [
                await connect(f"ws://127.0.0.1:{server.port}/?name={name}")
                for server, name in zip(servers, names, strict=True)
            ]
            elsewhere = await connect(f"ws://127.0.0.1:{servers[1].port}/?name=dan&room=patio")
            for name, user in zip(names, users, strict=True):
                assert await next_json(user) == {
                    "type": "notice",
                    "text": f"Hello {name}, welcome to lobby.",
                }
            assert (await next_json(elsewhere))["text"] == "Hello dan, welcome to patio."

            # Everyone in the lobby sees what everyone says, whatever their server.
            for user, name in zip(users, names, strict=True):
                await user.send(f"hi, I'm {name}")
            expected = [
                {"type": "message", "user": name, "text": f"hi, I'm {name}"} for name in names
            ]
            for user in users:
                received = [await next_json(user) for _ in names]
                assert sorted(received, key=str) == sorted(expected, key=str)

            # A fourth process, synchronous, publishes too; every server got it.
            announcement = {"type": "notice", "text": "closing at 6"}
            with RedisEmitter(redis_server.url, history=HISTORY) as emitter:
                receivers = await asyncio.to_thread(
                    emitter.publish, "lobby", json.dumps(announcement)
                )
            assert receivers == 3
            for user in users:
                assert await next_json(user) == announcement

            # The patio heard nothing of the lobby.
            await elsewhere.send("anyone?")
            assert await next_json(elsewhere) == {
                "type": "message",
                "user": "dan",
                "text": "anyone?",
            }
            for client in [*users, elsewhere]:
                await client.close()

        asyncio.run(main())


def test_a_client_resumes_on_another_process(redis_server: RedisServer) -> None:
    with ExitStack() as stack:
        one, two = [
            stack.enter_context(running("pubsub/chat.py", "http", REDIS_URL=redis_server.url))
            for _ in range(2)
        ]

        async def main() -> None:
            alice = await connect(f"ws://127.0.0.1:{one.port}/?name=alice")
            bob = await connect(f"ws://127.0.0.1:{two.port}/?name=bob")
            welcome = await next_json(alice, position=True)
            assert welcome["text"] == "Hello alice, welcome to lobby."
            await next_json(bob)
            await bob.send("one")
            line = await next_json(alice, position=True)
            assert line["text"] == "one"
            assert line["offset"] == welcome["offset"] + 1
            await alice.close()

            # Bob goes on while Alice is away; she comes back through the other server.
            for text in ("two", "three"):
                await bob.send(text)
            for text in ("one", "two", "three"):
                assert (await next_json(bob))["text"] == text
            since = f"offset={line['offset']}&epoch={line['epoch']}"
            alice = await connect(f"ws://127.0.0.1:{two.port}/?name=alice&{since}")
            assert [await next_json(alice) for _ in range(3)] == [
                {"type": "message", "user": "bob", "text": "two"},
                {"type": "message", "user": "bob", "text": "three"},
                {"type": "notice", "text": "Hello alice, welcome to lobby."},
            ]

            # From a position the history no longer holds, she's told.
            stale = "offset=1&epoch=long-gone"
            late = await connect(f"ws://127.0.0.1:{one.port}/?name=carol&{stale}")
            texts = [(await next_json(late))["text"] for _ in range(5)]
            assert texts[-2:] == [
                "Some messages were lost while you were away.",
                "Hello carol, welcome to lobby.",
            ]
            for client in (alice, bob, late):
                await client.close()

        asyncio.run(main())
