"""What arrives while a recovery is under way: held, then handed over after the
recovered messages, each once. A broker whose history read is held by the test
makes every interleaving deterministic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import pytest

from wskit.asyncio.client import connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.exceptions import ConnectionClosedError
from wskit.frames import CloseCode
from wskit.pubsub import BrokerUnavailable, Hub, MemoryBroker, Message, Position, Recovery
from wskit.pubsub.hub import SLOW_CLIENT_REASON

from .support import TIMEOUT, eventually


def at(offset: int) -> Position:
    return Position(offset, "e")


def message(offset: int) -> Message:
    return Message("t", str(offset), at(offset))


class HeldHistory(MemoryBroker):
    """A broker with a history whose reads wait until the test releases them."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.recovery: Recovery | BrokerUnavailable = Recovery([], at(0), True)

    @property
    def keeps_history(self) -> bool:
        return True

    async def recover(self, topic: str, since: Position | None = None) -> Recovery:
        self.asked.set()
        await self.release.wait()
        if isinstance(self.recovery, BrokerUnavailable):
            raise self.recovery
        return self.recovery


async def test_a_link_recovery_hands_over_live_messages_after_and_once() -> None:
    broker = HeldHistory()
    got: list[Message] = []
    await broker.attach("t", got.append)
    broker._dispatch("t", "1", at(1))
    broker.recovery = Recovery([message(2), message(3)], at(3), True)
    recovering = asyncio.create_task(broker._recover_all())
    await broker.asked.wait()
    broker._dispatch("t", "3", at(3))  # the history has it too
    broker._dispatch("t", "4", at(4))
    assert got == [message(1)]  # held
    broker.release.set()
    assert await recovering == frozenset()
    assert got == [message(offset) for offset in (1, 2, 3, 4)]
    assert broker.stats.recovered == 2


async def test_a_failed_link_recovery_reports_the_topic_and_keeps_live_messages() -> None:
    broker = HeldHistory()
    got: list[Message] = []
    await broker.attach("t", got.append)
    broker.recovery = BrokerUnavailable("down")
    recovering = asyncio.create_task(broker._recover_all())
    await broker.asked.wait()
    broker._dispatch("t", "4", at(4))
    broker.release.set()
    assert await recovering == frozenset({"t"})
    assert got == [message(4)]


async def test_without_history_every_topic_is_lost() -> None:
    broker = MemoryBroker()
    await broker.attach("t", print)
    assert await broker._recover_all() == frozenset({"t"})


@asynccontextmanager
async def resuming_server(hub: Hub) -> AsyncIterator[int]:
    """``/?offset=n`` joins room ``t`` from ``Position(n, "e")``, then gets "joined"."""

    async def handler(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        offset = int(parse_qs(urlsplit(websocket.request.path).query)["offset"][0])
        await hub.join(websocket, "t", since=at(offset))
        await websocket.send("joined")
        await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0, close_timeout=1) as server:
        yield server.sockets[0].getsockname()[1]


def with_offset(message: Message) -> str:
    assert message.position is not None
    return json.dumps([message.data, message.position.offset])


async def test_a_member_catching_up_gets_live_messages_after_and_once() -> None:
    broker = HeldHistory()
    async with Hub(broker, render=with_offset) as hub, resuming_server(hub) as port:
        broker.recovery = Recovery([message(2), message(3)], at(3), True)
        async with connect(f"ws://127.0.0.1:{port}/?offset=1") as client:
            await broker.asked.wait()
            for offset in (3, 4, 5):  # 3 again: the history has it
                broker._dispatch("t", str(offset), at(offset))
            broker.release.set()
            async with asyncio.timeout(TIMEOUT):
                received = [await client.recv() for _ in range(5)]
        assert received == [
            *(json.dumps([str(offset), offset]) for offset in (2, 3, 4, 5)),
            "joined",
        ]


async def test_a_member_too_far_behind_while_catching_up_is_closed() -> None:
    broker = HeldHistory()
    async with (
        Hub(broker, max_backlog=2, render=with_offset) as hub,
        resuming_server(hub) as port,
        connect(f"ws://127.0.0.1:{port}/?offset=1") as client,
    ):
        await broker.asked.wait()
        for offset in (2, 3, 4):
            broker._dispatch("t", str(offset), at(offset))
        await eventually(lambda: hub.stats.disconnected == 1)
        assert hub.members("t") == set()
        broker.release.set()
        with pytest.raises(ConnectionClosedError) as exc_info:
            async with asyncio.timeout(TIMEOUT):
                await client.recv()
        assert exc_info.value.rcvd is not None
        assert exc_info.value.rcvd.code == CloseCode.TRY_AGAIN_LATER
        assert exc_info.value.rcvd.reason == SLOW_CLIENT_REASON
