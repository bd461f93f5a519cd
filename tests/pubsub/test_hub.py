"""Hub: WebSocket connections in rooms, fed by a broker (here in memory)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

import wskit.pubsub.hub
from wskit.asyncio.client import ClientConnection
from wskit.asyncio.connection import Connection
from wskit.asyncio.server import _append_to_bursts
from wskit.exceptions import ConnectionClosedError
from wskit.frames import CloseCode
from wskit.pubsub import BrokerClosed, Hub, MemoryBroker, Overflow
from wskit.pubsub.hub import SLOW_CLIENT_REASON

from .support import TIMEOUT, eventually, hub_server, join, join_slowly, receive

PAYLOAD = "x" * 16384
FLOOD = 400  # messages of 16 KiB: 6.4 MiB, far more than a stalled client's buffers


def only_member(hub: Hub, room: str) -> Connection:
    (member,) = hub.members(room)
    return member


def member_of(hub: Hub, room: str, client: ClientConnection) -> Connection:
    """Return the server side of ``client`` in ``room``."""
    (member,) = [m for m in hub.members(room) if m.remote_address == client.local_address]
    return member


async def test_rooms_reach_their_members_only() -> None:
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        alice = await join(port, "a")
        bob = await join(port, "a", "b")
        carol = await join(port, "b")
        await hub.publish("a", "to a")
        await hub.publish("b", b"to b")
        await hub.publish("c", "to nobody")
        assert await receive(alice, 1) == ["to a"]
        assert await receive(bob, 2) == ["to a", b"to b"]
        assert await receive(carol, 1) == [b"to b"]
        assert hub.stats.messages == 2
        assert sorted(broker.topics()) == ["a", "b"]
        assert hub.rooms(member_of(hub, "a", alice)) == {"a"}
        assert hub.rooms(member_of(hub, "a", bob)) == {"a", "b"}
        assert len(hub.members("b")) == 2
        for client in (alice, bob, carol):
            await client.close()


async def test_one_subscription_per_room_however_many_members() -> None:
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        clients = [await join(port, "room") for _ in range(5)]
        assert broker.topics() == ["room"]
        await hub.publish("room", "hello")
        for client in clients:
            assert await receive(client, 1) == ["hello"]
        # Each message goes out once per member, not once per member per member.
        assert broker.stats.received == 1
        assert hub.stats.messages == 1
        for client in clients:
            await client.close()


async def test_join_and_leave() -> None:
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        client = await join(port, "a")
        member = only_member(hub, "a")
        await hub.join(member, "a")  # idempotent
        await hub.join(member, "b")
        assert hub.rooms(member) == {"a", "b"}
        await hub.leave(member, "a")
        await hub.leave(member, "a")  # not there: nothing happens
        await hub.publish("a", "missed")
        await hub.publish("b", "got it")
        assert await receive(client, 1) == ["got it"]
        await hub.leave_all(member)
        assert hub.rooms(member) == set()
        assert broker.topics() == []
        await client.close()


async def test_members_leave_when_their_connection_closes() -> None:
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        staying = await join(port, "a")
        leaving = await join(port, "a", "b")
        assert len(hub.members("a")) == 2
        await leaving.close()
        await eventually(lambda: len(hub.members("a")) == 1)
        assert hub.members("b") == set()
        assert broker.topics() == ["a"]
        await staying.close()
        await eventually(lambda: not broker.topics())


async def test_text_and_binary_keep_their_type() -> None:
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        client = await join(port, "a")
        await hub.publish("a", "text ☃")
        await hub.publish("a", b"\x00\xff")
        await hub.publish("a", bytearray(b"array"))
        assert await receive(client, 3) == ["text ☃", b"\x00\xff", b"array"]
        await client.close()


async def test_plain_and_compressed_members_get_every_message_in_order() -> None:
    # The hub frames a message once for the members that take it plain and
    # hands the others (compressed) to broadcast(), mid-room: whatever the
    # mix, each member gets every message once, in order, with its type.
    messages: list[str | bytes] = []
    for number in range(50):
        messages += [f"text {number} ☃", b"\x00\xff%d" % number, "long" * 20_000]
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        plain = [await join(port, "a", compression=None) for _ in range(3)]
        compressed = [await join(port, "a") for _ in range(3)]
        assert all(client.protocol.extensions for client in compressed)
        clients = plain + compressed
        tasks = [asyncio.create_task(receive(client, len(messages))) for client in clients]
        # Without a pause: the bursts of many messages go out together.
        for message in messages:
            await hub.publish("a", message)
        for task in tasks:
            assert await task == messages
        assert hub.stats.dropped == 0
        for client in clients:
            await client.close()


async def test_bursts_go_out_even_if_the_plain_loop_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        client = await join(port, "a", compression=None)

        def failing(
            connections: Iterator[Connection], data: bytes, started: list[Connection]
        ) -> None:
            _append_to_bursts(connections, data, started)
            raise RuntimeError("bug after the bursts started")

        monkeypatch.setattr(wskit.pubsub.hub, "_append_to_bursts", failing)
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await hub.publish("a", "started a burst")
        assert "RuntimeError: bug after the bursts started" in caplog.text
        monkeypatch.undo()
        await hub.publish("a", "next")
        assert await receive(client, 2) == ["started a burst", "next"]
        await client.close()


async def flood(hub: Hub, room: str) -> None:
    """Publish FLOOD big messages, letting the event loop run between them."""
    for _ in range(FLOOD):
        await hub.publish(room, PAYLOAD)
        await asyncio.sleep(0)


async def test_a_slow_client_loses_messages_not_memory() -> None:
    async with MemoryBroker() as broker, Hub(broker) as hub, hub_server(hub) as port:
        fast = await join(port, "a")
        slow = await join_slowly(port, "a")
        slow_member = member_of(hub, "a", slow)
        fast_task = asyncio.create_task(receive(fast, FLOOD))
        buffered = []
        for _ in range(FLOOD):
            await hub.publish("a", PAYLOAD)
            buffered.append(slow_member.transport.get_write_buffer_size())
            await asyncio.sleep(0)
        # The fast client got everything: the slow one didn't hold it back.
        assert len(await fast_task) == FLOOD
        # The server never buffered more than write_limit plus one frame for it.
        limit = slow_member.write_limit[0]
        assert max(buffered) <= limit + len(PAYLOAD) + 16
        assert hub.stats.dropped > FLOOD // 2
        # Now it reads: it gets exactly what wasn't dropped, in order.
        slow_task = asyncio.create_task(slow.recv())
        received = 0
        while True:
            message = await asyncio.wait_for(slow_task, TIMEOUT)
            if message == "end":
                break
            assert message == PAYLOAD
            received += 1
            if received + hub.stats.dropped == FLOOD:
                await eventually(lambda: slow_member.transport.get_write_buffer_size() == 0)
                await hub.publish("a", "end")
            slow_task = asyncio.create_task(slow.recv())
        assert received + hub.stats.dropped == FLOOD
        assert hub.stats.disconnected == 0
        await fast.close()
        await slow.close()


async def read_until_closed(client: ClientConnection) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            assert await client.recv() == PAYLOAD


async def test_a_slow_client_can_be_disconnected_with_1013() -> None:
    async with MemoryBroker() as broker:
        hub = Hub(broker, overflow=Overflow.DISCONNECT)
        # The close frame waits behind what the slow client hasn't read: the
        # server waits for its answer as long as the test waits for it (with
        # its usual second, it gave up and dropped the frame on a busy machine).
        async with hub, hub_server(hub, close_timeout=TIMEOUT) as port:
            fast = await join(port, "a", "b")
            slow = await join_slowly(port, "a", "b")
            slow_member = member_of(hub, "a", slow)
            fast_task = asyncio.create_task(receive(fast, FLOOD))
            await flood(hub, "a")
            assert len(await fast_task) == FLOOD
            assert hub.stats.disconnected == 1
            assert hub.rooms(slow_member) == set()
            assert hub.members("b") == {member_of(hub, "a", fast)}
            with pytest.raises(ConnectionClosedError) as exc_info:
                await read_until_closed(slow)
            assert exc_info.value.rcvd is not None
            assert exc_info.value.rcvd.code == CloseCode.TRY_AGAIN_LATER
            assert exc_info.value.rcvd.reason == SLOW_CLIENT_REASON
            await fast.close()


async def test_a_hub_cannot_drop_the_oldest() -> None:
    with pytest.raises(ValueError, match="oldest"):
        Hub(MemoryBroker(), overflow=Overflow.DROP_OLDEST)


async def test_close_empties_the_rooms_but_leaves_the_broker_open() -> None:
    async with MemoryBroker() as broker:
        hub = Hub(broker)
        async with hub_server(hub) as port:
            client = await join(port, "a", "b")
            await hub.close()
            assert broker.topics() == []
            assert hub.members("a") == set()
            assert not broker.closed
            await hub.publish("a", "nobody")
            await client.close()


async def test_join_fails_on_a_closed_broker() -> None:
    broker = MemoryBroker()
    hub = Hub(broker)
    async with hub_server(hub) as port:
        client = await join(port, "a")
        member = only_member(hub, "a")
        await broker.close()
        with pytest.raises(BrokerClosed):
            await hub.join(member, "b")
        assert hub.rooms(member) == {"a"}
        await client.close()
        await eventually(lambda: not hub.members("a"))
    await hub.close()
