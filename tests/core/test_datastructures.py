"""Tests for wskit.datastructures."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any
from unittest.mock import patch

import pytest

from wskit.datastructures import Headers, MultipleValuesError
from wskit.exceptions import InvalidHeader, InvalidHeaderValue
from wskit.http11 import request_at_once


class KeysAndGetItem:
    """Not a Mapping, but has keys() and __getitem__ like dict.update accepts."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    def keys(self) -> Iterable[str]:
        return self.data.keys()

    def __getitem__(self, key: str) -> str:
        return self.data[key]


@pytest.fixture
def headers() -> Headers:
    return Headers([("Connection", "Upgrade"), ("Server", "wskit")])


class TestConstruction:
    def test_empty(self) -> None:
        assert len(Headers()) == 0
        assert list(Headers().raw_items()) == []

    def test_from_pairs_mapping_headers_kwargs(self) -> None:
        headers = Headers(Headers(A="1"), E="5")
        headers.update({"B": "2"})
        headers.update([("C", "3")])
        headers.update(KeysAndGetItem({"D": "4"}))
        assert list(headers.raw_items()) == [
            ("A", "1"),
            ("E", "5"),
            ("B", "2"),
            ("C", "3"),
            ("D", "4"),
        ]

    def test_one_positional_argument_at_most(self) -> None:
        # As dict() and websockets' Headers: a second one is a mistake.
        with pytest.raises(TypeError, match="at most 1"):
            Headers({"A": "1"}, {"B": "2"})
        with pytest.raises(TypeError, match="at most 1"):
            Headers().update([("A", "1")], [("B", "2")])

    def test_from_bad_iterable(self) -> None:
        with pytest.raises(ValueError, match="unpack"):
            Headers(["abc"])  # type: ignore[list-item]

    def test_update_with_itself_terminates(self, headers: Headers) -> None:
        headers.update(headers)
        assert headers.get_all("connection") == ["Upgrade", "Upgrade"]


class TestMapping:
    def test_case_insensitive_lookup(self, headers: Headers) -> None:
        assert headers["connection"] == "Upgrade"
        assert headers["CONNECTION"] == "Upgrade"
        assert "sErVeR" in headers

    def test_contains_non_str(self, headers: Headers) -> None:
        key: object = 42
        assert key not in headers

    def test_iter_and_len_use_lowercase_names(self, headers: Headers) -> None:
        headers["connection"] = "keep-alive"
        assert list(headers) == ["connection", "server"]
        assert len(headers) == 2

    def test_missing_key(self, headers: Headers) -> None:
        with pytest.raises(KeyError):
            headers["Upgrade"]
        assert headers.get("Upgrade") is None

    def test_multiple_values(self, headers: Headers) -> None:
        headers["Connection"] = "keep-alive"
        with pytest.raises(MultipleValuesError) as raised:
            headers["connection"]
        assert isinstance(raised.value, LookupError)
        assert str(raised.value) == "'connection'"
        with pytest.raises(MultipleValuesError):
            headers.get("Connection")

    def test_get_as_mapping_get(self, headers: Headers) -> None:
        # Headers.get() skips Mapping.get()'s KeyError; nothing else changes.
        assert headers.get("SERVER") == "wskit"
        assert headers.get("Upgrade", "default") == "default"
        assert headers.get("Upgrade", default="default") == "default"
        assert headers.get("Server", "default") == "wskit"
        assert MutableMapping.get(headers, "server") == headers.get("server")
        with pytest.raises(AttributeError):
            headers.get(1)  # type: ignore[call-overload]

    def test_multiple_values_error_with_several_args(self) -> None:
        assert str(MultipleValuesError("a", "b")) == "('a', 'b')"

    def test_setitem_appends(self, headers: Headers) -> None:
        headers["Server"] = "other"
        assert headers.get_all("server") == ["wskit", "other"]
        assert list(headers.raw_items())[-1] == ("Server", "other")

    def test_delitem_removes_all_values(self, headers: Headers) -> None:
        headers["connection"] = "keep-alive"
        del headers["CONNECTION"]
        assert "Connection" not in headers
        assert list(headers.raw_items()) == [("Server", "wskit")]

    def test_delitem_missing(self, headers: Headers) -> None:
        with pytest.raises(KeyError):
            del headers["Upgrade"]

    def test_get_all_missing(self, headers: Headers) -> None:
        assert headers.get_all("Upgrade") == []

    def test_get_all_returns_a_copy(self, headers: Headers) -> None:
        headers.get_all("Server").append("x")
        assert headers.get_all("Server") == ["wskit"]

    def test_duplicates_preserved_in_order(self) -> None:
        headers = Headers([("X", "1"), ("Y", "a"), ("x", "2"), ("X", "3")])
        assert headers.get_all("x") == ["1", "2", "3"]
        assert [name for name, _ in headers.raw_items()] == ["X", "Y", "x", "X"]


class TestMethods:
    def test_copy_is_independent(self, headers: Headers) -> None:
        copy = headers.copy()
        assert copy == headers
        copy["Upgrade"] = "websocket"
        copy["Server"] = "other"
        assert "Upgrade" not in headers
        assert headers.get_all("Server") == ["wskit"]

    def test_copy_of_repeated_values_is_independent(self, headers: Headers) -> None:
        headers["Server"] = "other"
        copy = headers.copy()
        copy["Server"] = "third"
        assert headers.get_all("Server") == ["wskit", "other"]
        assert copy.get_all("Server") == ["wskit", "other", "third"]

    def test_values_given_once_are_no_objects_of_their_own(self) -> None:
        # Performance device (ARCHITECTURE.md): a value, not a list of one,
        # for each name given once, so that a parsed request's headers or a
        # server's response's hold no object per header for the garbage
        # collector to track; a repeated name gets a list.
        parsed = request_at_once(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nX: 1\r\n\r\n")
        assert parsed is not None
        headers = parsed[0].headers
        built = Headers(Host="a", Upgrade="websocket", X="1")
        for each in headers, built:
            assert not gc.is_tracked(each._dict)
            assert each == Headers([("host", "a"), ("upgrade", "websocket"), ("x", "1")])
            each["x"] = "2"
            assert each.get_all("X") == ["1", "2"]
            with pytest.raises(MultipleValuesError):
                each["X"]
            del each["X"]
            each["X"] = "1"
            assert each == Headers(Host="a", Upgrade="websocket", X="1")

    def test_clear(self, headers: Headers) -> None:
        headers.clear()
        assert len(headers) == 0
        assert headers.serialize() == b"\r\n"

    def test_update(self, headers: Headers) -> None:
        headers.update({"Server": "other"}, Upgrade="websocket")
        assert headers.get_all("Server") == ["wskit", "other"]
        assert headers["Upgrade"] == "websocket"

    def test_serialize(self, headers: Headers) -> None:
        assert headers.serialize() == b"Connection: Upgrade\r\nServer: wskit\r\n\r\n"

    def test_serialize_empty_and_repeated(self) -> None:
        assert Headers().serialize() == b"\r\n"
        assert Headers([("A", ""), ("a", "x: y"), ("B", " ")]).serialize() == (
            b"A: \r\na: x: y\r\nB:  \r\n\r\n"
        )

    @pytest.mark.parametrize(
        ("before", "fields"),
        [
            # Every name new and once, or into headers that have others.
            ([], [("A", "1"), ("b", "2"), ("C-d", "3")]),
            ([], []),
            ([("X", "0")], [("A", "1"), ("b", "2")]),
            # A repeated name, or one already there: the values add up.
            ([], [("A", "1"), ("b", "2"), ("a", "3")]),
            ([("B", "0")], [("A", "1"), ("b", "2")]),
        ],
    )
    def test_add_valid_is_set_insecure_in_bulk(
        self, before: list[tuple[str, str]], fields: list[tuple[str, str]]
    ) -> None:
        bulk, one_by_one = Headers(before), Headers(before)
        bulk._add_valid(list(fields))
        for name, value in fields:
            one_by_one.set_insecure(name, value)
        assert bulk == one_by_one
        assert list(bulk.raw_items()) == list(one_by_one.raw_items()) == before + fields
        # Values of each name stay apart from the others'.
        bulk.set_insecure("a", "4")
        one_by_one.set_insecure("a", "4")
        assert bulk == one_by_one
        assert bulk.get_all("b") == one_by_one.get_all("b")

    def test_serialize_latin_1(self) -> None:
        assert Headers(X="café").serialize() == b"X: caf\xe9\r\n\r\n"

    def test_str(self, headers: Headers) -> None:
        assert str(headers) == "Connection: Upgrade\r\nServer: wskit\r\n\r\n"

    def test_repr(self, headers: Headers) -> None:
        assert repr(headers) == "Headers([('Connection', 'Upgrade'), ('Server', 'wskit')])"

    def test_eq(self, headers: Headers) -> None:
        assert headers == Headers(connection="Upgrade", server="wskit")
        assert headers != Headers(Connection="Upgrade")
        assert headers != {"connection": "Upgrade", "server": "wskit"}

    def test_unhashable(self, headers: Headers) -> None:
        with pytest.raises(TypeError):
            hash(headers)


class TestValidation:
    @pytest.mark.parametrize(
        "value",
        ["a\r\nSet-Cookie: x", "a\nb", "a\rb", "a\x00b", "a\x7fb", "a\x1bb", "Ā", "\u2028"],
    )
    def test_unsafe_value(self, value: str) -> None:
        headers = Headers()
        with pytest.raises(InvalidHeaderValue):
            headers["X"] = value
        assert len(headers) == 0

    @pytest.mark.parametrize("value", ["", " padded ", "a\tb", "é", "\xff", '~!"#'])
    def test_safe_value(self, value: str) -> None:
        headers = Headers()
        headers["X"] = value
        assert headers["X"] == value

    @pytest.mark.parametrize("name", ["", "X Y", "X:", "X\r\nY", "X\x00", "é", "(x)"])
    def test_invalid_name(self, name: str) -> None:
        with pytest.raises(InvalidHeader):
            Headers()[name] = "v"

    def test_injection_through_constructor(self) -> None:
        with pytest.raises(InvalidHeaderValue):
            Headers({"X": "a\r\n\r\nHTTP/1.1 200 OK"})
        with pytest.raises(InvalidHeader):
            Headers([("X\r\nY", "v")])

    def test_non_str(self) -> None:
        with pytest.raises(TypeError, match="value must be a str"):
            Headers()["X"] = 1  # type: ignore[assignment]
        with pytest.raises(TypeError, match="name must be a str"):
            Headers()[b"X"] = "v"  # type: ignore[index]

    def test_set_insecure_skips_validation(self) -> None:
        headers = Headers()
        headers.set_insecure("X", "a\r\nb")
        headers.set_insecure("Bad Name", "v")
        assert headers["x"] == "a\r\nb"
        assert headers.serialize() == b"X: a\r\nb\r\nBad Name: v\r\n\r\n"


@pytest.mark.parametrize(
    "fields",
    [[], [("User-Agent", "a")], [("User-Agent", "a"), ("user-agent", "b")], [("Other", "x")]],
)
@pytest.mark.parametrize("default", ["default", None, "bad\r\nvalue"])
def test_setdefault_agrees_with_mutable_mapping(
    fields: list[tuple[str, str]], default: str | None
) -> None:
    # Headers.setdefault() reads the dict rather than raising and catching
    # KeyError; MutableMapping's is the rule it keeps.
    def outcome(setdefault: Callable[..., Any]) -> tuple[object, list[tuple[str, str]]]:
        headers = Headers(fields)
        try:
            result: object = setdefault(headers, "User-Agent", default)
        except Exception as exc:  # the exception is the outcome
            result = type(exc)
        return result, list(headers.raw_items())

    assert outcome(Headers.setdefault) == outcome(MutableMapping.setdefault)


def test_setdefault_raises_no_key_error_for_a_missing_header() -> None:
    headers = Headers()
    with patch.object(Headers, "__getitem__", side_effect=AssertionError("no lookup")):
        assert headers.setdefault("User-Agent", "x") == "x"
    assert headers["user-agent"] == "x"
