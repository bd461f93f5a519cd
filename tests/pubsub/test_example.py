"""examples/pubsub/chat.py: three server processes on three ports behind one Redis."""

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


async def next_json(client: ClientConnection) -> Any:
    async with asyncio.timeout(TIMEOUT):
        message = await client.recv()
    assert isinstance(message, str)
    return json.loads(message)


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
            with RedisEmitter(redis_server.url) as emitter:
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
