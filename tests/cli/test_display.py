"""Formatting messages for a terminal or a pipe, and parsing input lines."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from wskit.cli.display import Formatter, escape_json

HOSTILE = "a\x1b]0;pwned\x07b\x1b[2J\r\nc\x9bd\u202ee"


def clock() -> datetime:
    return datetime(2024, 5, 6, 7, 8, 9, 123456)


def test_text_is_one_line_with_controls_escaped() -> None:
    (line,) = Formatter().message(HOSTILE)
    assert line == "a\\x1b]0;pwned\\x07b\\x1b[2J\\r\\nc\\x9bd\\u202ee"
    assert line.isprintable()


def test_interactive_marks_messages_and_notices() -> None:
    formatter = Formatter(interactive=True)
    assert formatter.message("hi") == ["< hi"]
    assert formatter.notice("pong") == ["* pong"]
    assert formatter.notice("one\ntwo") == ["* one\ntwo"]


def test_binary_messages_are_hex() -> None:
    assert Formatter().message(b"\x00\x1bhi") == ["001b6869"]
    assert Formatter(interactive=True).message(b"\x00\x1bhi") == ["< [4 bytes] 00 1b 68 69"]
    assert Formatter().message(b"") == [""]


def test_json_is_pretty_on_a_terminal_and_compact_in_a_pipe() -> None:
    text = '{"a":[1,2],"b":"\\u00e9"}'
    assert Formatter(as_json=True).message(text) == ['{"a": [1, 2], "b": "é"}']
    assert Formatter(as_json=True, interactive=True).message(text) == [
        "< {",
        '    "a": [',
        "      1,",
        "      2",
        "    ],",
        '    "b": "é"',
        "  }",
    ]


def test_json_with_hostile_strings_stays_valid_json() -> None:
    value = {"x": HOSTILE}
    (line,) = Formatter(as_json=True).message(json.dumps(value))
    assert line.isprintable()
    assert json.loads(line) == value


def test_invalid_json_is_shown_as_text() -> None:
    assert Formatter(as_json=True).message("not\x1bjson") == ["not\\x1bjson"]
    assert Formatter(as_json=True, interactive=True).message("nope") == ["< nope  [not JSON]"]


def test_timestamps_prefix_the_first_line_and_align_the_others() -> None:
    formatter = Formatter(as_json=True, interactive=True, timestamps=True, clock=clock)
    assert formatter.message("[1]") == [
        "07:08:09.123 < [",
        "                 1",
        "               ]",
    ]
    assert Formatter(timestamps=True, clock=clock).message("x") == ["07:08:09.123 x"]


def test_escape_json_leaves_printable_text_alone() -> None:
    assert escape_json('{"a": "é"}') == '{"a": "é"}'
    assert escape_json('"\x7f\U000e0001"') == '"\\u007f\\udb40\\udc01"'


def test_outgoing_text_goes_as_is() -> None:
    assert Formatter().outgoing("not json {") == "not json {"


def test_outgoing_hex_becomes_bytes() -> None:
    assert Formatter(as_hex=True).outgoing("00 ff 1b") == b"\x00\xff\x1b"
    assert Formatter(as_hex=True).outgoing("") == b""
    with pytest.raises(ValueError, match=r"^not hexadecimal: "):
        Formatter(as_hex=True).outgoing("xyz")


def test_outgoing_json_must_be_valid() -> None:
    assert Formatter(as_json=True).outgoing('{"a": 1}') == '{"a": 1}'
    with pytest.raises(ValueError, match=r"^not JSON: Expecting"):
        Formatter(as_json=True).outgoing("{a: 1}")
