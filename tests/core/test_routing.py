"""Tests for wskit.routing: converters, precedence, slashes, hosts, parity with werkzeug."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
import werkzeug.routing

from wskit.routing import (
    BaseConverter,
    Map,
    MapAdapter,
    NotFound,
    RequestRedirect,
    Rule,
    ValidationError,
)


def adapter(*rules: Rule, **options: Any) -> MapAdapter:
    return Map(rules, **options).bind("example.com", url_scheme="ws")


def redirect_of(adapter: MapAdapter, path: str, **kwargs: Any) -> str:
    with pytest.raises(RequestRedirect) as raised:
        adapter.match(path, **kwargs)
    assert raised.value.code == 308
    return raised.value.new_url


def not_found(adapter: MapAdapter, path: str) -> bool:
    with pytest.raises(NotFound) as raised:
        adapter.match(path)
    return raised.value.code == 404


# Placeholders.


def test_static_rules() -> None:
    urls = adapter(Rule("/", endpoint="root"), Rule("/about", endpoint="about"))
    assert urls.match("/") == ("root", {})
    assert urls.match("/about") == ("about", {})
    assert not_found(urls, "/contact")
    assert not_found(urls, "/about/more")


def test_default_converter_is_one_segment() -> None:
    urls = adapter(Rule("/rooms/<room>", endpoint="room"))
    assert urls.match("/rooms/lobby") == ("room", {"room": "lobby"})
    assert urls.match("/rooms/caf\u00e9 au lait") == ("room", {"room": "caf\u00e9 au lait"})
    assert not_found(urls, "/rooms/a/b")
    assert not_found(urls, "/rooms/")


def test_string_converter_lengths() -> None:
    urls = adapter(
        Rule("/exact/<string(length=2):code>", endpoint="exact"),
        Rule("/bounded/<string(minlength=2, maxlength=3):code>", endpoint="bounded"),
        Rule("/least/<string(minlength=3):code>", endpoint="least"),
    )
    assert urls.match("/exact/fr") == ("exact", {"code": "fr"})
    assert not_found(urls, "/exact/fra")
    assert urls.match("/bounded/ab")[1] == {"code": "ab"}
    assert urls.match("/bounded/abc")[1] == {"code": "abc"}
    assert not_found(urls, "/bounded/a")
    assert not_found(urls, "/bounded/abcd")
    assert urls.match("/least/abcdefgh")[1] == {"code": "abcdefgh"}
    assert not_found(urls, "/least/ab")


def test_int_converter() -> None:
    urls = adapter(
        Rule("/n/<int:n>", endpoint="n"),
        Rule("/bounded/<int(min=1, max=9):n>", endpoint="bounded"),
        Rule("/signed/<int(signed=True):n>", endpoint="signed"),
        Rule("/fixed/<int(fixed_digits=3):n>", endpoint="fixed"),
    )
    assert urls.match("/n/42") == ("n", {"n": 42})
    assert urls.match("/n/007") == ("n", {"n": 7})
    assert not_found(urls, "/n/-1")
    assert not_found(urls, "/n/1.5")
    assert not_found(urls, "/n/x")
    assert urls.match("/bounded/1")[1] == {"n": 1}
    assert urls.match("/bounded/9")[1] == {"n": 9}
    assert not_found(urls, "/bounded/0")
    assert not_found(urls, "/bounded/10")
    assert urls.match("/signed/-12")[1] == {"n": -12}
    assert urls.match("/signed/12")[1] == {"n": 12}
    assert urls.match("/fixed/012")[1] == {"n": 12}
    assert not_found(urls, "/fixed/12")


def test_float_converter() -> None:
    urls = adapter(
        Rule("/x/<float:x>", endpoint="x"),
        Rule("/signed/<float(signed=True, max=2.0):x>", endpoint="signed"),
    )
    assert urls.match("/x/1.5") == ("x", {"x": 1.5})
    assert not_found(urls, "/x/1")
    assert not_found(urls, "/x/-1.5")
    assert urls.match("/signed/-1.5")[1] == {"x": -1.5}
    assert not_found(urls, "/signed/2.5")


def test_path_converter_takes_slashes() -> None:
    urls = adapter(Rule("/files/<path:name>", endpoint="file"))
    assert urls.match("/files/a/b/c.txt") == ("file", {"name": "a/b/c.txt"})
    assert urls.match("/files/a//b") == ("file", {"name": "a//b"})
    assert not_found(urls, "/files/")


def test_uuid_converter() -> None:
    value = uuid.uuid4()
    urls = adapter(Rule("/u/<uuid:id>", endpoint="u"))
    assert urls.match(f"/u/{value}") == ("u", {"id": value})
    assert urls.match(f"/u/{str(value).upper()}") == ("u", {"id": value})
    assert not_found(urls, f"/u/{value.hex}")


def test_any_converter() -> None:
    urls = adapter(Rule("/color/<any(red, green, 'dark.blue'):color>", endpoint="color"))
    assert urls.match("/color/red") == ("color", {"color": "red"})
    assert urls.match("/color/dark.blue") == ("color", {"color": "dark.blue"})
    assert not_found(urls, "/color/darkxblue")
    assert not_found(urls, "/color/blue")


def test_several_placeholders_in_a_segment() -> None:
    urls = adapter(Rule("/d/<x>-<y>", endpoint="dash"), Rule("/files/<name>.txt", endpoint="txt"))
    assert urls.match("/d/a-b") == ("dash", {"x": "a", "y": "b"})
    assert urls.match("/d/a-b-c") == ("dash", {"x": "a-b", "y": "c"})
    assert urls.match("/files/x.y.txt") == ("txt", {"name": "x.y"})


def test_custom_converter() -> None:
    class Upper(BaseConverter):
        regex = "[a-z]+"

        def to_python(self, value: str) -> str:
            return value.upper()

    class Between(BaseConverter):
        def __init__(self, map: Map, low: int, high: int) -> None:
            super().__init__(map)
            self.low, self.high = low, high

        def to_python(self, value: str) -> int:
            if not value.isdigit() or not self.low <= int(value) <= self.high:
                raise ValidationError(value)
            return int(value)

    urls = adapter(
        Rule("/shout/<upper:word>", endpoint="shout"),
        Rule("/pick/<between(1, 3):n>", endpoint="pick"),
        converters={"upper": Upper, "between": Between},
    )
    assert urls.match("/shout/hey") == ("shout", {"word": "HEY"})
    assert not_found(urls, "/shout/Hey")
    assert urls.match("/pick/2") == ("pick", {"n": 2})
    assert not_found(urls, "/pick/4")


def test_custom_converter_replaces_a_default() -> None:
    class Word(BaseConverter):
        regex = "[a-z]+"

    urls = adapter(Rule("/<name>", endpoint="name"), converters={"default": Word})
    assert urls.match("/abc") == ("name", {"name": "abc"})
    assert not_found(urls, "/a1")


def test_base_converter_ignores_arguments() -> None:
    # As werkzeug's: <uuid(4):id> and <path(x=1):p> are accepted.
    urls = adapter(Rule("/<path(x=1):p>", endpoint="p"))
    assert urls.match("/a/b") == ("p", {"p": "a/b"})


# Precedence.

PRECEDENCE = [
    # Not bound to a map: templates and endpoints for the rules of each test.
    Rule("/rooms/<room>", endpoint="room"),
    Rule("/rooms/new", endpoint="new"),
    Rule("/<name>", endpoint="name"),
    Rule("/<int:number>", endpoint="number"),
    Rule("/<path:rest>", endpoint="rest"),
    Rule("/w/<a>/x", endpoint="a-x"),
    Rule("/w/y/<b>", endpoint="y-b"),
    Rule("/v/<a>", endpoint="v"),
    Rule("/v/<a>.txt", endpoint="v.txt"),
    Rule("/p/<path:rest>", endpoint="p"),
    Rule("/p/<path:rest>/edit", endpoint="p/edit"),
]

PRECEDENCE_CASES = {
    "/rooms/new": ("new", {}),
    "/rooms/old": ("room", {"room": "old"}),
    "/12": ("number", {"number": 12}),
    "/ab": ("name", {"name": "ab"}),
    "/a/b": ("rest", {"rest": "a/b"}),
    "/w/y/x": ("y-b", {"b": "x"}),
    "/v/a.txt": ("v.txt", {"a": "a"}),
    "/v/a": ("v", {"a": "a"}),
    "/p/a/b/edit": ("p/edit", {"rest": "a/b"}),
    "/p/a/b": ("p", {"rest": "a/b"}),
}


@pytest.mark.parametrize("seed", range(5))
def test_precedence_does_not_depend_on_order(seed: int) -> None:
    order = list(PRECEDENCE)
    random.Random(seed).shuffle(order)
    url_map = Map([Rule(rule.rule, endpoint=rule.endpoint) for rule in order])
    urls = url_map.bind("example.com")
    for path, expected in PRECEDENCE_CASES.items():
        assert urls.match(path) == expected, path


def test_iter_rules_in_the_order_they_are_tried() -> None:
    url_map = Map(
        [
            Rule("/<path:rest>", endpoint="rest"),
            Rule("/<name>", endpoint="name"),
            Rule("/<int:n>", endpoint="n"),
            Rule("/static", endpoint="static"),
        ]
    )
    assert [rule.endpoint for rule in url_map.iter_rules()] == ["static", "n", "name", "rest"]


def test_ties_keep_the_order_of_the_rules() -> None:
    urls = adapter(Rule("/<a>", endpoint="first"), Rule("/<b>", endpoint="second"))
    assert urls.match("/x") == ("first", {"a": "x"})


def test_refused_value_moves_on_to_the_next_rule() -> None:
    # werkzeug's documentation says so; werkzeug itself answers 404 here.
    urls = adapter(
        Rule("/i/<int(min=1):k>", endpoint="positive"),
        Rule("/i/<name>", endpoint="name"),
    )
    assert urls.match("/i/5") == ("positive", {"k": 5})
    assert urls.match("/i/0") == ("name", {"name": "0"})


# Slashes.


def test_strict_slashes_redirect_to_branch() -> None:
    urls = adapter(Rule("/rooms/", endpoint="rooms"), Rule("/leaf", endpoint="leaf"))
    assert urls.match("/rooms/") == ("rooms", {})
    assert redirect_of(urls, "/rooms") == "ws://example.com/rooms/"
    assert not_found(urls, "/leaf/")


def test_redirect_keeps_query() -> None:
    urls = adapter(Rule("/rooms/", endpoint="rooms"))
    assert (
        redirect_of(urls, "/rooms", query_args="a=1&b=%20") == "ws://example.com/rooms/?a=1&b=%20"
    )
    assert redirect_of(urls, "/rooms", query_args={"k": "v w"}) == "ws://example.com/rooms/?k=v+w"
    assert redirect_of(urls, "/rooms", query_args="") == "ws://example.com/rooms/"
    assert redirect_of(urls, "/rooms", query_args={}) == "ws://example.com/rooms/"


def test_redirect_quotes_path_and_uses_bound_name_and_scheme() -> None:
    urls = Map([Rule("/<room>/", endpoint="room")]).bind("Example.COM:8443", url_scheme="wss")
    assert redirect_of(urls, "/caf\u00e9 1") == "wss://example.com:8443/caf%C3%A9%201/"
    assert redirect_of(urls, "/a:b@c") == "wss://example.com:8443/a:b@c/"
    assert redirect_of(urls, "/a?b#c") == "wss://example.com:8443/a%3Fb%23c/"


def test_redirect_checks_converters() -> None:
    urls = adapter(Rule("/n/<int(max=5):n>/", endpoint="n"))
    assert redirect_of(urls, "/n/5") == "ws://example.com/n/5/"
    assert not_found(urls, "/n/6")


def test_match_beats_adding_a_slash() -> None:
    urls = adapter(Rule("/t/<a>/", endpoint="branch"), Rule("/t/<a>", endpoint="leaf"))
    assert urls.match("/t/x") == ("leaf", {"a": "x"})
    assert urls.match("/t/x/") == ("branch", {"a": "x"})


def test_adding_a_slash_beats_a_placeholder_that_diverges_earlier() -> None:
    urls = adapter(Rule("/<path:rest>", endpoint="rest"), Rule("/rooms/", endpoint="rooms"))
    assert redirect_of(urls, "/rooms") == "ws://example.com/rooms/"
    assert urls.match("/lobby") == ("rest", {"rest": "lobby"})


def test_loose_slashes() -> None:
    for urls in [
        adapter(Rule("/branch/", endpoint="b"), Rule("/leaf", endpoint="l"), strict_slashes=False),
        adapter(
            Rule("/branch/", endpoint="b", strict_slashes=False),
            Rule("/leaf", endpoint="l", strict_slashes=False),
        ),
    ]:
        assert urls.match("/branch") == ("b", {})
        assert urls.match("/branch/") == ("b", {})
        assert urls.match("/leaf") == ("l", {})
        assert urls.match("/leaf/") == ("l", {})


def test_rule_can_be_stricter_than_map() -> None:
    urls = adapter(Rule("/rooms/", endpoint="rooms", strict_slashes=True), strict_slashes=False)
    assert redirect_of(urls, "/rooms") == "ws://example.com/rooms/"


def test_merge_slashes() -> None:
    urls = adapter(Rule("/rooms/<room>", endpoint="room"), Rule("/m/<int:n>/", endpoint="m"))
    assert redirect_of(urls, "/rooms//x") == "ws://example.com/rooms/x"
    assert redirect_of(urls, "/rooms///x", query_args="q") == "ws://example.com/rooms/x?q"
    # Merged, then a slash added, in one redirect.
    assert redirect_of(urls, "/m//1") == "ws://example.com/m/1/"
    assert redirect_of(urls, "/m//1//") == "ws://example.com/m/1/"
    assert not_found(urls, "/nothing//here")


def test_merge_slashes_disabled() -> None:
    urls = adapter(Rule("/a/b", endpoint="ab"), merge_slashes=False)
    assert not_found(urls, "/a//b")


def test_leading_slashes_do_not_count() -> None:
    urls = adapter(Rule("/rooms/<room>", endpoint="room"), Rule("/", endpoint="root"))
    assert urls.match("//rooms/x") == ("room", {"room": "x"})
    assert urls.match("rooms/x") == ("room", {"room": "x"})
    assert urls.match("") == ("root", {})


# Hosts.


def host_map() -> Map:
    return Map(
        [
            Rule("/", endpoint="www", host="example.com"),
            Rule("/", endpoint="static", host="www.example.com"),
            Rule("/", endpoint="user", host="<user>.example.com"),
            Rule("/r/", endpoint="r", host="<user>.example.com"),
            Rule("/n/<int:n>", endpoint="n", host="<int:shard>.example.com"),
            Rule("/x", endpoint="hostless"),
        ],
        host_matching=True,
    )


def test_host_matching() -> None:
    def match(host: str, path: str) -> tuple[Any, dict[str, Any]]:
        return host_map().bind(host, url_scheme="wss").match(path)

    assert match("example.com", "/") == ("www", {})
    assert match("www.example.com", "/") == ("static", {})
    assert match("Alice.Example.com", "/") == ("user", {"user": "alice"})
    assert match("12.example.com", "/n/3") == ("n", {"shard": 12, "n": 3})
    assert match("", "/x") == ("hostless", {})
    with pytest.raises(NotFound):
        match("alice.example.com:8080", "/")  # the port is part of the host
    with pytest.raises(NotFound):
        match("example.org", "/")
    with pytest.raises(NotFound):
        match("example.com", "/x")
    with pytest.raises(RequestRedirect) as raised:
        match("alice.example.com", "/r")
    assert raised.value.new_url == "wss://alice.example.com/r/"


def test_host_ignored_without_host_matching() -> None:
    urls = adapter(Rule("/", endpoint="root", host="elsewhere.org"))
    assert urls.match("/") == ("root", {})


# Rules and maps.


def test_rule_attributes() -> None:
    rule = Rule("/x/<y>", endpoint=print, websocket=True)
    assert (rule.rule, rule.endpoint, rule.websocket, rule.map) == ("/x/<y>", print, True, None)
    assert repr(rule) == "<Rule '/x/<y>' -> <built-in function print>>"
    url_map = Map([rule])
    assert rule.map is url_map
    assert repr(url_map) == "Map([<Rule '/x/<y>' -> <built-in function print>>])"


def test_add_rule_later() -> None:
    url_map = Map()
    urls = url_map.bind("example.com")
    assert not_found(urls, "/x")
    url_map.add(Rule("/x", endpoint="x"))
    assert urls.match("/x") == ("x", {})


@pytest.mark.parametrize(
    ("string", "error"),
    [
        ("rooms", ValueError),
        ("/rooms/<int:id", ValueError),
        ("/rooms/int:id>", ValueError),
        ("/<a>/<a>", ValueError),
        ("/<nope:a>", LookupError),
        ("/<int(min=):a>", ValueError),
        ("/<int(min=1+x):a>", ValueError),
        ("/<int(**x):a>", ValueError),
        ("/<int(nope=1):a>", TypeError),
    ],
)
def test_invalid_rules(string: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Map([Rule(string)])


def test_rule_belongs_to_one_map() -> None:
    rule = Rule("/x")
    Map([rule])
    with pytest.raises(RuntimeError):
        Map([rule])


# Parity with werkzeug: the same rules give the same answers. (Except where a
# converter refuses a value: see test_refused_value_moves_on_to_the_next_rule.)

PARITY_RULES: list[tuple[str, dict[str, Any]]] = [
    ("/", {}),
    ("/rooms/", {}),
    ("/rooms/<room>", {}),
    ("/rooms/new", {}),
    ("/leaf", {}),
    ("/loose/", {"strict_slashes": False}),
    ("/looseleaf", {"strict_slashes": False}),
    ("/n/<int:n>", {}),
    ("/f/<float:x>", {}),
    ("/p/<path:rest>", {}),
    ("/p/<path:rest>/edit", {}),
    ("/u/<uuid:id>", {}),
    ("/a/<any(red, green):color>", {}),
    ("/s/<string(length=2):code>", {}),
    ("/sm/<string(minlength=2,maxlength=3):s>", {}),
    ("/d/<x>-<y>", {}),
    ("/files/<name>.txt", {}),
    ("/files/<name>", {}),
    ("/w/<a>/x", {}),
    ("/w/y/<b>", {}),
    ("/m/<int:n>/", {}),
    ("/t/<a>", {}),
    ("/t/<a>/", {}),
    ("/x/<path:p>/", {}),
    ("/fd/<int(fixed_digits=3):n>", {}),
    ("/fs/<float(signed=True, max=2.0):v>", {}),
    ("/<int:top>", {}),
]

PARITY_PATHS = [
    "/",
    "/rooms",
    "/rooms/",
    "/rooms/x",
    "/rooms/x/",
    "/rooms/new",
    "/rooms/new/",
    "/leaf",
    "/leaf/",
    "/loose",
    "/loose/",
    "/looseleaf",
    "/looseleaf/",
    "/n/12",
    "/n/-1",
    "/n/01",
    "/n/1.5",
    "/f/1.5",
    "/f/1",
    "/p/a/b/c",
    "/p/",
    "/p",
    "/p/a//b",
    "/p/a/b/edit",
    "/u/12345678-1234-5678-1234-567812345678",
    "/u/12345678123456781234567812345678",
    "/a/red",
    "/a/blue",
    "/s/ab",
    "/s/abc",
    "/sm/a",
    "/sm/abc",
    "/sm/abcd",
    "/d/a-b",
    "/d/a-b-c",
    "/files/x.txt",
    "/files/x.y.txt",
    "/files/x",
    "/w/y/x",
    "/w/z/x",
    "/m/1",
    "/m//1",
    "/m//1/",
    "/t/q",
    "/t/q/",
    "/x/a/b",
    "/x/a/b/",
    "/12",
    "/12/",
    "/zz",
    "/zz/yy/",
    "//rooms/x",
    "/rooms//x",
    "///rooms",
    "/rooms///",
    "/rooms//new",
    "/rooms/caf\u00e9",
    "/\u00e9",
    "/a b",
    "/fd/012",
    "/fs/-1.5",
    "/leaf//",
]


def outcomes(adapter: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for path in PARITY_PATHS:
        try:
            results[path] = adapter.match(path, query_args="q=1")
        except (RequestRedirect, werkzeug.routing.RequestRedirect) as redirect:
            results[path] = ("redirect", redirect.new_url)
        except (NotFound, werkzeug.exceptions.NotFound):
            results[path] = ("not found",)
    return results


@pytest.mark.parametrize("catch_all", [False, True])
def test_same_outcomes_as_werkzeug(catch_all: bool) -> None:
    rules = PARITY_RULES + [("/<path:anything>", {})] * catch_all
    theirs = werkzeug.routing.Map(
        [werkzeug.routing.Rule(s, endpoint=s, websocket=True, **o) for s, o in rules]
    )
    ours = Map([Rule(s, endpoint=s, **o) for s, o in rules])
    expected = outcomes(theirs.bind("Example.com:80", url_scheme="ws"))
    assert outcomes(ours.bind("Example.com:80", url_scheme="ws")) == expected
    # The table covers every kind of outcome.
    kinds = {result[0] for result in expected.values()}
    assert "redirect" in kinds
    assert ("not found" in kinds) is not catch_all
