"""MemoryBroker: topics within one process."""

from __future__ import annotations

from wskit.pubsub import LinkEvent, MemoryBroker, Message


async def test_link_is_always_up() -> None:
    broker = MemoryBroker()
    events: list[LinkEvent] = []
    broker.add_link_callback(events.append)
    await broker.start()
    assert broker.connected
    await broker.wait_connected()
    await broker.publish("t", "x")
    await broker.close()
    assert events == []


async def test_delivery_before_publish_returns_in_order() -> None:
    async with MemoryBroker() as broker:
        received: list[Message] = []
        await broker.attach("t", received.append)
        for number in range(100):
            await broker.publish("t", str(number))
            assert received[-1] == Message("t", str(number))
        assert [message.data for message in received] == [str(n) for n in range(100)]
        # Nothing crosses brokers, even in one process.
        async with MemoryBroker() as other:
            await other.publish("t", "elsewhere")
        assert len(received) == 100
