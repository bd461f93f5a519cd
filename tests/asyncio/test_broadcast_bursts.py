"""broadcast() writes what it sends to a connection in one system call per loop pass."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.raw_peers import RawPeer
from wskit.asyncio.server import ServerConnection, broadcast, serve


@asynccontextmanager
async def subscribers(count: int) -> AsyncIterator[tuple[list[ServerConnection], list[RawPeer]]]:
    """``count`` raw clients connected to a server; its connections and the clients.

    They negotiate permessage-deflate: the tests send uncompressed messages.
    """
    connections: list[ServerConnection] = []
    connected = asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        connections.append(websocket)
        if len(connections) == count:
            connected.set()
        await websocket.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        try:
            peers = [RawPeer(sock) for sock in sockets]
            for peer in peers:
                await asyncio.to_thread(peer.connect, f"ws://127.0.0.1:{port}/")
            await asyncio.wait_for(connected.wait(), 10)
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
