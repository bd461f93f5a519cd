"""Tests for wskit.client: the client side of the opening handshake, Sans-I/O.

Each test plays the I/O layer: it writes what ``data_to_send`` returns to an
imaginary socket and feeds the server's bytes to ``receive_data`` and
``receive_eof``.
"""

from __future__ import annotations

import base64
import logging
import zlib
from collections.abc import Iterator, Sequence

import pytest

from wskit.client import ClientProtocol
from wskit.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    SecurityError,
    StatusLineTooLong,
)
from wskit.extensions.base import ClientExtensionFactory, Extension
from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wskit.frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
    parse_header,
)
from wskit.headers import (
    MAX_EXTENSION_PARAMETERS,
    MAX_EXTENSIONS,
    MAX_SUBPROTOCOLS,
    parse_authorization_basic,
    parse_extension,
)
from wskit.http11 import MAX_BODY_SIZE, MAX_LINE_LENGTH, Request, RequestParser, Response
from wskit.protocol import SEND_EOF, State
from wskit.server import ServerProtocol
from wskit.speedups import apply_mask
from wskit.typing import ExtensionName, ExtensionParameter, Origin, Subprotocol
from wskit.uri import parse_uri
from wskit.utils import accept_key

URI = "ws://example.com/chat"


# Helpers.


def make_client(uri: str = URI, **kwargs: object) -> ClientProtocol:
    return ClientProtocol(parse_uri(uri), **kwargs)  # type: ignore[arg-type]


def accepting_headers(client: ClientProtocol) -> list[tuple[str, str]]:
    """Headers of a minimal valid 101 response to ``client``."""
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(client.key)),
    ]


def http_response(
    headers: Sequence[tuple[str, str]],
    status_line: bytes = b"HTTP/1.1 101 Switching Protocols",
    body: bytes = b"",
) -> bytes:
    head = b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
    return status_line + b"\r\n" + head + b"\r\n" + body


def accepting_response(client: ClientProtocol, *extra: tuple[str, str]) -> bytes:
    return http_response([*accepting_headers(client), *extra])


def server_frame(frame: Frame, extensions: Sequence[Extension] | None = None) -> bytes:
    """A frame as a server puts it on the wire: unmasked."""
    return frame.serialize(mask=False, extensions=extensions)


def sent_frame(data: bytes) -> Frame:
    """Decode one frame written by the client; it must be masked."""
    header = parse_header(data)
    assert header is not None
    first, length, start, mask_key = header
    assert mask_key is not None, "client frames must be masked"
    payload = apply_mask(data[start : start + length], mask_key)
    assert start + length == len(data)
    return Frame(Opcode(first & 0x0F), payload, bool(first & 0x80), bool(first & 0x40))


def state_of(client: ClientProtocol) -> State:
    # A function call stops mypy from narrowing the state across calls.
    return client.state


def only_response(client: ClientProtocol) -> Response:
    events = client.events_received()
    assert len(events) == 1
    (event,) = events
    assert isinstance(event, Response)
    return event


def response_exception(response: Response) -> Exception | None:
    with pytest.warns(DeprecationWarning, match="handshake_exc"):
        return response.exception


def assert_failed(
    client: ClientProtocol, exc_type: type[Exception], *, with_response: bool
) -> tuple[Exception, Response | None]:
    """Check that the handshake failed the way an I/O layer relies on.

    The error is in ``handshake_exc``; the parsed response, if any, is the only
    event and carries the error; the client asks to close the TCP connection
    and expects the server to close it too; later bytes are ignored.
    """
    exc = client.handshake_exc
    assert isinstance(exc, exc_type), repr(exc)
    response: Response | None = None
    if with_response:
        response = only_response(client)
        assert response_exception(response) is exc
    else:
        assert client.events_received() == []
    assert client.data_to_send() == [SEND_EOF]
    assert client.close_expected()
    assert client.state is State.CONNECTING
    assert client.subprotocol is None

    # Whatever comes next, valid or not, is dropped without a word.
    client.receive_data(accepting_response(client) + server_frame(Frame(TEXT, b"late")))
    client.receive_data(b"\x00garbage\r\n\r\n")
    assert client.events_received() == []
    assert client.data_to_send() == []

    # When the server closes, the connection is over; EOF was sent already.
    client.receive_eof()
    assert state_of(client) is State.CLOSED
    assert client.data_to_send() == []
    assert not client.close_expected()
    assert client.handshake_exc is exc
    return exc, response


def open_client(client: ClientProtocol, *extra: tuple[str, str]) -> Response:
    client.send_request(client.connect())
    client.data_to_send()
    client.receive_data(accepting_response(client, *extra))
    assert client.state is State.OPEN, client.handshake_exc
    return only_response(client)


class IdentityExtension(Extension):
    """A do-nothing extension with a name of our choosing."""

    def __init__(self, name: str, params: Sequence[ExtensionParameter]) -> None:
        self.name = ExtensionName(name)
        self.params = list(params)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame

    def encode(self, frame: Frame) -> Frame:
        return frame


class IdentityFactory(ClientExtensionFactory):
    """Offers an ``IdentityExtension``; accepts any answer without ``reject``."""

    def __init__(self, name: str, params: Sequence[ExtensionParameter] = ()) -> None:
        self.name = ExtensionName(name)
        self.params = list(params)

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        return self.params

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        if any(param == "reject" for param, _ in params):
            raise NegotiationError("rejected by the test factory")
        return IdentityExtension(self.name, params)


@pytest.fixture
def client() -> ClientProtocol:
    return make_client()


# Building the request.


def test_connect_builds_a_handshake_request(client: ClientProtocol) -> None:
    request = client.connect()
    assert isinstance(request, Request)
    assert request.method == "GET"
    assert request.path == "/chat"
    assert request.protocol == "HTTP/1.1"
    assert list(request.headers.raw_items()) == [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", client.key),
        ("Sec-WebSocket-Version", "13"),
    ]
    # Connecting does not write anything by itself.
    assert client.data_to_send() == []
    assert client.state is State.CONNECTING


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("ws://example.com", "/"),
        ("ws://example.com/", "/"),
        ("ws://example.com?x=1", "/?x=1"),
        ("ws://example.com/chat?room=1&user=a", "/chat?room=1&user=a"),
        ("ws://example.com/a%20b/c?q=%2F", "/a%20b/c?q=%2F"),
        ("ws://example.com/caf\u00e9", "/caf%C3%A9"),
    ],
)
def test_request_target_comes_from_the_uri(uri: str, path: str) -> None:
    assert make_client(uri).connect().path == path


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("ws://example.com/", "example.com"),
        ("ws://example.com:80/", "example.com"),
        ("wss://example.com/", "example.com"),
        ("wss://example.com:443/", "example.com"),
        ("ws://example.com:443/", "example.com:443"),
        ("wss://example.com:80/", "example.com:80"),
        ("ws://example.com:8765/", "example.com:8765"),
        ("ws://EXAMPLE.com/", "example.com"),
        ("ws://127.0.0.1:8000/", "127.0.0.1:8000"),
        ("ws://[::1]/", "[::1]"),
        ("ws://[::1]:8080/", "[::1]:8080"),
        ("wss://[2001:db8::7]:443/", "[2001:db8::7]"),
    ],
)
def test_host_header(uri: str, host: str) -> None:
    headers = make_client(uri).connect().headers
    assert headers.get_all("Host") == [host]


def test_key_is_16_random_bytes_in_base64() -> None:
    keys = set()
    for _ in range(20):
        client = make_client()
        key = client.connect().headers["Sec-WebSocket-Key"]
        assert key == client.key
        assert len(base64.b64decode(key, validate=True)) == 16
        keys.add(key)
    assert len(keys) == 20


def test_key_is_stable_for_one_client(client: ClientProtocol) -> None:
    # The Accept header is checked against this key, so it must not change.
    first = client.connect().headers["Sec-WebSocket-Key"]
    second = client.connect().headers["Sec-WebSocket-Key"]
    assert first == second == client.key


def test_origin_header() -> None:
    client = make_client(origin=Origin("https://example.com"))
    assert client.connect().headers.get_all("Origin") == ["https://example.com"]


def test_no_optional_headers_by_default(client: ClientProtocol) -> None:
    headers = client.connect().headers
    for name in (
        "Origin",
        "Authorization",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
    ):
        assert name not in headers


def test_authorization_from_user_info() -> None:
    client = make_client("ws://alice:s%3Acr%C3%A9t@example.com:8000/chat")
    headers = client.connect().headers
    assert headers["Authorization"].startswith("Basic ")
    assert parse_authorization_basic(headers["Authorization"]) == ("alice", "s:cr\u00e9t")
    # Credentials never leak into the Host header or the request target.
    assert headers["Host"] == "example.com:8000"
    assert client.connect().path == "/chat"


def test_authorization_value() -> None:
    # RFC 7617's own example: Aladdin / open sesame.
    client = make_client("ws://Aladdin:open%20sesame@example.com/")
    assert client.connect().headers["Authorization"] == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


def test_extensions_header_from_factories() -> None:
    client = make_client(
        extensions=[
            ClientPerMessageDeflateFactory(),
            IdentityFactory("x-foo", [("level", "3"), ("fast", None)]),
        ]
    )
    header = client.connect().headers["Sec-WebSocket-Extensions"]
    assert header == "permessage-deflate; client_max_window_bits, x-foo; level=3; fast"


def test_extensions_header_with_deflate_parameters() -> None:
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=10,
        client_max_window_bits=12,
    )
    headers = make_client(extensions=[factory]).connect().headers
    assert headers.get_all("Sec-WebSocket-Extensions") == [
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=12"
    ]
    assert parse_extension(headers["Sec-WebSocket-Extensions"]) == [
        ("permessage-deflate", list(factory.get_request_params()))
    ]


def test_subprotocols_header() -> None:
    client = make_client(subprotocols=[Subprotocol("chat"), Subprotocol("superchat")])
    assert client.connect().headers.get_all("Sec-WebSocket-Protocol") == ["chat, superchat"]


def test_empty_lists_add_no_headers() -> None:
    headers = make_client(extensions=[], subprotocols=[]).connect().headers
    assert "Sec-WebSocket-Extensions" not in headers
    assert "Sec-WebSocket-Protocol" not in headers


@pytest.mark.parametrize(
    ("subprotocols", "error"),
    [
        ("chat", TypeError),  # a str is a sequence of one-letter strings
        ([b"chat"], TypeError),
        ([42], TypeError),
        (["chat", "two words"], ValueError),
        ([""], ValueError),
        (["chat,superchat"], ValueError),
    ],
)
def test_bad_subprotocols_rejected_at_construction(
    subprotocols: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        make_client(subprotocols=subprotocols)


def test_send_request_writes_the_serialized_request(client: ClientProtocol) -> None:
    request = client.connect()
    request.headers["User-Agent"] = "test-agent/1.0"  # added by the I/O layer
    client.send_request(request)
    (data,) = client.data_to_send()
    assert data == request.serialize()
    assert data.startswith(b"GET /chat HTTP/1.1\r\n")
    assert data.endswith(b"\r\n\r\n")
    # What a server reads back is the request we built.
    parsed = RequestParser().feed(data)
    assert parsed is not None
    assert parsed.path == "/chat"
    assert parsed.headers == request.headers
    assert parsed.headers["User-Agent"] == "test-agent/1.0"
    # Sending the request neither opens nor fails anything.
    assert client.state is State.CONNECTING
    assert client.events_received() == []
    assert not client.close_expected()


def test_send_request_refused_once_open(client: ClientProtocol) -> None:
    open_client(client)
    with pytest.raises(InvalidState):
        client.send_request(client.connect())
    assert client.data_to_send() == []


def test_send_request_refused_once_closed(client: ClientProtocol) -> None:
    client.receive_eof()
    client.data_to_send()
    with pytest.raises(InvalidState):
        client.send_request(client.connect())
    assert client.data_to_send() == []


def test_send_request_refused_once_the_handshake_failed(client: ClientProtocol) -> None:
    # After SEND_EOF nothing may be written, so a failed handshake is over too.
    client.receive_data(http_response([("Content-Length", "0")], b"HTTP/1.1 404 Not Found"))
    assert client.data_to_send() == [SEND_EOF]
    with pytest.raises(InvalidState):
        client.send_request(client.connect())
    assert client.data_to_send() == []


# A valid response opens the connection.


def test_valid_response_opens_the_connection(client: ClientProtocol) -> None:
    client.send_request(client.connect())
    client.data_to_send()
    client.receive_data(accepting_response(client))
    assert client.state is State.OPEN
    response = only_response(client)
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    assert response.headers["Sec-WebSocket-Accept"] == accept_key(client.key)
    assert response_exception(response) is None
    assert client.handshake_exc is None
    assert client.extensions == []
    assert client.subprotocol is None
    assert client.data_to_send() == []
    assert not client.close_expected()


def test_response_headers_are_case_insensitive(client: ClientProtocol) -> None:
    client.receive_data(
        http_response(
            [
                ("upgrade", "WebSocket"),
                ("CONNECTION", "keep-alive, upgrade"),
                ("sec-websocket-accept", accept_key(client.key)),
                ("Server", "test"),
            ]
        )
    )
    assert client.state is State.OPEN


def test_the_connection_is_usable_once_open(client: ClientProtocol) -> None:
    open_client(client)
    client.send_text(b"hello")
    (data,) = client.data_to_send()
    assert sent_frame(data) == Frame(TEXT, b"hello")


def test_frames_right_after_the_response(client: ClientProtocol) -> None:
    # A server may write its first frames in the same packet as the 101.
    data = (
        accepting_response(client)
        + server_frame(Frame(TEXT, "caf\u00e9".encode()))
        + server_frame(Frame(PING, b"p"))
        + server_frame(Frame(BINARY, b"\x00\x01\x02"))
    )
    client.receive_data(data)
    assert client.state is State.OPEN
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[1:] == [
        Frame(TEXT, "caf\u00e9".encode()),
        Frame(PING, b"p"),
        Frame(BINARY, b"\x00\x01\x02"),
    ]
    # The ping was answered, masked as a client must.
    (pong,) = client.data_to_send()
    assert sent_frame(pong) == Frame(PONG, b"p")


def test_partial_frame_after_the_response(client: ClientProtocol) -> None:
    frame = server_frame(Frame(TEXT, b"hello"))
    client.receive_data(accepting_response(client) + frame[:3])
    assert isinstance(only_response(client), Response)
    client.receive_data(frame[3:])
    assert client.events_received() == [Frame(TEXT, b"hello")]


def test_close_frame_right_after_the_response(client: ClientProtocol) -> None:
    close = Close(CloseCode.GOING_AWAY, "bye")
    client.receive_data(accepting_response(client) + server_frame(Frame(CLOSE, close.serialize())))
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[1:] == [Frame(CLOSE, close.serialize())]
    (echo,) = client.data_to_send()
    assert Close.parse(sent_frame(echo).data).code == CloseCode.GOING_AWAY
    assert client.state is State.CLOSING
    assert client.close_expected()


def test_masked_frame_after_the_response_fails_the_connection(client: ClientProtocol) -> None:
    masked = Frame(TEXT, b"hello").serialize(mask=True)
    client.receive_data(accepting_response(client) + masked)
    assert isinstance(only_response(client), Response)
    assert client.handshake_exc is None
    (close,) = client.data_to_send()
    assert Close.parse(sent_frame(close).data).code == CloseCode.PROTOCOL_ERROR
    assert client.state is State.CLOSING


def test_response_one_byte_at_a_time(client: ClientProtocol) -> None:
    response = accepting_response(client, ("Server", "slow"))
    frame = server_frame(Frame(TEXT, b"hi"))
    for byte in response[:-1]:
        client.receive_data(bytes([byte]))
        assert client.events_received() == []
        assert client.data_to_send() == []
        assert client.state is State.CONNECTING
    client.receive_data(response[-1:])
    assert client.state is State.OPEN
    assert only_response(client).headers["Server"] == "slow"
    for byte in frame:
        client.receive_data(bytes([byte]))
    assert client.events_received() == [Frame(TEXT, b"hi")]


def test_response_read_whole_or_in_pieces_is_the_same() -> None:
    # A 101 that arrives whole is read without a parser (see
    # receive_handshake_data); in pieces, by one. Both read it alike.
    whole, pieces = make_client(), make_client()
    pieces.key = whole.key
    frame = server_frame(Frame(TEXT, b"early"))
    data = accepting_response(whole, ("Server", "test")) + frame
    whole.receive_data(data)
    assert whole._response_parser is None
    pieces.receive_data(data[:10])
    pieces.receive_data(data[10:])
    assert pieces._response_parser is not None
    [one, one_frame], [other, other_frame] = whole.events_received(), pieces.events_received()
    assert isinstance(one, Response)
    assert isinstance(other, Response)
    assert (one.status_code, one.reason_phrase, one.body) == (
        other.status_code,
        other.reason_phrase,
        other.body,
    )
    assert list(one.headers.raw_items()) == list(other.headers.raw_items())
    assert one.headers == other.headers
    assert one_frame == other_frame == Frame(TEXT, b"early")
    assert whole.state is pieces.state is State.OPEN


def test_eof_before_any_response_fails_the_handshake(client: ClientProtocol) -> None:
    # No byte came: no parser was made, and the EOF fails as it would with one.
    client.receive_eof()
    assert client._response_parser is None
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert isinstance(client.handshake_exc.__cause__, EOFError)
    assert client.data_to_send() == [SEND_EOF]


def test_content_length_on_101_does_not_swallow_frames(client: ClientProtocol) -> None:
    # A 101 has no body (RFC 9112 6.3): what follows the headers are frames.
    frame = server_frame(Frame(TEXT, b"hello"))
    client.receive_data(accepting_response(client, ("Content-Length", str(len(frame)))) + frame)
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[0].body == b""
    assert events[1:] == [Frame(TEXT, b"hello")]


def test_eof_after_opening(client: ClientProtocol) -> None:
    open_client(client)
    client.receive_eof()
    assert client.state is State.CLOSED
    assert client.data_to_send() == [SEND_EOF]
    assert client.handshake_exc is None
    assert client.close_code == CloseCode.ABNORMAL_CLOSURE


def test_real_server_response() -> None:
    client = make_client("ws://example.com:8765/chat?x=1", origin=Origin("https://example.com"))
    server = ServerProtocol()
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    (request,) = server.events_received()
    assert isinstance(request, Request)
    assert request.path == "/chat?x=1"
    server.send_response(server.accept(request))
    server.send_text(b"welcome")
    for data in server.data_to_send():
        client.receive_data(data)
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[0].status_code == 101
    assert events[1:] == [Frame(TEXT, b"welcome")]
    assert client.state is State.OPEN


# Status codes other than 101.


def test_403_with_content_length_body(client: ClientProtocol) -> None:
    client.send_request(client.connect())
    client.data_to_send()
    body = b"Forbidden: go away.\n"
    client.receive_data(
        http_response(
            [("Content-Length", str(len(body))), ("Content-Type", "text/plain")],
            b"HTTP/1.1 403 Forbidden",
            body,
        )
    )
    exc, response = assert_failed(client, InvalidStatus, with_response=True)
    assert isinstance(exc, InvalidStatus)
    assert exc.response is response
    assert response is not None
    assert response.status_code == 403
    assert response.reason_phrase == "Forbidden"
    assert response.body == body
    assert "403" in str(exc)


def test_body_split_across_reads(client: ClientProtocol) -> None:
    body = b"x" * 1000
    data = http_response([("Content-Length", "1000")], b"HTTP/1.1 429 Too Many Requests", body)
    client.receive_data(data[:-1])
    assert client.events_received() == []
    assert client.data_to_send() == []
    assert client.handshake_exc is None
    client.receive_data(data[-1:])
    _, response = assert_failed(client, InvalidStatus, with_response=True)
    assert response is not None
    assert response.body == body


def test_chunked_body(client: ClientProtocol) -> None:
    chunks = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    client.receive_data(
        http_response([("Transfer-Encoding", "chunked")], b"HTTP/1.1 401 Unauthorized", chunks)
    )
    _, response = assert_failed(client, InvalidStatus, with_response=True)
    assert response is not None
    assert response.body == b"hello world"


def test_500_with_body_ending_at_eof(client: ClientProtocol) -> None:
    data = http_response([("Content-Type", "text/plain")], b"HTTP/1.1 500 Internal Server Error")
    client.receive_data(data + b"something ")
    client.receive_data(b"broke")
    # The body runs until the server closes: nothing to report yet.
    assert client.events_received() == []
    assert client.data_to_send() == []
    assert client.handshake_exc is None
    client.receive_eof()
    assert isinstance(client.handshake_exc, InvalidStatus)
    response = only_response(client)
    assert response.status_code == 500
    assert response.body == b"something broke"
    assert response_exception(response) is client.handshake_exc
    assert client.handshake_exc.response is response
    # EOF is written once, and the connection is over.
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED
    assert not client.close_expected()
    client.receive_eof()  # idempotent
    assert client.data_to_send() == []
    assert client.events_received() == []


@pytest.mark.parametrize(
    "status_line",
    [
        b"HTTP/1.1 100 Continue",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 204 No Content",
        b"HTTP/1.1 301 Moved Permanently",
        b"HTTP/1.1 426 Upgrade Required",
        b"HTTP/1.1 503 Service Unavailable",
    ],
)
def test_other_status_codes(client: ClientProtocol, status_line: bytes) -> None:
    # Even with every WebSocket header right, only 101 opens the connection.
    client.receive_data(
        http_response([*accepting_headers(client), ("Content-Length", "0")], status_line)
    )
    _, response = assert_failed(client, InvalidStatus, with_response=True)
    assert response is not None
    assert response.status_code == int(status_line.split()[1])


# Invalid 101 responses.


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        ([("Connection", "Upgrade")], "Upgrade"),
        ([("Upgrade", "websocket")], "Connection"),
        ([], "Connection"),
        ([("Upgrade", "h2c"), ("Connection", "Upgrade")], "Upgrade"),
        ([("Upgrade", "websocket, h2c"), ("Connection", "Upgrade")], "Upgrade"),
        ([("Upgrade", "websocket"), ("Connection", "keep-alive")], "Connection"),
        ([("Upgrade", "websocket"), ("Connection", "close")], "Connection"),
    ],
)
def test_bad_upgrade_or_connection(
    client: ClientProtocol, headers: list[tuple[str, str]], name: str
) -> None:
    accept = ("Sec-WebSocket-Accept", accept_key(client.key))
    client.receive_data(http_response([*headers, accept]))
    exc, _ = assert_failed(client, InvalidUpgrade, with_response=True)
    assert isinstance(exc, InvalidUpgrade)
    assert exc.name == name


def test_missing_accept(client: ClientProtocol) -> None:
    client.receive_data(http_response([("Upgrade", "websocket"), ("Connection", "Upgrade")]))
    exc, _ = assert_failed(client, InvalidHeader, with_response=True)
    assert isinstance(exc, InvalidHeader)
    assert exc.name == "Sec-WebSocket-Accept"
    assert exc.value is None


def test_duplicate_accept(client: ClientProtocol) -> None:
    # Even two correct values are one too many.
    client.receive_data(
        accepting_response(client, ("Sec-WebSocket-Accept", accept_key(client.key)))
    )
    exc, _ = assert_failed(client, InvalidHeader, with_response=True)
    assert isinstance(exc, InvalidHeader)
    assert exc.name == "Sec-WebSocket-Accept"
    assert exc.value == "multiple values"


@pytest.mark.parametrize(
    "accept",
    [
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),  # right for another key
        "",
        "garbage",
    ],
)
def test_wrong_accept(client: ClientProtocol, accept: str) -> None:
    client.receive_data(
        http_response(
            [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)]
        )
    )
    exc, _ = assert_failed(client, InvalidHeaderValue, with_response=True)
    assert isinstance(exc, InvalidHeaderValue)
    assert exc.name == "Sec-WebSocket-Accept"
    assert exc.value == accept


def test_frames_after_a_rejected_response_are_dropped(client: ClientProtocol) -> None:
    # Frames in the same packet as an invalid 101 must not reach the application
    # nor get answered: the connection never opened.
    data = http_response(
        [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "nope")]
    )
    client.receive_data(data + server_frame(Frame(PING, b"p")) + server_frame(Frame(TEXT, b"x")))
    assert_failed(client, InvalidHeaderValue, with_response=True)


def test_accept_computed_from_another_client_key() -> None:
    # Two clients never accept each other's responses.
    first, second = make_client(), make_client()
    second.receive_data(accepting_response(first))
    assert_failed(second, InvalidHeaderValue, with_response=True)


def test_accept_is_case_sensitive(client: ClientProtocol) -> None:
    accept = accept_key(client.key)
    client.receive_data(
        http_response(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept.swapcase()),
            ]
        )
    )
    assert_failed(client, InvalidHeaderValue, with_response=True)


# Extension negotiation.


def test_extension_not_offered() -> None:
    client = make_client()
    client.receive_data(accepting_response(client, ("Sec-WebSocket-Extensions", "x-foo")))
    exc, _ = assert_failed(client, NegotiationError, with_response=True)
    assert "x-foo" in str(exc)


def test_extension_not_offered_among_offered_ones() -> None:
    client = make_client(extensions=[ClientPerMessageDeflateFactory()])
    client.receive_data(
        accepting_response(client, ("Sec-WebSocket-Extensions", "permessage-deflate, x-foo"))
    )
    assert_failed(client, NegotiationError, with_response=True)


@pytest.mark.parametrize(
    ("factory", "answer"),
    [
        # Asked for server_no_context_takeover; the server did not agree.
        (ClientPerMessageDeflateFactory(server_no_context_takeover=True), "permessage-deflate"),
        # A server window larger than the one we asked for.
        (
            ClientPerMessageDeflateFactory(server_max_window_bits=10),
            "permessage-deflate; server_max_window_bits=12",
        ),
        # client_max_window_bits in the answer when the offer had none.
        (
            ClientPerMessageDeflateFactory(client_max_window_bits=None),
            "permessage-deflate; client_max_window_bits=10",
        ),
        # Unknown, malformed or repeated parameters.
        (ClientPerMessageDeflateFactory(), "permessage-deflate; x-unknown"),
        (ClientPerMessageDeflateFactory(), "permessage-deflate; server_max_window_bits=16"),
        (ClientPerMessageDeflateFactory(), "permessage-deflate; server_max_window_bits"),
        (
            ClientPerMessageDeflateFactory(),
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        ),
        # Accepted twice: both would claim RSV1.
        (ClientPerMessageDeflateFactory(), "permessage-deflate, permessage-deflate"),
    ],
)
def test_unacceptable_deflate_answer(factory: ClientPerMessageDeflateFactory, answer: str) -> None:
    client = make_client(extensions=[factory])
    client.receive_data(accepting_response(client, ("Sec-WebSocket-Extensions", answer)))
    assert_failed(client, NegotiationError, with_response=True)


def test_malformed_extensions_header() -> None:
    client = make_client(extensions=[ClientPerMessageDeflateFactory()])
    client.receive_data(
        accepting_response(client, ("Sec-WebSocket-Extensions", "permessage-deflate;"))
    )
    assert_failed(client, InvalidHeaderFormat, with_response=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Sec-WebSocket-Extensions", ", ".join(["permessage-deflate"] * (MAX_EXTENSIONS + 1))),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate" + "; p" * (MAX_EXTENSION_PARAMETERS + 1),
        ),
        ("Sec-WebSocket-Protocol", ", ".join(["chat"] * (MAX_SUBPROTOCOLS + 1))),
    ],
    ids=["extensions", "parameters", "subprotocols"],
)
def test_long_negotiation_lists_fail_the_handshake(name: str, value: str) -> None:
    client = make_client(
        extensions=[ClientPerMessageDeflateFactory()], subprotocols=[Subprotocol("chat")]
    )
    # Spread over many lines, each of them under the limit but for parameters.
    lines = [(name, value)] * 100
    client.receive_data(accepting_response(client, *lines))
    exc, _ = assert_failed(client, SecurityError, with_response=True)
    assert "more than" in str(exc)


def test_extension_declined_by_the_server() -> None:
    # Offering is not imposing: without an answer, no extension is active.
    client = make_client(extensions=[ClientPerMessageDeflateFactory()])
    open_client(client)
    assert client.extensions == []


def test_fallback_offer_is_used() -> None:
    # RFC 7692 5: a client may offer permessage-deflate several times, most
    # demanding first; the answer matches whichever the server chose.
    strict = ClientPerMessageDeflateFactory(server_no_context_takeover=True)
    relaxed = ClientPerMessageDeflateFactory()
    client = make_client(extensions=[strict, relaxed])
    open_client(client, ("Sec-WebSocket-Extensions", "permessage-deflate"))
    (extension,) = client.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert not extension.remote_no_context_takeover


def test_extensions_active_in_the_server_order() -> None:
    client = make_client(
        extensions=[IdentityFactory("x-foo"), IdentityFactory("x-bar"), IdentityFactory("x-baz")]
    )
    open_client(client, ("Sec-WebSocket-Extensions", "x-baz; level=1, x-foo"))
    assert [extension.name for extension in client.extensions] == ["x-baz", "x-foo"]
    first = client.extensions[0]
    assert isinstance(first, IdentityExtension)
    assert first.params == [("level", "1")]


def test_extensions_over_several_header_lines() -> None:
    client = make_client(extensions=[IdentityFactory("x-foo"), IdentityFactory("x-bar")])
    open_client(
        client,
        ("Sec-WebSocket-Extensions", "x-bar"),
        ("Sec-WebSocket-Extensions", "x-foo"),
    )
    assert [extension.name for extension in client.extensions] == ["x-bar", "x-foo"]


def test_factory_refusing_an_answer() -> None:
    client = make_client(extensions=[IdentityFactory("x-foo")])
    client.receive_data(accepting_response(client, ("Sec-WebSocket-Extensions", "x-foo; reject")))
    assert_failed(client, NegotiationError, with_response=True)


@pytest.mark.parametrize(
    ("answer", "remote_bits", "local_bits", "remote_nct", "local_nct"),
    [
        ("permessage-deflate", 15, 15, False, False),
        ("permessage-deflate; server_max_window_bits=10", 10, 15, False, False),
        ("permessage-deflate; client_max_window_bits=9", 15, 9, False, False),
        ("permessage-deflate; server_no_context_takeover", 15, 15, True, False),
        ("permessage-deflate; client_no_context_takeover", 15, 15, False, True),
    ],
)
def test_deflate_parameters_from_the_answer(
    answer: str, remote_bits: int, local_bits: int, remote_nct: bool, local_nct: bool
) -> None:
    client = make_client(extensions=[ClientPerMessageDeflateFactory()])
    open_client(client, ("Sec-WebSocket-Extensions", answer))
    (extension,) = client.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert extension.remote_max_window_bits == remote_bits
    assert extension.local_max_window_bits == local_bits
    assert extension.remote_no_context_takeover is remote_nct
    assert extension.local_no_context_takeover is local_nct


def test_compressed_frames_from_the_server() -> None:
    client = make_client(extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=11)])
    answer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"
    # What the server uses to compress: its window is 10 bits.
    server_extension = PerMessageDeflate(False, False, 12, 10)
    message = b"compress me, " * 100
    first = server_frame(Frame(TEXT, message), [server_extension])
    second = server_frame(Frame(BINARY, message[::-1]), [server_extension])
    assert len(first) < len(message)
    assert first[0] & 0x40  # RSV1: compressed

    client.receive_data(accepting_response(client, ("Sec-WebSocket-Extensions", answer)) + first)
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[1:] == [Frame(TEXT, message)]
    # Context takeover: the second message depends on the first one.
    client.receive_data(second)
    assert client.events_received() == [Frame(BINARY, message[::-1])]

    (extension,) = client.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert extension.remote_max_window_bits == 10
    assert extension.local_max_window_bits == 12


def test_compressed_frame_without_negotiation_is_rejected(client: ClientProtocol) -> None:
    # Without permessage-deflate, RSV1 means nothing and must be 0.
    compressed = server_frame(Frame(TEXT, b"hello" * 20), [PerMessageDeflate(False, False, 15, 15)])
    client.receive_data(accepting_response(client) + compressed)
    assert isinstance(only_response(client), Response)
    (close,) = client.data_to_send()
    assert Close.parse(sent_frame(close).data).code == CloseCode.PROTOCOL_ERROR


def test_permessage_deflate_end_to_end_with_a_server() -> None:
    client = make_client(
        extensions=[
            ClientPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12)
        ]
    )
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory(server_max_window_bits=10)])
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    (request,) = server.events_received()
    assert isinstance(request, Request)
    response = server.accept(request)
    server.send_response(response)
    message = "Bonjour, caf\u00e9 ! " * 50
    server.send_text(message.encode())
    for data in server.data_to_send():
        client.receive_data(data)

    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[1:] == [Frame(TEXT, message.encode())]
    (extension,) = client.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert extension.remote_max_window_bits == 10

    # The other way: the server inflates what the client deflated.
    client.send_binary(bytes(range(256)) * 8)
    (data,) = client.data_to_send()
    assert len(data) < 2048
    server.receive_data(data)
    assert server.events_received() == [Frame(BINARY, bytes(range(256)) * 8)]


def test_deflate_bomb_from_the_server_is_bounded() -> None:
    # The limit applies to the inflated size, not to the bytes on the wire.
    client = make_client(max_size=1000, extensions=[ClientPerMessageDeflateFactory()])
    compressor = zlib.compressobj(wbits=-15)
    payload = compressor.compress(b"\x00" * 100_000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]  # permessage-deflate drops the 00 00 ff ff tail
    bomb = server_frame(Frame(BINARY, payload, rsv1=True))
    assert len(bomb) < 1000
    client.receive_data(
        accepting_response(client, ("Sec-WebSocket-Extensions", "permessage-deflate")) + bomb
    )
    events = client.events_received()
    assert len(events) == 1
    assert isinstance(events[0], Response)
    (close,) = client.data_to_send()
    assert Close.parse(sent_frame(close).data).code == CloseCode.MESSAGE_TOO_BIG


# Subprotocol negotiation.


def test_subprotocol_chosen() -> None:
    client = make_client(subprotocols=[Subprotocol("chat"), Subprotocol("superchat")])
    open_client(client, ("Sec-WebSocket-Protocol", "superchat"))
    assert client.subprotocol == "superchat"


def test_no_subprotocol_chosen() -> None:
    # The server may ignore the offer; the application decides what to do.
    client = make_client(subprotocols=[Subprotocol("chat")])
    open_client(client)
    assert client.subprotocol is None


def test_subprotocol_not_offered() -> None:
    client = make_client(subprotocols=[Subprotocol("chat")])
    client.receive_data(accepting_response(client, ("Sec-WebSocket-Protocol", "superchat")))
    exc, _ = assert_failed(client, NegotiationError, with_response=True)
    assert "superchat" in str(exc)


def test_subprotocol_when_none_offered(client: ClientProtocol) -> None:
    client.receive_data(accepting_response(client, ("Sec-WebSocket-Protocol", "chat")))
    assert_failed(client, NegotiationError, with_response=True)


def test_subprotocol_match_is_exact() -> None:
    client = make_client(subprotocols=[Subprotocol("chat")])
    client.receive_data(accepting_response(client, ("Sec-WebSocket-Protocol", "Chat")))
    assert_failed(client, NegotiationError, with_response=True)


@pytest.mark.parametrize(
    "headers",
    [
        [("Sec-WebSocket-Protocol", "chat, superchat")],
        [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat")],
        [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "chat")],
    ],
)
def test_several_subprotocols(headers: list[tuple[str, str]]) -> None:
    client = make_client(subprotocols=[Subprotocol("chat"), Subprotocol("superchat")])
    client.receive_data(accepting_response(client, *headers))
    exc, _ = assert_failed(client, InvalidHeader, with_response=True)
    assert isinstance(exc, InvalidHeader)
    assert exc.name == "Sec-WebSocket-Protocol"
    assert exc.value == "multiple values"


def test_malformed_subprotocol_header() -> None:
    client = make_client(subprotocols=[Subprotocol("chat")])
    client.receive_data(accepting_response(client, ("Sec-WebSocket-Protocol", "a b")))
    assert_failed(client, InvalidHeaderFormat, with_response=True)


# Malformed and oversized responses.


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
        b"HTTP/2 101\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 1O1 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 99 Weird\r\n\r\n",
        b"HTTP/1.1 101 Switching\x00Protocols\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\n\n",  # bare LF
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n Upgrade: websocket\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ],
)
def test_malformed_response(client: ClientProtocol, data: bytes) -> None:
    client.receive_data(data)
    exc, _ = assert_failed(client, InvalidMessage, with_response=False)
    # As in websockets: a generic message, and the details in the cause.
    assert str(exc) == "did not receive a valid HTTP response"
    assert isinstance(exc.__cause__, InvalidMessage)


def assert_unparsable(client: ClientProtocol, cause: type[Exception]) -> None:
    """A response over a limit is an InvalidMessage caused by that, as in websockets."""
    exc, _ = assert_failed(client, InvalidMessage, with_response=False)
    assert isinstance(exc.__cause__, cause), repr(exc.__cause__)


def test_status_line_too_long(client: ClientProtocol) -> None:
    line = b"HTTP/1.1 101 " + b"x" * MAX_LINE_LENGTH
    client.receive_data(line[:MAX_LINE_LENGTH])
    # At the limit without a line ending: still waiting.
    assert client.handshake_exc is None
    assert client.data_to_send() == []
    client.receive_data(line[MAX_LINE_LENGTH : MAX_LINE_LENGTH + 1])
    assert_failed(client, StatusLineTooLong, with_response=False)


def test_too_many_headers(client: ClientProtocol) -> None:
    headers = [(f"X-Header-{index}", "value") for index in range(200)]
    client.receive_data(accepting_response(client, *headers))
    assert_unparsable(client, SecurityError)


def test_header_line_too_long(client: ClientProtocol) -> None:
    client.receive_data(accepting_response(client, ("X-Long", "x" * (MAX_LINE_LENGTH + 1))))
    assert_unparsable(client, SecurityError)


def test_content_length_too_large(client: ClientProtocol) -> None:
    # Refused from the header alone, before any byte of the body arrives.
    head = http_response([("Content-Length", str(MAX_BODY_SIZE + 1))], b"HTTP/1.1 200 OK")
    client.receive_data(head)
    assert_unparsable(client, SecurityError)


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_endless_body_fails_at_the_limit(client: ClientProtocol) -> None:
    client.receive_data(http_response([("Content-Type", "text/plain")], b"HTTP/1.1 200 OK"))
    chunk = b"z" * 65536
    received = 0
    failed_at = None
    for _ in range(2 * 1024 * 1024 // len(chunk)):
        client.receive_data(chunk)
        received += len(chunk)
        if client.handshake_exc is not None and failed_at is None:
            failed_at = received
    # Exactly MAX_BODY_SIZE bytes are fine; the chunk that goes over fails.
    assert MAX_BODY_SIZE % len(chunk) == 0
    assert failed_at == MAX_BODY_SIZE + len(chunk)
    assert_unparsable(client, SecurityError)


def test_body_up_to_the_limit_is_accepted(client: ClientProtocol) -> None:
    client.receive_data(http_response([], b"HTTP/1.1 502 Bad Gateway"))
    client.receive_data(b"b" * MAX_BODY_SIZE)
    assert client.handshake_exc is None
    client.receive_eof()
    assert isinstance(client.handshake_exc, InvalidStatus)
    assert len(only_response(client).body) == MAX_BODY_SIZE


def test_endless_chunked_body_fails_at_the_limit(client: ClientProtocol) -> None:
    client.receive_data(http_response([("Transfer-Encoding", "chunked")], b"HTTP/1.1 200 OK"))
    chunk = b"10000\r\n" + b"z" * 0x10000 + b"\r\n"
    body = 0
    failed_at = None
    for _ in range(32):
        client.receive_data(chunk)
        body += 0x10000
        if client.handshake_exc is not None and failed_at is None:
            failed_at = body
    assert failed_at == MAX_BODY_SIZE + 0x10000
    assert_unparsable(client, SecurityError)


# The server closes the connection early.


def test_eof_before_any_byte(client: ClientProtocol) -> None:
    client.send_request(client.connect())
    client.data_to_send()
    client.receive_eof()
    exc = client.handshake_exc
    assert isinstance(exc, InvalidMessage)
    assert isinstance(exc.__cause__, EOFError)
    assert client.events_received() == []
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED
    assert not client.close_expected()
    with pytest.raises(EOFError):
        client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n")


@pytest.mark.parametrize(
    "cut",
    [
        1,
        len(b"HTTP/1.1 101 Switch"),
        len(b"HTTP/1.1 101 Switching Protocols\r\n"),
        len(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: web"),
    ],
)
def test_eof_in_the_middle_of_the_response(client: ClientProtocol, cut: int) -> None:
    data = accepting_response(client)
    client.receive_data(data[:cut])
    assert client.handshake_exc is None
    client.receive_eof()
    exc = client.handshake_exc
    assert isinstance(exc, InvalidMessage)
    assert isinstance(exc.__cause__, EOFError)
    assert client.events_received() == []
    assert client.data_to_send() == [SEND_EOF]
    assert client.state is State.CLOSED


def test_eof_in_the_middle_of_a_content_length_body(client: ClientProtocol) -> None:
    client.receive_data(
        http_response([("Content-Length", "100")], b"HTTP/1.1 403 Forbidden", b"short")
    )
    client.receive_eof()
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert isinstance(client.handshake_exc.__cause__, EOFError)
    assert client.events_received() == []


# Debug logging.


def test_debug_logs_a_successful_handshake(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit.client")
    client = make_client()
    assert client.debug
    client.send_request(client.connect())
    client.receive_data(accepting_response(client))
    messages = [record.getMessage() for record in caplog.records]
    assert "> GET /chat HTTP/1.1" in messages
    assert "< HTTP/1.1 101 Switching Protocols" in messages


def test_debug_logs_a_failed_handshake(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.client.failure")
    logger.setLevel(logging.DEBUG)
    client = make_client(logger=logger)
    client.receive_data(http_response([("Content-Length", "0")], b"HTTP/1.1 404 Not Found"))
    messages = [record.getMessage() for record in caplog.records if record.name == logger.name]
    assert messages == [
        "! invalid handshake response: server rejected WebSocket connection: HTTP 404",
        "> EOF",
    ]


def test_no_debug_logs_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    client = make_client()
    assert not client.debug
    client.send_request(client.connect())
    client.receive_data(accepting_response(client))
    other = make_client()
    other.receive_data(b"nonsense\r\n")
    assert isinstance(other.handshake_exc, InvalidHandshake)
    assert [record for record in caplog.records if record.name.startswith("wskit")] == []


def test_failed_subprotocol_leaves_no_extension_active() -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=enable_client_permessage_deflate(None),
        subprotocols=[Subprotocol("chat")],
    )
    server = ServerProtocol(
        extensions=enable_server_permessage_deflate(None),
        select_subprotocol=lambda protocol, offered: Subprotocol("other"),
    )
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    for data in server.data_to_send():
        client.receive_data(data)
    assert isinstance(client.handshake_exc, NegotiationError)
    assert client.extensions == []
