"""Statistics of threading connections and servers: connection.stats, server.stats."""

from __future__ import annotations

import http

from wskit.http11 import Request, Response
from wskit.sync.client import connect
from wskit.sync.server import ServerConnection

from .support import serving, until, uri_of
from .test_server import refused_status, server_side


def test_connection_counts_messages_bytes_and_pings() -> None:
    with serving() as server, connect(uri_of(server), compression=None) as client:
        client.send("hello")
        client.send(b"\x00" * 1000)
        assert client.recv() == "hello"
        assert client.recv() == b"\x00" * 1000
        assert client.ping().wait(10)
        stats = client.stats
        assert (stats.messages_sent, stats.messages_received) == (2, 2)
        assert (stats.frames_sent, stats.frames_received) == (3, 3)  # the ping, the pong
        assert (stats.pings_sent, stats.pongs_received) == (1, 1)
        assert stats.latency > 0
        assert stats.buffered_outgoing == 0
        connection = server_side(server, client)
        assert connection.stats.messages_received == 2
        assert connection.stats.pings_received == 1
        # Two echoes wait unread, then the pong says they arrived.
        connection.send("12345")
        connection.send(b"678")
        assert client.ping().wait(10)
        assert client.stats.buffered_incoming == 8
        client.recv()
        client.recv()
        assert client.stats.buffered_incoming == 0


def test_server_counts_connections_by_close_code_and_refusals_by_status() -> None:
    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        if request.path == "/forbidden":
            return ws.respond(http.HTTPStatus.FORBIDDEN, "no\n")
        return None

    with serving(process_request=process_request) as server:
        with connect(uri_of(server)) as first:
            first.send("hi")
            first.recv()
        with connect(uri_of(server)) as second:
            until(lambda: server.stats.opened == 2)  # registered after the handshake
            second.close(4001)
        assert refused_status(uri_of(server, "/forbidden")).status_code == 403
        # Counted by the handler threads, once the clients got their answer.
        until(lambda: server.stats.open == 0 and bool(server.stats.refused))
        stats = server.stats
        assert stats.opened == 2
        assert stats.closed == {1000: 1, 4001: 1}
        assert stats.refused == {403: 1}
        assert stats.totals["messages_received"] == 1
