"""Tests for wskit.headers."""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from typing import Any

import pytest

from wskit.exceptions import InvalidHeader, InvalidHeaderFormat, InvalidHeaderValue, SecurityError
from wskit.headers import (
    MAX_EXTENSION_PARAMETERS,
    MAX_EXTENSIONS,
    MAX_SUBPROTOCOLS,
    MAX_TOKENS,
    ExtensionHeader,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    build_www_authenticate_basic,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
    validate_subprotocols,
)
from wskit.typing import ExtensionName, Subprotocol


class TestBuildHost:
    @pytest.mark.parametrize(
        ("host", "port", "secure", "expected"),
        [
            ("example.com", 80, False, "example.com"),
            ("example.com", 443, True, "example.com"),
            ("example.com", 443, False, "example.com:443"),
            ("example.com", 80, True, "example.com:80"),
            ("example.com", 8765, False, "example.com:8765"),
            ("127.0.0.1", 80, False, "127.0.0.1"),
            ("127.0.0.1", 8080, True, "127.0.0.1:8080"),
            ("::1", 80, False, "[::1]"),
            ("::1", 8080, False, "[::1]:8080"),
            ("2001:db8::1", 443, True, "[2001:db8::1]"),
            ("[::1]", 8080, False, "[::1]:8080"),  # already bracketed
            ("::ffff:127.0.0.1", 80, False, "[::ffff:127.0.0.1]"),
            ("fe80::1%eth0", 80, False, "[fe80::1%eth0]"),
            ("example.com:", 80, False, "example.com:"),  # not an address
            ("1.2.3.4.5", 80, False, "1.2.3.4.5"),
        ],
    )
    def test_build_host(self, host: str, port: int, secure: bool, expected: str) -> None:
        assert build_host(host, port, secure) == expected

    @pytest.mark.parametrize(
        ("host", "port", "secure", "expected"),
        [
            ("example.com", 80, False, "example.com:80"),
            ("example.com", 443, True, "example.com:443"),
            ("::1", 443, True, "[::1]:443"),
        ],
    )
    def test_always_include_port(self, host: str, port: int, secure: bool, expected: str) -> None:
        assert build_host(host, port, secure, always_include_port=True) == expected


class TestConnectionAndUpgrade:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("Upgrade", ["Upgrade"]),
            ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
            ("keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
            (", ,keep-alive ,, Upgrade ,", ["keep-alive", "Upgrade"]),
            ("\tUpgrade\t", ["Upgrade"]),
            ("a,", ["a"]),
        ],
    )
    def test_parse_connection(self, header: str, expected: list[str]) -> None:
        assert parse_connection(header) == expected

    @pytest.mark.parametrize(
        ("header", "pos"),
        [("", 0), (",", 1), (", , ", 4), ("a b", 2), ("a;b", 1), ("a, (b)", 3), ("Upgrade\r\n", 7)],
    )
    def test_parse_connection_invalid(self, header: str, pos: int) -> None:
        with pytest.raises(InvalidHeaderFormat) as raised:
            parse_connection(header)
        assert raised.value.name == "Connection"
        assert f" at {pos} in " in str(raised.value)

    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("websocket", ["websocket"]),
            ("WebSocket", ["WebSocket"]),
            ("websocket, h2c, foo/1.0", ["websocket", "h2c", "foo/1.0"]),
            (
                "HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11",
                ["HTTP/2.0", "SHTTP/1.3", "IRC/6.9", "RTA/x11"],
            ),
        ],
    )
    def test_parse_upgrade(self, header: str, expected: list[str]) -> None:
        assert parse_upgrade(header) == expected

    @pytest.mark.parametrize(
        ("header", "pos"),
        [("", 0), ("/1.0", 0), ("foo/", 3), ("foo/1.0/2", 7), ("a b", 2)],
    )
    def test_parse_upgrade_invalid(self, header: str, pos: int) -> None:
        with pytest.raises(InvalidHeaderFormat) as raised:
            parse_upgrade(header)
        assert raised.value.name == "Upgrade"
        assert f" at {pos} in " in str(raised.value)


class TestExtensions:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("foo", [("foo", [])]),
            ("foo, bar", [("foo", []), ("bar", [])]),
            (
                "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
                [
                    (
                        "permessage-deflate",
                        [("client_max_window_bits", None), ("server_max_window_bits", "10")],
                    )
                ],
            ),
            ('foo; bar="baz"', [("foo", [("bar", "baz")])]),
            ('foo; bar="b\\az"', [("foo", [("bar", "baz")])]),
            ('foo;bar = "10" ;qux', [("foo", [("bar", "10"), ("qux", None)])]),
            ("foo ; bar = baz , qux", [("foo", [("bar", "baz")]), ("qux", [])]),
            (",foo,,", [("foo", [])]),
        ],
    )
    def test_parse_extension(self, header: str, expected: list[ExtensionHeader]) -> None:
        assert parse_extension(header) == expected

    @pytest.mark.parametrize(
        ("header", "pos", "error"),
        [
            ("", 0, "expected token"),
            ("foo;", 4, "expected token"),
            ("foo; bar=", 9, "expected token"),
            ("foo; bar=;", 9, "expected token"),
            ("foo bar", 4, "expected comma"),
            ("foo; bar baz", 9, "expected comma"),
            ('foo; bar="', 9, "unterminated quoted string"),
            ('foo; bar="baz', 9, "unterminated quoted string"),
            ('foo; bar="baz\\', 9, "unterminated quoted string"),
            ('foo; bar="a\x00b"', 11, "invalid character in quoted string"),
            ('foo; bar="a\\\x00b"', 11, "invalid character in quoted string"),
            ('foo; bar="a\nb"', 11, "invalid character in quoted string"),
            # RFC 6455 9.1: once unquoted, the value must be a token.
            ('foo; bar=""', 9, "quoted value isn't a token"),
            ('foo; bar="b z"', 9, "quoted value isn't a token"),
            ('foo; bar="\\""', 9, "quoted value isn't a token"),
            ('foo; bar="é"', 9, "quoted value isn't a token"),
        ],
    )
    def test_parse_extension_invalid(self, header: str, pos: int, error: str) -> None:
        with pytest.raises(InvalidHeaderFormat) as raised:
            parse_extension(header)
        assert raised.value.name == "Sec-WebSocket-Extensions"
        assert f"{error} at {pos} in " in str(raised.value)

    def test_build_extension(self) -> None:
        extensions: list[ExtensionHeader] = [
            (ExtensionName("permessage-deflate"), [("client_max_window_bits", None)]),
            (ExtensionName("x-foo"), [("a", "1"), ("b", None)]),
            (ExtensionName("x-bar"), []),
        ]
        header = build_extension(extensions)
        assert header == "permessage-deflate; client_max_window_bits, x-foo; a=1; b, x-bar"
        assert parse_extension(header) == extensions

    def test_build_extension_empty(self) -> None:
        assert build_extension([]) == ""


class TestSubprotocols:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("chat", ["chat"]),
            ("chat, superchat", ["chat", "superchat"]),
            ("v1.json.api,  v2", ["v1.json.api", "v2"]),
        ],
    )
    def test_parse_subprotocol(self, header: str, expected: list[str]) -> None:
        assert parse_subprotocol(header) == expected

    @pytest.mark.parametrize(("header", "pos"), [("", 0), ("a/b", 1), ("chat super", 5)])
    def test_parse_subprotocol_invalid(self, header: str, pos: int) -> None:
        with pytest.raises(InvalidHeaderFormat) as raised:
            parse_subprotocol(header)
        assert raised.value.name == "Sec-WebSocket-Protocol"
        assert f" at {pos} in " in str(raised.value)

    def test_build_subprotocol(self) -> None:
        subprotocols = [Subprotocol("chat"), Subprotocol("superchat")]
        assert build_subprotocol(subprotocols) == "chat, superchat"
        assert parse_subprotocol(build_subprotocol(subprotocols)) == subprotocols
        assert build_subprotocol([]) == ""

    @pytest.mark.parametrize("subprotocols", [[], ["chat"], ("chat", "v2.json")])
    def test_validate_subprotocols(self, subprotocols: Any) -> None:
        validate_subprotocols(subprotocols)

    def test_validate_subprotocols_str(self) -> None:
        with pytest.raises(TypeError, match="not a str"):
            validate_subprotocols("chat")  # type: ignore[arg-type]

    def test_validate_subprotocols_not_str_items(self) -> None:
        with pytest.raises(TypeError, match="must be a str"):
            validate_subprotocols([b"chat"])  # type: ignore[list-item]

    @pytest.mark.parametrize("subprotocol", ["", "a b", "a,b", "chat\r\n", "é"])
    def test_validate_subprotocols_invalid(self, subprotocol: str) -> None:
        with pytest.raises(ValueError, match="invalid subprotocol"):
            validate_subprotocols([Subprotocol(subprotocol)])


class TestBasicAuth:
    def test_build_www_authenticate_basic(self) -> None:
        assert build_www_authenticate_basic("wskit") == 'Basic realm="wskit", charset="UTF-8"'

    def test_build_www_authenticate_basic_escapes(self) -> None:
        header = build_www_authenticate_basic('say "hi" \\ bye')
        assert header == 'Basic realm="say \\"hi\\" \\\\ bye", charset="UTF-8"'

    @pytest.mark.parametrize("realm", ["a\r\nSet-Cookie: x", "a\x00", "Ā"])
    def test_build_www_authenticate_basic_invalid(self, realm: str) -> None:
        with pytest.raises(ValueError, match="quoted string"):
            build_www_authenticate_basic(realm)

    @pytest.mark.parametrize(
        ("username", "password"),
        [("user", "pass"), ("user", "pa:ss"), ("", ""), ("émile", "mot de passe"), ("\udcff", "x")],
    )
    def test_round_trip(self, username: str, password: str) -> None:
        header = build_authorization_basic(username, password)
        assert parse_authorization_basic(header) == (username, password)

    def test_build_authorization_basic(self) -> None:
        # RFC 7617 2: example with Aladdin / open sesame.
        expected = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        assert build_authorization_basic("Aladdin", "open sesame") == expected

    def test_build_authorization_basic_colon_in_username(self) -> None:
        with pytest.raises(ValueError, match="colon"):
            build_authorization_basic("us:er", "pass")

    @pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC"])
    def test_parse_scheme_case_insensitive(self, scheme: str) -> None:
        header = f"{scheme} QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        assert parse_authorization_basic(header) == ("Aladdin", "open sesame")

    def test_parse_non_utf8(self) -> None:
        assert parse_authorization_basic("Basic /zr+") == ("\udcff", "\udcfe")

    @pytest.mark.parametrize(
        ("header", "pos", "error"),
        [
            ("", 0, "expected token"),
            ("Basic", 5, "expected space after scheme"),
            ("Basic\tQWxh", 5, "expected space after scheme"),
            ("Basic  QWxh", 6, "expected token68"),
            ("Basic !!", 6, "expected token68"),
            ("Basic QWxh= x", 11, "trailing data"),
            ("Basic /w==Og==", 10, "trailing data"),
        ],
    )
    def test_parse_invalid_format(self, header: str, pos: int, error: str) -> None:
        with pytest.raises(InvalidHeaderFormat) as raised:
            parse_authorization_basic(header)
        assert raised.value.name == "Authorization"
        assert f"{error} at {pos} in " in str(raised.value)

    @pytest.mark.parametrize(
        ("header", "error"),
        [
            ("Bearer abc", "unsupported scheme: Bearer"),
            ("Digest username=x", "unsupported scheme: Digest"),
            ("Basic abc", "expected base64-encoded credentials"),
            ("Basic dXNlcg==", "expected username:password credentials"),
        ],
    )
    def test_parse_invalid_value(self, header: str, error: str) -> None:
        with pytest.raises(InvalidHeaderValue, match=error):
            parse_authorization_basic(header)


def best_time(function: Callable[[str], object], header: str) -> float:
    """Measure the CPU time of ``function(header)``; keep the best of three runs.

    The garbage collector is paused so that a full collection, whose cost
    depends on the whole test session's heap, doesn't land in one sample.
    """
    timings = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            start = time.process_time()
            with contextlib.suppress(InvalidHeader, SecurityError):
                function(header)
            timings.append(time.process_time() - start)
    finally:
        gc.enable()
    return min(timings)


# Inputs that make backtracking regular expressions or rescanning loops blow
# up: each is built from a unit repeated n times.
HOSTILE: list[tuple[Callable[[str], object], Callable[[int], str]]] = [
    (parse_connection, lambda n: "a" * n + "!"),
    (parse_connection, lambda n: ", " * n),
    (parse_connection, lambda n: "a," * n + "!"),
    (parse_connection, lambda n: " " * n + "!"),
    (parse_upgrade, lambda n: "a" * n + "/"),
    (parse_upgrade, lambda n: "a/b, " * n + "/"),
    (parse_subprotocol, lambda n: "a " * n),
    (parse_extension, lambda n: "a" * n + "!"),
    (parse_extension, lambda n: "a; " + "b=c; " * n + "!"),
    (parse_extension, lambda n: "a; b; " * n),
    (parse_extension, lambda n: 'a; b="' + "c" * n),
    (parse_extension, lambda n: 'a; b="' + "\\c" * n),
    (parse_extension, lambda n: 'a; b="' + "\\" * n),
    (parse_extension, lambda n: 'a; b="' + "\\c" * n + '"'),
    (parse_extension, lambda n: 'a; b="' + '\\"' * n),
    (parse_extension, lambda n: "a, " * n),
    (parse_extension, lambda n: "a ; b = " * n),
    (parse_authorization_basic, lambda n: "Basic " + "A" * n + "=" * n + "!"),
    (parse_authorization_basic, lambda n: "B" * n),
]


class TestHostileInput:
    @pytest.mark.parametrize(("function", "make"), HOSTILE)
    def test_linear_time(
        self, function: Callable[[str], object], make: Callable[[int], str]
    ) -> None:
        # Repeat the hostile unit to reach ~100 KB, and ~1 KB for scaling.
        unit = len(make(2)) - len(make(1))
        large, small = make(100_000 // unit), make(1_000 // unit)
        assert len(large) >= 99_000
        # Absolute bound, generous enough for a slow CI or coverage tracing:
        # linear parsing takes milliseconds, a quadratic scanner seconds, a
        # catastrophically backtracking regex never finishes.
        large_time = best_time(function, large)
        assert large_time < 2.0
        # Scaling bound: 100 times the input may cost at most 300 times the
        # time (linear is 100x, quadratic 10,000x); slack absorbs timer noise.
        small_time = best_time(function, small)
        assert large_time < 300 * small_time + 0.05

    def test_parameters_up_to_the_limit(self) -> None:
        header = "x-ext" + "; p" * MAX_EXTENSION_PARAMETERS
        ((name, parameters),) = parse_extension(header)
        assert name == "x-ext"
        assert len(parameters) == MAX_EXTENSION_PARAMETERS

    @pytest.mark.parametrize(
        ("function", "item", "limit"),
        [
            (parse_extension, "x-ext; p=1", MAX_EXTENSIONS),
            (parse_subprotocol, "chat", MAX_SUBPROTOCOLS),
            (parse_connection, "keep-alive", MAX_TOKENS),
            (parse_upgrade, "websocket", MAX_TOKENS),
        ],
    )
    def test_lists_up_to_the_limit(
        self, function: Callable[[str], list[object]], item: str, limit: int
    ) -> None:
        assert len(function(", ".join([item] * limit))) == limit

    @pytest.mark.parametrize(
        ("function", "header"),
        [
            (parse_extension, ", ".join(["x-ext"] * (MAX_EXTENSIONS + 1)) + ", !"),
            (parse_extension, "x-ext" + "; p" * (MAX_EXTENSION_PARAMETERS + 1) + "; !"),
            (parse_subprotocol, ", ".join(["chat"] * (MAX_SUBPROTOCOLS + 1)) + ", !"),
            (parse_connection, ", ".join(["a"] * (MAX_TOKENS + 1)) + ", !"),
            (parse_upgrade, ", ".join(["a"] * (MAX_TOKENS + 1)) + ", !"),
        ],
    )
    def test_parsing_stops_one_past_the_limit(
        self, function: Callable[[str], object], header: str
    ) -> None:
        # What follows the item too many is invalid: parsing never gets there.
        with pytest.raises(SecurityError, match="more than"):
            function(header)

    def test_long_quoted_value(self) -> None:
        value = "a" * 100_000
        assert parse_extension(f'x; p="{value}"') == [("x", [("p", value)])]
