"""What every backend shares (wskit.pubsub.broker), through MemoryBroker and test backends."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.pubsub.support import eventually
from wskit.pubsub import (
    BrokerClosed,
    BrokerUnavailable,
    LinkEvent,
    MemoryBroker,
    Message,
    SubscriptionClosed,
)
from wskit.typing import Data


class GatedBroker(MemoryBroker):
    """Subscribing on the "broker" waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.started: list[str] = []
        self.stopped: list[str] = []

    async def _start_topic(self, topic: str) -> None:
        self.started.append(topic)
        await self.gate.wait()

    async def _stop_topic(self, topic: str) -> None:
        self.stopped.append(topic)


class FlakyBroker(MemoryBroker):
    """A broker whose link the test takes down and up, and whose publish can fail."""

    def __init__(self) -> None:
        super().__init__()
        self.unreachable = False

    async def _publish(self, topic: str, data: Data) -> None:
        if self.unreachable:
            raise BrokerUnavailable("unreachable")
        await super()._publish(topic, data)


async def test_publish_reaches_the_handlers_of_its_topic_only() -> None:
    async with MemoryBroker() as broker:
        news: list[Message] = []
        sports: list[Message] = []
        await broker.attach("news", news.append)
        await broker.attach("sports", sports.append)
        await broker.publish("news", "hello")
        await broker.publish("news", b"\x00\x01")
        await broker.publish("weather", "nobody listens")
        assert news == [Message("news", "hello"), Message("news", b"\x00\x01")]
        assert sports == []
        assert broker.stats.published == 3
        assert broker.stats.received == 2


async def test_published_buffers_are_copied() -> None:
    async with MemoryBroker() as broker:
        received: list[Message] = []
        await broker.attach("t", received.append)
        buffer = bytearray(b"abc")
        await broker.publish("t", buffer)
        buffer[0] = ord("z")
        assert received[0].data == b"abc"


async def test_publish_validates_its_arguments() -> None:
    async with MemoryBroker() as broker:
        with pytest.raises(TypeError):
            await broker.publish("t", 42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="non-empty string"):
            await broker.publish("", "x")
        with pytest.raises(ValueError, match="non-empty string"):
            await broker.attach(None, print)  # type: ignore[arg-type]
        assert broker.stats.published == 0


async def test_publish_errors_are_counted_and_raised() -> None:
    async with FlakyBroker() as broker:
        broker.unreachable = True
        with pytest.raises(BrokerUnavailable):
            await broker.publish("t", "lost")
        broker.unreachable = False
        await broker.publish("t", "sent")
        assert (broker.stats.published, broker.stats.publish_errors) == (1, 1)


async def test_topics_are_reference_counted() -> None:
    broker = GatedBroker()
    broker.gate.set()
    first: list[Message] = []
    second: list[Message] = []
    await broker.attach("t", first.append)
    await broker.attach("t", second.append)
    # The same handler twice: counted twice, called once per message.
    await broker.attach("t", first.append)
    assert broker.started == ["t"]
    await broker.publish("t", "x")
    assert len(first) == len(second) == 1
    await broker.detach("t", first.append)
    await broker.detach("t", second.append)
    assert broker.topics() == ["t"]
    assert broker.stopped == []
    await broker.publish("t", "y")
    assert len(first) == 2
    await broker.detach("t", first.append)
    assert broker.topics() == []
    assert broker.stopped == ["t"]
    await broker.publish("t", "z")
    assert len(first) == 2
    # Detaching what isn't attached does nothing.
    await broker.detach("t", first.append)
    broker.discard("nowhere", first.append)
    assert broker.stopped == ["t"]
    await broker.close()


async def test_attach_waits_for_the_broker_to_confirm_for_every_attacher() -> None:
    broker = GatedBroker()
    first = asyncio.create_task(broker.attach("t", print))
    second = asyncio.create_task(broker.attach("t", repr))
    await eventually(lambda: broker.started)
    await asyncio.sleep(0.01)  # a second start would come in this time
    assert not first.done()
    assert not second.done()
    assert broker.started == ["t"]
    broker.gate.set()
    await asyncio.gather(first, second)
    await broker.close()


async def test_cancelled_attach_leaves_nothing_behind() -> None:
    broker = GatedBroker()
    attach = asyncio.create_task(broker.attach("t", print))
    await eventually(lambda: broker.started == ["t"])
    attach.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attach
    assert broker.topics() == []
    await eventually(lambda: broker.stopped == ["t"])
    await broker.close()


async def test_close_during_attach_raises_broker_closed() -> None:
    broker = GatedBroker()
    attach = asyncio.create_task(broker.attach("t", print))
    await eventually(lambda: broker.started == ["t"])
    await broker.close()
    with pytest.raises(BrokerClosed):
        await attach


async def test_discard_unsubscribes_in_the_background() -> None:
    broker = GatedBroker()
    broker.gate.set()
    await broker.attach("t", print)
    broker.discard("t", print)
    assert broker.topics() == []
    await eventually(lambda: broker.stopped == ["t"])
    await broker.close()


async def test_a_failing_handler_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(message: Message) -> None:
        raise RuntimeError("handler bug")

    received: list[Message] = []
    async with MemoryBroker() as broker:
        await broker.attach("t", fail)
        await broker.attach("t", received.append)
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await broker.publish("t", "x")
        assert received == [Message("t", "x")]
        assert "pubsub handler failed on topic 't'" in caplog.text
        assert "handler bug" in caplog.text


async def test_link_events_report_losses_and_downtime(caplog: pytest.LogCaptureFixture) -> None:
    broker = MemoryBroker()
    assert broker.connected
    events: list[LinkEvent] = []

    def fail(event: LinkEvent) -> None:
        raise RuntimeError("callback bug")

    broker.add_link_callback(events.append)
    broker.add_link_callback(fail)
    error = ConnectionError("gone")
    with caplog.at_level(logging.ERROR, "wskit.pubsub"):
        broker._set_connected(False, error)
        broker._set_connected(False, error)  # no change, no event
    assert "pubsub link callback failed" in caplog.text
    assert not broker.connected
    waiter = asyncio.create_task(broker.wait_connected())
    await asyncio.sleep(0.02)
    assert not waiter.done()
    broker.remove_link_callback(fail)
    broker._set_connected(True)
    await waiter
    assert events[0] == LinkEvent(False, error=error)
    assert events[1].connected
    assert events[1].error is None
    assert events[1].downtime is not None
    assert events[1].downtime >= 0.02
    assert len(events) == 2
    assert broker.stats.link_losses == 1
    with pytest.raises(ValueError):  # noqa: PT011
        broker.remove_link_callback(fail)
    await broker.close()


async def test_a_closed_broker_refuses_work() -> None:
    broker = MemoryBroker()
    subscription = await broker.subscribe("t")
    await broker.close()
    await broker.close()  # idempotent
    assert broker.closed
    with pytest.raises(BrokerClosed):
        await broker.publish("t", "x")
    with pytest.raises(BrokerClosed):
        await broker.attach("t", print)
    with pytest.raises(BrokerClosed):
        broker.subscribe("t")
    with pytest.raises(BrokerClosed):
        await broker.wait_connected()
    with pytest.raises(SubscriptionClosed, match="broker closed"):
        await subscription.get()
    # Detaching after the close is harmless.
    await broker.unsubscribe(subscription)
    await broker.detach("t", print)


class BuggyBroker(MemoryBroker):
    async def _stop_topic(self, topic: str) -> None:
        raise RuntimeError("backend bug")


async def test_a_failing_background_task_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with BuggyBroker() as broker:
        await broker.attach("t", print)
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await broker.detach("t", print)
        assert "pubsub background task failed" in caplog.text
        assert "RuntimeError: backend bug" in caplog.text
        # The broker goes on.
        await broker.attach("t", print)
        assert broker.topics() == ["t"]
