"""Tests for wskit.server: the server side of the opening handshake."""

from __future__ import annotations

import base64
import binascii
import email.utils
import logging
import re
import time
from collections.abc import Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wskit import server as server_module
from wskit.datastructures import Headers
from wskit.exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidState,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
    SecurityError,
    TooManyHeaders,
)
from wskit.extensions.permessage_deflate import (
    PerMessageDeflate,
    enable_server_permessage_deflate,
)
from wskit.frames import TEXT, Frame
from wskit.headers import MAX_EXTENSION_PARAMETERS, MAX_EXTENSIONS, MAX_SUBPROTOCOLS
from wskit.http11 import Request, Response, ResponseParser
from wskit.protocol import SEND_EOF, State
from wskit.server import ServerProtocol
from wskit.typing import Origin, Subprotocol
from wskit.utils import accept_key, apply_mask

KEY = "dGhlIHNhbXBsZSBub25jZQ=="

BASE_HEADERS = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request_bytes(
    headers: Sequence[tuple[str, str]] = BASE_HEADERS,
    *,
    request_line: str = "GET /chat HTTP/1.1",
) -> bytes:
    """A handshake request written by hand, so that it can break any rule."""
    lines = [request_line, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def without(name: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in BASE_HEADERS if n != name]


def replacing(name: str, value: str) -> list[tuple[str, str]]:
    return [(n, value if n == name else v) for n, v in BASE_HEADERS]


def receive_request(server: ServerProtocol, data: bytes) -> Request:
    server.receive_data(data)
    [request] = server.events_received()
    assert isinstance(request, Request)
    return request


def sent_response(server: ServerProtocol) -> Response:
    """Parse what the server wrote: a response, then EOF unless it was a 101."""
    writes = server.data_to_send()
    parser = ResponseParser()
    response = parser.feed(writes[0])
    if response is None:  # a body delimited by the end of the stream
        response = parser.feed_eof()
    if response.status_code != 101:
        assert writes[1:] == [SEND_EOF]
    return response


def answer(data: bytes, server: ServerProtocol | None = None) -> Response:
    """Feed a request, accept it, send the answer, return what was written."""
    server = server or ServerProtocol()
    server.send_response(server.accept(receive_request(server, data)))
    return sent_response(server)


def masked_text(data: bytes) -> bytes:
    key = b"\x00\x11\x22\x33"
    return bytes([0x81, 0x80 | len(data)]) + key + apply_mask(data, key)


# Accepting.


def test_accept_valid_request() -> None:
    server = ServerProtocol()
    request = receive_request(server, request_bytes())
    assert request.path == "/chat"
    response = server.accept(request)
    assert response.status_code == 101
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    # The example of RFC 6455, section 1.3.
    assert response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert "Sec-WebSocket-Protocol" not in response.headers
    # Built field by field, the headers are the same, in the same order.
    names = ["Date", "Upgrade", "Connection", "Sec-WebSocket-Accept"]
    assert [name for name, _ in response.headers.raw_items()] == names
    assert response.headers == Headers(list(response.headers.raw_items()))
    response.headers["X-Hook"] = "added"  # as process_response() may
    assert response.headers.get_all("x-hook") == ["added"]
    assert server.state.name == "CONNECTING"
    server.send_response(response)
    assert server.state is State.OPEN
    assert sent_response(server).status_code == 101


def test_request_fed_one_byte_at_a_time() -> None:
    server = ServerProtocol()
    for byte in request_bytes():
        server.receive_data(bytes([byte]))
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert server.accept(request).status_code == 101


def test_request_read_whole_or_in_pieces_is_the_same() -> None:
    # A request that arrives whole is read without a parser (see
    # receive_handshake_data); in pieces, by one. Both read it alike.
    data = request_bytes() + masked_text(b"early")
    whole = ServerProtocol()
    whole.receive_data(data)
    assert whole._request_parser is None
    pieces = ServerProtocol()
    pieces.receive_data(data[:10])
    pieces.receive_data(data[10:])
    assert pieces._request_parser is not None
    [one], [other] = whole.events_received(), pieces.events_received()
    assert isinstance(one, Request)
    assert isinstance(other, Request)
    assert (one.method, one.path, one.protocol) == (other.method, other.path, other.protocol)
    assert list(one.headers.raw_items()) == list(other.headers.raw_items())
    assert one.headers == other.headers
    assert whole.held == pieces.held == len(masked_text(b"early"))


def test_header_values_are_case_insensitive() -> None:
    headers = replacing("Upgrade", "WebSocket")
    headers = [(n, "keep-alive, upgrade" if n == "Connection" else v) for n, v in headers]
    assert answer(request_bytes(headers)).status_code == 101


def test_frames_pipelined_after_request_are_kept() -> None:
    """A client may send frames right after its request, before the answer."""
    server = ServerProtocol()
    server.receive_data(request_bytes() + masked_text(b"early"))
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert server.held == len(masked_text(b"early"))
    server.receive_data(masked_text(b"bird"))
    assert server.events_received() == []  # held until the handshake completes
    assert server.held == len(masked_text(b"early") + masked_text(b"bird"))
    server.send_response(server.accept(request))
    assert server.events_received() == [Frame(TEXT, b"early"), Frame(TEXT, b"bird")]
    assert server.held == 0


def test_nothing_held_after_a_request_alone() -> None:
    server = ServerProtocol()
    server.receive_data(request_bytes()[:-1])
    assert server.held == 0  # still reading the request
    request = receive_request(server, b"\n")
    assert server.held == 0
    server.send_response(server.accept(request))
    server.receive_data(masked_text(b"partial")[:-2])
    assert server.held == 0  # a partial frame, buffered, but not held


def test_send_response_twice() -> None:
    server = ServerProtocol()
    response = server.accept(receive_request(server, request_bytes()))
    server.send_response(response)
    with pytest.raises(InvalidState):
        server.send_response(response)


# Malformed requests: the server answers on its own, with a readable body.


@pytest.mark.parametrize(
    ("data", "status", "exc_type"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n", 414, RequestLineTooLong),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 9000 + b"\r\n", 431, HeaderLineTooLong),
        (request_bytes([*BASE_HEADERS, *[("X-Many", "1")] * 200]), 431, TooManyHeaders),
        (request_bytes(request_line="GET /chat HTTP/2.0"), 400, InvalidMessage),
        (b"GARBAGE\r\n\r\n", 400, InvalidMessage),
        (request_bytes([*BASE_HEADERS, ("X-Bad", "a\x00b")]), 400, InvalidMessage),
        (request_bytes([*BASE_HEADERS, ("Bad Name", "x")]), 400, InvalidMessage),
        (request_bytes([*BASE_HEADERS, ("X-Bad", "a\rb")]), 400, InvalidMessage),
    ],
    ids=[
        "request line too long",
        "header line too long",
        "too many headers",
        "HTTP/2.0",
        "garbage",
        "NUL in value",
        "space in name",
        "CR in value",
    ],
)
def test_malformed_request(data: bytes, status: int, exc_type: type[Exception]) -> None:
    server = ServerProtocol()
    server.receive_data(data)
    assert server.events_received() == []
    response = sent_response(server)
    assert response.status_code == status
    assert response.body.startswith(b"Failed to open a WebSocket connection: ")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert isinstance(server.handshake_exc, exc_type)
    assert server.close_expected()
    # Whatever follows is ignored.
    server.receive_data(b"\r\n" * 100)
    assert server.data_to_send() == []
    server.receive_eof()
    assert server.state is State.CLOSED


def test_malformed_request_is_an_invalid_message_with_the_details_in_its_cause() -> None:
    # As websockets reports it; the 400 response says what was wrong.
    server = ServerProtocol()
    server.receive_data(request_bytes([*BASE_HEADERS, ("Bad Name", "x")]))
    exc = server.handshake_exc
    assert isinstance(exc, InvalidMessage)
    assert str(exc) == "did not receive a valid HTTP request"
    assert isinstance(exc.__cause__, InvalidMessage)
    assert str(exc.__cause__) in sent_response(server).body.decode()


@pytest.mark.parametrize(
    ("request_line", "status", "exc_type"),
    [("PUT / HTTP/1.1", 405, InvalidMethod), ("GET / HTTP/1.0", 505, InvalidProtocol)],
)
def test_other_method_or_http_1_0_is_answered_by_accept(
    request_line: str, status: int, exc_type: type[Exception]
) -> None:
    # The request is parsed, so that a process_request hook sees it; accept()
    # refuses it with the status RFC 9110 names, as websockets does.
    server = ServerProtocol()
    server.receive_data(request_bytes(request_line=request_line))
    [request] = server.events_received()
    assert isinstance(request, Request)
    response = server.accept(request)
    assert response.status_code == status
    assert isinstance(server.handshake_exc, exc_type)
    if status == 405:
        assert response.headers["Allow"] == "GET"
    server.send_response(response)
    assert server.close_expected()


def test_huge_header_in_many_chunks_is_refused_in_linear_time() -> None:
    server = ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\nX-Huge: ")
    start = time.perf_counter()
    for _ in range(10_000):  # 10 MB offered, 8 KiB accepted
        server.receive_data(b"a" * 1000)
    assert time.perf_counter() - start < 5
    assert isinstance(server.handshake_exc, HeaderLineTooLong)


# Invalid handshakes: accept() answers with an error response.


def rejection(data: bytes, server: ServerProtocol | None = None) -> tuple[Response, Exception]:
    server = server or ServerProtocol()
    response = answer(data, server)
    assert server.handshake_exc is not None
    assert server.close_expected()
    return response, server.handshake_exc


@pytest.mark.parametrize(
    ("headers", "exc_type", "message"),
    [
        (without("Host"), InvalidHeader, "missing Host header"),
        ([*BASE_HEADERS, ("Host", "other.com")], InvalidHeader, "invalid Host header: multiple"),
        (without("Sec-WebSocket-Key"), InvalidHeader, "missing Sec-WebSocket-Key header"),
        (
            [*BASE_HEADERS, ("Sec-WebSocket-Key", KEY)],
            InvalidHeader,
            "invalid Sec-WebSocket-Key header: multiple values",
        ),
        (replacing("Sec-WebSocket-Key", "not base64!"), InvalidHeaderValue, "not base64!"),
        (replacing("Sec-WebSocket-Key", "c2hvcnQ="), InvalidHeaderValue, "c2hvcnQ="),
        (replacing("Sec-WebSocket-Key", "é" * 24), InvalidHeaderValue, "Sec-WebSocket-Key"),
        (
            [*BASE_HEADERS, ("Sec-WebSocket-Extensions", 'foo; bar="unclosed')],
            InvalidHeader,
            "Sec-WebSocket-Extensions",
        ),
        (
            [*BASE_HEADERS, ("Sec-WebSocket-Protocol", "chat, , ,{}")],
            InvalidHeader,
            "Sec-WebSocket-Protocol",
        ),
    ],
    ids=[
        "missing Host",
        "duplicate Host",
        "missing key",
        "duplicate key",
        "key not base64",
        "key too short",
        "key not ASCII",
        "unclosed quote in extensions",
        "invalid subprotocol token",
    ],
)
def test_bad_request_is_400(
    headers: list[tuple[str, str]], exc_type: type[Exception], message: str
) -> None:
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))
    response, exc = rejection(request_bytes(headers), server)
    assert response.status_code == 400
    assert isinstance(exc, exc_type)
    assert message in str(exc)
    assert message.encode() in response.body


@pytest.mark.parametrize(
    "headers",
    [without("Upgrade"), replacing("Upgrade", "h2c"), replacing("Upgrade", "websocket, h2c")],
)
def test_no_websocket_upgrade_is_426(headers: list[tuple[str, str]]) -> None:
    response, exc = rejection(request_bytes(headers))
    assert response.status_code == 426
    assert isinstance(exc, InvalidUpgrade)
    assert response.headers["Upgrade"] == "websocket"
    assert b"browser" in response.body


def test_plain_browser_request_gets_a_helpful_426() -> None:
    response, _ = rejection(request_bytes([("Host", "example.com"), ("Accept", "text/html")]))
    assert response.status_code == 426
    assert b"WebSocket client" in response.body


def test_missing_connection_upgrade_is_426() -> None:
    response, exc = rejection(request_bytes(replacing("Connection", "keep-alive")))
    assert response.status_code == 426
    assert isinstance(exc, InvalidUpgrade)


@pytest.mark.parametrize(
    "headers",
    [
        replacing("Sec-WebSocket-Version", "8"),
        without("Sec-WebSocket-Version"),
        [*BASE_HEADERS, ("Sec-WebSocket-Version", "8")],
    ],
    ids=["version 8", "no version", "two versions"],
)
def test_unsupported_version_is_426_with_supported_version(
    headers: list[tuple[str, str]],
) -> None:
    """RFC 6455, 4.4: answer with the versions the server understands."""
    response, exc = rejection(request_bytes(headers))
    assert response.status_code == 426
    assert response.headers["Sec-WebSocket-Version"] == "13"
    assert isinstance(exc, InvalidUpgrade)
    assert b"browser" not in response.body


@pytest.mark.parametrize(
    "value",
    [
        'permessage-deflate; a="' + "x" * 100_000,  # unclosed quote
        "permessage-deflate" + "; a=1" * 20_000,  # thousands of parameters
        "a" * 100_000 + "!",  # a long run, then a bad character
        ", " * 50_000,  # empty list elements
        'x; y="' + "\\" * 100_000 + '"',  # many escapes
    ],
    ids=["unclosed quote", "many parameters", "long token", "empty elements", "escapes"],
)
def test_hostile_extension_header_is_handled_in_bounded_time(value: str) -> None:
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))
    request = Request("/", Headers([*BASE_HEADERS, ("Sec-WebSocket-Extensions", value)]))
    start = time.perf_counter()
    response = server.accept(request)
    assert time.perf_counter() - start < 2
    assert response.status_code in (101, 400)


# Past a list limit, valid items up to one too many, then garbage: a parser
# that went on past the limit would fail on the garbage instead.
_LONG_LISTS = {
    "extensions": (
        "Sec-WebSocket-Extensions",
        ", ".join(["x-ext"] * (MAX_EXTENSIONS + 1)) + ", !!!",
        f"more than {MAX_EXTENSIONS} items in Sec-WebSocket-Extensions",
    ),
    "parameters": (
        "Sec-WebSocket-Extensions",
        "permessage-deflate" + "; p" * (MAX_EXTENSION_PARAMETERS + 1) + "; !!!",
        f"more than {MAX_EXTENSION_PARAMETERS} parameters of one extension",
    ),
    "subprotocols": (
        "Sec-WebSocket-Protocol",
        ", ".join(["chat"] * (MAX_SUBPROTOCOLS + 1)) + ", !!!",
        f"more than {MAX_SUBPROTOCOLS} items in Sec-WebSocket-Protocol",
    ),
}


@pytest.mark.parametrize("kind", list(_LONG_LISTS))
def test_long_negotiation_lists_are_refused_with_400(kind: str) -> None:
    name, value, message = _LONG_LISTS[kind]
    server = ServerProtocol(
        extensions=enable_server_permessage_deflate(None), subprotocols=[Subprotocol("chat")]
    )
    response = answer(request_bytes([*BASE_HEADERS, (name, value)]), server)
    assert response.status_code == 400
    assert isinstance(server.handshake_exc, SecurityError)
    assert message in str(server.handshake_exc)


@pytest.mark.parametrize(
    ("name", "limit"),
    [("Sec-WebSocket-Extensions", MAX_EXTENSIONS), ("Sec-WebSocket-Protocol", MAX_SUBPROTOCOLS)],
)
def test_long_negotiation_lists_over_many_lines_are_refused(name: str, limit: int) -> None:
    """The limits hold for all the header lines together, each under the limit."""
    server = ServerProtocol(
        extensions=enable_server_permessage_deflate(None), subprotocols=[Subprotocol("chat")]
    )
    lines = [(name, ", ".join(["chat"] * 8))] * 100
    response = answer(request_bytes([*BASE_HEADERS, *lines]), server)
    assert response.status_code == 400
    assert isinstance(server.handshake_exc, SecurityError)
    assert f"more than {limit} items in {name}" in str(server.handshake_exc)


def test_negotiation_lists_up_to_the_limits_are_accepted() -> None:
    offers = ["x-ext"] * (MAX_EXTENSIONS - 1) + [
        "permessage-deflate" + "; client_max_window_bits" * MAX_EXTENSION_PARAMETERS
    ]
    headers = [
        *BASE_HEADERS,
        ("Sec-WebSocket-Extensions", ", ".join(offers)),
        ("Sec-WebSocket-Protocol", ", ".join(["other"] * (MAX_SUBPROTOCOLS - 1) + ["chat"])),
    ]
    server = ServerProtocol(
        extensions=enable_server_permessage_deflate(None), subprotocols=[Subprotocol("chat")]
    )
    response = answer(request_bytes(headers), server)
    # Not refused for its length; the repeated parameter is declined.
    assert server.handshake_exc is None
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Protocol"] == "chat"


# Origins.


@pytest.mark.parametrize(
    ("origins", "origin", "accepted"),
    [
        (None, "https://evil.example", True),
        (["https://good.example"], "https://good.example", True),
        (["https://good.example"], "https://evil.example", False),
        (["https://good.example"], None, False),
        (["https://good.example", None], None, True),
        ([re.compile(r"https://[a-z]+\.good\.example")], "https://app.good.example", True),
        ([re.compile(r"https://[a-z]+\.good\.example")], "https://app.good.example.evil", False),
        ([re.compile(r"https://[a-z]+\.good\.example")], None, False),
    ],
)
def test_origins(
    origins: list[str | re.Pattern[str] | None] | None, origin: str | None, accepted: bool
) -> None:
    headers = [*BASE_HEADERS, ("Origin", origin)] if origin is not None else BASE_HEADERS
    allowed = (
        None if origins is None else [o if not isinstance(o, str) else Origin(o) for o in origins]
    )
    server = ServerProtocol(origins=allowed)
    response = answer(request_bytes(headers), server)
    if accepted:
        assert response.status_code == 101
        assert server.origin == origin
    else:
        assert response.status_code == 403
        assert isinstance(server.handshake_exc, InvalidOrigin)


def test_duplicate_origin_is_400() -> None:
    headers = [*BASE_HEADERS, ("Origin", "https://a.example"), ("Origin", "https://b.example")]
    response, exc = rejection(request_bytes(headers))
    assert response.status_code == 400
    assert str(exc) == "invalid Origin header: multiple values"


# Subprotocols.


def with_subprotocols(*values: str) -> bytes:
    return request_bytes([*BASE_HEADERS, *(("Sec-WebSocket-Protocol", v) for v in values)])


def test_subprotocol_server_preference_wins() -> None:
    server = ServerProtocol(subprotocols=[Subprotocol("v2"), Subprotocol("v1")])
    response = answer(with_subprotocols("v1, v2"), server)
    assert response.headers["Sec-WebSocket-Protocol"] == "v2"
    assert server.subprotocol == "v2"


def test_subprotocols_over_several_header_lines() -> None:
    server = ServerProtocol(subprotocols=[Subprotocol("v2")])
    response = answer(with_subprotocols("v1", "v2"), server)
    assert response.headers["Sec-WebSocket-Protocol"] == "v2"


def test_server_without_subprotocols_ignores_offers() -> None:
    server = ServerProtocol()
    response = answer(with_subprotocols("chat"), server)
    assert response.status_code == 101
    assert "Sec-WebSocket-Protocol" not in response.headers
    assert server.subprotocol is None


@pytest.mark.parametrize(
    ("offer", "message"),
    [((), "missing subprotocol"), (("superchat",), "invalid subprotocol; expected one of chat")],
)
def test_subprotocol_negotiation_fails(offer: tuple[str, ...], message: str) -> None:
    server = ServerProtocol(subprotocols=[Subprotocol("chat")])
    response, exc = rejection(with_subprotocols(*offer), server)
    assert response.status_code == 400
    assert isinstance(exc, NegotiationError)
    assert str(exc) == message


def test_custom_select_subprotocol() -> None:
    seen: list[object] = []

    def select(protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        seen.append(protocol)
        return Subprotocol("chat") if "chat" in subprotocols else None

    server = ServerProtocol(subprotocols=[Subprotocol("chat")], select_subprotocol=select)
    assert answer(request_bytes(), server).status_code == 101  # no offer: accepted anyway
    assert seen == [server]
    server = ServerProtocol(select_subprotocol=select)
    assert answer(with_subprotocols("chat"), server).headers["Sec-WebSocket-Protocol"] == "chat"


def test_unexpected_error_is_500_without_details(caplog: pytest.LogCaptureFixture) -> None:
    def select(protocol: ServerProtocol, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        raise RuntimeError("secret internals")

    server = ServerProtocol(select_subprotocol=select)
    with caplog.at_level(logging.ERROR, logger="wskit.server"):
        response = answer(request_bytes(), server)
    assert response.status_code == 500
    assert b"secret" not in response.body
    assert isinstance(server.handshake_exc, RuntimeError)
    assert "opening handshake failed" in caplog.text


# Extensions.

BROWSER_OFFERS = {
    "chrome": "permessage-deflate; client_max_window_bits",
    "firefox": "permessage-deflate",
    "safari": "permessage-deflate",
}


@pytest.mark.parametrize("offer", BROWSER_OFFERS.values(), ids=BROWSER_OFFERS.keys())
def test_browser_deflate_offers_are_accepted(offer: str) -> None:
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))
    headers = [*BASE_HEADERS, ("Sec-WebSocket-Extensions", offer)]
    response = answer(request_bytes(headers), server)
    assert response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    [extension] = server.extensions
    assert isinstance(extension, PerMessageDeflate)


def test_unknown_and_unacceptable_offers_are_declined() -> None:
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))
    offers = "x-unknown, permessage-deflate; bogus=1, permessage-deflate"
    headers = [*BASE_HEADERS, ("Sec-WebSocket-Extensions", offers)]
    response = answer(request_bytes(headers), server)
    # The first acceptable offer wins; the others are declined, not fatal.
    assert response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    assert len(server.extensions) == 1


def test_extensions_ignored_when_server_has_none() -> None:
    server = ServerProtocol()
    headers = [*BASE_HEADERS, ("Sec-WebSocket-Extensions", "permessage-deflate")]
    response = answer(request_bytes(headers), server)
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


# Rejecting and the end of the stream.


def test_reject() -> None:
    server = ServerProtocol()
    receive_request(server, request_bytes())
    response = server.reject(404, "Nothing here.\n")
    assert (response.status_code, response.reason_phrase) == (404, "Not Found")
    assert response.headers["Content-Length"] == "14"
    assert response.headers["Connection"] == "close"
    server.send_response(response)
    assert sent_response(server).body == b"Nothing here.\n"
    assert isinstance(server.handshake_exc, InvalidHandshake)
    assert str(server.handshake_exc) == "connection rejected with HTTP 404"
    server.receive_data(masked_text(b"ignored"))
    assert server.events_received() == []


def test_awaiting_request_until_the_first_byte() -> None:
    # A closing server drops connections that are awaiting their request.
    server = ServerProtocol()
    assert server.awaiting_request
    server.receive_data(b"")  # an empty read is no byte of the request
    assert server.awaiting_request
    server.receive_data(b"G")
    assert not server.awaiting_request
    server.receive_data(request_bytes()[1:])
    assert not server.awaiting_request


def test_not_awaiting_request_once_closed() -> None:
    server = ServerProtocol()
    server.receive_eof()
    assert not server.awaiting_request


def test_eof_during_request() -> None:
    server = ServerProtocol()
    server.receive_data(request_bytes()[:20])
    server.receive_eof()
    assert isinstance(server.handshake_exc, InvalidHandshake)
    assert server.state is State.CLOSED
    assert server.data_to_send() == [SEND_EOF]


def test_eof_before_answer() -> None:
    server = ServerProtocol()
    request = receive_request(server, request_bytes())
    server.receive_eof()
    assert server.state is State.CLOSED
    with pytest.raises(InvalidState):
        server.send_response(server.accept(request))


def test_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.server")
    logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="test.server"):
        answer(request_bytes(), ServerProtocol(logger=logger))
        answer(request_bytes(without("Host")), ServerProtocol(logger=logger))
    messages = [record.getMessage() for record in caplog.records]
    assert "< GET /chat HTTP/1.1" in messages
    assert "> HTTP/1.1 101 Switching Protocols" in messages
    assert "! invalid handshake request: missing Host header" in messages


def test_accept_key_matches_utils() -> None:
    server = ServerProtocol()
    response = server.accept(receive_request(server, request_bytes()))
    assert response.headers["Sec-WebSocket-Accept"] == accept_key(KEY)


def test_no_response_after_a_malformed_request() -> None:
    server = ServerProtocol()
    server.receive_data(b"GARBAGE\r\n\r\n")
    assert server.data_to_send()[-1] == SEND_EOF
    with pytest.raises(InvalidState):
        server.send_response(server.reject(400, "again"))
    assert server.data_to_send() == []


# Shortcuts of the handshake: each agrees with the general rule it skips.


def is_16_bytes_in_base64(key: str) -> bool:
    try:
        return len(base64.b64decode(key.encode(), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


@settings(max_examples=300, deadline=None)
@given(
    key=st.from_regex(server_module._valid_key_re, fullmatch=True)
    | st.text(alphabet="AZaz09+/= \n=é", min_size=20, max_size=26)
)
@example(key="dGhlIHNhbXBsZSBub25jZQ=")
@example(key="dGhlIHNhbXBsZSBub25jZQ===")
@example(key="dGhlIHNhbXBsZSBub25jZQ")
@example(key="dGhlIHNhbXBsZSBub25jZQ==\n")
def test_key_match_is_the_base64_check(key: str) -> None:
    assert (server_module._valid_key_re.fullmatch(key) is not None) == is_16_bytes_in_base64(key)


@pytest.mark.parametrize(
    "key", ["dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZR==", "////////////////////////"]
)
def test_keys_of_16_bytes_are_accepted_either_way(key: str) -> None:
    server = ServerProtocol()
    request = receive_request(server, request_bytes(replacing("Sec-WebSocket-Key", key)))
    assert server.accept(request).status_code == (101 if key.endswith("==") else 400)


def test_date_is_formatted_once_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_800_000_000.25
    monkeypatch.setattr(time, "time", lambda: now)
    first = server_module._http_date()
    assert first == email.utils.formatdate(now, usegmt=True) == "Fri, 15 Jan 2027 08:00:00 GMT"
    monkeypatch.setattr(email.utils, "formatdate", None)  # not called again this second
    now += 0.5
    assert server_module._http_date() is first
    monkeypatch.undo()
    monkeypatch.setattr(time, "time", lambda: now + 1)
    assert server_module._http_date() == "Fri, 15 Jan 2027 08:00:01 GMT"
