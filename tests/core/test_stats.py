"""Statistics counted by the Sans-I/O core, and the objects that report them."""

from __future__ import annotations

import logging
import os
from typing import cast

import pytest

from wskit.client import ClientProtocol
from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from wskit.frames import BINARY, TEXT, CloseCode, Frame
from wskit.http11 import Request
from wskit.protocol import OPEN, SEND_EOF, Protocol
from wskit.server import ServerProtocol
from wskit.stats import COUNTERS, ConnectionStats, ServerStats, queued_bytes
from wskit.uri import parse_uri


def pump(sender: Protocol, receiver: Protocol) -> int:
    """Move what ``sender`` has to send to ``receiver``; return how many bytes."""
    data = b"".join(chunk for chunk in sender.data_to_send() if chunk is not SEND_EOF)
    if data:
        receiver.receive_data(data)
    return len(data)


def connect(
    *, compress: bool = False, debug: bool = False
) -> tuple[ClientProtocol, ServerProtocol]:
    logger = logging.getLogger("test.stats")
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    client = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=[ClientPerMessageDeflateFactory()] if compress else None,
        logger=logger,
    )
    server = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory()] if compress else None, logger=logger
    )
    client.send_request(client.connect())
    pump(client, server)
    [request] = server.events_received()
    server.send_response(server.accept(cast(Request, request)))
    pump(server, client)
    client.events_received()
    assert client.state is server.state is OPEN
    return client, server


@pytest.mark.parametrize(
    ("compress", "debug"),
    [(False, False), (True, False), (False, True)],
    ids=["fast-paths", "compressed", "general-paths"],
)
def test_messages_frames_and_bytes_are_counted_both_ways(compress: bool, debug: bool) -> None:
    """Whichever path frames take, the counts agree with what went on the wire."""
    client, server = connect(compress=compress, debug=debug)
    # The handshake's bytes count too.
    assert client.bytes_sent == server.bytes_received > 0
    assert server.bytes_sent == client.bytes_received > 0
    client_bytes = client.bytes_sent
    server_bytes = server.bytes_sent

    client.send_text(b"hello")
    client.send_binary(b"\x00" * 200)
    client.send_text(b"frag", fin=False)
    client.send_continuation(b"ment", fin=False)
    client.send_continuation(b"ed", fin=True)
    client.send_ping(b"p")
    client_bytes += pump(client, server)
    server.events_received()
    server.send_binary(b"reply")
    server_bytes += pump(server, client)  # the pong too
    client.events_received()

    assert (client.messages_sent, client.frames_sent, client.pings_sent) == (3, 6, 1)
    assert (server.messages_received, server.frames_received, server.pings_received) == (3, 6, 1)
    assert (server.messages_sent, server.frames_sent) == (1, 2)
    assert (client.messages_received, client.frames_received, client.pongs_received) == (1, 2, 1)
    assert client.bytes_sent == server.bytes_received == client_bytes
    assert server.bytes_sent == client.bytes_received == server_bytes


def test_long_payloads_are_counted_as_they_are_written_and_read() -> None:
    """A server's long payload after its header; a long frame read into its payload."""
    client, server = connect()
    payload = os.urandom(200_000)
    sent_before = server.bytes_sent
    server.send_binary(payload)
    writes = server.data_to_send()
    assert len(writes) == 2  # header, then the payload uncopied
    data = b"".join(writes)
    before = client.bytes_received
    client.receive_data(data[:100_000])
    window = client.incoming_payload
    assert window is not None
    view = window.window()
    rest = data[100_000:]
    view[: len(rest)] = rest
    client.receive_into(len(rest))
    assert client.events_received() == [Frame(BINARY, payload)]
    assert client.bytes_received - before == len(data)
    assert server.bytes_sent - sent_before == len(data)
    assert (client.messages_received, server.messages_sent) == (1, 1)


def test_control_frames_are_frames_not_messages() -> None:
    client, server = connect()
    client.send_pong(b"unsolicited")
    client.send_close(CloseCode.GOING_AWAY)
    pump(client, server)
    server.events_received()
    pump(server, client)
    assert (client.frames_sent, client.messages_sent) == (2, 0)
    assert (server.frames_received, server.messages_received) == (2, 0)
    assert (server.pongs_received, server.pings_received) == (1, 0)
    assert server.frames_sent == 1  # the close frame's echo


def test_server_records_the_status_it_answered() -> None:
    server = ServerProtocol()
    assert server.status is None
    server.send_response(server.reject(404, "not here"))
    assert server.status == 404


def test_connection_stats_read_the_counters_at_one_moment() -> None:
    client, server = connect()
    client.send_text(b"hi")
    pump(client, server)
    stats = ConnectionStats(client, latency=0.25, buffered_incoming=3, buffered_outgoing=4)
    client.send_text(b"again")
    assert (stats.messages_sent, stats.frames_sent) == (1, 1)
    assert stats.bytes_sent == client.bytes_sent - len(client.data_to_send()[0])
    assert (stats.messages_received, stats.frames_received, stats.bytes_received) == (
        0,
        0,
        client.bytes_received,
    )
    assert (stats.pings_sent, stats.pings_received, stats.pongs_received) == (0, 0, 0)
    assert (stats.latency, stats.buffered_incoming, stats.buffered_outgoing) == (0.25, 3, 4)
    assert "messages_sent=1" in repr(stats)
    assert "latency=0.25" in repr(stats)


def test_queued_bytes_sums_payloads() -> None:
    assert queued_bytes([]) == 0
    assert queued_bytes([Frame(TEXT, b"abc"), Frame(BINARY, bytearray(5))]) == 8


class Connection:
    """What a server passes to its ServerStats."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol

    @property
    def stats(self) -> ConnectionStats:
        return ConnectionStats(self.protocol, latency=0, buffered_incoming=0, buffered_outgoing=0)


def test_server_stats_count_connections_and_refusals() -> None:
    stats = ServerStats()
    assert (stats.open, stats.opened) == (0, 0)
    normal, abnormal = Connection(ServerProtocol()), Connection(ServerProtocol())
    for connection in (normal, abnormal):
        protocol = cast(ServerProtocol, connection.protocol)
        protocol.send_response(protocol.accept(_request()))
        stats.connection_opened(connection)
    assert (stats.open, stats.opened) == (2, 2)
    assert stats.connections == {normal, abnormal}
    normal.protocol.receive_data(b"\x82\x83\x00\x00\x00\x00abc")  # masked binary "abc"
    normal.protocol.receive_data(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # masked close 1000
    normal.protocol.receive_eof()
    abnormal.protocol.receive_eof()  # no close frame: 1006
    for connection in (normal, abnormal):
        connection.protocol.events_received()
        connection.protocol.data_to_send()
    stats.connection_closed(normal)
    stats.connection_closed(abnormal)
    stats.handshake_refused(403)
    stats.handshake_refused(403)
    stats.handshake_refused(400)
    assert (stats.open, stats.opened) == (0, 2)
    assert stats.connections == set()
    assert stats.closed == {1000: 1, 1006: 1}
    assert stats.refused == {403: 2, 400: 1}
    # What closed connections did stays in the totals.
    assert stats.totals["messages_received"] == 1
    assert stats.totals["frames_received"] == 2
    assert stats.totals["frames_sent"] == 1  # the close frame's echo
    assert stats.totals["bytes_received"] == sum(
        connection.protocol.bytes_received for connection in (normal, abnormal)
    )
    assert set(stats.totals) == set(COUNTERS)
    assert set(COUNTERS) <= set(ConnectionStats.__slots__)
    assert repr(stats) == (
        "ServerStats(open=0, opened=2, closed={1000: 1, 1006: 1}, refused={403: 2, 400: 1})"
    )


def _request() -> Request:
    client = ClientProtocol(parse_uri("ws://example.com/"))
    return client.connect()
