"""A case-insensitive multi-dict for HTTP headers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Protocol, TypeAlias, TypeVar, overload

from .exceptions import InvalidHeader, InvalidHeaderValue

__all__ = [
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "SupportsKeysAndGetItem",
]

T = TypeVar("T")

# RFC 9110 5.1: field-name = token; token = 1*tchar.
_token_re = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 9110 5.5: field-value is made of VCHAR, obs-text, SP and HTAB. Anything
# else (CR, LF, NUL, other controls, DEL, code points above U+00FF that can't
# travel as ISO-8859-1) is refused so a value can't split the message.
_value_re = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class MultipleValuesError(LookupError):
    """Raised by ``headers[name]`` when ``name`` has more than one value.

    Use :meth:`Headers.get_all` to read every value.
    """

    def __str__(self) -> str:
        # Show the name like KeyError does, without the tuple noise.
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


class SupportsKeysAndGetItem(Protocol):  # pragma: no cover
    """Any mapping-like object with ``keys()`` and ``__getitem__``."""

    def keys(self) -> Iterable[str]:
        """Return the keys."""
        ...

    def __getitem__(self, key: str) -> str:
        """Return the value for ``key``."""
        ...


HeadersLike: TypeAlias = (
    "Headers | Mapping[str, str] | Iterable[tuple[str, str]] | SupportsKeysAndGetItem"
)
"""Anything :class:`Headers` can be built from."""


def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"header name must be a str, not {type(name).__name__}")
    if _token_re.fullmatch(name) is None:
        raise InvalidHeader(name, "header name isn't a token")


def _check_value(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"header value must be a str, not {type(value).__name__}")
    if _value_re.fullmatch(value) is None:
        raise InvalidHeaderValue(name, value)


class Headers(MutableMapping[str, str]):
    """HTTP headers: a case-insensitive mapping that keeps repeated names.

    Lookups ignore case. The original names, order and repetitions are kept
    for serialization and for :meth:`raw_items`.

    - ``headers[name]`` returns the value when there is exactly one, raises
      :exc:`KeyError` when there is none and :exc:`MultipleValuesError` when
      there are several; :meth:`get_all` returns them all.
    - ``headers[name] = value`` *adds* a value; it never replaces one.
    - ``del headers[name]`` removes every value of ``name``.

    Values are :class:`str`; bytes outside ASCII travel as ISO-8859-1, which
    maps each byte to one code point and back without loss. To send another
    encoding, re-encode explicitly, e.g.
    ``value.encode("utf-8").decode("iso-8859-1")``.

    Names must be RFC 9110 tokens and values may only contain visible
    characters, spaces, tabs and ISO-8859-1 letters, so that header data
    coming from untrusted input cannot inject CR/LF into a message. Use
    :meth:`set_insecure` to bypass these checks.

    Args:
        *args: Headers, mappings or iterables of ``(name, value)`` pairs.
        **kwargs: More headers given as keyword arguments.

    Raises:
        InvalidHeader: If a name isn't a token.
        InvalidHeaderValue: If a value contains a forbidden character.
    """

    # _dict maps lowercase names to the value, or to a list of two or more
    # values when the name is repeated: most headers come once, and a list
    # each is an object more for the garbage collector to track for the life
    # of the connection (a dict of strings it doesn't track at all).
    __slots__ = ("_dict", "_list")

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._dict: dict[str, str | list[str]] = {}
        self._list: list[tuple[str, str]] = []
        if args or kwargs:
            self.update(*args, **kwargs)

    def __str__(self) -> str:
        return self.serialize().decode("iso-8859-1")

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._list!r})"

    def copy(self) -> Headers:
        """Return an independent copy of these headers."""
        other = self.__class__()
        other._dict = {
            key: list(values) if isinstance(values, list) else values
            for key, values in self._dict.items()
        }
        other._list = list(self._list)
        return other

    def serialize(self) -> bytes:
        """Return the header section as bytes, including the final empty line.

        Each header becomes ``Name: value\\r\\n``; an empty line ends the
        section.

        Raises:
            UnicodeEncodeError: If a value set with :meth:`set_insecure`
                can't be encoded as ISO-8859-1.
        """
        if not self._list:
            return b"\r\n"
        # Each pair joined by ": ", then the lines, in C rather than in a loop.
        text = "\r\n".join(map(": ".join, self._list))
        return (text + "\r\n\r\n").encode("iso-8859-1")

    # Mapping interface: keys are lower-cased names.

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __getitem__(self, key: str) -> str:
        values = self._dict[key.lower()]
        if isinstance(values, list):
            raise MultipleValuesError(key)
        return values

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, default: str | T) -> str | T: ...

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key`` when there is one, ``default`` when there is none.

        Raises:
            MultipleValuesError: ``key`` has several values.
        """
        # Mapping.get() would raise and catch KeyError for a missing header,
        # the common case of the handshake's optional headers.
        values = self._dict.get(key.lower())
        if values is None:
            return default
        if isinstance(values, list):
            raise MultipleValuesError(key)
        return values

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key``; add ``default`` first when there is none.

        Raises:
            MultipleValuesError: ``key`` has several values.
        """
        # MutableMapping.setdefault() would raise and catch KeyError for a
        # missing header, the common case of the client's User-Agent.
        values = self._dict.get(key.lower())
        if values is None:
            self[key] = default  # None: TypeError, as with MutableMapping's
            return default
        if isinstance(values, list):
            raise MultipleValuesError(key)
        return values

    def __setitem__(self, key: str, value: str) -> None:
        _check_name(key)
        _check_value(key, value)
        self.set_insecure(key, value)

    def __delitem__(self, key: str) -> None:
        lowered = key.lower()
        del self._dict[lowered]  # KeyError when absent, like dict
        self._list = [item for item in self._list if item[0].lower() != lowered]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._dict == other._dict

    __hash__ = None  # type: ignore[assignment]  # mutable

    def clear(self) -> None:
        """Remove every header."""
        self._dict = {}
        self._list = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """Add headers; existing values are kept, not replaced.

        Args:
            *args: At most one: headers, a mapping or an iterable of
                ``(name, value)`` pairs, like :meth:`dict.update`.
            **kwargs: More headers given as keyword arguments.

        Raises:
            TypeError: More than one positional argument was given.
        """
        if len(args) > 1:
            raise TypeError(f"expected at most 1 positional argument, got {len(args)}")
        for arg in args:
            for key, value in _pairs(arg):
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    # Multi-value interface.

    def get_all(self, key: str) -> list[str]:
        """Return every value of a header, in order; empty if it's absent.

        Args:
            key: Header name, in any case.
        """
        values = self._dict.get(key.lower())
        if values is None:
            return []
        return list(values) if isinstance(values, list) else [values]

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Iterate over ``(name, value)`` pairs as set, names in original case."""
        return iter(self._list)

    def set_insecure(self, key: str, value: str) -> None:
        """Add a header without validating its name or value.

        This is an escape hatch for sending headers that the normal API
        refuses. It's up to the caller to make sure the name and value can't
        break the HTTP message, e.g. with CR or LF.

        Args:
            key: Header name.
            value: Header value.
        """
        _add_value(self._dict, key.lower(), value)
        self._list.append((key, value))

    def _add_valid(self, fields: list[tuple[str, str]]) -> None:
        """Add ``(name, value)`` pairs known to be valid, as :meth:`set_insecure` does.

        For the handshake's own messages, whose names and values are checked
        already (parsed requests) or valid by construction (responses).
        """
        headers = self._dict
        for key, value in fields:
            _add_value(headers, key.lower(), value)
        self._list += fields


def _add_value(lowered: dict[str, str | list[str]], key: str, value: str) -> None:
    """Add ``value`` to ``lowered[key]``: the value alone, or a list from the second on."""
    values = lowered.get(key)
    if values is None:
        lowered[key] = value
    elif isinstance(values, list):
        values.append(value)
    else:
        lowered[key] = [values, value]


def _pairs(arg: Any) -> Iterable[tuple[str, str]]:
    """Yield ``(name, value)`` pairs from anything :class:`Headers` accepts."""
    if isinstance(arg, Headers):
        # Snapshot, so that headers.update(headers) terminates.
        return list(arg.raw_items())
    if isinstance(arg, Mapping):
        return arg.items()
    if hasattr(arg, "keys"):
        return [(key, arg[key]) for key in arg.keys()]  # noqa: SIM118
    return arg  # type: ignore[no-any-return]
