"""Tests for wskit.auth: HTTP Basic Authentication for the opening handshake."""

from __future__ import annotations

import base64
import hmac
from typing import Any

import pytest

from wskit.auth import challenge, credentials_checker, read_credentials, unauthorized
from wskit.datastructures import Headers
from wskit.server import ServerProtocol


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


# credentials_checker.


def test_single_pair() -> None:
    check = credentials_checker(("alice", "secret"))
    assert check("alice", "secret") is True
    assert check("alice", "wrong") is False
    assert check("bob", "secret") is False


def test_list_of_pairs() -> None:
    check = credentials_checker([("alice", "a-pass"), ("bob", "b-pass")])
    assert check("alice", "a-pass") is True
    assert check("bob", "b-pass") is True
    # Each user has their own password.
    assert check("alice", "b-pass") is False
    assert check("bob", "a-pass") is False
    assert check("carol", "a-pass") is False


def test_iterable_of_pairs_is_read_once() -> None:
    check = credentials_checker(pair for pair in [("alice", "a"), ("bob", "b")])
    assert check("alice", "a") is True
    assert check("bob", "b") is True


def test_empty_list_accepts_nobody() -> None:
    check = credentials_checker([])
    assert check("", "") is False
    assert check("alice", "secret") is False


def test_wrong_password() -> None:
    check = credentials_checker(("alice", "secret"))
    assert check("alice", "") is False
    assert check("alice", "secre") is False
    assert check("alice", "secret!") is False
    assert check("alice", "SECRET") is False


def test_unknown_user() -> None:
    check = credentials_checker(("alice", "secret"))
    assert check("Alice", "secret") is False
    assert check("", "secret") is False


def test_non_ascii_credentials() -> None:
    check = credentials_checker(("josé", "mot de passe ü"))
    assert check("josé", "mot de passe ü") is True
    assert check("jose", "mot de passe ü") is False
    assert check("josé", "mot de passe u") is False


def test_non_utf8_credentials_are_refused() -> None:
    # parse_authorization_basic() represents bytes that aren't UTF-8 as lone
    # surrogates; they can't match and mustn't crash the check.
    check = credentials_checker(("alice", "secret"))
    assert check("\udcff", "secret") is False
    assert check("alice", "\udcff") is False
    assert check("\ud800", "\udfff") is False


@pytest.mark.parametrize(
    "credentials",
    [
        ("alice",),
        ("alice", "secret", "extra"),
        ("alice", 42),
        (42, "secret"),
        [("alice", "secret"), ("bob",)],
        [("alice", "secret"), ["bob", "b"]],
        [("alice", "secret"), ("bob", None)],
        [("alice", "secret"), "bob"],
        ["alice", "secret"],
        42,
        None,
    ],
)
def test_invalid_credentials(credentials: Any) -> None:
    with pytest.raises(TypeError):
        credentials_checker(credentials)


def test_uses_compare_digest_for_known_and_unknown_users(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def counting_compare_digest(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr("wskit.auth.hmac.compare_digest", counting_compare_digest)
    check = credentials_checker(("alice", "secret"))

    assert check("alice", "secret") is True
    assert calls == [(b"secret", b"secret")]
    calls.clear()

    assert check("alice", "guess") is False
    assert calls == [(b"guess", b"secret")]
    calls.clear()

    # An unknown user costs a comparison too, so response times don't tell
    # which usernames exist.
    assert check("mallory", "secret") is False
    assert len(calls) == 1


# read_credentials.


def test_read_credentials_success() -> None:
    headers = Headers(Authorization=basic(b"alice:secret"))
    assert read_credentials(headers) == ("alice", "secret")


def test_read_credentials_password_with_colon() -> None:
    headers = Headers(Authorization=basic(b"alice:se:cr:et"))
    assert read_credentials(headers) == ("alice", "se:cr:et")


def test_read_credentials_utf8() -> None:
    headers = Headers(Authorization=basic("josé:ü".encode()))
    assert read_credentials(headers) == ("josé", "ü")


def test_read_credentials_missing() -> None:
    assert read_credentials(Headers()) == "Missing credentials\n"
    assert read_credentials(Headers(Host="example.com")) == "Missing credentials\n"


def test_read_credentials_multiple_headers() -> None:
    headers = Headers()
    headers["Authorization"] = basic(b"alice:secret")
    headers["Authorization"] = basic(b"bob:secret")
    assert read_credentials(headers) == "Too many credentials\n"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abcdef",
        "Digest username=alice",
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic YWxpY2U",  # bad padding
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "",
    ],
)
def test_read_credentials_unsupported(authorization: str) -> None:
    headers = Headers(Authorization=authorization)
    assert read_credentials(headers) == "Unsupported credentials\n"


def test_read_credentials_end_to_end_with_checker() -> None:
    check = credentials_checker(("alice", "secret"))
    good = read_credentials(Headers(Authorization=basic(b"alice:secret")))
    assert isinstance(good, tuple)
    assert check(*good) is True
    # Credentials that aren't UTF-8 are read, then refused.
    bad = read_credentials(Headers(Authorization=basic(b"\xff:secret")))
    assert isinstance(bad, tuple)
    assert check(*bad) is False


# challenge.


def test_challenge_with_realm() -> None:
    headers = Headers()
    challenge(headers, "my realm")
    assert headers["WWW-Authenticate"] == 'Basic realm="my realm", charset="UTF-8"'


def test_challenge_escapes_realm() -> None:
    headers = Headers()
    challenge(headers, 'a "quoted" \\ realm')
    assert headers["WWW-Authenticate"] == (
        'Basic realm="a \\"quoted\\" \\\\ realm", charset="UTF-8"'
    )


def test_challenge_replaces_nothing_else() -> None:
    headers = Headers(Server="wskit")
    challenge(headers, "")
    assert headers["Server"] == "wskit"
    assert headers.get_all("WWW-Authenticate") == ['Basic realm="", charset="UTF-8"']


def test_challenge_rejects_unquotable_realm() -> None:
    with pytest.raises(ValueError, match="quoted string"):
        challenge(Headers(), "line\nbreak")


# unauthorized.


def test_unauthorized_asks_for_credentials_in_the_realm() -> None:
    response = unauthorized(ServerProtocol().reject, "Missing credentials\n", "private area")
    assert response.status_code == 401
    assert response.body == b"Missing credentials\n"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="private area", charset="UTF-8"'
