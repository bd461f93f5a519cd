"""The header section read at once agrees with the general, line-by-line rules.

A request or response whose first bytes hold its whole header section is read
in one go (``_Parser._at_once``; a request's first bytes by ``split_request``
of the hot path, C or Python, before that); fed in pieces, the same bytes take
the general rules, line by line. All must give the same message, the same
trailing bytes and the same errors, whatever the bytes.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import wskit.http11
import wskit.speedups
from tests.c_extension import C_SPEEDUPS, needs_c
from wskit import _purepython
from wskit.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS, RequestParser, ResponseParser

# split_request() and split_response(), in C and in Python: the tests run
# with both.
IMPLEMENTATIONS = [
    pytest.param(_purepython, id="python"),
    pytest.param(C_SPEEDUPS, id="c", marks=needs_c),
]

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: localhost:8765\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)

Parser = RequestParser | ResponseParser


def outcome(parser: Parser, chunks: list[bytes], *, eof: bool = False) -> tuple[Any, ...]:
    """What a parser makes of ``chunks``: the message and what follows, or the error."""
    try:
        for chunk in chunks:
            message = parser.feed(chunk)
            if message is not None:
                break
        else:
            if not eof or isinstance(parser, RequestParser):
                return ("incomplete",)
            message = parser.feed_eof()
    except Exception as exc:
        return ("error", type(exc), str(exc))
    fields = dict(vars(message), headers=list(message.headers.raw_items()))
    return ("message", type(message), fields, parser.trailing)


def both_ways(
    make: type[Parser], data: bytes, impl: ModuleType = wskit.speedups
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """``data`` fed at once (its head split by ``impl``), and fed in pieces."""
    eof = make is ResponseParser
    with (
        mock.patch.object(wskit.http11, "split_request", impl.split_request),
        mock.patch.object(wskit.http11, "split_response", impl.split_response),
    ):
        at_once = outcome(make(), [data], eof=eof)
    # After a first byte alone, the parser reads line by line.
    pieces = outcome(make(), [data[:1], data[1:]], eof=eof)
    return at_once, pieces


def took_at_once(make: type[Parser], data: bytes) -> bool:
    parser = make()
    parser._buffer += data
    return parser._at_once() is not None


class TestSameOutcome:
    @pytest.mark.parametrize("make", [RequestParser, ResponseParser])
    def test_common_messages_are_read_at_once(self, make: type[Parser]) -> None:
        data = REQUEST if make is RequestParser else RESPONSE
        assert took_at_once(make, data + b"\x81\x00")
        at_once, pieces = both_ways(make, data + b"\x81\x00")
        assert at_once == pieces
        assert at_once[0] == "message"
        assert at_once[3] == b"\x81\x00"

    @pytest.mark.parametrize("impl", IMPLEMENTATIONS)
    def test_common_response_is_split_in_one_call(self, impl: ModuleType) -> None:
        # Performance device (ARCHITECTURE.md), as for requests below.
        parser = ResponseParser()
        with (
            mock.patch.object(wskit.http11, "split_response", impl.split_response),
            mock.patch.object(parser, "_parse", side_effect=AssertionError),
        ):
            response = parser.feed(RESPONSE + b"\x81\x00")
        assert response is not None
        assert (response.status_code, response.reason_phrase) == (101, "Switching Protocols")
        assert response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert response.body == b""
        assert parser.trailing == b"\x81\x00"
        assert parser.feed_eof() is response
        # Not for a proxy's answer to CONNECT: the general rules read it.
        with mock.patch.object(wskit.http11, "split_response", side_effect=AssertionError):
            assert ResponseParser(tunnel=True).feed(RESPONSE) == response

    @pytest.mark.parametrize("impl", IMPLEMENTATIONS)
    def test_common_request_is_split_in_one_call(self, impl: ModuleType) -> None:
        # Performance device (ARCHITECTURE.md): the parser's general rules,
        # at once or line by line, take ~78K instructions; split_request() in
        # C, ~34K with the rest of feed().
        calls: list[bytes] = []

        def spy(data: bytes, *limits: int) -> Any:
            calls.append(data)
            return impl.split_request(data, *limits)

        parser = RequestParser()
        with (
            mock.patch.object(wskit.http11, "split_request", spy),
            mock.patch.object(parser, "_parse", side_effect=AssertionError),
        ):
            request = parser.feed(REQUEST + b"\x81\x00")
        assert calls == [REQUEST + b"\x81\x00"]
        assert request is not None
        assert (request.method, request.path, request.protocol) == (
            "GET",
            "/chat?room=1",
            "HTTP/1.1",
        )
        assert request.headers["Sec-WebSocket-Key"] == "dGhlIHNhbXBsZSBub25jZQ=="
        assert parser.trailing == b"\x81\x00"
        with pytest.raises(RuntimeError, match="already complete"):
            parser.feed(b"")

    def test_longest_lines_are_read_at_once(self) -> None:
        line = b"X: " + b"a" * (MAX_LINE_LENGTH - 3)
        assert took_at_once(RequestParser, b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n")
        assert not took_at_once(RequestParser, b"GET / HTTP/1.1\r\n" + line + b"a\r\n\r\n")

    @pytest.mark.parametrize(
        "data",
        [
            REQUEST,
            # Edges of what the general rules accept.
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n\r\n",
            b"GET / HTTP/1.0\r\nA:\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: \t x \t \r\nb: y\r\nA: z\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: \xe9\xff\r\n\r\n",
            b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * MAX_NUM_HEADERS + b"\r\n",
            b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_NUM_HEADERS + 1) + b"\r\n",
            b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_LINE_LENGTH - 5) + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_LINE_LENGTH - 4) + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_LINE_LENGTH - 3) + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_LINE_LENGTH - 2) + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_LINE_LENGTH - 3) + b"\r\nY: z\r\n\r\n",
            b"GET / HTTP/1.1\r\nY: z\r\nX: " + b"a" * (MAX_LINE_LENGTH - 8) + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 5000 + b"\r\nY: " + b"a" * 5000 + b"\r\n\r\n",
            b"GET /" + b"a" * (MAX_LINE_LENGTH - 14) + b" HTTP/1.1\r\n\r\n",
            b"GET /" + b"a" * (MAX_LINE_LENGTH - 13) + b" HTTP/1.1\r\n\r\n",
            # What they refuse.
            b"\r\n\r\n",
            b"\n\r\n\r\n",
            b"GET / HTTP/1.1\n\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\n\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
            b"GET / HTTP/1.1\r\n A: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nA : b\r\n\r\n",
            b"GET / HTTP/1.1\r\n: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nA b\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\x00\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"G\xe9T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1",
            b"GET / HTTP/1.1\r\nA: b\r\n",
        ],
    )
    @pytest.mark.parametrize("impl", IMPLEMENTATIONS)
    def test_request(self, data: bytes, impl: ModuleType) -> None:
        at_once, pieces = both_ways(RequestParser, data, impl)
        assert at_once == pieces
        head = impl.split_request(data, MAX_LINE_LENGTH, MAX_NUM_HEADERS)
        assert head is None or at_once[0] == "message"

    @pytest.mark.parametrize(
        "data",
        [
            RESPONSE,
            b"HTTP/1.1 101\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no",
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            b"HTTP/1.1 500 Oops\r\n\r\nuntil the end",
            b"HTTP/1.1 700 No\r\nA: b\r\n\r\n",
            b"HTTP/1.1 700 No\r\nA b\r\n\r\n",
            b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 101 \x00\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nA: \x01\r\n\r\n",
            # A 101 has no body, whatever its headers say.
            b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 2\r\n\r\n\x81\x00",
            b"HTTP/1.1 101\r\nTransfer-Encoding: chunked\r\nA: 1\r\na: 2\r\n\r\n",
            b"HTTP/1.1 101 \r\n\r\n",
            b"HTTP/1.1 101  \t\r\n\r\n",
            b"HTTP/1.1 1010\r\n\r\n",
            b"HTTP/1.0 101 OK\r\n\r\n",
        ],
    )
    @pytest.mark.parametrize("impl", IMPLEMENTATIONS)
    def test_response(self, data: bytes, impl: ModuleType) -> None:
        at_once, pieces = both_ways(ResponseParser, data, impl)
        assert at_once == pieces
        head = impl.split_response(data, MAX_LINE_LENGTH, MAX_NUM_HEADERS)
        assert head is None or at_once[0] == "message"


# Pieces that make up handshake-like messages, valid or not.
_names = st.sampled_from(
    [b"Host", b"Upgrade", b"Connection", b"Content-Length", b"Transfer-Encoding", b"X-A", b"a"]
) | st.binary(min_size=0, max_size=6)
_values = st.sampled_from(
    [b"", b"websocket", b"Upgrade", b"0", b"1", b" x ", b"\tv\t"]
) | st.binary(max_size=12)
_separators = st.sampled_from([b": ", b":", b" : ", b"", b":\t"])
_endings = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b""])
_first_lines = st.sampled_from(
    [
        b"GET / HTTP/1.1",
        b"GET /chat?x=1 HTTP/1.0",
        b"POST / HTTP/1.1",
        b"GET / HTTP/2",
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.0 403 Forbidden",
        b"",
    ]
) | st.binary(max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    lines = [draw(_first_lines) + draw(_endings)]
    for _ in range(draw(st.integers(0, 6))):
        lines.append(draw(_names) + draw(_separators) + draw(_values) + draw(_endings))
    lines.append(b"\r\n" if draw(st.integers(0, 9)) else draw(_endings))
    lines.append(draw(st.binary(max_size=8)))
    return b"".join(lines)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=500, deadline=None)
@given(data=messages())
@example(data=REQUEST)
def test_request_bytes(impl: ModuleType, data: bytes) -> None:
    at_once, pieces = both_ways(RequestParser, data, impl)
    assert at_once == pieces


@needs_c
@settings(max_examples=1000, deadline=None)
@given(
    data=messages() | st.binary(max_size=64),
    max_line=st.integers(0, 40) | st.just(MAX_LINE_LENGTH),
    max_headers=st.integers(0, 4) | st.just(MAX_NUM_HEADERS),
)
@example(data=REQUEST, max_line=MAX_LINE_LENGTH, max_headers=MAX_NUM_HEADERS)
@example(data=b"GET / HTTP/1.1\r\nA: b\r\n\r\n", max_line=14, max_headers=1)
@example(data=b"GET / HTTP/1.1\r\nA: b\r\n\r\n", max_line=13, max_headers=1)
@example(data=b"GET / HTTP/1.1\r\nA: b\r\n\r\n", max_line=MAX_LINE_LENGTH, max_headers=0)
@example(data=b"GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n", max_line=99, max_headers=9)
@example(
    data=b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\nHOST: c\r\nHos: d\r\nHosts: e\r\n\r\n",
    max_line=99,
    max_headers=9,
)
@example(data=RESPONSE, max_line=MAX_LINE_LENGTH, max_headers=MAX_NUM_HEADERS)
@example(data=b"HTTP/1.1 101\r\n\r\n", max_line=12, max_headers=0)
@example(data=b"HTTP/1.1 101 \r\n\r\n", max_line=12, max_headers=0)
@example(data=b"HTTP/1.1 101 \xe9\t!\r\nA: b\r\n\r\n", max_line=99, max_headers=1)
@example(data=b"HTTP/1.1 101x\r\n\r\n", max_line=99, max_headers=1)
@example(data=b"HTTP/1.1 101 \x00\r\n\r\n", max_line=99, max_headers=1)
def test_split_twins_agree(data: bytes, max_line: int, max_headers: int) -> None:
    assert C_SPEEDUPS is not None
    for name in ["split_request", "split_response"]:
        expected = getattr(_purepython, name)(data, max_line, max_headers)
        assert getattr(C_SPEEDUPS, name)(data, max_line, max_headers) == expected
        assert getattr(C_SPEEDUPS, name)(memoryview(data), max_line, max_headers) == expected


@needs_c
def test_common_header_names_are_made_once() -> None:
    # Performance device (ARCHITECTURE.md): the names that handshakes carry,
    # their lower-case keys and a few values aren't decoded and hashed for
    # each head.
    assert C_SPEEDUPS is not None
    heads = [C_SPEEDUPS.split_request(REQUEST, MAX_LINE_LENGTH, MAX_NUM_HEADERS) for _ in "ab"]
    (*_, pairs, lowered, _end), (*_, pairs_again, lowered_again, _end_again) = heads
    assert [name for name, _ in pairs] == [name for name, _ in pairs_again]
    assert all(a is b for (a, _), (b, _) in zip(pairs, pairs_again, strict=True))
    assert lowered["upgrade"] is lowered_again["upgrade"]  # and a few values
    assert all(a is b for a, b in zip(lowered, lowered_again, strict=True))
    assert lowered["sec-websocket-key"] == "dGhlIHNhbXBsZSBub25jZQ=="


@needs_c
def test_split_twins_agree_on_every_byte() -> None:
    assert C_SPEEDUPS is not None
    for byte in (bytes([b]) for b in range(256)):
        for data in [
            b"GET / HTTP/1.1\r\nA" + byte + b": v\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: v" + byte + b"\r\n\r\n",
            b"G" + byte + b"T /" + byte + b" HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 101 O" + byte + b"\r\nA" + byte + b": v\r\n\r\n",
        ]:
            for name in ["split_request", "split_response"]:
                limits = (MAX_LINE_LENGTH, MAX_NUM_HEADERS)
                expected = getattr(_purepython, name)(data, *limits)
                assert getattr(C_SPEEDUPS, name)(data, *limits) == expected


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_split_refuses_negative_limits(impl: ModuleType) -> None:
    for split in [impl.split_request, impl.split_response]:
        for limits in [(-1, 0), (0, -1)]:
            with pytest.raises(ValueError, match="limits must be >= 0"):
                split(REQUEST, *limits)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=500, deadline=None)
@given(data=messages())
@example(data=RESPONSE)
def test_response_bytes(impl: ModuleType, data: bytes) -> None:
    at_once, pieces = both_ways(ResponseParser, data, impl)
    assert at_once == pieces


# The request line: one match for the valid ones, step-by-step checks for the rest.
_request_lines = st.builds(
    lambda *parts: b"".join(parts),
    st.sampled_from([b"GET", b"POST", b"G\xe9T", b"", b"GE T", b"get"]) | st.binary(max_size=4),
    st.sampled_from([b" ", b"  ", b"", b"\t"]),
    st.sampled_from([b"/", b"/chat?x=1", b"x", b"/a b", b"/\x7f", b"", b"/\xe9"])
    | st.binary(max_size=6),
    st.sampled_from([b" ", b"  ", b""]),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"http/1.1", b"HTTP/1.1 "])
    | st.binary(max_size=9),
)


def request_line_outcome(check: Any, line: bytes) -> tuple[Any, ...]:
    try:
        return ("ok", check(line))
    except Exception as exc:
        return ("error", type(exc), str(exc))


@settings(max_examples=500, deadline=None)
@given(line=_request_lines)
@example(line=b"GET /chat HTTP/1.1")
@example(line=b"GET /  HTTP/1.1")
@example(line=b"GET / HTTP/2.0")
@example(line=b"GET / HTTP/1.2")
@example(line=b"GET /a\x7f HTTP/1.1")
@example(line=b"G\xe9T / HTTP/1.1")
@example(line=b"GET\t/ HTTP/1.1")
def test_request_line_at_once_agrees_with_the_checks(line: bytes) -> None:
    assert request_line_outcome(RequestParser._parse_request_line, line) == request_line_outcome(
        RequestParser._check_request_line, line
    )
