"""Tests for wskit.shared.connecting: what both clients share when they connect."""

from __future__ import annotations

import pytest

from wskit.client import ClientProtocol
from wskit.datastructures import Headers
from wskit.exceptions import InvalidProxy
from wskit.http11 import USER_AGENT
from wskit.proxy import Proxy, parse_proxy
from wskit.shared.connecting import (
    check_unix_address,
    handshake_request,
    renamed_ssl_context,
    select_proxy,
    uses_proxy_tls,
    uses_tls,
)
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


# select_proxy


def test_select_proxy_from_the_environment() -> None:
    uri = parse_uri("wss://example.com/")
    environ = {"https_proxy": "http://proxy:3128"}
    assert select_proxy(True, uri, environ=environ) == Proxy("http", "proxy", 3128)
    assert select_proxy(True, uri, environ={}) is None


def test_select_proxy_explicitly() -> None:
    uri = parse_uri("ws://example.com/")
    environ = {"all_proxy": "http://proxy:3128"}
    assert select_proxy("socks5h://s", uri, environ=environ) == Proxy("socks5h", "s", 1080)
    assert select_proxy(None, uri, environ=environ) is None


def test_select_proxy_invalid() -> None:
    with pytest.raises(InvalidProxy):
        select_proxy("ftp://proxy", parse_uri("ws://example.com/"))


def test_select_proxy_with_a_socket() -> None:
    uri = parse_uri("ws://example.com/")
    # The environment's proxy doesn't apply to a socket or a Unix socket...
    assert select_proxy(True, uri, direct=True, environ={"all_proxy": "http://p"}) is None
    assert select_proxy(None, uri, direct=True) is None
    # ... and an explicit one can't.
    with pytest.raises(ValueError, match="proxy argument is incompatible with sock"):
        select_proxy("http://p", uri, direct=True)


def test_uses_proxy_tls() -> None:
    assert uses_proxy_tls(parse_proxy("https://p"), None) is True
    assert uses_proxy_tls(parse_proxy("https://p"), object()) is True
    assert uses_proxy_tls(parse_proxy("http://p"), None) is False
    with pytest.raises(ValueError, match="incompatible with a socks5h:// proxy"):
        uses_proxy_tls(parse_proxy("socks5h://p"), object())


def test_unix_address_is_a_path_or_a_socket() -> None:
    check_unix_address("/tmp/socket", None)
    check_unix_address(None, object())
    with pytest.raises(ValueError, match="missing path"):
        check_unix_address(None, None)
    with pytest.raises(ValueError, match="incompatible"):
        check_unix_address("/tmp/socket", object())


def test_explicit_ssl_none_with_wss_is_refused() -> None:
    # As websockets' asyncio client: ssl=None can't mean "no TLS" with wss://.
    uri = parse_uri("wss://example.com/")
    assert uses_tls(uri, None)
    with pytest.raises(ValueError, match="ssl=None"):
        uses_tls(uri, None, ssl_given=True)
    proxy = parse_proxy("https://proxy:3128")
    assert uses_proxy_tls(proxy, None)
    with pytest.raises(ValueError, match="proxy_ssl=None"):
        uses_proxy_tls(proxy, None, ssl_given=True)


def test_ssl_context_is_the_old_name_of_ssl() -> None:
    context = object()
    kwargs: dict[str, object] = {"ssl_context": context}
    with pytest.warns(DeprecationWarning, match="ssl_context"):
        assert renamed_ssl_context(None, kwargs) is context
    assert kwargs == {}
    # An explicit ssl wins; ssl_context stays for the next layer to refuse.
    kwargs = {"ssl_context": context}
    assert renamed_ssl_context("given", kwargs) == "given"
    assert kwargs == {"ssl_context": context}
