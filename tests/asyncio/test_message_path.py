"""The asyncio connection's per-message path in one call each way.

A read of whole messages, plain or compressed, goes to the queue without
the core's ``receive_data()`` (``receive_messages``), and ``send()`` of a
whole message builds its frame without the core's
``send_text()``/``send_binary()`` (``send_message``). What the core must
still see goes to it: these tests check both, and that nothing observable
changes (see tests/core/test_message_path.py and
test_message_path_deflate.py for the rules themselves).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.asyncio.test_connection import SIDES, WAIT, ws_pair
from wskit.exceptions import ConnectionClosedError
from wskit.frames import CloseCode
from wskit.typing import BytesLike, Data


def record(obj: Any, name: str) -> list[Any]:
    """Record the first argument of each call of ``obj.name``, and call it."""
    calls: list[Any] = []
    method = getattr(obj, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return method(*args, **kwargs)

    setattr(obj, name, recording)
    return calls


@pytest.mark.parametrize("side", SIDES)
async def test_reads_of_whole_messages_skip_the_core(side: str) -> None:
    async with ws_pair(side, {"compression": None}, {"compression": None}) as (ws, peer):
        received = record(ws.protocol, "receive_data")
        before = ws.stats
        messages: list[Data] = ["text", b"binary", "κόσμε", b""]
        async with asyncio.timeout(WAIT):
            for message in messages:
                await peer.send(message)
                assert await ws.recv() == message
        assert received == []
        after = ws.stats
        assert after.messages_received - before.messages_received == len(messages)
        assert after.frames_received - before.frames_received == len(messages)
        # Each one's header and payload: 2 + 4 + 0 from a server, 4 more masked.
        header = 2 if side == "client" else 6
        assert after.bytes_received - before.bytes_received == sum(
            header + len(message.encode() if isinstance(message, str) else message)
            for message in messages
        )


@pytest.mark.parametrize("side", SIDES)
async def test_what_the_core_must_see_still_reaches_it(side: str) -> None:
    async with ws_pair(side, {"compression": None}, {"compression": None}) as (ws, peer):
        received = record(ws.protocol, "receive_data")
        async with asyncio.timeout(WAIT):
            await peer.send(["frag", "ment"])
            assert await ws.recv() == "fragment"
            await (await peer.ping(b"ping"))  # answered by ws's core
            await peer.send("after")
            assert await ws.recv() == "after"
        assert received != []


@pytest.mark.parametrize("side", SIDES)
async def test_send_of_a_whole_message_skips_the_core(side: str) -> None:
    async with ws_pair(side, {"compression": None}, {"compression": None}) as (ws, peer):
        protocol = ws.protocol
        texts, binaries = record(protocol, "send_text"), record(protocol, "send_binary")
        before = ws.stats
        messages: list[tuple[Data | BytesLike, bool | None, Data]] = [
            ("text", None, "text"),
            (b"binary", None, b"binary"),
            (bytearray(b"bytearray"), None, b"bytearray"),
            (memoryview(b"text"), True, "text"),
            ("binary", False, b"binary"),
        ]
        async with asyncio.timeout(WAIT):
            for message, text, expected in messages:
                await ws.send(message, text=text)
                assert await peer.recv() == expected
        assert texts == binaries == []
        after = ws.stats
        assert after.messages_sent - before.messages_sent == len(messages)
        header = 2 if side == "server" else 6
        assert after.bytes_sent - before.bytes_sent == sum(
            header + len(expected.encode() if isinstance(expected, str) else expected)
            for _, _, expected in messages
        )
        async with asyncio.timeout(WAIT):
            await ws.send(["frag", "ment"])
            assert await peer.recv() == "fragment"
        assert texts == [b"frag"]


@pytest.mark.parametrize("side", SIDES)
async def test_compressed_messages_skip_the_core(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        protocol = ws.protocol
        assert protocol.extensions
        received = record(protocol, "receive_data")
        texts, binaries = record(protocol, "send_text"), record(protocol, "send_binary")
        messages: list[Data] = ["text", b"binary" * 100, "κόσμε", b""]
        async with asyncio.timeout(WAIT):
            for message in messages:
                await peer.send(message)
                assert await ws.recv() == message
                await ws.send(message)
                assert await peer.recv() == message
            before = ws.stats
            await ws.send(b"plain", compress=False)
            assert await peer.recv() == b"plain"
        assert received == []
        assert texts == binaries == []
        # Sent as it is: its header and its 5 bytes.
        header = 2 if side == "server" else 6
        assert ws.stats.bytes_sent - before.bytes_sent == header + 5


@pytest.mark.parametrize("side", SIDES)
async def test_a_compressed_bomb_fails_the_connection_with_1009(side: str) -> None:
    async with ws_pair(side, {"max_size": 1000}) as (ws, peer):
        async with asyncio.timeout(WAIT):
            await peer.send("before")
            await peer.send(bytes(1_000_000))  # ~1 KiB compressed
            assert await ws.recv() == "before"
            with pytest.raises(ConnectionClosedError) as raised:
                await ws.recv()
        assert raised.value.sent is not None
        assert raised.value.sent.code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.parametrize("side", SIDES)
async def test_debug_logging_takes_the_general_path(
    side: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(f"wskit.test.message_path.{side}")
    logger.setLevel(logging.DEBUG)
    async with ws_pair(side, {"compression": None, "logger": logger}, {"compression": None}) as (
        ws,
        peer,
    ):
        with caplog.at_level(logging.DEBUG, logger.name):
            async with asyncio.timeout(WAIT):
                await peer.send(b"in")
                assert await ws.recv() == b"in"
                await ws.send(b"out")
                assert await peer.recv() == b"out"
    logged = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("< BINARY 'in'") for message in logged)
    assert any(message.startswith("> BINARY 'out'") for message in logged)


async def test_a_full_queue_pauses_reading_on_the_one_call_path() -> None:
    async with ws_pair("server", {"compression": None, "max_queue": 2}, {"compression": None}) as (
        ws,
        peer,
    ):
        paused = record(ws.transport, "pause_reading")
        resumed = record(ws.transport, "resume_reading")
        received = record(ws.protocol, "receive_data")
        async with asyncio.timeout(WAIT):
            for index in range(3):
                await peer.send(str(index))
            while not ws.recv_messages.queue.paused:
                await asyncio.sleep(0)
            assert len(paused) == 1
            assert [await ws.recv() for _ in range(3)] == ["0", "1", "2"]
        assert len(resumed) == 1
        assert received == []
