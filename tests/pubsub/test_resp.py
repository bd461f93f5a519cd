"""Parsing Redis replies (RESP2) many at a time."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

from wskit.pubsub.resp import ReplyReader, _Incomplete, parse

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
            parse(first[:end], 0)


def test_a_message_is_parsed_as_any_array() -> None:
    # A message reply (parsed its own way) gives what the general rules give
    # to any array of bulk strings, cut anywhere or not.
    message = b"*3\r\n$7\r\nmessage\r\n$3\r\na\r\n\r\n$-1\r\n"
    assert parse_all(message + message) == [[b"message", b"a\r\n", None]] * 2
    assert parse_all(b"*3\r\n$8\r\nsmessage\r\n$1\r\nb\r\n$2\r\nxy\r\n") == [
        [b"smessage", b"b", b"xy"]
    ]
    for end in range(len(message)):
        with pytest.raises(_Incomplete):
            parse(message[:end], 0)


def test_a_message_without_bulk_strings_breaks_the_connection() -> None:
    with pytest.raises(ConnectionError, match="not a bulk string"):
        parse(b"*3\r\n$7\r\nmessage\r\n:1\r\n$1\r\nx\r\n", 0)


def test_errors_are_returned_not_raised() -> None:
    [error, missing] = parse_all(b"-ERR wrong\r\n-NOSCRIPT No matching script\r\n")
    assert type(error) is ResponseError
    assert str(error) == "ERR wrong"
    assert isinstance(missing, NoScriptError)


def test_what_is_not_resp2_breaks_the_connection() -> None:
    with pytest.raises(ConnectionError, match="not a RESP2 reply"):
        parse(b"%1\r\n", 0)


async def test_a_reply_cut_between_reads_is_read_whole() -> None:
    stream = asyncio.StreamReader()
    reader = ReplyReader(cast(AbstractConnection, SimpleNamespace(_reader=stream)))
    first = b"*3\r\n$7\r\nmessage\r\n$5\r\nwskit\r\n$0\r\n\r\n"
    stream.feed_data(first + b":42\r\n*2\r\n$3\r\nab")
    assert await reader.read() == [[b"message", b"wskit", b""], 42]
    stream.feed_data(b"c\r\n")
    assert await reader.read() == []  # the array still lacks an item
    stream.feed_data(b"$1\r\nd\r\n+OK\r\n")
    replies = await reader.read()
    assert replies == [[b"abc", b"d"], b"OK"]
    assert all(type(item) is bytes for item in replies[0])
    assert await reader.read(timeout=0.01) == []  # nothing more came
    stream.feed_eof()
    with pytest.raises(ConnectionError, match="closed"):
        await reader.read()
