"""Tests for wskit.proxy: proxy addresses, the environment's proxy, no_proxy."""

from __future__ import annotations

import os

import pytest

from wskit.exceptions import InvalidProxy
from wskit.http11 import USER_AGENT
from wskit.proxy import (
    _VARIABLES,
    Proxy,
    _none_set,
    bypass_proxy,
    get_proxy,
    parse_proxy,
    proxy_handshake,
)
from wskit.socks import SOCKS5Handshake
from wskit.tunnel import HTTPConnectHandshake
from wskit.uri import parse_uri

WS = parse_uri("ws://example.com/")
WSS = parse_uri("wss://example.com/")


# parse_proxy


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("http://proxy", Proxy("http", "proxy", 80)),
        ("http://proxy:3128/", Proxy("http", "proxy", 3128)),
        ("HTTPS://Proxy.Example", Proxy("https", "proxy.example", 443)),
        ("socks5://127.0.0.1", Proxy("socks5", "127.0.0.1", 1080)),
        ("socks5h://[::1]:9050", Proxy("socks5h", "::1", 9050)),
        ("http://user:p%40ss@proxy:8080", Proxy("http", "proxy", 8080, "user", "p@ss")),
        ("http://user:@proxy", Proxy("http", "proxy", 80, "user", "")),
        ("http://bücher.example", Proxy("http", "xn--bcher-kva.example", 80)),
    ],
)
def test_parse_proxy(address: str, expected: Proxy) -> None:
    assert parse_proxy(address) == expected


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("proxy:8080", "scheme isn't http, https, socks5 or socks5h"),
        ("ftp://proxy", "scheme isn't http, https, socks5 or socks5h"),
        ("socks4://proxy", "SOCKS4 isn't supported"),
        ("socks4a://proxy", "SOCKS4 isn't supported"),
        ("http://proxy:port", "Port could not be cast"),
        ("http://proxy:99999", "Port out of range"),
        ("http://", "hostname isn't provided"),
        ("http://proxy/path", "path, query and fragment aren't allowed"),
        ("http://proxy/?q", "path, query and fragment aren't allowed"),
        ("http://proxy/#f", "path, query and fragment aren't allowed"),
        ("http://user@proxy", "username provided without password"),
        ("http://us%3Aer:pass@proxy", "username can't contain a colon"),
        ("socks5://" + "u" * 256 + ":p@proxy", "limited to 255 bytes"),
        ("socks5h://u:" + "é" * 128 + "@proxy", "limited to 255 bytes"),
        ("http://a..b", "invalid hostname"),
    ],
)
def test_parse_invalid_proxy(address: str, message: str) -> None:
    with pytest.raises(InvalidProxy, match=message) as raised:
        parse_proxy(address)
    assert raised.value.proxy == address


def test_http_credentials_have_no_length_limit() -> None:
    proxy = parse_proxy("http://" + "u" * 300 + ":p@proxy")
    assert proxy.user_info == ("u" * 300, "p")


def test_user_info() -> None:
    assert Proxy("http", "proxy", 80).user_info is None
    assert Proxy("http", "proxy", 80, "user", None).user_info is None
    assert Proxy("http", "proxy", 80, "user", "pass").user_info == ("user", "pass")


def test_tls_only_for_https_proxies() -> None:
    assert parse_proxy("https://proxy").tls
    assert not parse_proxy("http://proxy").tls
    assert not parse_proxy("socks5h://proxy").tls


def test_only_socks5_resolves_names_locally() -> None:
    assert parse_proxy("socks5://proxy").resolves_locally("example.com")
    assert not parse_proxy("socks5://proxy").resolves_locally("192.0.2.1")
    assert not parse_proxy("socks5://proxy").resolves_locally("2001:db8::1")
    assert not parse_proxy("socks5h://proxy").resolves_locally("example.com")
    assert not parse_proxy("http://proxy").resolves_locally("example.com")


# proxy_handshake


def test_proxy_handshake_for_http_proxies() -> None:
    handshake = proxy_handshake(parse_proxy("http://u:p@proxy"), "example.com", 443)
    assert isinstance(handshake, HTTPConnectHandshake)
    request = handshake.data_to_send()
    assert request.startswith(b"CONNECT example.com:443 HTTP/1.1\r\n")
    assert b"Proxy-Authorization: Basic dTpw\r\n" in request
    assert f"User-Agent: {USER_AGENT}\r\n".encode() in request


def test_proxy_handshake_without_user_agent() -> None:
    handshake = proxy_handshake(parse_proxy("https://proxy"), "h", 80, user_agent_header=None)
    assert b"User-Agent" not in handshake.data_to_send()


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_proxy_handshake_for_socks_proxies(scheme: str) -> None:
    handshake = proxy_handshake(parse_proxy(f"{scheme}://u:p@proxy"), "example.com", 443)
    assert isinstance(handshake, SOCKS5Handshake)
    assert handshake.data_to_send() == b"\x05\x02\x00\x02"


# get_proxy


@pytest.mark.parametrize(
    ("environ", "ws", "wss"),
    [
        ({}, None, None),
        ({"ws_proxy": "http://w:1"}, "http://w:1", None),
        ({"wss_proxy": "http://s:1"}, None, "http://s:1"),
        ({"socks_proxy": "socks5://k:1"}, "socks5://k:1", "socks5://k:1"),
        ({"https_proxy": "http://hs:1"}, "http://hs:1", "http://hs:1"),
        ({"http_proxy": "http://h:1"}, "http://h:1", None),
        ({"all_proxy": "http://a:1"}, "http://a:1", "http://a:1"),
        (
            {"ws_proxy": "http://w:1", "wss_proxy": "http://s:1", "socks_proxy": "socks5://k:1"},
            "http://w:1",
            "http://s:1",
        ),
        (
            {"socks_proxy": "socks5://k:1", "https_proxy": "http://hs:1"},
            "socks5://k:1",
            "socks5://k:1",
        ),
        (
            {"https_proxy": "http://hs:1", "http_proxy": "http://h:1"},
            "http://hs:1",
            "http://hs:1",
        ),
        ({"http_proxy": "http://h:1", "all_proxy": "http://a:1"}, "http://h:1", "http://a:1"),
    ],
)
def test_get_proxy_order(environ: dict[str, str], ws: str | None, wss: str | None) -> None:
    assert get_proxy(WS, environ) == ws
    assert get_proxy(WSS, environ) == wss


def test_get_proxy_upper_case() -> None:
    assert get_proxy(WS, {"HTTP_PROXY": "http://h:1"}) == "http://h:1"
    assert get_proxy(WSS, {"ALL_PROXY": "socks5h://a:1"}) == "socks5h://a:1"


def test_get_proxy_lower_case_wins() -> None:
    environ = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}
    assert get_proxy(WSS, environ) == "http://lower:1"


def test_get_proxy_skips_empty_values() -> None:
    environ = {"wss_proxy": "", "WSS_PROXY": "", "https_proxy": "http://hs:1"}
    assert get_proxy(WSS, environ) == "http://hs:1"


def test_get_proxy_ignores_http_proxy_in_upper_case_under_cgi() -> None:
    # httpoxy: a request's "Proxy:" header would choose the proxy.
    environ = {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://attacker:1"}
    assert get_proxy(WS, environ) is None
    assert get_proxy(WS, {**environ, "http_proxy": "http://h:1"}) == "http://h:1"
    assert get_proxy(WS, {**environ, "HTTPS_PROXY": "http://hs:1"}) == "http://hs:1"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("http_proxy", "proxy:3128", "http://proxy:3128"),
        ("socks_proxy", "proxy:1080", "socks5h://proxy:1080"),
        ("socks_proxy", "socks://proxy:1080/", "socks5h://proxy:1080/"),
        ("all_proxy", "SOCKS://proxy", "socks5h://proxy"),
        ("all_proxy", "socks5://proxy", "socks5://proxy"),
    ],
)
def test_get_proxy_completes_the_scheme(name: str, value: str, expected: str) -> None:
    assert get_proxy(WS, {name: value}) == expected


def test_get_proxy_honours_no_proxy() -> None:
    environ = {"all_proxy": "http://a:1", "no_proxy": "example.com"}
    assert get_proxy(WS, environ) is None
    assert get_proxy(parse_uri("ws://example.org/"), environ) == "http://a:1"
    assert get_proxy(WS, {"all_proxy": "http://a:1", "NO_PROXY": "*"}) is None


def test_get_proxy_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("wss_proxy", "http://from-env:1")
    assert get_proxy(WSS) == "http://from-env:1"


def _without_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize("name", [*_VARIABLES, *map(str.upper, _VARIABLES)])
def test_get_proxy_sees_each_variable_of_os_environ(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check that none is set, before reading them, misses none.
    _without_proxy_variables(monkeypatch)
    monkeypatch.setenv(name, "*" if name.lower() == "no_proxy" else "http://from-env:1")
    expected = None if name.lower() == "no_proxy" else "http://from-env:1"
    uri = WSS if name.lower() in ("wss_proxy", "https_proxy") else WS
    if name.lower() == "http_proxy":
        monkeypatch.delenv("REQUEST_METHOD", raising=False)
    assert get_proxy(uri) == expected
    assert not _none_set(os.environ)


def test_get_proxy_reads_no_variable_when_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # Performance device (ARCHITECTURE.md): a dozen lookups in os.environ,
    # each raising and catching KeyError, were a tenth of a client's handshake.
    _without_proxy_variables(monkeypatch)
    read: list[str] = []
    getitem = type(os.environ).__getitem__

    def spy(environ: os._Environ[str], key: str) -> str:
        read.append(key)
        return getitem(environ, key)

    monkeypatch.setattr(type(os.environ), "__getitem__", spy)
    assert get_proxy(WS) is None
    assert get_proxy(WSS) is None
    assert read == []
    # Other mappings, and an os.environ without a dict of its own, are read.
    assert get_proxy(WS, {"ws_proxy": "http://a:1"}) == "http://a:1"
    assert not _none_set({})


# bypass_proxy


@pytest.mark.parametrize(
    ("host", "port", "no_proxy"),
    [
        ("example.com", 80, "*"),
        ("example.com", 80, "localhost, *"),
        ("example.com", 80, "example.com"),
        ("example.com", 80, "EXAMPLE.com"),
        ("example.com.", 80, "example.com"),
        ("example.com", 80, "example.com."),
        ("ws.example.com", 80, "example.com"),
        ("ws.example.com", 80, ".example.com"),
        ("example.com", 80, ".example.com"),
        ("a.b.example.com", 80, "*.example.com"),
        ("example.com", 8080, "example.com:8080"),
        ("example.com", 80, "other.org example.com"),
        ("example.com", 80, "other.org,,\texample.com"),
        ("127.0.0.1", 80, "127.0.0.1"),
        ("127.0.0.1", 80, "127.0.0.0/8"),
        ("127.0.0.1", 9000, "127.0.0.1:9000"),
        ("::1", 80, "::1"),
        ("::1", 80, "[::1]"),
        ("::1", 8080, "[::1]:8080"),
        ("2001:db8::5", 80, "2001:db8::/32"),
        ("10.1.2.3", 80, "example.com, 10.0.0.0/8"),
    ],
)
def test_bypass(host: str, port: int, no_proxy: str) -> None:
    assert bypass_proxy(host, port, no_proxy)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy"),
    [
        ("example.com", 80, ""),
        ("example.com", 80, "example.org"),
        ("badexample.com", 80, "example.com"),
        ("example.com", 80, "ws.example.com"),
        ("example.com", 80, "example.com:8080"),
        ("example.com", 80, "example.com:port"),
        ("example.com", 80, "."),
        ("example.com", 80, "*.:80"),
        ("example.com", 80, ":80"),
        ("127.0.0.1", 80, "127.0.0.2"),
        ("127.0.0.1", 80, "10.0.0.0/8"),
        ("127.0.0.1", 80, "127.0.0.1:8080"),
        ("127.0.0.1", 80, "localhost"),
        ("localhost", 80, "127.0.0.1"),
        ("::1", 80, "127.0.0.1"),
        ("::1", 80, "[::1]:8080"),
        ("::1", 80, "[::1"),
        ("::1", 80, "[::1]8080"),
        ("::1", 80, "[::1]:"),
    ],
)
def test_no_bypass(host: str, port: int, no_proxy: str) -> None:
    assert not bypass_proxy(host, port, no_proxy)
