"""Parsing Redis replies (RESP2) many at a time."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import ssl
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import cast

import pytest
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

from wskit.pubsub.resp import HIREDIS, ReplyReader, ReplyTap, _Incomplete, parse

REPLIES = (
    b"*3\r\n$7\r\nmessage\r\n$5\r\nwskit\r\n$0\r\n\r\n"
    b":42\r\n+PONG\r\n$-1\r\n*-1\r\n*0\r\n"
    b"*2\r\n*1\r\n:-1\r\n$5\r\na\r\nbc\r\n"
)


# ReplyReader with each parser: this module's, and hiredis (when installed).
accelerated = pytest.mark.parametrize(
    "accelerated",
    [False, pytest.param(True, marks=pytest.mark.skipif(not HIREDIS, reason="needs hiredis"))],
)


def reader_of(stream: asyncio.StreamReader, accelerated: bool) -> ReplyReader:
    connection = cast(AbstractConnection, SimpleNamespace(_reader=stream))
    return ReplyReader(connection, accelerated=accelerated)


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
    sharded = b"*3\r\n$8\r\nsmessage\r\n$1\r\nb\r\n$2\r\nxy\r\n"
    for reply in (message, sharded):
        for end in range(len(reply)):
            with pytest.raises(_Incomplete):
                parse(reply[:end], 0)


@pytest.mark.parametrize("kind", [b"message", b"smessage"])
def test_a_message_without_bulk_strings_breaks_the_connection(kind: bytes) -> None:
    # What only the way of its own checks: the general rules take any item.
    with pytest.raises(ConnectionError, match="not a bulk string"):
        parse(b"*3\r\n$%d\r\n%s\r\n:1\r\n$1\r\nx\r\n" % (len(kind), kind), 0)


def test_errors_are_returned_not_raised() -> None:
    [error, missing] = parse_all(b"-ERR wrong\r\n-NOSCRIPT No matching script\r\n")
    assert type(error) is ResponseError
    assert str(error) == "ERR wrong"
    assert isinstance(missing, NoScriptError)


def test_what_is_not_resp2_breaks_the_connection() -> None:
    with pytest.raises(ConnectionError, match="not a RESP2 reply"):
        parse(b"%1\r\n", 0)


@accelerated
async def test_a_reply_cut_between_reads_is_read_whole(accelerated: bool) -> None:
    stream = asyncio.StreamReader()
    reader = reader_of(stream, accelerated)
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


@accelerated
@pytest.mark.parametrize("cut", range(1, 40, 3))
async def test_the_reader_agrees_with_parse(accelerated: bool, cut: int) -> None:
    # Whichever parser reads them, the replies are what parse() makes of
    # them, errors included, however the reads cut them.
    replies = (
        REPLIES
        + b"*3\r\n$8\r\nsmessage\r\n$1\r\nb\r\n$-1\r\n"
        + b"-ERR wrong\r\n*2\r\n-NOSCRIPT No matching script\r\n:7\r\n"
    )
    expected = parse_all(replies)
    stream = asyncio.StreamReader()
    reader = reader_of(stream, accelerated)
    read: list[object] = []
    for start in range(0, len(replies), cut):
        stream.feed_data(replies[start : start + cut])
        read += await reader.read()
    assert [type(reply) for reply in read] == [type(reply) for reply in expected]
    assert type(cast(list[object], read[-1])[0]) is NoScriptError
    assert repr(read) == repr(expected)


@accelerated
async def test_what_the_reader_cant_parse_breaks_the_connection(accelerated: bool) -> None:
    stream = asyncio.StreamReader()
    reader = reader_of(stream, accelerated)
    stream.feed_data(b"?1\r\n")
    with pytest.raises(ConnectionError):
        await reader.read()


CERTIFICATE = str(pathlib.Path(__file__).parents[2] / "examples" / "localhost.pem")


@contextlib.asynccontextmanager
async def connected(
    tls: bool,
) -> AsyncIterator[tuple[AbstractConnection, asyncio.StreamReader, asyncio.StreamWriter]]:
    """Yield a connection as redis-py keeps it (its stream, its writer), and its peer's writer."""
    peers: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def serve(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await peers.put(writer)

    server_context = client_context = None
    if tls:
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(CERTIFICATE)
        client_context = ssl.create_default_context(cafile=CERTIFICATE)
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname="localhost" if tls else None
        )
        async with asyncio.timeout(5):
            peer = await peers.get()
        try:
            yield (
                cast(AbstractConnection, SimpleNamespace(_reader=reader, _writer=writer)),
                reader,
                peer,
            )
        finally:
            writer.close()
            peer.close()


@accelerated
@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_tap_hands_over_every_reply_as_it_arrives(
    accelerated: bool, tls: bool, loop: str
) -> None:
    # On uvloop too: its transports, which the hub's servers run on, swap protocols their own way.
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(hand_over(accelerated, tls))
    else:
        asyncio.run(hand_over(accelerated, tls))


async def hand_over(accelerated: bool, tls: bool) -> None:
    async with connected(tls) as (connection, reader, peer), asyncio.timeout(5):
        # Replies that reached the stream before the tap come first.
        peer.write(b":1\r\n*2\r\n:2")
        while not reader._buffer:  # type: ignore[attr-defined]  # asyncio's, unannotated
            await asyncio.sleep(0)
        handed: list[list[object]] = []
        tap = ReplyTap(connection, handed.append, accelerated=accelerated)
        assert handed == [[1]]
        assert tap.reads == 1
        # The rest is handed over in the transport's callback, what a read completes.
        peer.write(b"\r\n+OK\r\n")
        await tap.wait(reply=True)
        assert handed == [[1], [[2, b"OK"]]]
        assert tap.reads == 2
        # The end of the connection ends the tap.
        peer.close()
        with pytest.raises(ConnectionError, match=r"closed|lost"):
            await tap.wait()
        with pytest.raises(ConnectionError, match=r"closed|lost"):
            await tap.wait()


async def test_what_the_handler_of_a_tap_raises_ends_it() -> None:
    def fail(replies: list[object]) -> None:
        raise RuntimeError(f"can't handle {replies}")

    async with connected(False) as (connection, _, peer), asyncio.timeout(5):
        tap = ReplyTap(connection, fail)
        waiting = asyncio.ensure_future(tap.wait())
        peer.write(b":1\r\n")
        with pytest.raises(RuntimeError, match=r"can't handle \[1\]"):
            await waiting
        peer.write(b":2\r\n")  # handed to nobody: the tap is over
        with pytest.raises(RuntimeError, match=r"can't handle \[1\]"):
            await tap.wait()
