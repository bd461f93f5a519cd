"""Statistics of asyncio connections and servers: connection.stats, server.stats."""

from __future__ import annotations

import asyncio
import http

import pytest

from wskit.asyncio.client import connect
from wskit.asyncio.server import Server, ServerConnection, serve
from wskit.exceptions import InvalidStatus
from wskit.http11 import Request, Response

from .test_server import echo, uri_of


async def test_connection_counts_messages_and_bytes_both_ways() -> None:
    accepted: asyncio.Future[ServerConnection] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        accepted.set_result(ws)
        await echo(ws)

    async with serve(handler, "127.0.0.1", 0) as server:
        async with connect(uri_of(server), compression=None) as client:
            await client.send("hello")
            await client.send(b"\x00" * 1000)
            assert await client.recv() == "hello"
            assert await client.recv() == b"\x00" * 1000
            stats = client.stats
            assert (stats.messages_sent, stats.messages_received) == (2, 2)
            assert (stats.frames_sent, stats.frames_received) == (2, 2)
            # Handshake, frame headers, payloads.
            assert stats.bytes_sent > 1005 + 2 * 6
            assert stats.bytes_received > 1005 + 2 * 2
        connection = await accepted
        await connection.wait_closed()
        # What one side sent, the other received: the close frames too.
        assert client.stats.bytes_sent == connection.stats.bytes_received
        assert client.stats.bytes_received == connection.stats.bytes_sent
        assert connection.stats.messages_received == 2
        assert connection.stats.frames_received == 3


async def test_unread_messages_and_ping_latency() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("12345")
        await ws.send(b"678")
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server, connect(uri_of(server)) as client:
        assert client.stats.latency == 0
        # The pong comes after both messages: they wait unread by then.
        latency = await (await client.ping())
        stats = client.stats
        assert stats.buffered_incoming == 8
        assert stats.latency == latency > 0
        assert (stats.pings_sent, stats.pongs_received) == (1, 1)
        assert stats.buffered_outgoing == 0
        await client.recv()
        await client.recv()
        assert client.stats.buffered_incoming == 0


async def test_frames_of_a_burst_are_buffered_outgoing() -> None:
    async with (
        serve(echo, "127.0.0.1", 0) as server,
        connect(uri_of(server), compression=None) as client,
    ):
        await client.send("a")
        assert client.stats.buffered_outgoing == 0  # written at once
        # Nothing read since: this one waits for the loop's next pass.
        await client.send("bc")
        assert client.stats.buffered_outgoing == 2 + 2 + 4  # header, mask, payload
        assert await client.recv() == "a"
        assert await client.recv() == "bc"
        assert client.stats.buffered_outgoing == 0


async def test_server_counts_connections_by_close_code_and_refusals_by_status() -> None:
    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        if request.path == "/forbidden":
            return ws.respond(http.HTTPStatus.FORBIDDEN, "no\n")
        return None

    server: Server
    async with serve(echo, "127.0.0.1", 0, process_request=process_request) as server:
        first = await connect(uri_of(server))
        second = await connect(uri_of(server))
        # An answer: the handler runs, so the connection was counted.
        for client in (first, second):
            await client.send("hi")
            await client.recv()
        assert (server.stats.open, server.stats.opened) == (2, 2)
        await first.close()
        await second.close(4001, "bye")
        for _ in range(2):
            with pytest.raises(InvalidStatus):
                await connect(uri_of(server, "/forbidden"))
        with pytest.raises(InvalidStatus):
            # No Upgrade header: the core answers 426 itself.
            await connect(uri_of(server), additional_headers={"Upgrade": "x"})
        server.close()
        await server.wait_closed()
    stats = server.stats
    assert (stats.open, stats.opened) == (0, 2)
    assert stats.closed == {1000: 1, 4001: 1}
    assert stats.refused[403] == 2
    assert sum(stats.refused.values()) == 3
    assert stats.totals["messages_received"] == 2
    assert stats.connections == set()
