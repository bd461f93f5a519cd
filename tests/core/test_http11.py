"""Tests for wskit.http11."""

from __future__ import annotations

import pytest

from wskit.datastructures import Headers
from wskit.exceptions import (
    HeaderLineTooLong,
    InvalidMessage,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from wskit.http11 import (
    MAX_BODY_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    SERVER,
    USER_AGENT,
    Request,
    RequestParser,
    Response,
    ResponseParser,
)
from wskit.version import __version__

CHROME_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: localhost:8765\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    b"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: http://localhost:8000\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)

FIREFOX_REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: localhost:8765\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
    b"Accept: */*\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Origin: http://localhost:8000\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
    b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    b"Connection: keep-alive, Upgrade\r\n"
    b"Sec-Fetch-Dest: empty\r\n"
    b"Sec-Fetch-Mode: websocket\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Upgrade: websocket\r\n"
    b"\r\n"
)

SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)

# An unmasked text frame "Hello" and a ping, as a server may send them.
FRAMES = b"\x81\x05Hello\x89\x00"


def parse_request(data: bytes) -> Request | None:
    return RequestParser().feed(data)


def parse_response(data: bytes) -> Response | None:
    return ResponseParser().feed(data)


def request_with(*lines: bytes) -> bytes:
    return b"GET / HTTP/1.1\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def response_with(status: bytes, *lines: bytes) -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\n"
    return head + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


FEEDS: list[int] = []


def feed_repeatedly(parser: RequestParser | ResponseParser, data: bytes, times: int) -> None:
    """Feed ``data`` ``times`` times; record in FEEDS how many feeds succeeded."""
    FEEDS.append(0)
    for _ in range(times):
        parser.feed(data)
        FEEDS[-1] += 1


class CountingBuffer(bytearray):
    """A parser buffer that counts how many bytes are searched for LF."""

    searched = 0

    def find(self, sub: object, start: int | None = 0, end: int | None = None) -> int:  # type: ignore[override]
        begin = 0 if start is None else start
        stop = len(self) if end is None else min(end, len(self))
        self.searched += max(0, stop - begin)
        return super().find(sub, start, end)  # type: ignore[arg-type]


class TestConstants:
    def test_limits(self) -> None:
        assert (MAX_NUM_HEADERS, MAX_LINE_LENGTH, MAX_BODY_SIZE) == (128, 8192, 1_048_576)

    def test_user_agent_and_server(self) -> None:
        assert USER_AGENT.startswith("Python/3.")
        assert USER_AGENT.endswith(f" wskit/{__version__}")
        assert SERVER == USER_AGENT


class TestRequest:
    def test_serialize(self) -> None:
        request = Request("/chat?x=1", Headers(Host="example.com"))
        assert request.serialize() == b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"

    @pytest.mark.parametrize(
        ("path", "method"),
        [("/a b", "GET"), ("/a\r\nX: y", "GET"), ("/é", "GET"), ("", "GET"), ("/", "G T")],
    )
    def test_serialize_refuses_broken_request_line(self, path: str, method: str) -> None:
        with pytest.raises(ValueError, match="request line"):
            Request(path, Headers(), method).serialize()

    def test_exception_is_deprecated(self) -> None:
        error = ValueError("boom")
        request = Request("/", Headers(), _exception=error)
        with pytest.warns(DeprecationWarning, match="handshake_exc"):
            assert request.exception is error

    @pytest.mark.parametrize("data", [CHROME_REQUEST, FIREFOX_REQUEST])
    def test_round_trip(self, data: bytes) -> None:
        request = parse_request(data)
        assert request is not None
        assert request.serialize() == data
        assert parse_request(request.serialize()) == request


class TestResponse:
    def test_serialize(self) -> None:
        response = Response(404, "Not Found", Headers(Server="x"), b"nope")
        assert response.serialize() == b"HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\nnope"

    def test_serialize_latin_1_reason(self) -> None:
        response = Response(200, "Très bien", Headers())
        assert response.serialize() == b"HTTP/1.1 200 Tr\xe8s bien\r\n\r\n"

    @pytest.mark.parametrize("status_code", [99, 1000])
    def test_serialize_refuses_bad_status(self, status_code: int) -> None:
        with pytest.raises(ValueError, match="status code"):
            Response(status_code, "", Headers()).serialize()

    @pytest.mark.parametrize("reason", ["OK\r\nSet-Cookie: x", "OK\x00", "Ā"])
    def test_serialize_refuses_bad_reason(self, reason: str) -> None:
        with pytest.raises(ValueError, match="reason phrase"):
            Response(200, reason, Headers()).serialize()

    def test_exception_is_deprecated(self) -> None:
        response = Response(200, "OK", Headers())
        with pytest.warns(DeprecationWarning, match="handshake_exc"):
            assert response.exception is None

    def test_round_trip(self) -> None:
        response = Response(200, "OK", Headers([("Content-Length", "5")]), b"hello")
        assert parse_response(response.serialize()) == response


class TestRequestParser:
    def test_chrome(self) -> None:
        request = parse_request(CHROME_REQUEST)
        assert request is not None
        assert (request.method, request.path, request.protocol) == ("GET", "/chat", "HTTP/1.1")
        assert request.headers["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="
        assert request.headers["Sec-WebSocket-Extensions"] == (
            "permessage-deflate; client_max_window_bits"
        )
        assert len(list(request.headers.raw_items())) == 12

    def test_firefox(self) -> None:
        request = parse_request(FIREFOX_REQUEST)
        assert request is not None
        assert request.path == "/chat?room=1"
        assert request.headers["Connection"] == "keep-alive, Upgrade"
        assert request.headers["Accept"] == "*/*"

    def test_every_split_gives_the_same_request(self) -> None:
        expected = parse_request(CHROME_REQUEST)
        for cut in range(len(CHROME_REQUEST) + 1):
            parser = RequestParser()
            first = parser.feed(CHROME_REQUEST[:cut])
            if cut < len(CHROME_REQUEST):
                assert first is None
                assert parser.trailing == b""
                assert parser.feed(CHROME_REQUEST[cut:]) == expected
            else:
                assert first == expected

    def test_one_byte_at_a_time(self) -> None:
        parser = RequestParser()
        results = [parser.feed(CHROME_REQUEST[i : i + 1]) for i in range(len(CHROME_REQUEST))]
        assert results[:-1] == [None] * (len(CHROME_REQUEST) - 1)
        assert results[-1] == parse_request(CHROME_REQUEST)

    def test_accepts_bytearray_and_memoryview(self) -> None:
        parser = RequestParser()
        assert parser.feed(bytearray(CHROME_REQUEST[:10])) is None
        assert parser.feed(memoryview(CHROME_REQUEST)[10:]) == parse_request(CHROME_REQUEST)

    def test_pipelined_frames_land_in_trailing(self) -> None:
        parser = RequestParser()
        assert parser.feed(CHROME_REQUEST + FRAMES[:3]) is not None
        assert parser.trailing == FRAMES[:3]

    def test_pipelined_frames_in_a_later_chunk(self) -> None:
        parser = RequestParser()
        assert parser.feed(CHROME_REQUEST[:-1]) is None
        assert parser.feed(CHROME_REQUEST[-1:] + FRAMES) is not None
        assert parser.trailing == FRAMES

    def test_duplicate_headers_in_order(self) -> None:
        request = parse_request(request_with(b"X-A: 1", b"Host: h", b"x-a: 2", b"X-A: 3"))
        assert request is not None
        assert request.headers.get_all("X-A") == ["1", "2", "3"]
        assert list(request.headers.raw_items())[2] == ("x-a", "2")

    def test_header_value_whitespace_stripped(self) -> None:
        request = parse_request(request_with(b"X: \t a b \t ", b"Y:", b"Z:   "))
        assert request is not None
        assert request.headers["X"] == "a b"
        assert request.headers["Y"] == request.headers["Z"] == ""

    def test_header_value_high_bytes_as_latin_1(self) -> None:
        request = parse_request(request_with(b"X: caf\xc3\xa9 \xff"))
        assert request is not None
        assert request.headers["X"] == "caf\xc3\xa9 \xff"
        assert request.headers["X"].encode("iso-8859-1").startswith("café".encode())

    def test_longest_lines_accepted(self) -> None:
        path = b"/" + b"a" * (MAX_LINE_LENGTH - len(b"GET / HTTP/1.1"))
        value = b"v" * (MAX_LINE_LENGTH - len(b"X: "))
        data = b"GET " + path + b" HTTP/1.1\r\nX: " + value + b"\r\n\r\n"
        request = parse_request(data)
        assert request is not None
        assert request.path == path.decode()
        assert len(request.headers["X"]) == len(value)

    def test_line_of_max_length_split_before_lf(self) -> None:
        # MAX_LINE_LENGTH bytes and the CR arrive, the LF comes later.
        value = b"v" * (MAX_LINE_LENGTH - len(b"X: "))
        parser = RequestParser()
        assert parser.feed(b"GET / HTTP/1.1\r\nX: " + value + b"\r") is None
        assert parser.feed(b"\n\r\n") is not None

    def test_max_num_headers_accepted(self) -> None:
        lines = [b"X-%d: v" % i for i in range(MAX_NUM_HEADERS)]
        request = parse_request(request_with(*lines))
        assert request is not None
        assert len(request.headers) == MAX_NUM_HEADERS

    def test_feed_after_request_raises(self) -> None:
        parser = RequestParser()
        parser.feed(CHROME_REQUEST)
        with pytest.raises(RuntimeError, match="already complete"):
            parser.feed(FRAMES)

    def test_feed_after_error_raises(self) -> None:
        parser = RequestParser()
        with pytest.raises(InvalidMessage) as raised:
            parser.feed(b"GET / HTTP/2.0\r\n")
        with pytest.raises(RuntimeError, match="failed") as again:
            parser.feed(b"\r\n")
        assert again.value.__cause__ is raised.value
        assert parser.trailing == b""


class TestRequestParserErrors:
    def test_request_line_too_long_detected_early(self) -> None:
        parser = RequestParser()
        # 8 KiB + 1 of a line without CRLF: no need to wait for more.
        assert parser.feed(b"GET /" + b"a" * (MAX_LINE_LENGTH - 5)) is None
        with pytest.raises(RequestLineTooLong):
            parser.feed(b"a")

    def test_request_line_too_long_in_one_chunk(self) -> None:
        with pytest.raises(RequestLineTooLong):
            parse_request(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")

    def test_request_line_too_long_even_with_cr_last(self) -> None:
        parser = RequestParser()
        assert parser.feed(b"GET /" + b"a" * (MAX_LINE_LENGTH - 5) + b"\r") is None
        with pytest.raises(RequestLineTooLong):
            parser.feed(b"x")

    def test_header_line_too_long(self) -> None:
        parser = RequestParser()
        parser.feed(b"GET / HTTP/1.1\r\n")
        with pytest.raises(HeaderLineTooLong):
            feed_repeatedly(parser, b"ab", MAX_LINE_LENGTH)

    def test_too_many_headers(self) -> None:
        lines = [b"X-%d: v" % i for i in range(MAX_NUM_HEADERS + 1)]
        with pytest.raises(TooManyHeaders):
            parse_request(request_with(*lines))

    @pytest.mark.parametrize("method", [b"POST", b"HEAD", b"get", b"CONNECT"])
    def test_other_methods_are_parsed(self, method: bytes) -> None:
        # ServerProtocol.accept() answers them with 405, as websockets does.
        request = parse_request(method + b" / HTTP/1.1\r\n\r\n")
        assert request is not None
        assert request.method == method.decode()

    def test_http_1_0_request_is_parsed(self) -> None:
        # ServerProtocol.accept() answers it with 505, as websockets does.
        request = parse_request(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")
        assert request is not None
        assert request.protocol == "HTTP/1.0"

    @pytest.mark.parametrize("protocol", [b"HTTP/2.0", b"HTTP/1.10", b"http/1.1", b"FOO", b""])
    def test_invalid_protocol(self, protocol: bytes) -> None:
        with pytest.raises(InvalidMessage, match="protocol"):
            parse_request(b"GET / " + protocol + b"\r\n\r\n")

    @pytest.mark.parametrize(
        "line",
        [
            b"",  # empty request line
            b"GET /",
            b"GET  / HTTP/1.1",
            b"GET / HTTP/1.1 extra",
            b"GET\t/ HTTP/1.1",
            b"GET /caf\xc3\xa9 HTTP/1.1",  # non-ASCII
            b"GET /\x00 HTTP/1.1",
            b"GET /\x7f HTTP/1.1",
            b"GET /\r HTTP/1.1",
            b"G(T / HTTP/1.1",  # method isn't a token
            b" / HTTP/1.1",
            b"GET http://example.com/ HTTP/1.1",  # absolute-form
            b"GET * HTTP/1.1",
            b"GET  HTTP/1.1",
        ],
    )
    def test_invalid_request_line(self, line: bytes) -> None:
        with pytest.raises(InvalidMessage):
            parse_request(line + b"\r\nHost: h\r\n\r\n")

    @pytest.mark.parametrize(
        "line",
        [
            b"X: a\x00b",
            b"X: a\rb",
            b"X: a\x1bb",
            b"X: a\x7fb",
            b"X: \x0b",
            b"X a",  # no colon
            b"X : a",  # whitespace before the colon
            b": a",  # empty name
            b"X(: a",  # name isn't a token
            b"X\xe9: a",
        ],
    )
    def test_invalid_header(self, line: bytes) -> None:
        with pytest.raises(InvalidMessage):
            parse_request(request_with(b"Host: h", line))

    def test_crlf_injection_yields_a_separate_header(self) -> None:
        # CRLF can't hide inside a value: it ends the line, and what follows
        # is parsed (and checked) as a header of its own.
        request = parse_request(request_with(b"X: a", b"Set-Cookie: b"))
        assert request is not None
        assert request.headers["X"] == "a"

    def test_obs_fold(self) -> None:
        with pytest.raises(InvalidMessage, match="folding"):
            parse_request(request_with(b"X: a", b" continued"))
        with pytest.raises(InvalidMessage, match="folding"):
            parse_request(request_with(b"X: a", b"\tcontinued"))

    def test_whitespace_before_first_header(self) -> None:
        with pytest.raises(InvalidMessage):
            parse_request(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n")

    @pytest.mark.parametrize(
        "data",
        [
            b"GET / HTTP/1.1\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n\n",
            b"\n",
        ],
    )
    def test_bare_lf(self, data: bytes) -> None:
        with pytest.raises(InvalidMessage, match="bare LF"):
            parse_request(data)

    @pytest.mark.parametrize(
        "line",
        [
            b"Content-Length: 5",
            b"content-length: 5",
            b"Transfer-Encoding: chunked",
        ],
    )
    def test_request_body(self, line: bytes) -> None:
        with pytest.raises(InvalidMessage, match="body"):
            parse_request(request_with(b"Host: h", line))

    def test_request_body_of_zero_bytes(self) -> None:
        # Some clients announce an empty body; websockets accepts that too.
        request = parse_request(request_with(b"Host: h", b"Content-Length: 0"))
        assert request is not None
        assert request.headers["Content-Length"] == "0"
        with pytest.raises(InvalidMessage, match="body"):
            parse_request(request_with(b"Content-Length: 0", b"Content-Length: 1"))


class TestResponseParser:
    def test_101_with_frames(self) -> None:
        parser = ResponseParser()
        response = parser.feed(SWITCHING + FRAMES)
        assert response is not None
        assert (response.status_code, response.reason_phrase) == (101, "Switching Protocols")
        assert response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert response.body == b""
        assert parser.trailing == FRAMES

    def test_101_ignores_content_length(self) -> None:
        parser = ResponseParser()
        response = parser.feed(response_with(b"101 Switching Protocols", b"Content-Length: 3"))
        assert response is not None
        assert response.body == b""
        parser = ResponseParser()
        assert parser.feed(SWITCHING[:-1]) is None
        assert parser.feed(SWITCHING[-1:] + FRAMES) is not None
        assert parser.trailing == FRAMES

    def test_every_split_gives_the_same_response(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked") + (
            b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nTrailer: x\r\n\r\n"
        )
        expected = parse_response(data)
        assert expected is not None
        assert expected.body == b"hello!"
        for cut in range(len(data) + 1):
            parser = ResponseParser()
            first = parser.feed(data[:cut])
            if cut < len(data):
                assert first is None
                assert parser.feed(data[cut:]) == expected
            else:
                assert first == expected

    @pytest.mark.parametrize("status", [b"100 Continue", b"204 No Content", b"304 Not Modified"])
    def test_no_body_statuses(self, status: bytes) -> None:
        parser = ResponseParser()
        response = parser.feed(response_with(status, b"Content-Length: 4") + b"rest")
        assert response is not None
        assert response.body == b""
        assert parser.trailing == b"rest"

    @pytest.mark.parametrize("length", [b"Content-Length: 4", b"Transfer-Encoding: chunked"])
    def test_tunnel_opened(self, length: bytes) -> None:
        # A client must ignore Content-Length and Transfer-Encoding there.
        parser = ResponseParser(tunnel=True)
        response = parser.feed(response_with(b"200 Connection established", length) + b"rest")
        assert response is not None
        assert response.body == b""
        assert parser.trailing == b"rest"

    def test_tunnel_http10(self) -> None:
        parser = ResponseParser(tunnel=True)
        response = parser.feed(b"HTTP/1.0 200 Connection established\r\n\r\n")
        assert response is not None
        assert response.status_code == 200

    def test_http10_outside_tunnel(self) -> None:
        with pytest.raises(InvalidMessage, match="unsupported protocol"):
            ResponseParser().feed(b"HTTP/1.0 200 OK\r\n\r\n")

    def test_tunnel_refused_has_a_body(self) -> None:
        parser = ResponseParser(tunnel=True)
        data = response_with(b"407 Proxy Authentication Required", b"Content-Length: 4")
        response = parser.feed(data + b"body")
        assert response is not None
        assert response.status_code == 407
        assert response.body == b"body"

    @pytest.mark.parametrize(
        ("status_line", "code", "reason"),
        [
            (b"HTTP/1.1 200 OK", 200, "OK"),
            (b"HTTP/1.1 200 ", 200, ""),
            (b"HTTP/1.1 200", 200, ""),
            (b"HTTP/1.1 599 Odd\tbut fine", 599, "Odd\tbut fine"),
            (b"HTTP/1.1 404 Pas trouv\xe9", 404, "Pas trouvé"),
        ],
    )
    def test_status_line(self, status_line: bytes, code: int, reason: str) -> None:
        response = parse_response(status_line + b"\r\nContent-Length: 0\r\n\r\n")
        assert response is not None
        assert (response.status_code, response.reason_phrase) == (code, reason)

    def test_content_length(self) -> None:
        parser = ResponseParser()
        assert parser.feed(response_with(b"200 OK", b"Content-Length: 10") + b"01234") is None
        response = parser.feed(b"56789" + b"extra")
        assert response is not None
        assert response.body == b"0123456789"
        assert parser.trailing == b"extra"

    @pytest.mark.parametrize(
        "lines",
        [
            [b"Content-Length: 3, 3"],
            [b"Content-Length: 3", b"Content-Length: 3"],
            [b"Content-Length: 0000000000000000000000003"],
        ],
    )
    def test_content_length_variants(self, lines: list[bytes]) -> None:
        response = parse_response(response_with(b"200 OK", *lines) + b"abc")
        assert response is not None
        assert response.body == b"abc"

    def test_content_length_at_limit(self) -> None:
        head = response_with(b"200 OK", b"Content-Length: %d" % MAX_BODY_SIZE)
        response = parse_response(head + b"x" * MAX_BODY_SIZE)
        assert response is not None
        assert len(response.body) == MAX_BODY_SIZE

    def test_chunked_split_across_feeds(self) -> None:
        parser = ResponseParser()
        assert parser.feed(response_with(b"200 OK", b"Transfer-Encoding: Chunked")) is None
        assert parser.feed(b"A\r\n01234") is None
        assert parser.feed(b"56789") is None
        assert parser.feed(b"\r") is None
        assert parser.feed(b"\n0") is None
        assert parser.feed(b"\r\n") is None
        response = parser.feed(b"\r\nnext")
        assert response is not None
        assert response.body == b"0123456789"
        assert parser.trailing == b"next"

    def test_chunked_with_extensions_and_trailers(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked") + (
            b"3 ; name=value\r\nabc\r\n00\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"
        )
        response = parse_response(data)
        assert response is not None
        assert response.body == b"abc"
        assert "X-Checksum" not in response.headers

    def test_body_until_eof(self) -> None:
        parser = ResponseParser()
        assert parser.feed(response_with(b"500 Oops", b"Server: x") + b"partial") is None
        assert parser.feed(b" body") is None
        response = parser.feed_eof()
        assert response.body == b"partial body"
        assert parser.trailing == b""
        assert parser.feed_eof() is response

    def test_empty_body_until_eof(self) -> None:
        parser = ResponseParser()
        assert parser.feed(response_with(b"200 OK")) is None
        assert parser.feed_eof().body == b""

    def test_body_until_eof_at_limit(self) -> None:
        parser = ResponseParser()
        assert parser.feed(response_with(b"200 OK") + b"x" * MAX_BODY_SIZE) is None
        assert len(parser.feed_eof().body) == MAX_BODY_SIZE

    def test_feed_eof_after_complete_response(self) -> None:
        parser = ResponseParser()
        response = parser.feed(SWITCHING)
        assert parser.feed_eof() is response

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"HTTP/1.1 200 OK\r\n",
            response_with(b"200 OK", b"Content-Length: 5") + b"abc",
            response_with(b"200 OK", b"Transfer-Encoding: chunked") + b"5\r\nab",
            response_with(b"200 OK", b"Transfer-Encoding: chunked") + b"0\r\n",
        ],
    )
    def test_feed_eof_incomplete(self, data: bytes) -> None:
        parser = ResponseParser()
        assert parser.feed(data) is None
        with pytest.raises(EOFError):
            parser.feed_eof()
        with pytest.raises(RuntimeError, match="failed"):
            parser.feed_eof()
        with pytest.raises(RuntimeError, match="failed"):
            parser.feed(b"x")

    def test_feed_after_response_raises(self) -> None:
        parser = ResponseParser()
        parser.feed(SWITCHING)
        with pytest.raises(RuntimeError, match="already complete"):
            parser.feed(FRAMES)

    def test_feed_after_error_raises(self) -> None:
        parser = ResponseParser()
        with pytest.raises(InvalidMessage):
            parser.feed(b"HTTP/1.0 200 OK\r\n")
        with pytest.raises(RuntimeError):
            parser.feed(b"\r\n")


class TestResponseParserErrors:
    def test_status_line_too_long(self) -> None:
        parser = ResponseParser()
        assert parser.feed(b"HTTP/1.1 200 " + b"a" * (MAX_LINE_LENGTH - 13)) is None
        with pytest.raises(StatusLineTooLong):
            parser.feed(b"aa")

    def test_header_line_too_long(self) -> None:
        with pytest.raises(HeaderLineTooLong):
            parse_response(response_with(b"200 OK", b"X: " + b"a" * MAX_LINE_LENGTH))

    def test_too_many_headers(self) -> None:
        lines = [b"X-%d: v" % i for i in range(MAX_NUM_HEADERS + 1)]
        with pytest.raises(TooManyHeaders):
            parse_response(response_with(b"101 Switching Protocols", *lines))

    def test_trailer_line_too_long(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked") + b"0\r\n"
        with pytest.raises(HeaderLineTooLong):
            parse_response(data + b"X: " + b"a" * MAX_LINE_LENGTH)

    def test_too_many_trailers(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked") + b"0\r\n"
        trailers = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_NUM_HEADERS + 1))
        with pytest.raises(TooManyHeaders):
            parse_response(data + trailers + b"\r\n")

    def test_invalid_trailer(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked") + b"0\r\n"
        with pytest.raises(InvalidMessage):
            parse_response(data + b"X: \x00\r\n\r\n")

    @pytest.mark.parametrize(
        "status_line",
        [
            b"HTTP/1.0 200 OK",
            b"HTTP/2.0 200 OK",
            b"HTTP/1.1",
            b"http/1.1 200 OK",
            b"ICY 200 OK",
            b"",
        ],
    )
    def test_unsupported_protocol(self, status_line: bytes) -> None:
        with pytest.raises(InvalidMessage):
            parse_response(status_line + b"\r\n\r\n")

    @pytest.mark.parametrize(
        "status_line",
        [
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 2000 OK",
            b"HTTP/1.1 abc OK",
            b"HTTP/1.1  200 OK",
            b"HTTP/1.1 200\tOK",
            b"HTTP/1.1 200 O\x00K",
            b"HTTP/1.1 200 O\rK",
        ],
    )
    def test_invalid_status_line(self, status_line: bytes) -> None:
        with pytest.raises(InvalidMessage, match="status line"):
            parse_response(status_line + b"\r\n\r\n")

    @pytest.mark.parametrize("code", [b"000", b"099", b"600", b"999"])
    def test_status_code_out_of_range(self, code: bytes) -> None:
        with pytest.raises(InvalidMessage, match="status code"):
            parse_response(b"HTTP/1.1 " + code + b" X\r\n\r\n")

    def test_bare_lf(self) -> None:
        with pytest.raises(InvalidMessage, match="bare LF"):
            parse_response(b"HTTP/1.1 101 Switching Protocols\n\n")

    def test_obs_fold(self) -> None:
        with pytest.raises(InvalidMessage, match="folding"):
            parse_response(response_with(b"101 Switching Protocols", b"X: a", b" b"))

    @pytest.mark.parametrize(
        "lines",
        [
            [b"Content-Length: 3", b"Content-Length: 4"],
            [b"Content-Length: 3, 4"],
            [b"Content-Length: 3,"],
            [b"Content-Length: "],
            [b"Content-Length: -1"],
            [b"Content-Length: +3"],
            [b"Content-Length: 0x10"],
            [b"Content-Length: 1e3"],
            [b"Content-Length: 3 4"],
        ],
    )
    def test_invalid_content_length(self, lines: list[bytes]) -> None:
        with pytest.raises(InvalidMessage, match="Content-Length"):
            parse_response(response_with(b"200 OK", *lines) + b"abcd")

    @pytest.mark.parametrize(
        "value",
        [b"gzip", b"gzip, chunked", b"chunked, chunked", b"chunked, gzip", b"identity", b""],
    )
    def test_unsupported_transfer_encoding(self, value: bytes) -> None:
        with pytest.raises(InvalidMessage, match="transfer coding"):
            parse_response(response_with(b"200 OK", b"Transfer-Encoding: " + value))

    def test_transfer_encoding_and_content_length(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked", b"Content-Length: 5")
        with pytest.raises(InvalidMessage, match="both"):
            parse_response(data + b"5\r\nhello\r\n0\r\n\r\n")

    @pytest.mark.parametrize(
        "line",
        [b"", b"x", b"-1", b" 5", b"5;\x00", b"0x5", b"5 x", b"\xff"],
    )
    def test_invalid_chunk_size(self, line: bytes) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked")
        with pytest.raises(InvalidMessage, match="chunk size"):
            parse_response(data + line + b"\r\n")

    def test_chunk_without_crlf(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked")
        with pytest.raises(InvalidMessage, match="CRLF"):
            parse_response(data + b"3\r\nabcd\r\n0\r\n\r\n")

    def test_chunk_size_line_too_long(self) -> None:
        parser = ResponseParser()
        parser.feed(response_with(b"200 OK", b"Transfer-Encoding: chunked"))
        with pytest.raises(SecurityError, match="chunk size line"):
            feed_repeatedly(parser, b"0;", MAX_LINE_LENGTH)

    def test_content_length_too_large(self) -> None:
        # Refused from the header, before any of the body arrives.
        with pytest.raises(SecurityError, match="body too large"):
            parse_response(response_with(b"200 OK", b"Content-Length: %d" % (MAX_BODY_SIZE + 1)))

    def test_content_length_huge(self) -> None:
        with pytest.raises(SecurityError, match="body too large"):
            parse_response(response_with(b"200 OK", b"Content-Length: " + b"9" * 5000))

    def test_chunk_too_large(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked")
        with pytest.raises(SecurityError, match="body too large"):
            parse_response(data + b"%x\r\n" % (MAX_BODY_SIZE + 1))

    def test_chunk_size_huge(self) -> None:
        data = response_with(b"200 OK", b"Transfer-Encoding: chunked")
        with pytest.raises(SecurityError, match="body too large"):
            parse_response(data + b"f" * 100 + b"\r\n")

    def test_chunks_add_up_to_too_large(self) -> None:
        parser = ResponseParser()
        parser.feed(response_with(b"200 OK", b"Transfer-Encoding: chunked"))
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        with pytest.raises(SecurityError, match="body too large"):
            feed_repeatedly(parser, chunk, MAX_BODY_SIZE // 0x10000 + 1)

    def test_endless_body_bounded(self) -> None:
        parser = ResponseParser()
        parser.feed(response_with(b"200 OK"))
        with pytest.raises(SecurityError, match="body too large"):
            feed_repeatedly(parser, b"x" * 65536, 10 * MAX_BODY_SIZE // 65536)
        # Raised right after passing the limit, not at the end of the stream.
        assert FEEDS[-1] * 65536 <= MAX_BODY_SIZE + 65536


class TestLinearTime:
    """The CRLF search never rescans bytes it already looked at."""

    def test_long_request_line_fed_one_byte_at_a_time(self) -> None:
        parser = RequestParser()
        buffer = parser._buffer = CountingBuffer()
        data = b"GET /" + b"a" * (MAX_LINE_LENGTH - len(b"GET / HTTP/1.1")) + b" HTTP/1.1\r\n\r\n"
        for i in range(len(data) - 1):
            assert parser.feed(data[i : i + 1]) is None
        assert parser.feed(data[-1:]) is not None
        # Each byte is looked at about once; a rescanning parser would
        # search ~len(data) ** 2 / 2 = 33 million bytes.
        assert buffer.searched <= 2 * len(data)

    def test_long_header_fed_one_byte_at_a_time(self) -> None:
        parser = RequestParser()
        parser.feed(b"GET / HTTP/1.1\r\n")
        buffer = parser._buffer = CountingBuffer()
        data = b"X: " + b"a" * (MAX_LINE_LENGTH - 3) + b"\r\n\r\n"
        for i in range(len(data)):
            parser.feed(data[i : i + 1])
        assert parser.trailing == b""
        assert buffer.searched <= 2 * len(data)

    def test_many_long_headers_in_chunks(self) -> None:
        lines = [b"X-%03d: " % i + b"a" * (MAX_LINE_LENGTH - 7) for i in range(100)]
        data = request_with(*lines)
        parser = RequestParser()
        buffer = parser._buffer = CountingBuffer()
        results = [parser.feed(data[i : i + 1000]) for i in range(0, len(data), 1000)]
        request = results[-1]
        assert request is not None
        assert len(request.headers) == 100
        assert buffer.searched <= 2 * len(data)

    def test_response_headers_in_chunks(self) -> None:
        lines = [b"X-%03d: " % i + b"a" * (MAX_LINE_LENGTH - 7) for i in range(100)]
        data = response_with(b"101 Switching Protocols", *lines)
        parser = ResponseParser()
        buffer = parser._buffer = CountingBuffer()
        results = [parser.feed(data[i : i + 999]) for i in range(0, len(data), 999)]
        assert results[-1] is not None
        assert buffer.searched <= 2 * len(data)

    def test_endless_line_bounded_search(self) -> None:
        parser = RequestParser()
        buffer = parser._buffer = CountingBuffer()
        with pytest.raises(RequestLineTooLong):
            parser.feed(b"a" * 10_000_000)
        # The search stops at the longest possible line.
        assert buffer.searched <= MAX_LINE_LENGTH + 2
