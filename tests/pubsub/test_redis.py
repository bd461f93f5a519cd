"""RedisBroker against a real redis-server: several "processes" (brokers with
their own Redis connections), rooms, unsubscribing, Redis killed, frozen or
absent, foreign messages, and a listener that never dies silently."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import redis.exceptions
from redis.asyncio.connection import AbstractConnection

from wskit.pubsub import (
    BrokerClosed,
    BrokerUnavailable,
    Handler,
    Hub,
    LinkEvent,
    Message,
    RedisBroker,
)

from .redis_server import RedisServer
from .support import TIMEOUT, eventually, hub_server, join, receive

# Short intervals so that lost links are noticed and retried quickly.
FAST: dict[str, Any] = {
    "timeout": TIMEOUT,  # generous: a busy machine is slow, not broken
    "ping_interval": 0.2,
    "ping_timeout": 0.3,
    "backoff_min": 0.02,
    "backoff_max": 0.2,
}


@asynccontextmanager
async def connected(server: RedisServer, **kwargs: Any) -> AsyncIterator[RedisBroker]:
    """A started RedisBroker whose link is up."""
    async with RedisBroker(server.url, **{**FAST, **kwargs}) as broker:
        async with asyncio.timeout(TIMEOUT):
            await broker.wait_connected()
        yield broker


async def numsub(server: RedisServer, topic: str) -> int:
    """How many connections subscribe to ``topic`` on Redis."""
    return await asyncio.to_thread(server.numsub, f"wskit:{topic}")


async def numsub_is(server: RedisServer, topic: str, expected: int) -> bool:
    return await numsub(server, topic) == expected


async def test_a_message_reaches_every_process(redis_server: RedisServer) -> None:
    async with (
        connected(redis_server) as a,
        connected(redis_server) as b,
        connected(redis_server) as c,
        b.subscribe("news") as on_b,
        c.subscribe("news") as on_c,
    ):
        await a.publish("news", "héllo")
        await a.publish("news", b"\x00\xff")
        for subscription in (on_b, on_c):
            assert [await subscription.get() for _ in range(2)] == [
                Message("news", "héllo"),
                Message("news", b"\x00\xff"),
            ]
        assert a.stats.published == 2
        assert b.stats.received == c.stats.received == 2


async def test_subscribing_returns_once_redis_confirmed(redis_server: RedisServer) -> None:
    async with connected(redis_server) as broker:
        for number in range(20):
            async with broker.subscribe(f"t{number}"):
                # No waiting: a message published now would be delivered.
                assert await numsub(redis_server, f"t{number}") == 1


async def test_hubs_in_three_processes(redis_server: RedisServer) -> None:
    async with (
        connected(redis_server) as a,
        connected(redis_server) as b,
        connected(redis_server) as c,
        Hub(b) as hub_b,
        Hub(c) as hub_c,
        hub_server(hub_b) as port_b,
        hub_server(hub_c) as port_c,
    ):
        on_b = await join(port_b, "room:1")
        on_c = await join(port_c, "room:1")
        elsewhere = await join(port_c, "room:2")
        await Hub(a).publish("room:1", "from A")
        await hub_b.publish("room:1", "from B")
        await hub_c.publish("room:2", b"from C")
        assert await receive(on_b, 2) == ["from A", "from B"]
        assert await receive(on_c, 2) == ["from A", "from B"]
        assert await receive(elsewhere, 1) == [b"from C"]
        for client in (on_b, on_c, elsewhere):
            await client.close()


async def test_one_redis_subscription_per_topic_per_process(redis_server: RedisServer) -> None:
    async with connected(redis_server) as broker, Hub(broker) as hub, hub_server(hub) as port:
        first = await broker.subscribe("t")
        second = await broker.subscribe("t")
        client = await join(port, "t")
        other = await join(port, "t")
        assert await numsub(redis_server, "t") == 1
        await first.unsubscribe()
        await client.close()
        await eventually(lambda: len(hub.members("t")) == 1)
        assert await numsub(redis_server, "t") == 1
        await second.unsubscribe()
        await other.close()
        await eventually(lambda: not broker.topics())
        await eventually(lambda: numsub_is(redis_server, "t", 0))


async def test_unsubscribed_topics_get_nothing(redis_server: RedisServer) -> None:
    async with connected(redis_server) as broker:
        received: list[Message] = []
        await broker.attach("gone", received.append)
        await broker.attach("kept", received.append)
        await broker.detach("gone", received.append)
        await broker.publish("gone", "lost")
        await broker.publish("kept", "delivered")
        # One connection, one order: "lost" would have come first.
        await eventually(lambda: received)
        assert received == [Message("kept", "delivered")]


async def test_quick_subscribe_unsubscribe_sequences_converge(redis_server: RedisServer) -> None:
    topics = ["a", "b", "c"]
    handlers: list[Handler] = [print, repr, str, id]
    rng = random.Random(5)
    async with connected(redis_server) as broker:
        attached: list[tuple[str, Handler]] = []

        async def churn() -> None:
            for _ in range(40):
                if attached and rng.random() < 0.5:
                    topic, handler = attached.pop(rng.randrange(len(attached)))
                    await broker.detach(topic, handler)
                else:
                    topic, handler = rng.choice(topics), rng.choice(handlers)
                    attached.append((topic, handler))
                    await broker.attach(topic, handler)

        await asyncio.gather(*(churn() for _ in range(4)))
        assert sorted(broker.topics()) == sorted({topic for topic, _ in attached})
        # Redis agrees with the registry once the last commands are through.
        for topic in topics:
            expected = 1 if topic in broker.topics() else 0
            await eventually(partial(numsub_is, redis_server, topic, expected))


async def test_redis_killed_and_restarted_mid_stream(redis_server: RedisServer) -> None:
    async with (
        connected(redis_server) as a,
        connected(redis_server) as b,
        Hub(b) as hub,
        hub_server(hub) as port,
    ):
        events: list[LinkEvent] = []
        b.add_link_callback(events.append)
        client = await join(port, "stream")
        publisher = Hub(a)
        sent = 0
        errors: list[BrokerUnavailable] = []

        async def stream() -> None:
            nonlocal sent
            while True:
                try:
                    await publisher.publish("stream", str(sent))
                    sent += 1
                except BrokerUnavailable as exc:
                    errors.append(exc)
                await asyncio.sleep(0.005)

        streaming = asyncio.create_task(stream())
        try:
            assert await receive(client, 5) == ["0", "1", "2", "3", "4"]

            redis_server.kill()
            await eventually(lambda: not b.connected)
            assert events[0].connected is False
            assert isinstance(events[0].error, redis.exceptions.ConnectionError)
            # Publishing while Redis is away fails loudly: nothing is queued for later.
            await eventually(lambda: errors)
            assert isinstance(errors[0].__cause__, redis.exceptions.ConnectionError)
            sent_before_restart = sent

            redis_server.start()
            async with asyncio.timeout(TIMEOUT):
                await b.wait_connected()
            assert events[1].connected is True
            assert events[1].downtime is not None
            assert events[1].downtime > 0
            assert await numsub(redis_server, "stream") == 1

            # Later messages flow again, in order; some in between were lost.
            async with asyncio.timeout(TIMEOUT):
                while True:
                    message = await client.recv()
                    assert isinstance(message, str)
                    if int(message) >= sent_before_restart:
                        break
            assert [int(m) for m in await receive(client, 3)] == [
                int(message) + 1,
                int(message) + 2,
                int(message) + 3,
            ]
        finally:
            streaming.cancel()
        assert len(events) == 2
        assert b.stats.link_losses == 1
        assert a.stats.publish_errors == len(errors)
        await client.close()


async def test_a_frozen_redis_is_detected_by_ping(redis_server: RedisServer) -> None:
    async with connected(redis_server) as broker, broker.subscribe("t") as subscription:
        events: list[LinkEvent] = []
        broker.add_link_callback(events.append)
        redis_server.freeze()
        try:
            # No FIN, no RST: only the unanswered PING shows the link is dead.
            await eventually(lambda: not broker.connected)
            assert isinstance(events[0].error, TimeoutError)
        finally:
            redis_server.resume()
        async with asyncio.timeout(TIMEOUT):
            await broker.wait_connected()
        await broker.publish("t", "after")
        async with asyncio.timeout(TIMEOUT):
            assert await subscription.get() == Message("t", "after")


async def test_the_link_pings_only_when_silent(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        # A PING's deadline, once answered, mustn't hold back the next PING.
        connected(redis_server, ping_interval=1.0, ping_timeout=3 * TIMEOUT) as broker,
        connected(redis_server) as publisher,
        broker.subscribe("t") as subscription,
    ):
        pongs = 0
        handle = broker._handle

        def counting(response: Any) -> None:
            nonlocal pongs
            pongs += response == [b"pong", b""]  # a PING's answer, in subscribed mode
            handle(response)

        monkeypatch.setattr(broker, "_handle", counting)
        await eventually(lambda: pongs == 1)  # silent since it subscribed
        # Busy for 2.5 ping intervals: its deadline passes, but it heard from Redis.
        for number in range(50):
            await publisher.publish("t", str(number))
            async with asyncio.timeout(TIMEOUT):
                assert (await subscription.get()).data == str(number)
            await asyncio.sleep(0.05)
        assert pongs == 1
        await eventually(lambda: pongs == 2)  # silent again
        assert broker.connected
        assert broker.stats.link_losses == 0


async def test_starting_while_redis_is_down(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.kill()
    with caplog.at_level(logging.INFO, "wskit.pubsub"):
        async with RedisBroker(redis_server.url, **FAST) as broker:
            events: list[LinkEvent] = []
            broker.add_link_callback(events.append)
            # Subscribing doesn't wait for a link that isn't there.
            subscription = await broker.subscribe("t")
            assert not broker.connected
            with pytest.raises(BrokerUnavailable):
                await broker.publish("t", "nobody")
            await eventually(lambda: "can't reach redis" in caplog.text)

            redis_server.start()
            async with asyncio.timeout(TIMEOUT):
                await broker.wait_connected()
            assert events == [LinkEvent(True)]  # first time up: no downtime
            assert await numsub(redis_server, "t") == 1
            await broker.publish("t", "hello")
            async with asyncio.timeout(TIMEOUT):
                assert (await subscription.get()).data == "hello"
            assert broker.stats.link_losses == 0
    assert "redis link up" in caplog.text


async def test_foreign_messages_are_counted_and_dropped(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with connected(redis_server) as broker, broker.subscribe("t") as subscription:
        with caplog.at_level(logging.WARNING, "wskit.pubsub"):
            for payload in [b"no tag", b"t\xff not utf-8", b"", b"b", b"thello"]:
                await asyncio.to_thread(redis_server.publish_raw, "wskit:t", payload)
            async with asyncio.timeout(TIMEOUT):
                assert await subscription.get() == Message("t", b"")
                assert await subscription.get() == Message("t", "hello")
        assert broker.stats.malformed == 3
        # The 1st and 2nd are logged, the 3rd isn't (then the 4th, the 8th...).
        assert caplog.text.count("dropped malformed message") == 2
        assert broker.connected


async def test_the_listener_never_dies_silently(
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with connected(redis_server) as broker, broker.subscribe("t") as subscription:
        events: list[LinkEvent] = []
        broker.add_link_callback(events.append)
        handle = broker._handle

        def broken(response: Any) -> None:
            monkeypatch.setattr(broker, "_handle", handle)
            raise RuntimeError("bug in the listener")

        monkeypatch.setattr(broker, "_handle", broken)
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await broker.publish("t", "lost to the bug")
            await eventually(lambda: len(events) == 2)
        assert "redis link: unexpected error" in caplog.text
        assert "RuntimeError: bug in the listener" in caplog.text
        assert isinstance(events[0].error, RuntimeError)
        assert events[1].connected
        await broker.publish("t", "after")
        async with asyncio.timeout(TIMEOUT):
            assert await subscription.get() == Message("t", "after")


async def test_a_slow_subscriber_does_not_grow_memory(redis_server: RedisServer) -> None:
    async with (
        connected(redis_server) as a,
        connected(redis_server) as b,
        b.subscribe("t", max_queue=10) as subscription,
    ):
        for number in range(300):
            await a.publish("t", str(number))
        await eventually(lambda: subscription.received == 300)
        assert subscription.queued == 10
        assert subscription.dropped == 290
        assert (await subscription.get()).data == "290"


async def test_close_stops_the_listener(redis_server: RedisServer) -> None:
    broker = RedisBroker(redis_server.url, **FAST)
    await broker.start()
    await broker.start()  # once is enough
    subscription = await broker.subscribe("t")
    await broker.wait_connected()
    assert await numsub(redis_server, "t") == 1
    await broker.close()
    await eventually(lambda: numsub_is(redis_server, "t", 0))
    assert [message async for message in subscription] == []
    with pytest.raises(BrokerClosed):
        await broker.publish("t", "x")
    with pytest.raises(BrokerClosed):
        await broker.start()


async def test_close_while_redis_is_down(redis_server: RedisServer) -> None:
    async with connected(redis_server) as broker:
        redis_server.kill()
        await eventually(lambda: not broker.connected)
    assert broker.closed


async def test_a_failed_subscribe_restarts_the_link(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_command = AbstractConnection.send_command
    failures: list[tuple[Any, ...]] = []

    async def fail_once(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        if args == ("SUBSCRIBE", b"wskit:late") and not failures:
            failures.append(args)
            raise redis.exceptions.ConnectionError("lost while subscribing")
        await send_command(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", fail_once)
    async with connected(redis_server) as broker:
        events: list[LinkEvent] = []
        broker.add_link_callback(events.append)
        async with broker.subscribe("late") as subscription:
            # Whether Redis got the command is unknown: the link starts over
            # and subscribes to everything again.
            async with asyncio.timeout(TIMEOUT):
                await broker.wait_connected()
            assert failures
            assert [event.connected for event in events] == [False, True]
            await broker.publish("late", "made it")
            async with asyncio.timeout(TIMEOUT):
                assert await subscription.get() == Message("late", "made it")
