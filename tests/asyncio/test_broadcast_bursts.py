"""broadcast() writes what it sends to a connection in one system call per loop pass."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import patch

import pytest

from tests.raw_peers import RawPeer
from wskit.asyncio.server import ServerConnection, broadcast, serve
from wskit.shared.serving import BroadcastFrame


@asynccontextmanager
async def subscribers(
    count: int, deflate: Sequence[bool] | None = None
) -> AsyncIterator[tuple[list[ServerConnection], list[RawPeer]]]:
    """``count`` raw clients connected to a server; its connections and the clients.

    They negotiate permessage-deflate (the tests send uncompressed messages),
    or, where ``deflate`` says so for each, no extension.
    """
    if deflate is None:
        deflate = [True] * count
    connections: list[ServerConnection] = []
    joined = asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        connections.append(websocket)
        joined.set()
        await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        try:
            peers = [RawPeer(sock) for sock in sockets]
            # One at a time, so that the connections come in the clients' order.
            for peer, offer in zip(peers, deflate, strict=True):
                await asyncio.to_thread(peer.connect, f"ws://127.0.0.1:{port}/", deflate=offer)
                await asyncio.wait_for(joined.wait(), 10)
                joined.clear()
            yield connections, peers
        finally:
            for sock in sockets:
                sock.close()


def count_writes(connections: list[ServerConnection]) -> list[list[bytes]]:
    """Record what each connection's transport is given to write."""
    writes: list[list[bytes]] = []
    for connection in connections:
        written: list[bytes] = []
        original = connection.transport.write

        def write(data: Any, written: list[bytes] = written, original: Any = original) -> None:
            written.append(bytes(data))
            original(data)

        connection.transport.write = write  # type: ignore[method-assign]
        writes.append(written)
    return writes


async def test_back_to_back_broadcasts_go_out_in_one_write() -> None:
    async with subscribers(3) as (connections, peers):
        writes = count_writes(connections)
        for number in range(10):
            broadcast(connections, f"news {number}", compress=False)
        # Nothing is written before the loop's next pass.
        assert writes == [[], [], []]
        await asyncio.sleep(0)
        assert [len(written) for written in writes] == [1, 1, 1]
        for peer in peers:
            frames = [await asyncio.to_thread(peer.read_frame) for _ in range(10)]
            assert frames == [(False, f"news {number}".encode()) for number in range(10)]


async def test_a_broadcast_and_a_send_keep_their_order() -> None:
    async with subscribers(1) as ([connection], [peer]):
        broadcast([connection], "first", compress=False)
        await connection.send("second", compress=False)
        broadcast([connection], "third", compress=False)
        await connection.ping(b"fourth")  # a control frame: written at once, after the rest
        frames = [await asyncio.to_thread(peer.read_frame) for _ in range(4)]
        assert [data for _, data in frames] == [b"first", b"second", b"third", b"fourth"]


async def test_a_long_message_is_written_at_once_after_the_burst() -> None:
    async with subscribers(1) as ([connection], [peer]):
        writes = count_writes([connection])
        long = b"x" * connection.burst_limit
        broadcast([connection], "short", compress=False)
        broadcast([connection], long, compress=False)
        # The burst goes first, then the long frame: two writes, no waiting.
        assert len(writes[0]) == 2
        frames = [await asyncio.to_thread(peer.read_frame) for _ in range(2)]
        assert [data for _, data in frames] == [b"short", long]


async def test_a_burst_is_written_when_it_reaches_its_limit() -> None:
    async with subscribers(1) as ([connection], [peer]):
        writes = count_writes([connection])
        message = b"y" * (connection.burst_limit // 4)
        for _ in range(4):
            broadcast([connection], message, compress=False)
        assert len(writes[0]) == 1  # four messages, written as the fourth arrived
        frames = [await asyncio.to_thread(peer.read_frame) for _ in range(4)]
        assert [data for _, data in frames] == [message] * 4


async def test_what_waits_in_a_burst_counts_against_the_write_limit() -> None:
    async with subscribers(1) as ([connection], [peer]):
        connection.write_limit = (100, 25)
        broadcast([connection], b"z" * 60, compress=False)
        broadcast([connection], b"z" * 60, compress=False)
        # 124 bytes wait in the burst, none in the transport: this one is skipped.
        assert connection.transport.get_write_buffer_size() == 0
        with pytest.raises(ExceptionGroup) as exc_info:
            broadcast([connection], b"not sent", raise_exceptions=True, compress=False)
        assert "write buffer is full" in str(exc_info.value.exceptions[0])
        await connection.send("end", compress=False)
        frames = [await asyncio.to_thread(peer.read_frame) for _ in range(3)]
        assert [data for _, data in frames] == [b"z" * 60, b"z" * 60, b"end"]


async def test_a_broadcast_that_skips_a_connection_still_sends_to_the_others() -> None:
    async with subscribers(2) as ([busy, ready], [_, peer]):
        # The first connection is sending a fragmented message: it's skipped,
        # and raise_exceptions=True makes broadcast() raise after the others.
        busy.fragmented_send_waiter = asyncio.get_running_loop().create_future()
        try:
            with pytest.raises(ExceptionGroup):
                broadcast([busy, ready], "news", compress=False, raise_exceptions=True)
        finally:
            busy.fragmented_send_waiter = None
        assert await asyncio.to_thread(peer.read_frame) == (False, b"news")


# Connections without extensions take the broadcast in one loop (_append_to_bursts).


async def test_plain_connections_share_one_encoding_and_one_write_each() -> None:
    async with subscribers(4, deflate=[False] * 4) as (connections, peers):
        writes = count_writes(connections)
        encoded: list[object] = []
        data_for = BroadcastFrame.data_for

        def spy(frame: BroadcastFrame, protocol: Any) -> list[bytes]:
            encoded.append(protocol)
            return data_for(frame, protocol)

        with patch.object(BroadcastFrame, "data_for", spy):
            for number in range(10):
                broadcast(connections, f"news {number}")
        # The first connection encodes each message; the others aren't asked.
        assert encoded == [connections[0].protocol] * 10
        await asyncio.sleep(0)
        assert [len(written) for written in writes] == [1, 1, 1, 1]
        for peer in peers:
            frames = [await asyncio.to_thread(peer.read_frame) for _ in range(10)]
            assert frames == [(False, f"news {number}".encode()) for number in range(10)]


async def test_connections_the_loop_hands_back_keep_their_order() -> None:
    # Plain, deflate, plain sending a fragmented message, plain and closed, plain.
    async with subscribers(5, deflate=[False, True, False, False, False]) as (connections, peers):
        busy, closed = connections[2], connections[3]
        peers[3].sock.close()
        await asyncio.wait_for(closed.wait_closed(), 10)
        busy.fragmented_send_waiter = asyncio.get_running_loop().create_future()
        try:
            with pytest.raises(ExceptionGroup) as raised:
                broadcast(connections, "news", raise_exceptions=True, compress=False)
        finally:
            busy.fragmented_send_waiter = None
        [skipped] = raised.value.exceptions
        assert str(skipped) == "sending a fragmented message"
        assert skipped.__notes__ == [f"skipped broadcast to {busy!r}"]
        broadcast(connections, "more", compress=False)
        for peer in (peers[0], peers[1], peers[4]):
            frames = [await asyncio.to_thread(peer.read_frame) for _ in range(2)]
            assert frames == [(False, b"news"), (False, b"more")]
        assert await asyncio.to_thread(peers[2].read_frame) == (False, b"more")


async def test_a_slow_plain_connection_is_skipped_and_the_others_served() -> None:
    async with subscribers(3, deflate=[False] * 3) as (connections, peers):
        slow = connections[1]
        slow.write_limit = (100, 25)
        broadcast(connections, b"z" * 60)
        broadcast(connections, b"z" * 60)
        # 124 bytes wait in the slow connection's burst: the next is skipped there.
        with pytest.raises(ExceptionGroup) as raised:
            broadcast(connections, b"z" * 30, raise_exceptions=True)
        [skipped] = raised.value.exceptions
        assert "write buffer is full" in str(skipped)
        assert skipped.__notes__ == [f"skipped broadcast to {slow!r}"]
        for connection in connections:
            await connection.send("end")
        for peer, sizes in zip(peers, [[60, 60, 30, 3], [60, 60, 3], [60, 60, 30, 3]], strict=True):
            frames = [await asyncio.to_thread(peer.read_frame) for _ in sizes]
            assert [len(data) for _, data in frames] == sizes


async def test_a_long_message_to_plain_connections_is_written_at_once() -> None:
    async with subscribers(2, deflate=[False, False]) as (connections, peers):
        writes = count_writes(connections)
        long = b"x" * connections[0].burst_limit
        broadcast(connections, "short")
        broadcast(connections, long)
        assert [len(written) for written in writes] == [2, 2]
        for peer in peers:
            frames = [await asyncio.to_thread(peer.read_frame) for _ in range(2)]
            assert [data for _, data in frames] == [b"short", long]


async def test_plain_connections_log_the_broadcast_in_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with subscribers(3, deflate=[False] * 3) as (connections, _):
        for connection in connections:
            connection.protocol.debug = True
        with caplog.at_level(logging.DEBUG, logger="wskit.server"):
            broadcast(connections, "hello")
            broadcast(connections, "hello")  # to the bursts the first one started
    sent = [record for record in caplog.records if "> TEXT 'hello'" in record.getMessage()]
    assert len(sent) == 6


async def test_a_plain_connection_with_a_full_write_buffer_is_skipped() -> None:
    async with subscribers(3, deflate=[False] * 3) as (connections, peers):
        full = connections[1]
        # As if the client had stopped reading: the transport holds more than write_limit.
        over = full.write_limit[0] + 1
        with (
            patch.object(full.transport, "get_write_buffer_size", lambda: over),
            pytest.raises(ExceptionGroup) as raised,
        ):
            broadcast(connections, "news", raise_exceptions=True)
        [skipped] = raised.value.exceptions
        assert "write buffer is full" in str(skipped)
        assert full.burst is None
        for peer in (peers[0], peers[2]):
            assert await asyncio.to_thread(peer.read_frame) == (False, b"news")


async def test_a_burst_started_on_a_buffered_transport_asks_its_size_again() -> None:
    async with subscribers(2, deflate=[False, False]) as (connections, peers):
        buffered = connections[1]
        buffered.write_limit = (100, 25)
        # 50 bytes wait in the transport: the burst holds 60 more, 110 in all.
        with patch.object(buffered.transport, "get_write_buffer_size", lambda: 50):
            broadcast(connections, b"z" * 60)
            with pytest.raises(ExceptionGroup) as raised:
                broadcast(connections, b"z" * 10, raise_exceptions=True)
        [skipped] = raised.value.exceptions
        assert skipped.__notes__ == [f"skipped broadcast to {buffered!r}"]
        frames = [await asyncio.to_thread(peers[0].read_frame) for _ in range(2)]
        assert [len(data) for _, data in frames] == [60, 10]
        assert await asyncio.to_thread(peers[1].read_frame) == (False, b"z" * 60)
