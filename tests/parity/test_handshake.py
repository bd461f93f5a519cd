"""The opening handshake: exceptions, their causes and the HTTP statuses."""

from __future__ import annotations

from typing import Any

import pytest

from .runner import (
    Lib,
    async_outcome,
    differs,
    exception_chain,
    name_of,
    outcome,
    raw_server,
    same,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="

REQUEST = (
    "GET /chat HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n"
).encode()


def server_sees(data: bytes, *, eof: bool = False) -> Any:
    """What a Sans-I/O server reports after receiving ``data`` (then EOF)."""

    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(data)
        if eof:
            server.receive_eof()
        exc = server.handshake_exc
        return (
            exc is not None and ("raised", *exception_chain(exc)),
            [type(event).__name__ for event in server.events_received()],
            server.close_expected(),
        )

    return scenario


# The server: a request that ends early, or never comes.


@pytest.mark.parametrize(
    "data",
    [b"", b"GET /chat HTTP/1.1\r\n", REQUEST[:-2], b"GET /ch"],
    ids=["nothing", "request line", "no empty line", "half a line"],
)
def test_server_eof_during_request_is_invalid_message_caused_by_eof(data: bytes) -> None:
    # "except InvalidMessage" catches it on both.
    assert same(server_sees(data, eof=True)) == (
        ("raised", "InvalidMessage", "EOFError"),
        [],
        False,
    )


def test_server_refuses_an_invalid_header_line_as_soon_as_it_is_complete() -> None:
    # Without waiting for the end of the request.
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(b"GET / HTTP/1.1\r\nBad Header: x\r\n")
        return name_of(server.handshake_exc), server.close_expected()

    assert same(scenario) == ("InvalidMessage", True)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["header name", "HTTP/2.0", "body", "chunked"],
)
def test_server_malformed_request(data: bytes) -> None:
    # Both report an InvalidMessage; the cause differs in type (websockets
    # raises ValueError or NotImplementedError from its parser, wskit an
    # InvalidMessage that names the defect) and wskit answers 400 where
    # websockets closes the connection without a word: RFC 9112 section 3
    # asks a server to answer an invalid request line with 400.
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(data)
        sent = b"".join(server.data_to_send())
        return name_of(server.handshake_exc), sent.split(b" ", 2)[:2]

    differs(
        scenario,
        websockets=("InvalidMessage", [b""]),
        wskit=("InvalidMessage", [b"HTTP/1.1", b"400"]),
    )


@pytest.mark.parametrize(
    ("request_line", "status", "exc_type"),
    [
        ("POST /chat HTTP/1.1", 405, "InvalidMethod"),
        ("GET /chat HTTP/1.0", 505, "InvalidProtocol"),
    ],
)
def test_accept_refuses_other_methods_and_http_1_0(
    request_line: str, status: int, exc_type: str
) -> None:
    # The request is parsed, so that a process_request hook sees it, and
    # accept() answers it.
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(REQUEST.replace(b"GET /chat HTTP/1.1", request_line.encode()))
        [request] = server.events_received()
        response = server.accept(request)
        return (
            request.method,
            request.protocol,
            response.status_code,
            response.headers.get("Allow"),
            name_of(server.handshake_exc),
        )

    assert same(scenario) == (
        *request_line.split(" ")[::2],
        status,
        "GET" if status == 405 else None,
        exc_type,
    )


def test_request_announcing_an_empty_body_is_accepted() -> None:
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(REQUEST.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"))
        [request] = server.events_received()
        return server.accept(request).status_code

    assert same(scenario) == 101


@pytest.mark.parametrize(
    ("change", "status", "exc_type"),
    [
        ((b"Upgrade: websocket\r\n", b""), 426, "InvalidUpgrade"),
        ((b"Connection: Upgrade\r\n", b"Connection: close\r\n"), 426, "InvalidUpgrade"),
        ((KEY.encode(), b"short"), 400, "InvalidHeaderValue"),
        ((b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n", b""), 400, "InvalidHeader"),
    ],
    ids=["no upgrade", "connection close", "bad key", "no key"],
)
def test_accept_statuses(change: tuple[bytes, bytes], status: int, exc_type: str) -> None:
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(REQUEST.replace(*change))
        [request] = server.events_received()
        response = server.accept(request)
        return response.status_code, name_of(server.handshake_exc)

    assert same(scenario) == (status, exc_type)


def test_accept_without_host_is_a_difference() -> None:
    # RFC 6455 4.1: the request MUST have a Host header; websockets leaves
    # that check to the HTTP stack in front of it and accepts.
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(REQUEST.replace(b"Host: example.com\r\n", b""))
        [request] = server.events_received()
        return server.accept(request).status_code, name_of(server.handshake_exc)

    differs(scenario, websockets=(101, None), wskit=(400, "InvalidHeader"))


@pytest.mark.parametrize("version", [b"", b"Sec-WebSocket-Version: 8\r\n"], ids=["none", "8"])
def test_accept_other_version_is_a_difference(version: bytes) -> None:
    # RFC 6455 4.4: a server that doesn't speak the client's version answers
    # 426 with the versions it speaks, so that the client may try again;
    # websockets answers 400.
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(REQUEST.replace(b"Sec-WebSocket-Version: 13\r\n", version))
        [request] = server.events_received()
        response = server.accept(request)
        return response.status_code, response.headers.get("Sec-WebSocket-Version")

    differs(scenario, websockets=(400, None), wskit=(426, "13"))


def test_origin_refused_with_403() -> None:
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol(origins=["https://good.example"])
        server.receive_data(REQUEST.replace(b"\r\n\r\n", b"\r\nOrigin: https://evil\r\n\r\n"))
        [request] = server.events_received()
        return server.accept(request).status_code, name_of(server.handshake_exc)

    assert same(scenario) == (403, "InvalidOrigin")


# The client: a response that ends early, or isn't one.


def client_sees(data: bytes, *, eof: bool = False) -> Any:
    def scenario(lib: Lib) -> Any:
        client = lib.mod("client").ClientProtocol(lib.mod("uri").parse_uri("ws://example.com/"))
        client.send_request(client.connect())
        client.receive_data(data)
        if eof:
            client.receive_eof()
        exc = client.handshake_exc
        return (
            exc is not None and exception_chain(exc),
            str(exc) if exc is not None else None,
            client.close_expected(),
        )

    return scenario


@pytest.mark.parametrize(
    "data",
    [b"", b"HTTP/1.1 101 Switching Protocols\r\n", b"HTTP/1.1 101 Swi"],
    ids=["nothing", "status line", "half a line"],
)
def test_client_eof_during_response(data: bytes) -> None:
    chain, message, _ = same(client_sees(data, eof=True))
    assert chain == ("InvalidMessage", "EOFError")
    assert message == "did not receive a valid HTTP response"


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (b"HTTP/1.1 101 OK\r\nX: " + b"a" * 9000 + b"\r\n\r\n", "HeaderLineTooLong"),
        (
            b"HTTP/1.1 101 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
            "TooManyHeaders",
        ),
    ],
    ids=["header line too long", "too many headers"],
)
def test_client_response_over_a_limit(data: bytes, cause: str) -> None:
    # An InvalidMessage caused by the limit: "except InvalidMessage" catches it.
    chain, _, expected = same(client_sees(data))
    assert chain == ("InvalidMessage", cause)
    assert expected


def test_client_status_line_too_long() -> None:
    def scenario(lib: Lib) -> Any:
        return client_sees(b"HTTP/1.1 101 " + b"a" * 9000)(lib)[0]

    assert same(scenario) == ("StatusLineTooLong",)


def test_client_malformed_response_cause_is_a_difference() -> None:
    # InvalidMessage on both; the cause is websockets' ValueError or wskit's
    # InvalidMessage naming the defect.
    def scenario(lib: Lib) -> Any:
        return client_sees(b"HTTP/1.1 101 OK\r\nBad Header: x\r\n")(lib)[0]

    differs(
        scenario,
        websockets=("InvalidMessage", "ValueError"),
        wskit=("InvalidMessage", "InvalidMessage"),
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"", ("raised", "InvalidMessage", "EOFError")),
        (b"HTTP/1.1 101 Switching", ("raised", "InvalidMessage", "EOFError")),
        (
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
            ("raised", "InvalidStatus"),
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
            ("raised", "InvalidHeaderValue"),
        ),
    ],
    ids=["EOF", "truncated", "403", "bad accept"],
)
def test_real_clients_report_the_same(answer: bytes, expected: tuple[str, ...]) -> None:
    async def asyncio_client(lib: Lib) -> Any:
        with raw_server(answer) as port:
            connect = lib.mod("asyncio.client").connect
            return await async_outcome(lambda: connect(f"ws://127.0.0.1:{port}/"))

    def sync_client(lib: Lib) -> Any:
        with raw_server(answer) as port:
            connect = lib.mod("sync.client").connect
            return outcome(lambda: connect(f"ws://127.0.0.1:{port}/", open_timeout=5).close())

    assert same(asyncio_client) == expected
    assert same(sync_client) == expected
