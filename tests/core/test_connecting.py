"""Tests for wskit.connecting: what both clients share when they connect."""

from __future__ import annotations

import pytest

from wskit.client import ClientProtocol
from wskit.connecting import handshake_request, uses_tls
from wskit.datastructures import Headers
from wskit.http11 import USER_AGENT
from wskit.uri import parse_uri


def test_wss_uses_tls_with_or_without_a_context() -> None:
    uri = parse_uri("wss://example.com/")
    assert uses_tls(uri, None) is True
    assert uses_tls(uri, True) is True
    assert uses_tls(uri, object()) is True


def test_ws_does_not_use_tls_and_refuses_a_context() -> None:
    uri = parse_uri("ws://example.com/")
    assert uses_tls(uri, None) is False
    with pytest.raises(ValueError, match="incompatible with a ws:// URI"):
        uses_tls(uri, True)


def test_handshake_request_adds_headers_and_user_agent() -> None:
    protocol = ClientProtocol(parse_uri("ws://example.com/chat"))
    request = handshake_request(protocol, {"X-Token": "abc"}, USER_AGENT)
    assert request.path == "/chat"
    assert request.headers["X-Token"] == "abc"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Sec-WebSocket-Key"] == protocol.key


def test_handshake_request_keeps_a_user_agent_from_the_application() -> None:
    protocol = ClientProtocol(parse_uri("ws://example.com/"))
    request = handshake_request(protocol, Headers([("User-Agent", "mine/1.0")]), USER_AGENT)
    assert request.headers.get_all("User-Agent") == ["mine/1.0"]


def test_handshake_request_without_user_agent() -> None:
    protocol = ClientProtocol(parse_uri("ws://example.com/"))
    request = handshake_request(protocol, None, None)
    assert "User-Agent" not in request.headers
