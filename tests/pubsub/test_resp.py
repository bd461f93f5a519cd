"""Parsing Redis replies (RESP2) many at a time."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

from wskit.pubsub.resp import _Incomplete, parse

REPLIES = (
    b"*3\r\n$7\r\nmessage\r\n$5\r\nwskit\r\n$0\r\n\r\n"
    b":42\r\n+PONG\r\n$-1\r\n*-1\r\n*0\r\n"
    b"*2\r\n*1\r\n:-1\r\n$5\r\na\r\nbc\r\n"
)


def parse_all(buffer: bytes) -> list[object]:
    replies, position = [], 0
    while position < len(buffer):
        reply, position = parse(buffer, position)
        replies.append(reply)
    return replies


def test_every_kind_of_reply() -> None:
    assert parse_all(REPLIES) == [
        [b"message", b"wskit", b""],
        42,
        b"PONG",
        None,
        None,
        [],
        [[-1], b"a\r\nbc"],
    ]


def test_a_reply_cut_anywhere_is_incomplete() -> None:
    first = b"*3\r\n$7\r\nmessage\r\n$5\r\nwskit\r\n$0\r\n\r\n"
    for end in range(len(first)):
        with pytest.raises(_Incomplete):
            parse(bytearray(first[:end]), 0)


def test_errors_are_returned_not_raised() -> None:
    [error, missing] = parse_all(b"-ERR wrong\r\n-NOSCRIPT No matching script\r\n")
    assert type(error) is ResponseError
    assert str(error) == "ERR wrong"
    assert isinstance(missing, NoScriptError)


def test_what_is_not_resp2_breaks_the_connection() -> None:
    with pytest.raises(ConnectionError, match="not a RESP2 reply"):
        parse(b"%1\r\n", 0)
