"""Tests for wskit.exceptions: the class tree and the messages."""

from __future__ import annotations

import pickle

import pytest

from wskit import exceptions
from wskit.datastructures import Headers
from wskit.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidProtocol,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyFragments,
    TooManyHeaders,
    WebSocketException,
)
from wskit.frames import Close, CloseCode
from wskit.http11 import Response

# Direct bases of every exception class, as in the websockets package.
BASES: dict[type[BaseException], tuple[type[BaseException], ...]] = {
    WebSocketException: (Exception,),
    ConnectionClosed: (WebSocketException,),
    ConnectionClosedOK: (ConnectionClosed,),
    ConnectionClosedError: (ConnectionClosed,),
    InvalidURI: (WebSocketException,),
    InvalidProxy: (WebSocketException,),
    InvalidHandshake: (WebSocketException,),
    SecurityError: (InvalidHandshake,),
    RequestLineTooLong: (SecurityError,),
    StatusLineTooLong: (SecurityError,),
    HeaderLineTooLong: (SecurityError,),
    TooManyHeaders: (SecurityError,),
    ProxyError: (InvalidHandshake,),
    InvalidProxyMessage: (ProxyError,),
    InvalidProxyStatus: (ProxyError,),
    InvalidMessage: (InvalidHandshake,),
    InvalidMethod: (InvalidHandshake,),
    InvalidProtocol: (InvalidHandshake,),
    InvalidStatus: (InvalidHandshake,),
    InvalidHeader: (InvalidHandshake,),
    InvalidHeaderFormat: (InvalidHeader,),
    InvalidHeaderValue: (InvalidHeader,),
    InvalidOrigin: (InvalidHeader,),
    InvalidUpgrade: (InvalidHeader,),
    NegotiationError: (InvalidHandshake,),
    DuplicateParameter: (NegotiationError,),
    InvalidParameterName: (NegotiationError,),
    InvalidParameterValue: (NegotiationError,),
    TooManyFragments: (WebSocketException,),
    ProtocolError: (WebSocketException,),
    PayloadTooBig: (WebSocketException,),
    InvalidState: (WebSocketException, AssertionError),
    ConcurrencyError: (WebSocketException, RuntimeError),
}


@pytest.mark.parametrize(("cls", "bases"), BASES.items(), ids=lambda x: getattr(x, "__name__", ""))
def test_bases(cls: type[BaseException], bases: tuple[type[BaseException], ...]) -> None:
    assert cls.__bases__ == bases


def test_every_exported_exception_is_checked() -> None:
    exported = {getattr(exceptions, name) for name in exceptions.__all__}
    assert exported == set(BASES)


def test_builtin_bases_catch() -> None:
    with pytest.raises(AssertionError):
        raise InvalidState("connection is closed")
    with pytest.raises(RuntimeError):
        raise ConcurrencyError("two readers")
    with pytest.raises(WebSocketException):
        raise InvalidOrigin(None)


def response(status_code: int) -> Response:
    return Response(status_code, "Reason", Headers())


NORMAL = Close(CloseCode.NORMAL_CLOSURE, "bye")
AWAY = Close(CloseCode.GOING_AWAY, "")
PRIVATE = Close(4000, "custom")


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (ConnectionClosed(None, None), "no close frame received or sent"),
        (ConnectionClosed(NORMAL, None), "received 1000 (OK) bye; no close frame sent"),
        (ConnectionClosed(None, AWAY), "sent 1001 (going away); no close frame received"),
        (
            ConnectionClosed(NORMAL, AWAY, True),
            "received 1000 (OK) bye; then sent 1001 (going away)",
        ),
        (
            ConnectionClosed(NORMAL, AWAY, False),
            "sent 1001 (going away); then received 1000 (OK) bye",
        ),
        (
            ConnectionClosedOK(PRIVATE, NORMAL, True),
            "received 4000 (private use) custom; then sent 1000 (OK) bye",
        ),
        (
            ConnectionClosedError(None, Close(1002, "")),
            "sent 1002 (protocol error); no close frame received",
        ),
        (
            InvalidURI("http://x/", "scheme isn't ws or wss"),
            "http://x/ isn't a valid WebSocket URI: scheme isn't ws or wss",
        ),
        (InvalidProxy("ftp://proxy", "bad scheme"), "ftp://proxy isn't a valid proxy: bad scheme"),
        (InvalidProxyStatus(response(407)), "proxy rejected connection: HTTP 407"),
        (InvalidMethod("POST"), "invalid HTTP method; expected GET; got POST"),
        (InvalidProtocol("HTTP/1.0"), "invalid HTTP protocol; expected HTTP/1.1; got HTTP/1.0"),
        (InvalidStatus(response(403)), "server rejected WebSocket connection: HTTP 403"),
        (InvalidHeader("Upgrade"), "missing Upgrade header"),
        (InvalidHeader("Upgrade", None), "missing Upgrade header"),
        (InvalidHeader("Upgrade", ""), "empty Upgrade header"),
        (InvalidHeader("Upgrade", "h2c"), "invalid Upgrade header: h2c"),
        (
            InvalidHeaderFormat("Sec-WebSocket-Protocol", "expected token", "a b", 2),
            "invalid Sec-WebSocket-Protocol header: expected token at 2 in a b",
        ),
        (
            InvalidHeaderValue("Sec-WebSocket-Version", "12"),
            "invalid Sec-WebSocket-Version header: 12",
        ),
        (InvalidOrigin(None), "missing Origin header"),
        (InvalidOrigin(""), "empty Origin header"),
        (InvalidOrigin("https://evil.example"), "invalid Origin header: https://evil.example"),
        (InvalidUpgrade("Connection", "close"), "invalid Connection header: close"),
        (
            DuplicateParameter("server_max_window_bits"),
            "duplicate parameter: server_max_window_bits",
        ),
        (InvalidParameterName("foo"), "invalid parameter name: foo"),
        (InvalidParameterValue("bits", None), "missing value for parameter bits"),
        (InvalidParameterValue("bits", ""), "empty value for parameter bits"),
        (InvalidParameterValue("bits", "99"), "invalid value for parameter bits: 99"),
        (TooManyFragments(100), "message has more than 100 fragments"),
        (PayloadTooBig(2048, 1024), "frame of 2048 bytes over the 1024 bytes limit"),
        (
            PayloadTooBig(2048, 1024, 512),
            "frame of 2048 bytes over the 1024 bytes limit after 512 bytes of the message",
        ),
        (ProtocolError("bad opcode"), "bad opcode"),
        (
            InvalidMessage("did not receive a valid HTTP response"),
            "did not receive a valid HTTP response",
        ),
        (RequestLineTooLong("request line too long"), "request line too long"),
        (InvalidState("connection is closed"), "connection is closed"),
        (ConcurrencyError("cannot call recv concurrently"), "cannot call recv concurrently"),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, BaseException) else "",
)
def test_str(exc: BaseException, message: str) -> None:
    assert str(exc) == message


def test_connection_closed_attributes() -> None:
    exc = ConnectionClosed(NORMAL, AWAY, True)
    assert exc.rcvd is NORMAL
    assert exc.sent is AWAY
    assert exc.rcvd_then_sent is True
    assert ConnectionClosed(None, None).rcvd_then_sent is None


def test_payload_too_big_with_a_message_is_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="PayloadTooBig"):
        exc = PayloadTooBig("message too big to decompress")
    assert str(exc) == "message too big to decompress"


# Deprecated, as in websockets; tests/parity checks the warnings.
@pytest.mark.filterwarnings("ignore:ConnectionClosed:DeprecationWarning")
def test_connection_closed_code_and_reason_from_received_frame() -> None:
    ok = ConnectionClosedOK(NORMAL, AWAY, False)
    assert ok.code == 1000
    assert ok.reason == "bye"
    error = ConnectionClosedError(PRIVATE, None)
    assert error.code == 4000
    assert error.reason == "custom"


@pytest.mark.filterwarnings("ignore:ConnectionClosed:DeprecationWarning")
def test_connection_closed_code_and_reason_without_received_frame() -> None:
    # The sent frame doesn't count: 1006 means nothing was received.
    exc = ConnectionClosedError(None, Close(1011, "crash"))
    assert exc.code == 1006
    assert exc.reason == ""
    exc = ConnectionClosedError(None, None)
    assert exc.code == 1006
    assert exc.reason == ""


def test_payload_too_big_attributes() -> None:
    exc = PayloadTooBig(2048, 1024, 10)
    assert (exc.size, exc.message, exc.max_size, exc.current_size) == (2048, None, 1024, 10)
    with pytest.warns(DeprecationWarning, match="PayloadTooBig"):
        exc = PayloadTooBig("too big")
    assert (exc.size, exc.message, exc.max_size, exc.current_size) == (None, "too big", None, None)


def test_payload_too_big_without_size() -> None:
    exc = PayloadTooBig(None, 1024)
    assert exc.size is None
    message = str(exc)
    assert message == "frame over the 1024 bytes limit"


def test_payload_too_big_set_current_size() -> None:
    exc = PayloadTooBig(300, 1000)
    assert str(exc) == "frame of 300 bytes over the 1000 bytes limit"
    exc.set_current_size(800)
    assert exc.current_size == 800
    assert str(exc) == "frame of 300 bytes over the 1000 bytes limit after 800 bytes of the message"
    exc.set_current_size(None)
    assert exc.current_size is None
    assert str(exc) == "frame of 300 bytes over the 1000 bytes limit"


def test_payload_too_big_message_ignores_sizes() -> None:
    with pytest.warns(DeprecationWarning, match="PayloadTooBig"):
        exc = PayloadTooBig("decompressed message too big", 1000, 500)
    assert str(exc) == "decompressed message too big"


def test_invalid_header_format_attributes() -> None:
    exc = InvalidHeaderFormat("Connection", "expected token", "x y", 1)
    assert exc.name == "Connection"
    assert exc.value == "expected token at 1 in x y"


def test_invalid_origin_attributes() -> None:
    exc = InvalidOrigin("https://a.example")
    assert (exc.name, exc.value) == ("Origin", "https://a.example")


def test_status_exceptions_keep_response() -> None:
    resp = response(500)
    assert InvalidStatus(resp).response is resp
    assert InvalidProxyStatus(resp).response is resp


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionClosedOK(NORMAL, AWAY, True),
        ConnectionClosedError(None, None),
        InvalidURI("ws://x#", "fragment"),
        InvalidHeader("Upgrade", "h2c"),
        InvalidHeaderFormat("Connection", "expected token", "x y", 1),
        InvalidOrigin(None),
        InvalidParameterValue("bits", "99"),
        PayloadTooBig(2048, max_size=1024, current_size=512),
        TooManyFragments(8),
    ],
    ids=lambda x: type(x).__name__,
)
def test_pickle_round_trip(exc: WebSocketException) -> None:
    # Exceptions cross process boundaries (multiprocessing, pub/sub workers).
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert str(copy) == str(exc)
    assert vars(copy) == vars(exc)
