"""Tests for wskit.tunnel: the base of proxy handshakes and HTTP CONNECT."""

from __future__ import annotations

import pytest

from wskit.exceptions import (
    InvalidMessage,
    InvalidProxyMessage,
    InvalidProxyStatus,
    ProxyError,
    SecurityError,
)
from wskit.http11 import USER_AGENT
from wskit.tunnel import HTTPConnectHandshake, TunnelHandshake, connect_request

# connect_request


def test_connect_request() -> None:
    assert connect_request("example.com", 443, user_agent_header=None) == (
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    )


def test_connect_request_includes_the_default_port() -> None:
    assert connect_request("example.com", 80).startswith(b"CONNECT example.com:80 HTTP/1.1\r\n")


def test_connect_request_brackets_ipv6() -> None:
    request = connect_request("2001:db8::1", 8080)
    assert request.startswith(b"CONNECT [2001:db8::1]:8080 HTTP/1.1\r\n")
    assert b"\r\nHost: [2001:db8::1]:8080\r\n" in request


def test_connect_request_headers() -> None:
    request = connect_request("h", 1, user_info=("alice", "s3cret"), user_agent_header="me/1")
    assert request == (
        b"CONNECT h:1 HTTP/1.1\r\n"
        b"Host: h:1\r\n"
        b"User-Agent: me/1\r\n"
        b"Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"
        b"\r\n"
    )


# HTTPConnectHandshake


def handshake() -> HTTPConnectHandshake:
    return HTTPConnectHandshake("example.com", 443)


def test_sends_the_request_once() -> None:
    tunnel = handshake()
    assert tunnel.data_to_send() == connect_request("example.com", 443)
    assert tunnel.data_to_send() == b""
    assert f"User-Agent: {USER_AGENT}".encode() in connect_request("example.com", 443)


def test_sends_credentials() -> None:
    tunnel = HTTPConnectHandshake("h", 1, user_info=("u", "p"), user_agent_header=None)
    assert tunnel.data_to_send() == connect_request(
        "h", 1, user_info=("u", "p"), user_agent_header=None
    )


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        b"HTTP/1.0 200 Connection established\r\nProxy-Agent: tiny\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    ],
)
def test_opens_on_2xx(response: bytes) -> None:
    tunnel = handshake()
    tunnel.receive_data(response)
    assert tunnel.established
    assert tunnel.exc is None


def test_opens_on_a_response_in_pieces() -> None:
    tunnel = handshake()
    for byte in b"HTTP/1.1 200 OK\r\n\r\n":
        assert not tunnel.established
        tunnel.receive_data(bytes([byte]))
    assert tunnel.established


def test_data_after_the_response_is_an_error() -> None:
    tunnel = handshake()
    tunnel.receive_data(b"HTTP/1.1 200 OK\r\n\r\nsurprise")
    assert not tunnel.established
    assert isinstance(tunnel.exc, InvalidProxyMessage)
    assert str(tunnel.exc) == "proxy sent data before the tunnel was used"


@pytest.mark.parametrize("status", [407, 403, 502])
def test_refusal(status: int) -> None:
    tunnel = handshake()
    tunnel.receive_data(f"HTTP/1.1 {status} No\r\nContent-Length: 2\r\n\r\nno".encode())
    assert not tunnel.established
    assert isinstance(tunnel.exc, InvalidProxyStatus)
    assert tunnel.exc.response.status_code == status
    assert tunnel.exc.response.body == b"no"
    assert str(tunnel.exc) == f"proxy rejected connection: HTTP {status}"


def test_refusal_waits_for_its_body() -> None:
    tunnel = handshake()
    tunnel.receive_data(b"HTTP/1.1 407 Auth\r\nContent-Length: 4\r\n\r\nno")
    assert tunnel.exc is None
    tunnel.receive_data(b"pe")
    assert isinstance(tunnel.exc, InvalidProxyStatus)


def test_refusal_with_a_body_until_eof() -> None:
    tunnel = handshake()
    tunnel.receive_data(b"HTTP/1.1 403 Forbidden\r\n\r\nnot you")
    assert tunnel.exc is None
    tunnel.receive_eof()
    assert isinstance(tunnel.exc, InvalidProxyStatus)
    assert tunnel.exc.response.body == b"not you"


@pytest.mark.parametrize("received", [b"", b"HTTP/1.1 200 Conn", b"HTTP/1.1 407 No\r\n"])
def test_eof_before_the_response(received: bytes) -> None:
    tunnel = handshake()
    if received:
        tunnel.receive_data(received)
    tunnel.receive_eof()
    assert isinstance(tunnel.exc, InvalidProxyMessage)
    assert str(tunnel.exc) == "proxy closed the connection during the handshake"
    assert isinstance(tunnel.exc.__cause__, EOFError)


@pytest.mark.parametrize(
    ("response", "cause"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", InvalidMessage),
        (b"HTTP/2 200\r\n\r\n", InvalidMessage),
        (b"HTTP/1.1 200 OK\r\nX: " + b"x" * 9000, SecurityError),
    ],
)
def test_invalid_response(response: bytes, cause: type[Exception]) -> None:
    tunnel = handshake()
    tunnel.receive_data(response)
    assert isinstance(tunnel.exc, InvalidProxyMessage)
    assert str(tunnel.exc) == "invalid HTTP response from proxy"
    assert isinstance(tunnel.exc.__cause__, cause)


def test_no_input_once_open() -> None:
    tunnel = handshake()
    tunnel.receive_data(b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(RuntimeError, match="the tunnel is open"):
        tunnel.receive_data(b"more")
    with pytest.raises(RuntimeError, match="the tunnel is open"):
        tunnel.receive_eof()


def test_input_after_a_failure_changes_nothing() -> None:
    tunnel = handshake()
    tunnel.receive_data(b"HTTP/1.1 407 No\r\nContent-Length: 0\r\n\r\n")
    exc = tunnel.exc
    tunnel.receive_data(b"HTTP/1.1 200 OK\r\n\r\n")
    tunnel.receive_eof()
    assert tunnel.exc is exc
    assert not tunnel.established


# TunnelHandshake


def test_base_class_records_failures() -> None:
    tunnel = TunnelHandshake()
    cause = OSError("unreachable")
    tunnel.fail(ProxyError("no"), cause)
    assert isinstance(tunnel.exc, ProxyError)
    assert tunnel.exc.__cause__ is cause
    assert not tunnel.established
