"""Tests for wskit.shared.connection_attributes: what every connection exposes."""

from __future__ import annotations

import logging
import uuid
import weakref

import pytest

from wskit.frames import CLOSE, Close, Frame
from wskit.protocol import Protocol, Side, State
from wskit.server import ServerProtocol
from wskit.shared.connection_attributes import ConnectionAttributes, ConnectionExtra


def test_attributes_follow_the_protocol() -> None:
    protocol = ServerProtocol(state=State.OPEN)
    connection: ConnectionAttributes[object] = ConnectionAttributes(protocol)
    assert connection.protocol is protocol
    assert connection.id == protocol.id
    assert connection.state is State.OPEN
    assert connection.subprotocol is None
    assert connection.close_code is None
    assert connection.close_reason is None
    assert connection.latency == 0.0
    assert connection.request is None
    assert connection.response is None
    assert repr(connection) == f"<ConnectionAttributes {str(protocol.id)[:8]} OPEN>"


def test_id_is_the_protocols() -> None:
    protocol = ServerProtocol(state=State.OPEN)
    connection: ConnectionAttributes[object] = ConnectionAttributes(protocol)
    assert connection.id is protocol.id
    assert connection.id.version == 4
    # Set on either, it's the same id: the core's logs and the connection's agree.
    connection.id = replacement = uuid.uuid4()
    assert protocol.id is replacement
    protocol.id = other = uuid.uuid4()
    assert connection.id is other


def test_attributes_after_close() -> None:
    protocol = ServerProtocol(state=State.OPEN)
    connection: ConnectionAttributes[object] = ConnectionAttributes(protocol)
    protocol.subprotocol = "chat"  # type: ignore[assignment]
    protocol.receive_data(Frame(CLOSE, Close(4000, "bye").serialize()).serialize(mask=True))
    protocol.receive_eof()
    assert connection.subprotocol == "chat"
    assert connection.state is State.CLOSED
    assert connection.close_code == 4000
    assert connection.close_reason == "bye"


def test_latency_is_the_last_round_trip() -> None:
    connection: ConnectionAttributes[str] = ConnectionAttributes(Protocol(Side.CLIENT))
    connection.pings.add(b"ping", "waiter", 1.0)
    connection.pings.acknowledge(b"ping", 1.25)
    assert connection.latency == 0.25


def test_every_record_names_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    protocol = Protocol(Side.SERVER, state=State.OPEN)
    connection: ConnectionAttributes[object] = ConnectionAttributes(protocol)
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        connection.logger.info("from the I/O layer")
        protocol.logger.info("from the core")
    assert [record.websocket for record in caplog.records] == [connection, connection]  # type: ignore[attr-defined]


def test_logger_names_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    protocol = ServerProtocol(state=State.OPEN)
    connection: ConnectionAttributes[object] = ConnectionAttributes(protocol)
    assert isinstance(connection.logger, logging.LoggerAdapter)
    assert protocol.logger is connection.logger  # the core's records too
    assert dict(connection.logger.extra or {}) == {"websocket": connection}
    with caplog.at_level(logging.INFO, logger="wskit"):
        protocol.logger.info("hello")
    [record] = caplog.records
    assert record.__dict__["websocket"] is connection


def test_logger_holds_the_connection_weakly() -> None:
    # The connection and its core hold the logger: a strong reference back
    # would leave the connection to the garbage collector.
    connection: ConnectionAttributes[object] = ConnectionAttributes(ServerProtocol())
    logger = connection.logger
    assert isinstance(logger, logging.LoggerAdapter)
    extra = logger.extra
    assert isinstance(extra, ConnectionExtra)
    gone = weakref.ref(connection)
    del connection, logger
    assert gone() is None
    assert extra["websocket"] is None
    with pytest.raises(KeyError):
        extra["other"]
    assert list(extra) == ["websocket"]
    assert len(extra) == 1
