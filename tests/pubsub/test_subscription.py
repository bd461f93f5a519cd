"""Subscriptions: a topic's messages queued for one consumer, bounded."""

from __future__ import annotations

import asyncio

import pytest

from wskit.exceptions import ConcurrencyError
from wskit.pubsub import (
    MemoryBroker,
    Message,
    Overflow,
    SlowSubscriber,
    Subscription,
    SubscriptionClosed,
)


async def publish_numbers(broker: MemoryBroker, topic: str, count: int) -> None:
    for number in range(count):
        await broker.publish(topic, str(number))


async def test_async_with_and_iteration() -> None:
    async with MemoryBroker() as broker:
        async with broker.subscribe("t") as subscription:
            assert broker.topics() == ["t"]
            await publish_numbers(broker, "t", 3)
            await broker.publish("other", "not for us")
            received = []
            async for message in subscription:
                received.append(message.data)
                if len(received) == 3:
                    break
            assert received == ["0", "1", "2"]
            assert subscription.received == 3
        assert broker.topics() == []


async def test_await_then_unsubscribe_ends_iteration() -> None:
    async with MemoryBroker() as broker:
        subscription = await broker.subscribe("t")
        assert isinstance(subscription, Subscription)
        assert subscription.topic == "t"

        async def consume() -> list[Message]:
            return [message async for message in subscription]

        consumer = asyncio.create_task(consume())
        await broker.publish("t", "a")
        await asyncio.sleep(0)
        await broker.unsubscribe(subscription)
        assert await consumer == [Message("t", "a")]
        await subscription.unsubscribe()  # idempotent
        with pytest.raises(SubscriptionClosed, match="unsubscribed"):
            await subscription.get()
        await broker.publish("t", "after")
        assert subscription.received == 1
        assert broker.topics() == []


async def test_messages_queued_before_the_end_are_still_read() -> None:
    broker = MemoryBroker()
    subscription = await broker.subscribe("t")
    await publish_numbers(broker, "t", 2)
    await broker.close()
    assert [message.data async for message in subscription] == ["0", "1"]


async def test_a_waiting_consumer_wakes_up_when_the_broker_closes() -> None:
    broker = MemoryBroker()
    subscription = await broker.subscribe("t")
    getter = asyncio.create_task(subscription.get())
    await asyncio.sleep(0.01)
    await broker.close()
    with pytest.raises(SubscriptionClosed, match="broker closed"):
        await getter


async def test_drop_oldest_keeps_the_latest_messages() -> None:
    async with MemoryBroker() as broker:
        subscription = await broker.subscribe("t", max_queue=10)
        await publish_numbers(broker, "t", 1000)
        # Memory stays bounded however far behind the consumer is.
        assert subscription.queued == 10
        assert (subscription.received, subscription.dropped) == (1000, 990)
        assert [(await subscription.get()).data for _ in range(10)] == [
            str(number) for number in range(990, 1000)
        ]


async def test_drop_newest_keeps_the_first_messages() -> None:
    async with MemoryBroker() as broker:
        subscription = await broker.subscribe("t", max_queue=10, overflow=Overflow.DROP_NEWEST)
        await publish_numbers(broker, "t", 1000)
        assert subscription.queued == 10
        assert subscription.dropped == 990
        assert [(await subscription.get()).data for _ in range(10)] == [
            str(number) for number in range(10)
        ]


async def test_disconnect_cuts_the_slow_consumer_off() -> None:
    async with MemoryBroker() as broker:
        subscription = await broker.subscribe("t", max_queue=10, overflow=Overflow.DISCONNECT)
        fast = await broker.subscribe("t", max_queue=1000)
        await publish_numbers(broker, "t", 11)
        # Everything queued is discarded with the message that didn't fit.
        assert subscription.queued == 0
        assert subscription.dropped == 11
        with pytest.raises(SlowSubscriber, match="more than 10 messages behind"):
            await subscription.get()
        with pytest.raises(SlowSubscriber):
            async for _ in subscription:
                pass  # pragma: no cover
        # It no longer receives; the other subscriber isn't affected.
        await publish_numbers(broker, "t", 5)
        assert subscription.received == 11
        assert fast.queued == 16
        await subscription.unsubscribe()
        await fast.unsubscribe()
        assert broker.topics() == []


async def test_one_consumer_at_a_time() -> None:
    async with MemoryBroker() as broker:
        subscription = await broker.subscribe("t")
        getter = asyncio.create_task(subscription.get())
        await asyncio.sleep(0)
        with pytest.raises(ConcurrencyError):
            await subscription.get()
        await broker.publish("t", "x")
        assert (await getter).data == "x"


async def test_misuse() -> None:
    async with MemoryBroker() as broker:
        with pytest.raises(ValueError, match="max_queue"):
            broker.subscribe("t", max_queue=0)
        subscription = broker.subscribe("t")
        with pytest.raises(RuntimeError, match="not started"):
            await subscription.get()
        await subscription
        with pytest.raises(RuntimeError, match="already started"):
            await subscription
        await subscription.unsubscribe()
