"""Tests for wskit.shared.serving: what both servers share around the application's hooks."""

from __future__ import annotations

import logging
import unittest.mock

import pytest

from wskit.client import ClientProtocol
from wskit.exceptions import ConnectionClosedError, InvalidHandshake, InvalidHeaderValue
from wskit.extensions.permessage_deflate import PerMessageDeflate
from wskit.frames import BINARY, TEXT, Close
from wskit.http11 import SERVER, Request
from wskit.protocol import OPEN, Side, State
from wskit.server import ServerProtocol
from wskit.shared.serving import (
    BroadcastFrame,
    answer,
    describe_address,
    hook_failed,
    log_handler_exception,
    log_refusal,
)
from wskit.typing import LoggerLike
from wskit.uri import parse_uri


def handshake_request() -> Request:
    return ClientProtocol(parse_uri("ws://example.com/")).connect()


# answer.


def test_answer_accepts_a_valid_request() -> None:
    response = answer(
        ServerProtocol(), handshake_request(), None, serving=True, server_header="me/1.0"
    )
    assert response.status_code == 101
    assert response.headers["Server"] == "me/1.0"


def test_answer_checks_a_server_header_unless_it_is_the_default() -> None:
    with pytest.raises(InvalidHeaderValue):
        answer(
            ServerProtocol(), handshake_request(), None, serving=True, server_header="me\r\nX: 1"
        )
    protocol, request = ServerProtocol(), handshake_request()
    with unittest.mock.patch("wskit.datastructures._check_value", side_effect=AssertionError):
        response = answer(protocol, request, None, serving=True, server_header=SERVER)
    assert response.headers["Server"] == SERVER


def test_answer_sends_the_response_of_process_request() -> None:
    protocol = ServerProtocol()
    health = protocol.reject(200, "OK\n")
    response = answer(protocol, handshake_request(), health, serving=True, server_header=None)
    assert response is health
    assert "Server" not in response.headers


def test_answer_refuses_connections_when_the_server_is_closing() -> None:
    response = answer(
        ServerProtocol(), handshake_request(), None, serving=False, server_header="me/1.0"
    )
    assert response.status_code == 503
    assert response.body == b"Server is shutting down.\n"


# hook_failed.


def test_hook_failed_logs_and_hides_the_error(caplog: pytest.LogCaptureFixture) -> None:
    exc = RuntimeError("secret detail")
    with caplog.at_level(logging.ERROR, logger="wskit.server"):
        response = hook_failed(ServerProtocol(), exc)
    assert response.status_code == 500
    assert b"secret detail" not in response.body
    assert isinstance(response._exception, InvalidHandshake)
    assert response._exception.__cause__ is exc
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is exc


# describe_address.


def test_describe_address() -> None:
    assert describe_address(("127.0.0.1", 8765)) == "127.0.0.1:8765"
    assert describe_address(("::1", 8765, 0, 0)) == "::1:8765"
    assert describe_address("/run/app.sock") == "/run/app.sock"


# BroadcastFrame.


def open_server(*, compress: bool = False) -> ServerProtocol:
    protocol = ServerProtocol(state=State.OPEN)
    if compress:
        protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
    return protocol


def test_broadcast_frame_is_encoded_once_for_plain_server_connections() -> None:
    frame = BroadcastFrame("hello")
    first = frame.data_for(open_server())
    second = frame.data_for(open_server())
    assert first == [b"\x81\x05hello"]
    assert second[0] is first[0]


def test_broadcast_frame_binary_and_text_override() -> None:
    assert BroadcastFrame(b"\x00").frame.opcode is BINARY
    assert BroadcastFrame(b"hi", text=True).frame.opcode is TEXT
    assert BroadcastFrame("hi", text=False).data_for(open_server()) == [b"\x82\x02hi"]


def test_broadcast_frame_compresses_per_connection() -> None:
    frame = BroadcastFrame("hello hello hello hello")
    [data] = frame.data_for(open_server(compress=True))
    assert data[0] == 0xC1  # FIN, RSV1 (compressed), text
    assert frame.shared == {}  # with context takeover, nothing to share


def test_broadcast_frame_masks_for_client_connections() -> None:
    protocol = ClientProtocol(parse_uri("ws://example.com/"), state=OPEN)
    [data] = BroadcastFrame("hello").data_for(protocol)
    assert data[1] & 0x80  # masked
    assert protocol.side is Side.CLIENT


def test_broadcast_frame_logs_in_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        protocol = open_server()
        BroadcastFrame("hello").data_for(protocol)
    assert any("> TEXT 'hello'" in record.getMessage() for record in caplog.records)


def test_broadcast_frame_refuses_other_types() -> None:
    with pytest.raises(TypeError):
        BroadcastFrame(42)  # type: ignore[arg-type]


# log_refusal.


def test_log_refusal_of_an_invalid_handshake_at_info(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("wskit.server")
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        log_refusal(logger, InvalidHandshake("bad \x1b[31mheader"), None)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert "\x1b" not in record.getMessage()
    assert "bad \\x1b[31mheader" in record.getMessage()


def test_log_refusal_of_an_application_error_status_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    protocol = ServerProtocol()
    response = protocol.reject(401, "Missing credentials\n")
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        log_refusal(protocol.logger, InvalidHandshake("rejected with HTTP 401"), response)
    [record] = caplog.records
    assert record.levelno == logging.INFO


def test_log_refusal_of_a_health_check_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    protocol = ServerProtocol()
    response = protocol.reject(200, "OK\n")
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        log_refusal(protocol.logger, InvalidHandshake("rejected with HTTP 200"), response)
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == "sent HTTP 200 OK"


# BroadcastFrame.deliver.


class FakeConnection:
    def __init__(self, name: str, *, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.logger: LoggerLike = logging.getLogger("wskit.server")

    def __repr__(self) -> str:
        return self.name


def test_deliver_writes_to_every_connection_and_warns_about_skipped_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    written: list[str] = []

    def write(connection: FakeConnection) -> None:
        if connection.fail:
            raise ConnectionError("too slow")
        written.append(connection.name)

    connections = [FakeConnection("a"), FakeConnection("b", fail=True), FakeConnection("c")]
    with caplog.at_level(logging.WARNING, logger="wskit.server"):
        BroadcastFrame("hi").deliver(connections, write, raise_exceptions=False)
    assert written == ["a", "c"]
    [record] = caplog.records
    assert record.getMessage() == "skipped broadcast: too slow"


def test_deliver_raises_every_skip_at_the_end() -> None:
    written: list[str] = []

    def write(connection: FakeConnection) -> None:
        if connection.fail:
            raise ConnectionError(f"{connection.name} is slow")
        written.append(connection.name)

    connections = [
        FakeConnection("a", fail=True),
        FakeConnection("b"),
        FakeConnection("c", fail=True),
    ]
    with pytest.raises(ExceptionGroup) as raised:
        BroadcastFrame("hi").deliver(connections, write, raise_exceptions=True)
    assert written == ["b"]
    assert [str(exc) for exc in raised.value.exceptions] == ["a is slow", "c is slow"]
    assert raised.value.exceptions[0].__notes__ == ["skipped broadcast to a"]


# log_handler_exception.


def test_connection_closed_out_of_a_closed_connection_is_logged_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exc = ConnectionClosedError(Close(1009, "too big"), Close(1009, "too big"), True)
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        log_handler_exception(logging.getLogger("wskit.server"), exc, closed=True)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert record.getMessage().startswith("connection closed: received 1009")


@pytest.mark.parametrize(
    ("exc", "closed"),
    [
        (ValueError("bug"), True),
        (ConnectionClosedError(None, None, None), False),  # about another connection
    ],
)
def test_other_handler_exceptions_are_logged_with_traceback(
    caplog: pytest.LogCaptureFixture, exc: Exception, closed: bool
) -> None:
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        log_handler_exception(logging.getLogger("wskit.server"), exc, closed=closed)
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "connection handler failed"
    assert record.exc_info is not None
    assert record.exc_info[1] is exc
