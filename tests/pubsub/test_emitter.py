"""RedisEmitter: publishing to hub rooms from plain threads."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis.exceptions

from wskit.pubsub import BrokerUnavailable, Hub, Position, RedisBroker, RedisEmitter

from .redis_server import RedisServer
from .support import TIMEOUT, hub_server, join, receive


async def test_threads_publish_to_a_room(redis_server: RedisServer) -> None:
    async with RedisBroker(redis_server.url) as broker, Hub(broker) as hub:
        async with asyncio.timeout(TIMEOUT):
            await broker.wait_connected()
        async with hub_server(hub) as port:
            client = await join(port, "room:42")
            with RedisEmitter(redis_server.url) as emitter:

                def work(worker: int) -> None:
                    for number in range(25):
                        emitter.publish("room:42", f"{worker}:{number}")

                threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    await asyncio.to_thread(thread.join, TIMEOUT)
            received = await receive(client, 100)
            # Every message arrives once; each thread's in the order it sent them.
            assert sorted(received) == sorted(f"{w}:{n}" for w in range(4) for n in range(25))
            for worker in range(4):
                mine = [m for m in received if isinstance(m, str) and m.startswith(f"{worker}:")]
                assert mine == [f"{worker}:{number}" for number in range(25)]
            await client.close()


async def test_text_and_binary_survive_the_trip(redis_server: RedisServer) -> None:
    async with RedisBroker(redis_server.url) as broker, Hub(broker) as hub:
        async with asyncio.timeout(TIMEOUT):
            await broker.wait_connected()
        async with hub_server(hub) as port:
            client = await join(port, "r")
            emitter = RedisEmitter(redis_server.url)
            try:
                messages: list[str | bytes | bytearray] = [
                    "text ☃",
                    b"\x00\xffbinary",
                    bytearray(b"array"),
                    "b",
                    b"t",
                ]
                for message in messages:
                    assert await asyncio.to_thread(emitter.publish, "r", message) == 1
                assert await asyncio.to_thread(emitter.publish, "nobody", "x") == 0
            finally:
                emitter.close()
            assert await receive(client, 5) == ["text ☃", b"\x00\xffbinary", b"array", "b", b"t"]
            await client.close()


def test_prefixes_must_match(redis_server: RedisServer) -> None:
    with RedisEmitter(redis_server.url, prefix="other:") as emitter:
        assert emitter.publish("r", "x") == 0


def test_redis_down(redis_server: RedisServer) -> None:
    redis_server.kill()
    with RedisEmitter(redis_server.url, timeout=2) as emitter:
        with pytest.raises(BrokerUnavailable) as exc_info:
            emitter.publish("r", "lost")
        assert isinstance(exc_info.value.__cause__, redis.exceptions.ConnectionError)
        with pytest.raises(TypeError):
            emitter.publish("r", 42)  # type: ignore[arg-type]


async def test_an_emitter_publishes_into_the_history(redis_server: RedisServer) -> None:
    async with (
        RedisBroker(redis_server.url, history=10) as broker,
        broker.subscribe("room") as subscription,
    ):
        async with asyncio.timeout(TIMEOUT):
            await broker.wait_connected()
        start = (await broker.recover("room")).position
        with RedisEmitter(redis_server.url, history=10) as emitter:
            assert await asyncio.to_thread(emitter.publish, "room", "hi") == 1
            # Redis forgot the script: the emitter loads it again.
            await asyncio.to_thread(redis_server.script_flush)
            assert await asyncio.to_thread(emitter.publish, "room", b"there") == 1
        async with asyncio.timeout(TIMEOUT):
            got = [await subscription.get() for _ in range(2)]
        assert [(m.data, m.position) for m in got] == [
            ("hi", Position(1, start.epoch)),
            (b"there", Position(2, start.epoch)),
        ]
        recovery = await broker.recover("room", start)
        assert recovery.complete
        assert recovery.messages == got
