"""Checks of the opening handshake that clients and servers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .datastructures import Headers, MultipleValuesError
from .exceptions import InvalidHeader, InvalidUpgrade
from .headers import MAX_TOKENS, check_list_length, parse_connection, parse_upgrade

__all__ = ["check_upgrade", "parse_all", "single_header"]

T = TypeVar("T")


def parse_all(headers: Headers, name: str, parse: Callable[[str], list[T]], limit: int) -> list[T]:
    """Parse every ``name`` header with ``parse`` and join the lists.

    A list-valued header may be split over several header lines (RFC 9110,
    section 5.3): both forms mean the same, and ``limit`` bounds the items
    of all lines together, as ``parse`` bounds those of one.

    Raises:
        SecurityError: There are more than ``limit`` items; parsing stops
            at the line that has one too many.
    """
    items: list[T] = []
    for value in headers.get_all(name):
        items += parse(value)
        check_list_length(items, limit, name)
    return items


def single_header(headers: Headers, name: str) -> str:
    """Return the value of a header that must appear exactly once.

    Raises:
        InvalidHeader: The header is missing or repeated.
    """
    try:
        return headers[name]
    except KeyError:
        raise InvalidHeader(name) from None
    except MultipleValuesError:
        raise InvalidHeader(name, "multiple values") from None


def check_upgrade(headers: Headers) -> None:
    """Check that the message asks to switch to the WebSocket protocol.

    RFC 6455 wants "an |Upgrade| header field containing the value
    "websocket"" and "a |Connection| header field that includes the token
    "Upgrade"", both case-insensitive.

    Raises:
        InvalidUpgrade: Either header is missing or says something else.
    """
    # Most clients send each header once, with just the expected value:
    # that passes the general rules below, without parsing lists.
    if _single_value(headers, "connection") != "upgrade":
        connection = parse_all(headers, "Connection", parse_connection, MAX_TOKENS)
        if not any(option.lower() == "upgrade" for option in connection):
            raise InvalidUpgrade("Connection", ", ".join(connection) or None)
    if _single_value(headers, "upgrade") != "websocket":
        upgrade = parse_all(headers, "Upgrade", parse_upgrade, MAX_TOKENS)
        if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
            raise InvalidUpgrade("Upgrade", ", ".join(upgrade) or None)


def _single_value(headers: Headers, key: str) -> str | None:
    """The value of a header given once, lowercase; None if it's absent or repeated.

    ``key`` is the name in lowercase: read from the headers' own dict, without
    the copy that :meth:`~wskit.datastructures.Headers.get_all` makes.
    """
    value = headers._dict.get(key)
    return None if value is None or isinstance(value, list) else value.lower()
