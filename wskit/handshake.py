"""Checks of the opening handshake that clients and servers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .datastructures import Headers, MultipleValuesError
from .exceptions import InvalidHeader, InvalidUpgrade
from .headers import parse_connection, parse_upgrade

__all__ = ["check_upgrade", "parse_all", "single_header"]

T = TypeVar("T")


def parse_all(headers: Headers, name: str, parse: Callable[[str], list[T]]) -> list[T]:
    """Parse every ``name`` header with ``parse`` and join the lists.

    A list-valued header may be split over several header lines (RFC 9110,
    section 5.3): both forms mean the same.
    """
    return [item for value in headers.get_all(name) for item in parse(value)]


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
    connection = parse_all(headers, "Connection", parse_connection)
    if not any(option.lower() == "upgrade" for option in connection):
        raise InvalidUpgrade("Connection", ", ".join(connection) or None)
    upgrade = parse_all(headers, "Upgrade", parse_upgrade)
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) or None)
