"""Tests for wskit.shared.redirects: where a redirect leads, and what it may not do."""

from __future__ import annotations

import pytest

from wskit.datastructures import Headers
from wskit.exceptions import InvalidURI, SecurityError
from wskit.http11 import Response
from wskit.shared.redirects import Redirects, display_uri
from wskit.uri import WebSocketURI, parse_uri


def redirect(location: str | None, status: int = 302) -> Response:
    headers = Headers() if location is None else Headers({"Location": location})
    return Response(status, "Found", headers)


def follow(uri: str, location: str, **kwargs: bool) -> WebSocketURI:
    redirects = Redirects(parse_uri(uri), environ={})
    assert redirects.follow(redirect(location), **kwargs)
    return redirects.uri


def test_display_uri_hides_credentials() -> None:
    assert display_uri(parse_uri("wss://u:p@example.com/a?b")) == "wss://example.com/a?b"
    assert display_uri(parse_uri("ws://[::1]:8080")) == "ws://[::1]:8080/"


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_redirect_statuses(status: int) -> None:
    redirects = Redirects(parse_uri("ws://a/"), environ={})
    assert redirects.follow(redirect("ws://b/", status))
    assert redirects.uri == parse_uri("ws://b/")


@pytest.mark.parametrize(("status", "location"), [(304, "ws://b/"), (200, "ws://b/"), (302, None)])
def test_not_a_redirect(status: int, location: str | None) -> None:
    redirects = Redirects(parse_uri("ws://a/"), environ={})
    assert not redirects.follow(redirect(location, status))
    assert redirects.uri == parse_uri("ws://a/")


@pytest.mark.parametrize(
    ("uri", "location", "expected"),
    [
        ("ws://a/x/y", "/z", "ws://a/z"),
        ("ws://a/x/y", "z?q=1", "ws://a/x/z?q=1"),
        ("ws://a:8000/x", "../up", "ws://a:8000/up"),
        ("ws://a/x", "//b:81/other", "ws://b:81/other"),
        ("ws://a/x", "wss://b/secure", "wss://b/secure"),
        ("wss://a/x", "wss://a:8443/", "wss://a:8443/"),
    ],
)
def test_locations(uri: str, location: str, expected: str) -> None:
    assert follow(uri, location) == parse_uri(expected)


def test_location_must_be_a_websocket_uri() -> None:
    with pytest.raises(InvalidURI, match="scheme isn't ws or wss"):
        follow("ws://a/", "http://a/")


def test_no_downgrade() -> None:
    with pytest.raises(SecurityError, match="cannot follow redirect to non-secure URI ws://a/"):
        follow("wss://a/", "ws://a/")


def test_credentials_stay_within_the_origin() -> None:
    assert follow("ws://u:p@a/x", "/y").user_info == ("u", "p")
    assert follow("ws://u:p@a/x", "ws://a/y").user_info == ("u", "p")
    assert follow("ws://u:p@a/x", "ws://v:q@a/y").user_info == ("v", "q")


@pytest.mark.parametrize("location", ["ws://b/", "//b/", "ws://a:81/", "wss://a/"])
def test_credentials_dont_leave_the_origin(location: str) -> None:
    assert follow("ws://u:p@a/x", location).user_info is None


def test_credentials_from_the_location_are_used() -> None:
    assert follow("ws://u:p@a/", "ws://v:q@b/").user_info == ("v", "q")


def test_credential_headers_dont_leave_the_origin() -> None:
    redirects = Redirects(parse_uri("ws://a/"), environ={})
    headers = {
        "Authorization": "Bearer t",
        "Proxy-Authorization": "Basic cDpx",
        "Cookie": "c=1",
        "X-Trace": "1",
    }
    assert redirects.headers(headers) is headers
    assert redirects.headers(None) is None
    redirects.follow(redirect("/same"))
    assert redirects.headers(headers) is headers
    redirects.follow(redirect("ws://b/"))
    assert redirects.cross_origin
    assert redirects.headers(headers) == Headers({"X-Trace": "1"})
    assert redirects.headers([("x-trace", "2")]) == Headers({"X-Trace": "2"})
    assert redirects.headers(None) is None
    # Back on the first origin, they stay away.
    redirects.follow(redirect("ws://a/"))
    assert redirects.headers(headers) == Headers({"X-Trace": "1"})


def test_preexisting_socket() -> None:
    with pytest.raises(ValueError, match="cannot follow redirect to ws://a/y with a preexisting"):
        follow("ws://a/x", "/y", sock=True)


def test_fixed_address() -> None:
    assert follow("ws://a/x", "/y", fixed_address=True) == parse_uri("ws://a/y")
    with pytest.raises(ValueError, match="the address to connect to is fixed"):
        follow("ws://a/x", "ws://b/", fixed_address=True)


def test_limit() -> None:
    redirects = Redirects(parse_uri("ws://a/0"), max_redirects=3)
    for step in range(1, 4):
        assert redirects.follow(redirect(f"/{step}"))
    with pytest.raises(SecurityError, match=r"^more than 3 redirects$"):
        redirects.follow(redirect("/4"))


def test_loop() -> None:
    redirects = Redirects(parse_uri("ws://a/"), max_redirects=4)
    for _ in range(2):
        redirects.follow(redirect("ws://b/"))
        redirects.follow(redirect("ws://a/"))
    with pytest.raises(SecurityError, match=r"^more than 4 redirects \(redirect loop\)$"):
        redirects.follow(redirect("ws://b/"))


def test_zero_redirects() -> None:
    redirects = Redirects(parse_uri("ws://a/"), max_redirects=0)
    with pytest.raises(SecurityError, match="more than 0 redirects"):
        redirects.follow(redirect("/b"))


def test_limit_from_environment() -> None:
    assert Redirects(parse_uri("ws://a/"), environ={}).max_redirects == 10
    redirects = Redirects(parse_uri("ws://a/"), environ={"WSKIT_MAX_REDIRECTS": "1"})
    assert redirects.max_redirects == 1
    redirects.follow(redirect("/b"))
    with pytest.raises(SecurityError):
        redirects.follow(redirect("/c"))


def test_limit_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSKIT_MAX_REDIRECTS", "2")
    assert Redirects(parse_uri("ws://a/")).max_redirects == 2


def test_invalid_limit_in_environment() -> None:
    with pytest.raises(ValueError, match="WSKIT_MAX_REDIRECTS must be a number"):
        Redirects(parse_uri("ws://a/"), environ={"WSKIT_MAX_REDIRECTS": "many"})
