"""Slash commands of the interactive client."""

from __future__ import annotations

import re

import pytest

from wskit.cli.commands import CloseRequest, Help, Message, Ping, Quit, parse


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("hello", Message("hello")),
        (" /not a command", Message(" /not a command")),
        ("//ping", Message("/ping")),
        ("/ping", Ping("")),
        ("/ping some data", Ping("some data")),
        ("/close", CloseRequest(1000, "")),
        ("/close  ", CloseRequest(1000, "")),
        ("/close 4000", CloseRequest(4000, "")),
        ("/close 4000 bye now", CloseRequest(4000, "bye now")),
        ("/close 1001 going", CloseRequest(1001, "going")),
        ("/quit", Quit()),
        ("/help", Help()),
    ],
)
def test_parse(line: str, command: object) -> None:
    assert parse(line) == command


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/nope", "unknown command: /nope; /help lists the commands"),
        ("/", "unknown command: /;"),
        ("/close abc", "close code must be a number, not abc"),
        ("/close ²", "close code must be a number"),
        ("/close 1005", "can't close with 1005: invalid close code 1005"),
        ("/close 999", "invalid close code 999"),
        ("/close 5000", "invalid close code 5000"),
        (f"/close 4000 {'x' * 124}", "close reason longer than 123 bytes"),
    ],
)
def test_parse_errors(line: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        parse(line)
