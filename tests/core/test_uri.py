"""Tests for wskit.uri: parsing and validating ws:// and wss:// URIs."""

from __future__ import annotations

import urllib.parse

import pytest

import wskit.uri
from wskit.exceptions import InvalidURI
from wskit.uri import WebSocketURI, parse_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("ws://localhost", WebSocketURI(False, "localhost", 80, "", "")),
        ("wss://localhost", WebSocketURI(True, "localhost", 443, "", "")),
        ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/", "")),
        ("ws://localhost:8080/", WebSocketURI(False, "localhost", 8080, "/", "")),
        ("wss://localhost:80", WebSocketURI(True, "localhost", 80, "", "")),
        ("ws://localhost:443", WebSocketURI(False, "localhost", 443, "", "")),
        ("ws://localhost:", WebSocketURI(False, "localhost", 80, "", "")),
        ("ws://127.0.0.1:65535/", WebSocketURI(False, "127.0.0.1", 65535, "/", "")),
        ("ws://[::1]/", WebSocketURI(False, "::1", 80, "/", "")),
        ("wss://[2001:db8::7]:8443/x", WebSocketURI(True, "2001:db8::7", 8443, "/x", "")),
        ("ws://Example.COM/Path", WebSocketURI(False, "example.com", 80, "/Path", "")),
        (
            "wss://example.com/chat/room?id=1&x=y",
            WebSocketURI(True, "example.com", 443, "/chat/room", "id=1&x=y"),
        ),
        ("ws://example.com?q", WebSocketURI(False, "example.com", 80, "", "q")),
        ("ws://example.com/?", WebSocketURI(False, "example.com", 80, "/", "")),
    ],
)
def test_parse_uri(uri: str, expected: WebSocketURI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wskit.uri, "_PARSED", {})
    first = parse_uri(uri)
    assert first == expected
    # Again, from the cache: the same, in an object of its own.
    again = parse_uri(uri)
    assert again == expected
    assert again is not first
    assert list(wskit.uri._PARSED) == [uri]


def test_parsed_uris_are_cached_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # Performance device (ARCHITECTURE.md): urllib.parse and the IDNA codec
    # were a tenth of a client's handshake.
    monkeypatch.setattr(wskit.uri, "_PARSED", {})
    parsed: list[str] = []
    original = urllib.parse.urlsplit

    def urlsplit(url: str) -> urllib.parse.SplitResult:
        parsed.append(url)
        return original(url)

    monkeypatch.setattr(urllib.parse, "urlsplit", urlsplit)
    uris = [f"ws://example.com/{i}" for i in range(wskit.uri._MAX_PARSED + 1)]
    for uri in uris * 2:
        assert parse_uri(uri).path == uri[len("ws://example.com") :]
    # Each parsed once, but the one past the bound, parsed every time.
    assert parsed == [*uris, uris[-1]]
    assert len(wskit.uri._PARSED) == wskit.uri._MAX_PARSED


def test_uris_with_credentials_are_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wskit.uri, "_PARSED", {})
    assert parse_uri("ws://user:secret@example.com/").password == "secret"
    assert parse_uri("ws://user:secret@example.com/").password == "secret"
    with pytest.raises(InvalidURI):
        parse_uri("http://example.com/")
    assert wskit.uri._PARSED == {}


@pytest.mark.parametrize(
    ("uri", "resource_name"),
    [
        ("ws://example.com", "/"),
        ("ws://example.com/", "/"),
        ("ws://example.com/a/b", "/a/b"),
        ("ws://example.com?x=1", "/?x=1"),
        ("ws://example.com/a?x=1&y=2", "/a?x=1&y=2"),
        ("ws://example.com/a?", "/a"),
    ],
)
def test_resource_name(uri: str, resource_name: str) -> None:
    assert parse_uri(uri).resource_name == resource_name


def test_user_info() -> None:
    parsed = parse_uri("wss://alice:s3cret@example.com/")
    assert (parsed.username, parsed.password) == ("alice", "s3cret")
    assert parsed.user_info == ("alice", "s3cret")
    assert parsed.host == "example.com"
    assert parsed.port == 443


def test_user_info_is_percent_decoded() -> None:
    parsed = parse_uri("ws://us%40er:p%3Aa%2Fss%20w@example.com/")
    assert parsed.user_info == ("us@er", "p:a/ss w")


def test_user_info_with_empty_password() -> None:
    assert parse_uri("ws://user:@example.com/").user_info == ("user", "")


def test_no_user_info() -> None:
    parsed = parse_uri("ws://example.com/")
    assert parsed.username is None
    assert parsed.password is None
    assert parsed.user_info is None


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), ("user", None), (None, "pass")],
)
def test_user_info_needs_both(username: str | None, password: str | None) -> None:
    uri = WebSocketURI(False, "example.com", 80, "/", "", username, password)
    assert uri.user_info is None


def test_idna_host() -> None:
    parsed = parse_uri("wss://bücher.example/")
    assert parsed.host == "xn--bcher-kva.example"
    assert parsed.host.isascii()


def test_punycode_host_is_kept() -> None:
    assert parse_uri("ws://xn--bcher-kva.example/").host == "xn--bcher-kva.example"


def test_non_ascii_path_and_query_are_percent_encoded() -> None:
    parsed = parse_uri("ws://example.com/café/ü?q=é&r=日本")
    assert parsed.path == "/caf%C3%A9/%C3%BC"
    assert parsed.query == "q=%C3%A9&r=%E6%97%A5%E6%9C%AC"
    assert parsed.resource_name == "/caf%C3%A9/%C3%BC?q=%C3%A9&r=%E6%97%A5%E6%9C%AC"
    assert parsed.resource_name.isascii()


def test_spaces_are_percent_encoded() -> None:
    parsed = parse_uri("ws://example.com/a b?c d")
    assert parsed.resource_name == "/a%20b?c%20d"


def test_existing_escapes_are_kept() -> None:
    parsed = parse_uri("ws://example.com/a%20b%2Fc?x=%26%3D&y=%C3%A9")
    assert parsed.path == "/a%20b%2Fc"
    assert parsed.query == "x=%26%3D&y=%C3%A9"


def test_reserved_characters_are_kept() -> None:
    parsed = parse_uri("ws://example.com/a:b@c;d=e,f!$'()*+~-._?x=/?:@")
    assert parsed.path == "/a:b@c;d=e,f!$'()*+~-._"
    assert parsed.query == "x=/?:@"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://example.com/", "scheme isn't ws or wss"),
        ("https://example.com/", "scheme isn't ws or wss"),
        ("WS-ish://example.com/", "scheme isn't ws or wss"),
        ("example.com", "scheme isn't ws or wss"),
        ("", "scheme isn't ws or wss"),
        ("ws:///path", "hostname isn't provided"),
        ("ws://", "hostname isn't provided"),
        ("ws://:8080/", "hostname isn't provided"),
        ("ws://example.com/#", "fragment identifier isn't allowed"),
        ("ws://example.com#", "fragment identifier isn't allowed"),
        ("ws://example.com/path?q=1#", "fragment identifier isn't allowed"),
        ("ws://example.com/#frag", "fragment identifier isn't allowed"),
        ("ws://example.com/path?q=1#frag", "fragment identifier isn't allowed"),
        ("ws://user@example.com/", "username provided without password"),
        ("ws://example.com:65536/", "Port out of range"),
        ("ws://example.com:99999/", "Port out of range"),
        ("ws://example.com:-1/", "Port"),
        ("ws://example.com:http/", "Port could not be cast"),
        ("ws://example.com:80a/", "Port could not be cast"),
        ("ws://[::1/", "Invalid IPv6 URL"),
        ("ws://" + "a" * 64 + ".example/", "invalid hostname"),
        ("ws://a..example/", "invalid hostname"),
    ],
)
def test_invalid_uri(uri: str, reason: str) -> None:
    with pytest.raises(InvalidURI) as excinfo:
        parse_uri(uri)
    exc = excinfo.value
    assert exc.uri == uri
    assert reason in exc.msg
    assert str(exc) == f"{uri} isn't a valid WebSocket URI: {exc.msg}"
    # The ValueError or UnicodeError of the standard library isn't chained.
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


def test_label_of_63_characters_is_valid() -> None:
    host = "a" * 63 + ".example"
    assert parse_uri(f"ws://{host}/").host == host


def test_username_with_a_colon_is_refused() -> None:
    # Basic authentication separates user and password with the first colon.
    with pytest.raises(InvalidURI, match="username can't contain a colon"):
        parse_uri("ws://a%3Ab:secret@example.com/")
