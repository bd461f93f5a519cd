"""RedisClusterBroker on a local Redis Cluster of three masters: sharded pub/sub,
each room on the node that owns its slot, fan-out through hubs in two
"processes", and recovery from a history kept on the room's node."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.processes import free_port
from wskit.pubsub import BrokerUnavailable, Hub, Position, RedisClusterBroker, wire

from .redis_cluster import RedisCluster
from .support import TIMEOUT, hub_server, join, receive


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster() as cluster:
        yield cluster


@asynccontextmanager
async def connected(cluster: RedisCluster, **options: Any) -> AsyncIterator[RedisClusterBroker]:
    async with RedisClusterBroker(cluster.url, ping_interval=1, **options) as broker:
        async with asyncio.timeout(TIMEOUT):
            await broker.wait_connected()
        yield broker


def rooms_on_every_node(broker: RedisClusterBroker, per_node: int) -> list[str]:
    """Room names, ``per_node`` of them owned by each node."""
    found: dict[int, list[str]] = collections.defaultdict(list)
    number = 0
    while any(len(found[index]) < per_node for index in range(len(broker.nodes))):
        room = f"room:{number}"
        index = broker.nodes.index(broker.node(room))
        if len(found[index]) < per_node:
            found[index].append(room)
        number += 1
    return [room for rooms in found.values() for room in rooms]


async def test_rooms_fan_out_from_their_own_node(cluster: RedisCluster) -> None:
    async with (
        connected(cluster) as a,
        connected(cluster) as b,
        Hub(b) as hub,
        hub_server(hub) as port,
    ):
        assert len(b.nodes) == 3
        rooms = rooms_on_every_node(b, 2)
        clients = {room: await join(port, room) for room in rooms}
        for number in range(5):
            for room in rooms:
                await a.publish(room, f"{room} #{number}")
        for room, client in clients.items():
            assert await receive(client, 5) == [f"{room} #{number}" for number in range(5)]

        # Each room's channel is subscribed on its node only: a node carries
        # the messages of its rooms, not of the whole cluster.
        for room in rooms:
            owner = b.nodes.index(b.node(room))
            counts = await asyncio.to_thread(
                cluster.shard_numsub, wire.channel("wskit:", room, sharded=True)
            )
            assert counts == [1 if index == owner else 0 for index in range(3)]
        assert [node.stats.received for node in b.nodes] == [10, 10, 10]
        assert b.stats.received == 30
        for client in clients.values():
            await client.close()


async def test_recovery_from_the_rooms_node(cluster: RedisCluster) -> None:
    async with connected(cluster, history=100) as broker:
        rooms = rooms_on_every_node(broker, 1)
        for room in rooms:
            start = await broker.recover(room)
            async with broker.subscribe(room) as subscription:
                for number in range(3):
                    await broker.publish(room, str(number))
                async with asyncio.timeout(TIMEOUT):
                    got = [await subscription.get() for _ in range(3)]
            assert [message.position for message in got] == [
                Position(start.position.offset + n, start.position.epoch) for n in (1, 2, 3)
            ]
            recovery = await broker.recover(room, start.position)
            assert recovery.complete
            assert recovery.messages == got


async def test_a_cluster_that_cannot_be_reached() -> None:
    broker = RedisClusterBroker(f"redis://127.0.0.1:{free_port()}/0", timeout=1)
    with pytest.raises(BrokerUnavailable, match="layout"):
        await broker.start()
    with pytest.raises(BrokerUnavailable, match="isn't started"):
        await broker.publish("t", "x")
    await broker.close()
    with pytest.raises(ValueError, match="braces"):
        RedisClusterBroker(prefix="{app}:")
