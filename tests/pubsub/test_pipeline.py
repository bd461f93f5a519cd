"""Publishing through RedisBroker's lanes: queued, pipelined, never failing for load,
waiting for room when the queue is full, and reporting a failure of Redis itself."""

from __future__ import annotations

import asyncio
import collections
import logging

import pytest

from wskit.pubsub import BrokerUnavailable, Message, RedisBroker

from .redis_server import RedisServer
from .support import TIMEOUT, eventually
from .test_redis import connected


@pytest.mark.timeout(120)  # 5,000 messages from 1,000 tasks on a debug-mode loop
async def test_a_thousand_concurrent_publishers_never_fail(redis_server: RedisServer) -> None:
    publishers, each, topics = 1000, 5, 10
    # A small queue: most publishers wait for room at some point.
    async with (
        connected(redis_server, max_publish_queue=64, max_batch=32) as publisher,
        connected(redis_server) as subscriber,
    ):
        received: dict[str, list[Message]] = collections.defaultdict(list)
        everything = asyncio.Event()

        def collect(message: Message) -> None:
            received[message.topic].append(message)
            if sum(map(len, received.values())) == publishers * each:
                everything.set()

        for number in range(topics):
            await subscriber.attach(f"t{number}", collect)

        async def publish(number: int) -> None:
            for index in range(each):
                await publisher.publish(f"t{number % topics}", f"{number}:{index}")

        await asyncio.gather(*[publish(number) for number in range(publishers)])
        await publisher.flush()
        async with asyncio.timeout(TIMEOUT * 3):  # a lot of work for a busy machine
            await everything.wait()
        assert publisher.stats.published == publishers * each
        assert publisher.stats.publish_errors == publisher.stats.lost == 0
        assert sum(lane.waits for lane in publisher._lanes) > publishers
        # Each publisher's messages arrive in the order it published them.
        for messages in received.values():
            sequences: dict[str, list[int]] = collections.defaultdict(list)
            for message in messages:
                assert isinstance(message.data, str)
                publisher_number, index = message.data.split(":")
                sequences[publisher_number].append(int(index))
            for sequence in sequences.values():
                assert sequence == list(range(each))


async def test_a_publisher_blocked_by_a_full_queue_resumes(redis_server: RedisServer) -> None:
    async with (
        connected(
            redis_server, timeout=TIMEOUT, publish_connections=1, max_publish_queue=4
        ) as publisher,
        connected(redis_server, ping_interval=TIMEOUT) as subscriber,
        subscriber.subscribe("t", max_queue=100) as subscription,
    ):
        await publisher.publish("t", "warm-up")  # the lane is connected
        assert await subscription.get() == Message("t", "warm-up")
        (lane,) = publisher._lanes
        redis_server.freeze()
        try:
            sent = 0

            async def publish_all() -> None:
                nonlocal sent
                for number in range(20):
                    await publisher.publish("t", str(number))
                    sent += 1

            publishing = asyncio.create_task(publish_all())
            # A batch in flight, unanswered, and a full queue behind it.
            await eventually(lambda: lane.queued == 4)
            stuck_at = sent
            await asyncio.sleep(0.05)
            assert not publishing.done()
            assert sent == stuck_at < 20
        finally:
            redis_server.resume()
        async with asyncio.timeout(TIMEOUT):
            await publishing
        await publisher.flush()
        got = [await subscription.get() for _ in range(20)]
        assert [message.data for message in got] == [str(number) for number in range(20)]
        assert publisher.stats.publish_errors == publisher.stats.lost == 0


async def test_redis_failing_under_a_full_queue_is_reported(redis_server: RedisServer) -> None:
    async with connected(
        redis_server, timeout=TIMEOUT, publish_connections=1, max_publish_queue=4
    ) as publisher:
        await publisher.publish("t", "warm-up")
        await publisher.flush()
        (lane,) = publisher._lanes
        redis_server.freeze()
        blocked = [asyncio.create_task(publisher.publish("t", str(n))) for n in range(10)]
        await eventually(lambda: lane.queued == 4)
        flushing = asyncio.create_task(publisher.flush())
        # Killed while stopped: it never answers what it has.
        assert redis_server.process is not None
        redis_server.process.kill()
        redis_server.kill()
        async with asyncio.timeout(TIMEOUT):
            results = await asyncio.gather(*blocked, return_exceptions=True)
            with pytest.raises(BrokerUnavailable, match="lost"):
                await flushing
        waited = [result for result in results if isinstance(result, BrokerUnavailable)]
        accepted = [result for result in results if result is None]
        assert waited
        assert accepted
        assert len(waited) + len(accepted) == 10
        # Accepted then lost: counted, never sent twice; refused: raised.
        assert publisher.stats.lost == len(accepted)
        assert publisher.stats.publish_errors == len(waited)
        # Until Redis is back, publishing fails at once.
        with pytest.raises(BrokerUnavailable):
            await publisher.publish("t", "nobody")
        redis_server.start()

        async def published() -> bool:
            try:
                await publisher.publish("t", "back")
            except BrokerUnavailable:
                return False
            return True

        await eventually(published)
        await publisher.flush()


async def test_closing_sends_what_is_queued(redis_server: RedisServer) -> None:
    async with connected(redis_server) as subscriber, subscriber.subscribe("t") as subscription:
        async with connected(redis_server) as publisher:
            for number in range(10):
                await publisher.publish("t", str(number))
        async with asyncio.timeout(TIMEOUT):
            got = [await subscription.get() for _ in range(10)]
        assert [message.data for message in got] == [str(number) for number in range(10)]


def test_limits_are_checked() -> None:
    for options in [
        {"publish_connections": 0},
        {"max_publish_queue": 0},
        {"max_batch": 0},
        {"history": -1},
        {"history_ttl": 0},
        {"history_ttl": 10, "history_meta_ttl": 5},
    ]:
        with pytest.raises(ValueError, match="must"):
            RedisBroker(**options)  # type: ignore[arg-type]


async def test_redis_forgetting_the_scripts_costs_a_reconnection(
    redis_server: RedisServer,
) -> None:
    async with (
        connected(redis_server, history=10, publish_connections=1) as publisher,
        publisher.subscribe("t") as subscription,
    ):
        await publisher.publish("t", "a")
        await publisher.flush()
        await asyncio.to_thread(redis_server.script_flush)
        await publisher.publish("t", "lost")
        with pytest.raises(BrokerUnavailable, match="1 messages lost"):
            await publisher.flush()
        assert publisher.stats.lost == 1
        # Reconnecting at once loads the script again.
        await publisher.publish("t", "b")
        await publisher.flush()
        async with asyncio.timeout(TIMEOUT):
            assert [(await subscription.get()).data for _ in range(2)] == ["a", "b"]


async def test_a_bug_in_a_lane_is_logged_and_costs_a_reconnection(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with connected(redis_server, publish_connections=1) as publisher:
        (lane,) = publisher._lanes
        answered = lane._answered

        def broken(*args: object) -> None:
            monkeypatch.setattr(lane, "_answered", answered)
            raise RuntimeError("bug in the lane")

        monkeypatch.setattr(lane, "_answered", broken)
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await publisher.publish("t", "lost to the bug")
            with pytest.raises(BrokerUnavailable, match="1 messages lost"):
                await publisher.flush()
        assert "redis publisher: unexpected error" in caplog.text
        assert "RuntimeError: bug in the lane" in caplog.text
        lane.may_retry()
        await publisher.publish("t", "after")
        await publisher.flush()
