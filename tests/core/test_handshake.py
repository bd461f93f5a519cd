"""Tests for wskit.handshake: the header checks shared by clients and servers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wskit import handshake
from wskit.datastructures import Headers
from wskit.exceptions import InvalidHeader, InvalidHeaderFormat, InvalidUpgrade, SecurityError
from wskit.handshake import check_upgrade, parse_all, single_header
from wskit.headers import (
    MAX_EXTENSIONS,
    MAX_SUBPROTOCOLS,
    MAX_TOKENS,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
)

# parse_all


def test_parse_all_without_the_header_is_empty() -> None:
    headers = Headers([("Host", "example.com")])
    assert parse_all(headers, "Sec-WebSocket-Protocol", parse_subprotocol, MAX_SUBPROTOCOLS) == []


def test_parse_all_single_line() -> None:
    headers = Headers([("Sec-WebSocket-Protocol", "chat, superchat")])
    assert parse_all(headers, "Sec-WebSocket-Protocol", parse_subprotocol, MAX_SUBPROTOCOLS) == [
        "chat",
        "superchat",
    ]


def test_parse_all_joins_lines_in_order() -> None:
    # Splitting a list over several lines must mean the same as one line.
    split = Headers(
        [
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
            ("Host", "example.com"),
            ("sec-websocket-extensions", "x-foo, x-bar; level=3"),
        ]
    )
    joined = Headers(
        [
            (
                "Sec-WebSocket-Extensions",
                "permessage-deflate; client_max_window_bits, x-foo, x-bar; level=3",
            )
        ]
    )
    expected = [
        ("permessage-deflate", [("client_max_window_bits", None)]),
        ("x-foo", []),
        ("x-bar", [("level", "3")]),
    ]
    assert parse_all(split, "Sec-WebSocket-Extensions", parse_extension, MAX_EXTENSIONS) == expected
    assert (
        parse_all(joined, "Sec-WebSocket-Extensions", parse_extension, MAX_EXTENSIONS) == expected
    )


def test_parse_all_propagates_parse_errors() -> None:
    headers = Headers([("Connection", "Upgrade"), ("Connection", "bad value")])
    with pytest.raises(InvalidHeaderFormat):
        parse_all(headers, "Connection", parse_connection, MAX_TOKENS)


@pytest.mark.parametrize("lines", [1, 2, 3])
def test_parse_all_bounds_items_over_all_lines(lines: int) -> None:
    """The limit holds for the lines together: each may stay under it."""
    per_line = MAX_SUBPROTOCOLS // lines + 1
    headers = Headers([("Sec-WebSocket-Protocol", ", ".join(["p"] * per_line))] * lines)
    with pytest.raises(SecurityError, match=f"more than {MAX_SUBPROTOCOLS} items"):
        parse_all(headers, "Sec-WebSocket-Protocol", parse_subprotocol, MAX_SUBPROTOCOLS)
    exactly = Headers([("Sec-WebSocket-Protocol", ", ".join(["p"] * MAX_SUBPROTOCOLS))])
    assert (
        len(parse_all(exactly, "Sec-WebSocket-Protocol", parse_subprotocol, MAX_SUBPROTOCOLS))
        == MAX_SUBPROTOCOLS
    )


@pytest.mark.parametrize("name", ["Connection", "Upgrade"])
def test_check_upgrade_bounds_tokens(name: str) -> None:
    headers = Headers([("Connection", "Upgrade"), ("Upgrade", "websocket")])
    headers[name] = ", ".join(["x"] * MAX_TOKENS)
    with pytest.raises(SecurityError, match=f"more than {MAX_TOKENS} items in {name}"):
        check_upgrade(headers)


# single_header


def test_single_header_returns_the_value() -> None:
    headers = Headers([("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")])
    assert single_header(headers, "sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_single_header_missing() -> None:
    with pytest.raises(InvalidHeader) as raised:
        single_header(Headers([("Host", "example.com")]), "Sec-WebSocket-Accept")
    assert raised.value.name == "Sec-WebSocket-Accept"
    assert raised.value.value is None
    assert str(raised.value) == "missing Sec-WebSocket-Accept header"
    # The KeyError is an implementation detail, not part of the story.
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_single_header_repeated() -> None:
    headers = Headers([("Sec-WebSocket-Accept", "one"), ("Sec-WebSocket-Accept", "two")])
    with pytest.raises(InvalidHeader) as raised:
        single_header(headers, "Sec-WebSocket-Accept")
    assert raised.value.name == "Sec-WebSocket-Accept"
    assert raised.value.value == "multiple values"
    assert raised.value.__suppress_context__


def test_single_header_repeated_with_the_same_value() -> None:
    # Two identical lines are still two headers: ambiguous, so refused.
    headers = Headers([("Host", "example.com"), ("Host", "example.com")])
    with pytest.raises(InvalidHeader):
        single_header(headers, "Host")


# check_upgrade


@pytest.mark.parametrize(
    "pairs",
    [
        [("Upgrade", "websocket"), ("Connection", "Upgrade")],
        [("Upgrade", "WebSocket"), ("Connection", "upgrade")],
        [("upgrade", "WEBSOCKET"), ("CONNECTION", "UPGRADE")],
        [("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade")],
        [("Upgrade", "websocket"), ("Connection", "Upgrade, close")],
        [("Upgrade", "websocket"), ("Connection", "keep-alive"), ("Connection", "Upgrade")],
        [("Upgrade", " websocket "), ("Connection", ", Upgrade ,")],
    ],
)
def test_check_upgrade_accepts(pairs: list[tuple[str, str]]) -> None:
    check_upgrade(Headers(pairs))  # must not raise


@pytest.mark.parametrize(
    ("pairs", "name", "value"),
    [
        ([], "Connection", None),
        ([("Upgrade", "websocket")], "Connection", None),
        ([("Upgrade", "websocket"), ("Connection", "keep-alive")], "Connection", "keep-alive"),
        (
            [("Upgrade", "websocket"), ("Connection", "keep-alive, close")],
            "Connection",
            "keep-alive, close",
        ),
        # "upgrade" inside another token does not count.
        ([("Upgrade", "websocket"), ("Connection", "x-upgrade")], "Connection", "x-upgrade"),
        ([("Connection", "Upgrade")], "Upgrade", None),
        ([("Upgrade", "h2c"), ("Connection", "Upgrade")], "Upgrade", "h2c"),
        ([("Upgrade", "websocket, h2c"), ("Connection", "Upgrade")], "Upgrade", "websocket, h2c"),
        ([("Upgrade", "h2c, websocket"), ("Connection", "Upgrade")], "Upgrade", "h2c, websocket"),
        (
            [("Upgrade", "websocket"), ("Upgrade", "websocket"), ("Connection", "Upgrade")],
            "Upgrade",
            "websocket, websocket",
        ),
        ([("Upgrade", "websocket/13"), ("Connection", "Upgrade")], "Upgrade", "websocket/13"),
        ([("Upgrade", "websockets"), ("Connection", "Upgrade")], "Upgrade", "websockets"),
    ],
)
def test_check_upgrade_rejects(pairs: list[tuple[str, str]], name: str, value: str | None) -> None:
    with pytest.raises(InvalidUpgrade) as raised:
        check_upgrade(Headers(pairs))
    assert raised.value.name == name
    assert raised.value.value == value


def test_check_upgrade_rejects_malformed_headers() -> None:
    # A header that does not parse is an error too, not a silent pass.
    with pytest.raises(InvalidHeader):
        check_upgrade(Headers([("Upgrade", "websocket"), ("Connection", "Upgrade;")]))
    with pytest.raises(InvalidHeader):
        check_upgrade(Headers([("Upgrade", "web socket"), ("Connection", "Upgrade")]))


# check_upgrade: a header given once with the expected value skips the list
# parsing; the outcome is the general rules' either way.

_upgrade_values = st.lists(
    st.sampled_from(
        [
            *("Upgrade", "upgrade", "UPGRADE", "websocket", "WebSocket", "keep-alive, Upgrade"),
            *("", " Upgrade", "Upgrade ", "Upgrade,", "websocket, h2c", "websocket/13", "\x00"),
        ]
    )
    | st.text(max_size=8),
    max_size=3,
)


def upgrade_outcome(check: Callable[[Headers], None], headers: Headers) -> tuple[object, ...]:
    try:
        check(headers)
    except Exception as exc:
        return ("error", type(exc), str(exc))
    return ("ok",)


def general_rules(headers: Headers) -> None:
    connection = parse_all(headers, "Connection", parse_connection, MAX_TOKENS)
    if not any(option.lower() == "upgrade" for option in connection):
        raise InvalidUpgrade("Connection", ", ".join(connection) or None)
    upgrade = parse_all(headers, "Upgrade", parse_upgrade, MAX_TOKENS)
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) or None)


@settings(max_examples=300, deadline=None)
@given(connection=_upgrade_values, upgrade=_upgrade_values)
def test_check_upgrade_agrees_with_the_general_rules(
    connection: list[str], upgrade: list[str]
) -> None:
    headers = Headers()
    for value in connection:
        headers.set_insecure("Connection", value)
    for value in upgrade:
        headers.set_insecure("Upgrade", value)
    assert upgrade_outcome(check_upgrade, headers) == upgrade_outcome(general_rules, headers)


def test_check_upgrade_of_the_common_request_parses_no_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("parsed a list")

    monkeypatch.setattr(handshake, "parse_all", fail)
    check_upgrade(Headers([("Connection", "Upgrade"), ("Upgrade", "websocket")]))
    with pytest.raises(AssertionError):
        check_upgrade(Headers([("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket")]))
