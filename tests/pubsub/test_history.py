"""Recovery from a topic's history in Redis Streams: positions, reading after a
position, trimming by length and age, a client coming back to another process,
and a process whose link to Redis dropped and came back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.pubsub import (
    Hub,
    LinkEvent,
    MemoryBroker,
    Message,
    Position,
    PubSubError,
    RedisBroker,
)

from .redis_server import RedisServer
from .support import TIMEOUT, eventually
from .test_redis import FAST, connected


async def test_messages_carry_their_position(redis_server: RedisServer) -> None:
    async with (
        connected(redis_server, history=10) as broker,
        broker.subscribe("t") as subscription,
    ):
        for text in ("a", "b", "c"):
            await broker.publish("t", text)
        got = [await subscription.get() for _ in range(3)]
        assert [message.data for message in got] == ["a", "b", "c"]
        positions = [message.position for message in got]
        assert all(position is not None for position in positions)
        assert [position.offset for position in positions if position] == [1, 2, 3]
        assert len({position.epoch for position in positions if position}) == 1


async def test_recover_after_a_position(redis_server: RedisServer) -> None:
    async with connected(redis_server, history=10) as broker:
        empty = await broker.recover("t")
        assert empty.messages == []
        assert empty.complete
        assert empty.position.offset == 0
        for number in range(1, 6):
            await broker.publish("t", str(number))
        # The epoch was set when the history was first read, and stays.
        at_2 = Position(2, empty.position.epoch)
        recovery = await broker.recover("t", at_2)
        assert recovery.complete
        assert [message.data for message in recovery.messages] == ["3", "4", "5"]
        assert [message.position for message in recovery.messages] == [
            Position(offset, at_2.epoch) for offset in (3, 4, 5)
        ]
        assert recovery.position == Position(5, at_2.epoch)
        latest = await broker.recover("t", recovery.position)
        assert latest.complete
        assert latest.messages == []
        # A position with no current history behind it can't be recovered.
        for stranger in (Position(2, "another epoch"), Position(9, at_2.epoch)):
            assert not (await broker.recover("t", stranger)).complete


async def test_a_trimmed_history_is_told_not_silently_lost(redis_server: RedisServer) -> None:
    async with connected(redis_server, history=3) as broker:
        for number in range(1, 11):
            await broker.publish("t", str(number))
        latest = (await broker.recover("t")).position
        recovery = await broker.recover("t", Position(2, latest.epoch))
        assert not recovery.complete
        # What's left is still given, after the gap.
        assert [message.data for message in recovery.messages] == ["8", "9", "10"]
        # Within reach, recovery is complete.
        assert (await broker.recover("t", Position(7, latest.epoch))).complete


async def test_the_history_is_bounded_by_age(redis_server: RedisServer) -> None:
    async with connected(redis_server, history=100, history_ttl=0.2) as broker:
        start = (await broker.recover("t")).position
        await broker.publish("t", "old")

        async def expired() -> bool:
            return not (await broker.recover("t", start)).complete

        await eventually(expired)
        # The epoch outlives the history (history_meta_ttl): the loss is told.
        recovery = await broker.recover("t", start)
        assert recovery.position == Position(1, start.epoch)
        assert recovery.messages == []


async def test_brokers_without_history_say_so(redis_server: RedisServer) -> None:
    async with connected(redis_server) as broker:
        assert not broker.keeps_history
        with pytest.raises(PubSubError, match="keeps no history"):
            await broker.recover("t")
        with pytest.raises(ValueError, match="no history"):
            await Hub(broker).join(None, "t", since=Position(1, "e"))  # type: ignore[arg-type]
    assert not MemoryBroker().keeps_history


# Clients of a chat-like server: messages are JSON carrying their position.


def with_position(message: Message) -> str:
    assert message.position is not None
    return json.dumps(
        {"text": message.data, "offset": message.position.offset, "epoch": message.position.epoch}
    )


@asynccontextmanager
async def history_server(hub: Hub) -> AsyncIterator[int]:
    """``/?room=r&offset=n&epoch=e`` joins ``r`` from that position, then gets a notice."""

    async def handler(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        query = {k: v[0] for k, v in parse_qs(urlsplit(websocket.request.path).query).items()}
        since = Position(int(query["offset"]), query["epoch"]) if "offset" in query else None
        recovery = await hub.join(websocket, query["room"], since=since)
        assert recovery is not None
        await websocket.send(json.dumps({"complete": recovery.complete}))
        await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0, close_timeout=1) as server:
        yield server.sockets[0].getsockname()[1]


async def read_json(client: ClientConnection, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(TIMEOUT):
        return [json.loads(await client.recv()) for _ in range(count)]


async def test_a_client_resumes_on_another_process(redis_server: RedisServer) -> None:
    async with (
        connected(redis_server, history=10_000) as a,
        connected(redis_server, history=10_000) as b,
        connected(redis_server, history=10_000) as publisher,
        Hub(a, render=with_position) as hub_a,
        Hub(b, render=with_position) as hub_b,
        history_server(hub_a) as port_a,
        history_server(hub_b) as port_b,
    ):
        client = await connect(f"ws://127.0.0.1:{port_a}/?room=r")
        assert await read_json(client, 1) == [{"complete": True}]
        for number in range(5):
            await publisher.publish("r", str(number))
        received = await read_json(client, 5)
        assert [message["text"] for message in received] == ["0", "1", "2", "3", "4"]
        await client.close()

        # Published while the client is away, and while it comes back.
        for number in range(5, 10):
            await publisher.publish("r", str(number))
        last = received[-1]
        since = f"offset={last['offset']}&epoch={last['epoch']}"

        # Published while it comes back, before, during and after its recovery.
        joined = asyncio.Event()

        async def keep_publishing() -> int:
            number = 10
            while not joined.is_set() or number < 300:
                await publisher.publish("r", str(number))
                await asyncio.sleep(0)
                number += 1
            return number

        publishing = asyncio.create_task(keep_publishing())
        client = await connect(f"ws://127.0.0.1:{port_b}/?room=r&{since}")
        messages = []
        async with asyncio.timeout(TIMEOUT):
            while "complete" not in (message := json.loads(await client.recv())):
                messages.append(message)
            assert message == {"complete": True}
            joined.set()
            end = await publishing
            while len(messages) < end - 5:
                messages.append(json.loads(await client.recv()))
        # Every message once, in order: what was missed, then the new ones.
        assert [message["text"] for message in messages] == [str(n) for n in range(5, end)]
        assert [message["offset"] for message in messages] == list(range(6, end + 1))
        await client.close()


async def test_a_client_that_comes_back_too_late_is_told(redis_server: RedisServer) -> None:
    async with (
        connected(redis_server, history=2) as broker,
        Hub(broker, render=with_position) as hub,
        history_server(hub) as port,
    ):
        epoch = (await broker.recover("r")).position.epoch
        for number in range(5):
            await broker.publish("r", str(number))
        await broker.flush()
        client = await connect(f"ws://127.0.0.1:{port}/?room=r&offset=1&epoch={epoch}")
        messages = await read_json(client, 3)
        assert [message.get("text") for message in messages[:2]] == ["3", "4"]
        assert messages[2] == {"complete": False}
        await client.close()


# A link to Redis that drops while Redis stays up: through a proxy the test cuts.


class Proxy:
    """A TCP proxy to Redis on 127.0.0.1 that the test can cut and reopen."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.transports):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.transports |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.transports -= {writer, upstream_writer}


@asynccontextmanager
async def behind_proxy(
    server: RedisServer, **kwargs: Any
) -> AsyncIterator[tuple[Proxy, RedisBroker]]:
    proxy = Proxy(server.port)
    await proxy.open()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    async with RedisBroker(url, **{**FAST, **kwargs}) as broker:
        async with asyncio.timeout(TIMEOUT):
            await broker.wait_connected()
        try:
            yield proxy, broker
        finally:
            await proxy.cut()


async def publish_while_cut(
    proxy: Proxy, broker: RedisBroker, publisher: RedisBroker, topics: list[str]
) -> list[LinkEvent]:
    """Cut the link, publish 0...9 on ``topics``, reopen; return the link events."""
    events: list[LinkEvent] = []
    broker.add_link_callback(events.append)
    await proxy.cut()
    await eventually(lambda: not broker.connected)
    for number in range(10):
        for topic in topics:
            await publisher.publish(topic, str(number))
    await publisher.flush()
    await proxy.open()
    async with asyncio.timeout(TIMEOUT):
        await broker.wait_connected()
    return events


async def test_a_dropped_link_recovers_what_it_missed(redis_server: RedisServer) -> None:
    async with (
        behind_proxy(redis_server, history=100) as (proxy, broker),
        connected(redis_server, history=100) as publisher,
        broker.subscribe("r", max_queue=100) as subscription,
        broker.subscribe("quiet", max_queue=100) as quiet,
    ):
        await publisher.publish("r", "before")
        async with asyncio.timeout(TIMEOUT):
            assert (await subscription.get()).data == "before"
        events = await publish_while_cut(proxy, broker, publisher, ["r", "quiet"])
        await publisher.publish("r", "after")

        async with asyncio.timeout(TIMEOUT):
            got = [(await subscription.get()).data for _ in range(11)]
            # A topic that had no message before the loss recovers too.
            got_quiet = [(await quiet.get()).data for _ in range(10)]
        assert got == [*map(str, range(10)), "after"]
        assert got_quiet == list(map(str, range(10)))
        assert subscription.queued == 0
        assert [event.connected for event in events] == [False, True]
        assert events[-1].lost == frozenset()
        assert broker.stats.recovered == 20


async def test_a_dropped_link_reports_what_it_could_not_recover(
    redis_server: RedisServer,
) -> None:
    async with (
        behind_proxy(redis_server, history=2) as (proxy, broker),
        connected(redis_server, history=2) as publisher,
        broker.subscribe("r", max_queue=100) as subscription,
    ):
        await publisher.publish("r", "before")
        async with asyncio.timeout(TIMEOUT):
            assert (await subscription.get()).data == "before"
        events = await publish_while_cut(proxy, broker, publisher, ["r"])
        assert events[-1].lost == frozenset({"r"})
        async with asyncio.timeout(TIMEOUT):
            assert [(await subscription.get()).data for _ in range(2)] == ["8", "9"]
