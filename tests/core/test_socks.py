"""Tests for wskit.socks: the SOCKS5 client handshake (RFC 1928, RFC 1929)."""

from __future__ import annotations

import pytest

from wskit.exceptions import InvalidProxyMessage, InvalidProxyStatus, ProxyError
from wskit.socks import SOCKS5Handshake

# A successful reply with an IPv4 bound address: VER REP RSV ATYP ADDR PORT.
SUCCESS = b"\x05\x00\x00\x01" + bytes([10, 0, 0, 1]) + b"\x1f\x90"


def request(address: bytes, port: int = 443) -> bytes:
    return b"\x05\x01\x00" + address + port.to_bytes(2, "big")


def no_auth(host: str = "example.com", port: int = 443) -> SOCKS5Handshake:
    """A handshake past method selection, its request sent."""
    handshake = SOCKS5Handshake(host, port)
    assert handshake.data_to_send() == b"\x05\x01\x00"
    handshake.receive_data(b"\x05\x00")
    return handshake


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("example.com", b"\x03\x0bexample.com"),
        ("192.0.2.7", b"\x01\xc0\x00\x02\x07"),
        ("2001:db8::1", b"\x04" + bytes.fromhex("20010db8000000000000000000000001")),
    ],
)
def test_request_addresses(host: str, address: bytes) -> None:
    handshake = no_auth(host, 443)
    assert handshake.data_to_send() == request(address, 443)


def test_without_authentication() -> None:
    handshake = no_auth("example.com", 8080)
    assert handshake.data_to_send() == request(b"\x03\x0bexample.com", 8080)
    assert not handshake.established
    handshake.receive_data(SUCCESS)
    assert handshake.established
    assert handshake.exc is None
    assert handshake.data_to_send() == b""


def test_with_authentication() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("alice", "pässword"))
    assert handshake.data_to_send() == b"\x05\x02\x00\x02"
    handshake.receive_data(b"\x05\x02")
    password = "pässword".encode()
    assert handshake.data_to_send() == b"\x01\x05alice" + bytes([len(password)]) + password
    handshake.receive_data(b"\x01\x00")
    assert handshake.data_to_send() == request(b"\x03\x01h", 1)
    handshake.receive_data(SUCCESS)
    assert handshake.established


def test_credentials_offered_but_not_needed() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("alice", ""))
    handshake.data_to_send()
    handshake.receive_data(b"\x05\x00")
    assert handshake.data_to_send() == request(b"\x03\x01h", 1)


def test_everything_at_once() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("u", "p"))
    handshake.receive_data(b"\x05\x02" + b"\x01\x00" + SUCCESS)
    assert handshake.established
    assert handshake.data_to_send() == b"\x05\x02\x00\x02" + b"\x01\x01u\x01p" + request(
        b"\x03\x01h", 1
    )


def test_one_byte_at_a_time() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("u", "p"))
    for byte in b"\x05\x02" + b"\x01\x00" + b"\x05\x00\x00\x03\x04host\x00\x50":
        assert not handshake.established
        handshake.receive_data(bytes([byte]))
    assert handshake.established


@pytest.mark.parametrize(
    "bound",
    [
        b"\x01" + bytes(4) + b"\x00\x00",
        b"\x04" + bytes(16) + b"\x00\x00",
        b"\x03\x00" + b"\x00\x00",
        b"\x03\x09proxy.lan" + b"\x00\x00",
    ],
)
def test_bound_address_types(bound: bytes) -> None:
    handshake = no_auth()
    handshake.receive_data(b"\x05\x00\x00" + bound[:-1])
    assert not handshake.established
    handshake.receive_data(bound[-1:])
    assert handshake.established


def test_data_after_the_reply_is_an_error() -> None:
    handshake = no_auth()
    handshake.receive_data(SUCCESS + b"early")
    assert not handshake.established
    assert isinstance(handshake.exc, InvalidProxyMessage)


def test_authentication_required() -> None:
    handshake = SOCKS5Handshake("h", 1)
    handshake.receive_data(b"\x05\xff")
    assert type(handshake.exc) is ProxyError
    assert str(handshake.exc) == "SOCKS proxy requires authentication"


def test_no_acceptable_method() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("u", "p"))
    handshake.receive_data(b"\x05\xff")
    assert type(handshake.exc) is ProxyError
    assert str(handshake.exc) == "SOCKS proxy accepts no offered authentication method"


@pytest.mark.parametrize("user_info", [None, ("u", "p")])
@pytest.mark.parametrize("method", [b"\x01", b"\x03", b"\x80"])
def test_method_not_offered(user_info: tuple[str, str] | None, method: bytes) -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=user_info)
    handshake.receive_data(b"\x05" + method)
    assert isinstance(handshake.exc, InvalidProxyMessage)
    assert str(handshake.exc) == f"SOCKS proxy chose a method not offered: {method[0]}"


def test_username_without_offer_is_not_accepted() -> None:
    handshake = SOCKS5Handshake("h", 1)
    handshake.receive_data(b"\x05\x02")
    assert isinstance(handshake.exc, InvalidProxyMessage)


def test_wrong_credentials() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("u", "wrong"))
    handshake.receive_data(b"\x05\x02\x01\x01")
    assert type(handshake.exc) is ProxyError
    assert str(handshake.exc) == "SOCKS proxy rejected the user name or password"


def test_invalid_authentication_answer() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("u", "p"))
    handshake.receive_data(b"\x05\x02\x05\x00")
    assert isinstance(handshake.exc, InvalidProxyMessage)
    assert str(handshake.exc) == "invalid answer to SOCKS5 authentication"


@pytest.mark.parametrize("greeting", [b"HT", b"\x04\x5a"])
def test_not_a_socks5_proxy(greeting: bytes) -> None:
    handshake = SOCKS5Handshake("h", 1)
    handshake.receive_data(greeting)
    assert isinstance(handshake.exc, InvalidProxyMessage)
    assert str(handshake.exc) == "proxy didn't answer as a SOCKS5 proxy"


def test_invalid_reply_version() -> None:
    handshake = no_auth()
    handshake.receive_data(b"\x04\x00\x00\x01")
    assert isinstance(handshake.exc, InvalidProxyMessage)
    assert str(handshake.exc) == "invalid SOCKS5 reply"


def test_invalid_address_type() -> None:
    handshake = no_auth()
    handshake.receive_data(b"\x05\x00\x00\x02\x00\x00")
    assert isinstance(handshake.exc, InvalidProxyMessage)
    assert str(handshake.exc) == "invalid address type in SOCKS5 reply: 2"


@pytest.mark.parametrize(
    ("reply", "meaning", "network"),
    [
        (1, "general SOCKS server failure", True),
        (2, "connection not allowed by ruleset", False),
        (3, "network unreachable", True),
        (4, "host unreachable", True),
        (5, "connection refused", True),
        (6, "TTL expired", True),
        (7, "command not supported", False),
        (8, "address type not supported", False),
        (42, "unknown error 42", False),
    ],
)
def test_failure_replies(reply: int, meaning: str, network: bool) -> None:
    handshake = no_auth()
    # The proxy may hang up right after the reply code.
    handshake.receive_data(bytes([5, reply]))
    assert type(handshake.exc) is ProxyError
    assert not isinstance(handshake.exc, InvalidProxyStatus)
    assert str(handshake.exc) == f"SOCKS proxy failed to connect: {meaning}"
    assert isinstance(handshake.exc.__cause__, OSError) is network
    if network:
        assert str(handshake.exc.__cause__) == meaning


@pytest.mark.parametrize("received", [b"", b"\x05", b"\x05\x00\x05\x00\x00\x01\x7f"])
def test_eof_during_the_handshake(received: bytes) -> None:
    handshake = SOCKS5Handshake("h", 1)
    if received:
        handshake.receive_data(received)
    handshake.receive_eof()
    assert isinstance(handshake.exc, InvalidProxyMessage)
    assert isinstance(handshake.exc.__cause__, EOFError)


def test_eof_during_authentication() -> None:
    handshake = SOCKS5Handshake("h", 1, user_info=("u", "p"))
    handshake.receive_data(b"\x05\x02\x01")
    handshake.receive_eof()
    assert isinstance(handshake.exc, InvalidProxyMessage)


def test_input_after_a_failure_changes_nothing() -> None:
    handshake = SOCKS5Handshake("h", 1)
    handshake.receive_data(b"\x05\xff")
    exc = handshake.exc
    handshake.receive_data(b"\x05\x00")
    assert handshake.data_to_send() == b"\x05\x01\x00"
    assert handshake.exc is exc


def test_no_input_once_open() -> None:
    handshake = no_auth()
    handshake.receive_data(SUCCESS)
    with pytest.raises(RuntimeError):
        handshake.receive_data(b"\x00")


@pytest.mark.parametrize(
    ("host", "user_info"),
    [("h" * 256, None), ("h", ("u" * 256, "p")), ("h", ("u", "p" * 256))],
)
def test_too_long(host: str, user_info: tuple[str, str] | None) -> None:
    with pytest.raises(ValueError, match="range"):
        SOCKS5Handshake(host, 1, user_info=user_info)
