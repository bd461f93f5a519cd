"""Replies from Redis (RESP2), read many at a time.

A server process of a busy deployment reads thousands of messages per
second from its Redis link. redis-py's parser costs tens of microseconds per
reply (several awaits each); this one parses every complete reply in a
buffer in one go, after one read from the socket. The connection itself
(TLS, authentication, database) stays redis-py's.

With hiredis installed (the C parser redis-py uses when it's there,
``pip install hiredis``), :class:`ReplyReader` has it parse the replies:
about a fifth of the time per message of :func:`parse`, which is the
reference it must agree with.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

try:
    import hiredis
except ImportError:  # pragma: no cover (installed with the test extra)
    HIREDIS = False
else:
    HIREDIS = True

__all__ = ["HIREDIS", "ReplyReader", "parse"]

READ_SIZE = 2**16


class _Incomplete(Exception):
    """The buffer ends in the middle of a reply."""


_INCOMPLETE = _Incomplete()


# How the replies that carry a message on a subscribed link start: pub/sub's
# and sharded pub/sub's (Redis Cluster). The digit at _SIZE_AT tells which.
_MESSAGE = b"*3\r\n$7\r\nmessage\r\n"
_SMESSAGE = b"*3\r\n$8\r\nsmessage\r\n"
_MESSAGES = (_MESSAGE, _SMESSAGE)
_SIZE_AT = 5


def parse(buffer: bytes, position: int) -> tuple[Any, int]:
    """Parse the reply at ``position``; return it and where the next one starts.

    Bulk and simple strings are :class:`bytes`, integers :class:`int`,
    arrays lists, nulls :obj:`None`, errors :exc:`ResponseError` instances
    (returned, not raised: the connection is still in sync).

    Raises:
        _Incomplete: The reply isn't complete yet.
        ConnectionError: This isn't RESP2.
    """
    if buffer.startswith(_MESSAGES, position):
        # The usual reply on the link, spared the general array: two bulk
        # strings follow, the channel and the payload.
        if buffer[position + _SIZE_AT] == 0x37:  # 7: message
            name, position = b"message", position + len(_MESSAGE)
        else:
            name, position = b"smessage", position + len(_SMESSAGE)
        channel, position = _bulk(buffer, position)
        payload, position = _bulk(buffer, position)
        return [name, channel, payload], position
    if buffer.startswith(b"$", position):
        return _bulk(buffer, position)
    end = buffer.find(b"\r\n", position)
    if end < 0:
        raise _INCOMPLETE
    kind = buffer[position]
    if kind == 0x2A:  # *: array
        count = int(buffer[position + 1 : end])
        position = end + 2
        if count < 0:
            return None, position
        items = []
        for _ in range(count):
            item, position = parse(buffer, position)
            items.append(item)
        return items, position
    if kind == 0x3A:  # :: integer
        return int(buffer[position + 1 : end]), end + 2
    if kind == 0x2B:  # +: simple string
        return buffer[position + 1 : end], end + 2
    if kind == 0x2D:  # -: error
        return _error(buffer[position + 1 : end].decode(errors="replace")), end + 2
    raise ConnectionError(f"not a RESP2 reply: {buffer[position : end + 2]!r}")


def _error(message: str) -> ResponseError:
    """Return the exception for an error reply, as redis-py raises it."""
    return (NoScriptError if message.startswith("NOSCRIPT") else ResponseError)(message)


def _bulk(buffer: bytes, position: int) -> tuple[bytes | None, int]:
    """Parse the bulk string at ``position``, as :func:`parse` does."""
    end = buffer.find(b"\r\n", position)
    if end < 0:
        raise _INCOMPLETE
    if buffer[position] != 0x24:  # $: a message's channel or payload is nothing else
        raise ConnectionError(f"not a bulk string: {buffer[position : end + 2]!r}")
    length = int(buffer[position + 1 : end])
    if length < 0:
        return None, end + 2
    stop = end + 2 + length
    if len(buffer) < stop + 2:
        raise _INCOMPLETE
    return buffer[end + 2 : stop], stop + 2


class ReplyReader:
    """Reads the replies of a redis-py connection, all that one read brings.

    Args:
        connection: A connected redis-py connection, whose replies so far
            were all read.
        accelerated: Parse with hiredis; by default, when it's installed.
            Redis speaks RESP2 here, which both parsers read alike;
            hiredis would read RESP3 too, where :func:`parse` fails.
    """

    def __init__(self, connection: AbstractConnection, *, accelerated: bool = HIREDIS) -> None:
        stream = connection._reader  # where redis-py keeps the stream
        if stream is None:
            raise ConnectionError("not connected")
        self._stream: asyncio.StreamReader = stream
        # The start of a reply that the last read cut.
        self._rest = b""
        self._hiredis = (
            hiredis.Reader(protocolError=ConnectionError, replyError=_error)
            if accelerated
            else None
        )

    async def read(self, timeout: float | None = None) -> list[Any]:
        """Wait for replies; return those complete, in order.

        Returns an empty list if ``timeout`` passes first.

        Raises:
            ConnectionError: The connection was closed, or isn't RESP2.
        """
        if timeout is None:  # spared a timer: a busy reader reads often
            data = await self._stream.read(READ_SIZE)
        else:
            try:
                async with asyncio.timeout(timeout):
                    data = await self._stream.read(READ_SIZE)
            except TimeoutError:
                return []
        if not data:
            raise ConnectionError("Connection closed by server.")
        if self._hiredis is not None:
            # It keeps the start of a reply that a read cut, and says False
            # until the reply is whole.
            self._hiredis.feed(data)
            replies = []
            while (reply := self._hiredis.gets()) is not False:
                replies.append(reply)
            return replies
        # bytes, not a bytearray: each bulk string is a slice, not a slice copied.
        buffer = self._rest + data if self._rest else data
        replies = []
        position = 0
        try:
            while position < len(buffer):
                reply, position = parse(buffer, position)
                replies.append(reply)
        except _Incomplete:
            pass
        self._rest = buffer[position:]
        return replies
