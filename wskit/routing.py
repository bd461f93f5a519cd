"""URL maps: which handler serves which path, in the rule syntax of werkzeug.

:func:`wskit.asyncio.router.route` and :func:`wskit.sync.router.route`
dispatch connections with a :class:`Map` of :class:`Rule` objects whose
endpoints are the handlers::

    from wskit.routing import Map, Rule

    url_map = Map([
        Rule("/", endpoint=lobby),
        Rule("/rooms/<room>", endpoint=room),          # room(websocket, room="...")
        Rule("/users/<int:user_id>", endpoint=user),   # user(websocket, user_id=42)
    ])

Rules read as in ``werkzeug.routing``, whose ``Map`` the routers accept as
well; this module has what a WebSocket server needs and no dependency:

- placeholders: ``<name>`` (one path segment), ``<int:name>``,
  ``<float:name>``, ``<path:name>`` (the rest of the path, slashes
  included), ``<uuid:name>``, ``<any(red, green):name>``; with werkzeug's
  arguments (``<int(min=1, max=99):n>``, ``<string(length=2):code>``...)
  and custom converters (:class:`BaseConverter` subclasses passed to
  :class:`Map`);
- precedence as in werkzeug, whatever the order of the rules: static
  segments first, then placeholders by weight (numbers, then strings, then
  paths);
- slashes: with ``strict_slashes`` (the default), a rule that ends with
  ``/`` matches the path without it through a redirect, and a rule that
  doesn't end with ``/`` doesn't match a path that does; runs of slashes
  redirect to the path with single slashes (``merge_slashes``);
- host matching: ``Map(host_matching=True)`` and ``Rule(..., host=...)``,
  with placeholders in hosts too.

It doesn't build URLs and has no methods, subdomains, defaults or
``redirect_to``: a WebSocket handshake is always a GET.
"""

from __future__ import annotations

import ast
import re
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, cast

__all__ = [
    "AnyConverter",
    "BaseConverter",
    "FloatConverter",
    "IntegerConverter",
    "Map",
    "MapAdapter",
    "NotFound",
    "NumberConverter",
    "PathConverter",
    "RequestRedirect",
    "RoutingException",
    "Rule",
    "UUIDConverter",
    "UnicodeConverter",
    "ValidationError",
]


class RoutingException(Exception):
    """What :meth:`MapAdapter.match` raises when no rule simply matches.

    Attributes:
        code: The HTTP status that werkzeug gives the same outcome.
    """

    code: ClassVar[int]


class NotFound(RoutingException):
    """No rule matches the path."""

    code = 404


class RequestRedirect(RoutingException):
    """A rule matches another form of the path: with a trailing slash, or single slashes.

    Attributes:
        new_url: The absolute URL to redirect to, query included.
    """

    code = 308

    def __init__(self, new_url: str) -> None:
        super().__init__(new_url)
        self.new_url = new_url


class ValidationError(ValueError):
    """Raised by :meth:`BaseConverter.to_python` to refuse a value: the rule doesn't match."""


# Converters.


class BaseConverter:
    """Turns the text of a placeholder into the value the handler receives.

    Subclass it for a custom converter: set :attr:`regex`, override
    :meth:`to_python`, and register the class with
    ``Map(converters={"name": MyConverter})``. Rules then use it as
    ``<name:variable>`` or ``<name(arguments):variable>``; the arguments go
    to the constructor after the map.

    Attributes:
        regex: What the placeholder matches.
        weight: Precedence among placeholders that compete for a segment;
            lower goes first.
    """

    regex = "[^/]+"
    weight = 100

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        self.map = map

    def to_python(self, value: str) -> Any:
        """Return the value for the handler.

        Raises:
            ValidationError: The text isn't acceptable: the rule doesn't match.
        """
        return value


class UnicodeConverter(BaseConverter):
    """``<name>`` or ``<string:name>``: one path segment, of bounded length if asked.

    Args:
        minlength: Fewest characters.
        maxlength: Most characters; :obj:`None` for no bound.
        length: Exact number of characters, instead of the bounds.
    """

    def __init__(
        self,
        map: Map,
        minlength: int = 1,
        maxlength: int | None = None,
        length: int | None = None,
    ) -> None:
        super().__init__(map)
        if length is not None:
            self.regex = f"[^/]{{{int(length)}}}"
        else:
            upper = "" if maxlength is None else int(maxlength)
            self.regex = f"[^/]{{{int(minlength)},{upper}}}"


class AnyConverter(BaseConverter):
    """``<any(a, b, c):name>``: one of the given segments."""

    def __init__(self, map: Map, *items: str) -> None:
        super().__init__(map)
        self.regex = "(?:" + "|".join(re.escape(item) for item in items) + ")"


class PathConverter(BaseConverter):
    """``<path:name>``: the rest of the path, slashes included; comes after the others."""

    regex = "[^/].*?"
    weight = 200


class NumberConverter(BaseConverter):
    """Common base of :class:`IntegerConverter` and :class:`FloatConverter`.

    Args:
        fixed_digits: Exact number of characters, 0 for any.
        min: Smallest value accepted.
        max: Largest value accepted.
        signed: Accept a leading minus sign.
    """

    weight = 50
    num_convert: ClassVar[type[int] | type[float]] = int

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: float | None = None,
        max: float | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map)
        self.fixed_digits = fixed_digits
        self.min = min
        self.max = max
        if signed:
            self.regex = "-?" + self.regex

    def to_python(self, value: str) -> int | float:
        if self.fixed_digits and len(value) != self.fixed_digits:
            raise ValidationError(value)
        number = self.num_convert(value)
        if (self.min is not None and number < self.min) or (
            self.max is not None and number > self.max
        ):
            raise ValidationError(value)
        return number


class IntegerConverter(NumberConverter):
    """``<int:name>``: digits, as an :class:`int`; ``<int(min=1, max=9, signed=True):n>``."""

    regex = r"\d+"


class FloatConverter(NumberConverter):
    """``<float:name>``: digits, a dot, digits, as a :class:`float`."""

    regex = r"\d+\.\d+"
    num_convert = float

    def __init__(
        self,
        map: Map,
        min: float | None = None,
        max: float | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map, min=min, max=max, signed=signed)


class UUIDConverter(BaseConverter):
    """``<uuid:name>``: a UUID in its hyphenated form, as a :class:`uuid.UUID`."""

    regex = "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)


DEFAULT_CONVERTERS: Mapping[str, type[BaseConverter]] = {
    "default": UnicodeConverter,
    "string": UnicodeConverter,
    "any": AnyConverter,
    "path": PathConverter,
    "int": IntegerConverter,
    "float": FloatConverter,
    "uuid": UUIDConverter,
}


# Rules.

_PLACEHOLDER = re.compile(
    r"<(?:(?P<converter>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)>"
)

# Sort keys of segments: a static segment goes before one with placeholders,
# and the end of a rule after both, so that "/p/<path:rest>/edit" is tried
# before "/p/<path:rest>".
_STATIC = (0,)
_END = (2,)


def _converter_arguments(text: str) -> tuple[list[Any], dict[str, Any]]:
    """Parse ``1, max=9, 'x'``: Python literals, and bare words as strings."""
    try:
        # Always a call: the text has no ")" (the placeholder ends at the first one).
        call = cast(ast.Call, ast.parse(f"f({text})", mode="eval").body)
    except SyntaxError:
        raise ValueError(f"invalid converter arguments: {text}") from None

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return node.id
        return ast.literal_eval(node)

    args = [value(node) for node in call.args]
    kwargs = {keyword.arg: value(keyword.value) for keyword in call.keywords if keyword.arg}
    if len(kwargs) != len(call.keywords):  # f(**x)
        raise ValueError(f"invalid converter arguments: {text}")
    return args, kwargs


class _Pattern:
    """A path or host template compiled for a map: regex, converters, sort key."""

    def __init__(self, template: str, map: Map) -> None:
        self.converters: dict[str, BaseConverter] = {}
        regex: list[str] = []
        # Per segment (between slashes): how many static pieces, and the
        # weights of its placeholders.
        statics = [0]
        weights: list[list[int]] = [[]]
        position = 0

        def add_static(text: str) -> None:
            if "<" in text or ">" in text:
                raise ValueError(f"malformed rule: {template}")
            regex.append(re.escape(text))
            for index, piece in enumerate(text.split("/")):
                if index:
                    statics.append(0)
                    weights.append([])
                statics[-1] += bool(piece)

        for placeholder in _PLACEHOLDER.finditer(template):
            add_static(template[position : placeholder.start()])
            position = placeholder.end()
            name = placeholder["name"]
            if name in self.converters:
                raise ValueError(f"variable {name} appears twice in {template}")
            kind = placeholder["converter"] or "default"
            if kind not in map.converters:
                raise LookupError(f"no converter named {kind}")
            args, kwargs = _converter_arguments(placeholder["arguments"] or "")
            converter = map.converters[kind](map, *args, **kwargs)
            self.converters[name] = converter
            regex.append(f"(?P<{name}>{converter.regex})")
            weights[-1].append(converter.weight)
        add_static(template[position:])

        self.regex = "".join(regex)
        self.key = tuple(
            (1, -count, tuple(segment)) if segment else _STATIC
            for count, segment in zip(statics, weights, strict=True)
        )

    def values(self, regex: re.Pattern[str], text: str) -> dict[str, Any] | None:
        """Match ``text`` and convert the placeholders; :obj:`None` if it doesn't match."""
        match = regex.fullmatch(text)
        if match is None:
            return None
        try:
            return {
                name: converter.to_python(match[name])
                for name, converter in self.converters.items()
            }
        except ValidationError:
            return None


class Rule:
    """A path template and the endpoint it leads to.

    Args:
        string: The template, starting with ``/``, with placeholders such as
            ``<room>`` or ``<int:id>``.
        endpoint: What a match returns: the handler, for the routers.
        strict_slashes: Overrides the map's setting for this rule.
        host: Host template, with ``Map(host_matching=True)``, such as
            ``"<user>.example.com"``; it must match the server name exactly
            (port included, when there is one).
        websocket: Accepted for compatibility with werkzeug; every rule of
            a wskit map is a WebSocket rule.

    Raises:
        ValueError: The template doesn't start with ``/``.
    """

    def __init__(
        self,
        string: str,
        *,
        endpoint: Any = None,
        strict_slashes: bool | None = None,
        host: str | None = None,
        websocket: bool = False,
    ) -> None:
        if not string.startswith("/"):
            raise ValueError(f"a rule starts with a slash: {string}")
        self.rule = string
        self.endpoint = endpoint
        self.strict_slashes = strict_slashes
        self.host = host
        self.websocket = websocket
        self.map: Map | None = None

    def __repr__(self) -> str:
        return f"<Rule {self.rule!r} -> {self.endpoint!r}>"

    def bind(self, map: Map) -> None:
        """Compile the rule for ``map``; :meth:`Map.add` calls it.

        Raises:
            RuntimeError: The rule belongs to another map already.
            ValueError: The template is malformed: ``<`` or ``>`` outside a
                placeholder, a variable twice, invalid converter arguments.
            LookupError: A placeholder names an unknown converter.
        """
        if self.map is not None:
            raise RuntimeError(f"{self!r} belongs to a map already")
        strict = map.strict_slashes if self.strict_slashes is None else self.strict_slashes
        branch = self.rule.endswith("/")
        # The template without its trailing slash, which the regexes add back.
        self._path = _Pattern(self.rule[:-1] if branch else self.rule, map)
        if strict:
            self._exact = re.compile(self._path.regex + ("/" if branch else ""))
            self._slashless: re.Pattern[str] | None = (
                re.compile(self._path.regex) if branch else None
            )
        else:
            self._exact = re.compile(self._path.regex + "/?")
            self._slashless = None
        self._host: _Pattern | None = None
        key = self._path.key
        if map.host_matching:
            self._host = _Pattern(self.host or "", map)
            self._host_regex = re.compile(self._host.regex)
            key = self._host.key + key
        self.sort_key = key + ((_STATIC,) if branch else ()) + (_END,)
        # Adding the slash comes after the rules that end where the path
        # ends, and before those that diverge earlier with a placeholder.
        self.slash_key = None if self._slashless is None else (*key, _END, _END)
        self.map = map

    def match(self, host: str, path: str) -> dict[str, Any] | None:
        """Return the values of the placeholders if the rule matches, else :obj:`None`."""
        return self._values(self._exact, host, path)

    def needs_slash(self, host: str, path: str) -> bool:
        """Whether the rule would match ``path`` with a trailing slash added."""
        return self._slashless is not None and self._values(self._slashless, host, path) is not None

    def _values(self, regex: re.Pattern[str], host: str, path: str) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        if self._host is not None:
            host_values = self._host.values(self._host_regex, host)
            if host_values is None:
                return None
            values.update(host_values)
        path_values = self._path.values(regex, path)
        if path_values is None:
            return None
        values.update(path_values)
        return values


# Maps.

# Characters left as they are in the path of a redirect URL (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;="


class Map:
    """A set of rules; :meth:`bind` it to a server name to match paths.

    Args:
        rules: The rules, in any order: precedence doesn't depend on it.
        strict_slashes: See the module's description; rules may override it.
        merge_slashes: Redirect paths with runs of slashes to single slashes.
        converters: Extra converters by name, added to (or replacing) the
            defaults: ``default``, ``string``, ``any``, ``path``, ``int``,
            ``float``, ``uuid``.
        host_matching: Match the rules' ``host`` against the server name.
    """

    default_converters: ClassVar[Mapping[str, type[BaseConverter]]] = DEFAULT_CONVERTERS

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        *,
        strict_slashes: bool = True,
        merge_slashes: bool = True,
        converters: Mapping[str, type[BaseConverter]] | None = None,
        host_matching: bool = False,
    ) -> None:
        self.strict_slashes = strict_slashes
        self.merge_slashes = merge_slashes
        self.converters = {**self.default_converters, **(converters or {})}
        self.host_matching = host_matching
        self._rules: list[Rule] = []
        # What match() tries, in order: each rule, and adding a slash for
        # the rules that end with one.
        self.attempts: list[tuple[Rule, bool]] = []
        for rule in rules or ():
            self.add(rule)

    def add(self, rule: Rule) -> None:
        """Add a rule; see :meth:`Rule.bind` for what it raises."""
        rule.bind(self)
        self._rules.append(rule)
        # Stable sorts: ties keep the order of the rules.
        self._rules.sort(key=lambda rule: rule.sort_key)
        attempts = [(rule.sort_key, rule, False) for rule in self._rules]
        attempts += [(rule.slash_key, rule, True) for rule in self._rules if rule.slash_key]
        attempts.sort(key=lambda attempt: attempt[0])
        self.attempts = [(rule, slash) for _, rule, slash in attempts]

    def iter_rules(self) -> Iterator[Rule]:
        """Iterate over the rules, in the order they are tried."""
        return iter(self._rules)

    def bind(self, server_name: str, *, url_scheme: str = "http") -> MapAdapter:
        """Return an adapter that matches paths for ``server_name``.

        Args:
            server_name: Host name, with the port if any, as in the ``Host``
                header; it's matched with ``host_matching`` and it's the
                host of redirect URLs.
            url_scheme: Scheme of redirect URLs: ``ws`` or ``wss`` for
                WebSocket servers.
        """
        return MapAdapter(self, server_name.lower(), url_scheme)

    def __repr__(self) -> str:
        return f"Map({self._rules!r})"


class MapAdapter:
    """A :class:`Map` bound to a server name, as returned by :meth:`Map.bind`."""

    def __init__(self, map: Map, server_name: str, url_scheme: str) -> None:
        self.map = map
        self.server_name = server_name
        self.url_scheme = url_scheme

    def match(
        self,
        path_info: str,
        *,
        query_args: str | Mapping[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Find the rule that matches a path.

        Args:
            path_info: The path, percent-decoded, without the query.
            query_args: The query, kept in redirect URLs: a string, or a
                mapping to encode.

        Returns:
            The rule's endpoint and the values of its placeholders.

        Raises:
            RequestRedirect: A rule matches the path with a trailing slash
                added, or with runs of slashes merged.
            NotFound: Nothing matches.
        """
        # Leading slashes don't count, as in werkzeug.
        path = "/" + path_info.lstrip("/")
        outcome = self._resolve(path)
        if outcome is None and self.map.merge_slashes and "//" in path:
            merged = re.sub("/{2,}", "/", path)
            outcome = self._resolve(merged)
            if isinstance(outcome, tuple):
                outcome = merged
        if outcome is None:
            raise NotFound(path)
        if isinstance(outcome, str):
            raise RequestRedirect(self._url(outcome, query_args))
        rule, values = outcome
        return rule.endpoint, values

    def _resolve(self, path: str) -> tuple[Rule, dict[str, Any]] | str | None:
        """Return the first rule that matches and its values, a path to redirect to, or None."""
        for rule, slash in self.map.attempts:
            if slash:
                if rule.needs_slash(self.server_name, path):
                    return path + "/"
            else:
                values = rule.match(self.server_name, path)
                if values is not None:
                    return rule, values
        return None

    def _url(self, path: str, query_args: str | Mapping[str, Any] | None) -> str:
        url = f"{self.url_scheme}://{self.server_name}{urllib.parse.quote(path, safe=_PATH_SAFE)}"
        if query_args and not isinstance(query_args, str):
            query_args = urllib.parse.urlencode(query_args, doseq=True)
        if query_args:
            url += f"?{query_args}"
        return url
