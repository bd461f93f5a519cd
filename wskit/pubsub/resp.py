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
from collections.abc import Callable
from typing import Any, cast

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError, ResponseError

try:
    import hiredis
except ImportError:  # pragma: no cover (installed with the test extra)
    HIREDIS = False
else:
    HIREDIS = True

__all__ = ["HIREDIS", "ReplyReader", "ReplyTap", "parse"]

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


class _Replies:
    """Parses the bytes of a connection as they come: every reply they complete."""

    def __init__(self, accelerated: bool) -> None:
        # The start of a reply that the last bytes cut.
        self._rest = b""
        self._hiredis = (
            hiredis.Reader(protocolError=ConnectionError, replyError=_error)
            if accelerated
            else None
        )

    def feed(self, data: bytes) -> list[Any]:
        """Return the replies complete with ``data``, in order.

        Raises:
            ConnectionError: This isn't RESP2.
        """
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
        self._replies = _Replies(accelerated)

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
        return self._replies.feed(data)


class ReplyTap(asyncio.Protocol):
    """Hands the replies of a redis-py connection to a callback as they arrive.

    A link that only listens needn't wake a task per read, as
    :class:`ReplyReader` does: the tap stands in for the stream's protocol
    on the transport and parses each read where it lands. Everything but
    the bytes received still reaches that protocol (flow control, the end of
    the connection), so that redis-py's writes behave as before.

    Args:
        connection: A connected redis-py connection, whose replies so far
            were all read.
        handle: Called with the replies each read completes; what it raises
            ends the tap, as the loss of the connection does.
        accelerated: As for :class:`ReplyReader`.
    """

    def __init__(
        self,
        connection: AbstractConnection,
        handle: Callable[[list[Any]], None],
        *,
        accelerated: bool = HIREDIS,
    ) -> None:
        stream, writer = connection._reader, connection._writer
        if stream is None or writer is None:
            raise ConnectionError("not connected")
        self._handle = handle
        self._replies = _Replies(accelerated)
        # Reads that brought replies, so far: whoever waits for an answer
        # compares them.
        self.reads = 0
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._wake_on_reply = False
        transport = cast("asyncio.Transport", writer.transport)
        self._protocol = cast("asyncio.Protocol", transport.get_protocol())
        # What the stream holds already comes first (redis-py reads its
        # buffer too); then the transport feeds the tap.
        buffer: bytearray = stream._buffer  # type: ignore[attr-defined]  # asyncio's, unannotated
        held = bytes(buffer)
        buffer.clear()
        transport.set_protocol(self)
        if held:
            self.data_received(held)
        if stream.exception() is not None or stream.at_eof():
            self._end(ConnectionError("Connection closed by server."))
        elif not transport.is_reading() and not transport.is_closing():
            transport.resume_reading()  # the stream had paused it, full

    def data_received(self, data: bytes) -> None:
        if self._error is not None:
            return
        try:
            replies = self._replies.feed(data)
            if replies:
                self.reads += 1
                self._handle(replies)
        except Exception as exc:  # it ends the tap; wait() raises it
            self._end(exc)
            return
        waiter = self._waiter
        if self._wake_on_reply and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool | None:
        self._end(ConnectionError("Connection closed by server."))
        return self._protocol.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(ConnectionError(f"Connection lost: {exc}" if exc else "Connection lost."))
        self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()

    async def wait(self, *, reply: bool = False) -> None:
        """Wait until the tap ends (by raising) or, with ``reply``, until a read brings replies.

        Raises:
            ConnectionError: The connection was closed, or isn't RESP2.
            Exception: What ``handle`` raised.
        """
        if self._error is not None:
            raise self._error
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self._wake_on_reply = reply
        try:
            await waiter
        finally:
            self._waiter = None

    def _end(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._error)
