"""What the asyncio and trio connections share: the ``async`` API over the core.

Receiving (``recv()``, ``recv_streaming()``, iteration), sending a message in
fragments, and handing the core's events to the assembler are the same on
both: only how a task waits and how bytes go out differ. :class:`AsyncConnectionAPI`
holds the common part; each connection gives the hooks it calls:

* ``_send_data()``: write what the core has to send; start the close timer;
* ``_closed()``: wait for the TCP connection to end and return the
  :exc:`~wskit.exceptions.ConnectionClosed` that tells how;
* ``_write_and_drain()``: write, wait while the write buffer is full, raise
  if the connection closed;
* ``_wait_for_fragmented_send()``, ``_begin_fragmented_send()``,
  ``_end_fragmented_send()``: one fragmented message at a time;
* ``process_event()``: handle a handshake message or a control frame.

Bad input fails the connection in order: the core queues a
:class:`~wskit.protocol.HeldFailure` after the frames received before it, the
assembler queues it after their messages, and calls ``_release_failure()``
when a reader needs more.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Literal, overload

from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK
from ..frames import BINARY, CONT, TEXT, CloseCode, Frame
from ..protocol import OPEN, Event, HeldFailure, Protocol
from ..typing import BytesLike, Data
from .messages import AsyncAssembler, encode

__all__ = ["AsyncConnectionAPI", "to_async"]

_DATA_OPCODES = (TEXT, BINARY, CONT)


class AsyncConnectionAPI:
    """Receiving and fragmented sending, for the asyncio and trio connections."""

    __slots__ = ()

    protocol: Protocol
    recv_messages: AsyncAssembler

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over messages until the connection closes.

        The loop ends quietly after a normal closure; it raises
        :exc:`~wskit.exceptions.ConnectionClosedError` after an error.
        """
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    @overload
    async def recv(self, decode: Literal[True]) -> str: ...

    @overload
    async def recv(self, decode: Literal[False]) -> bytes: ...

    @overload
    async def recv(self, decode: bool | None = None) -> Data: ...

    async def recv(self, decode: bool | None = None) -> Data:
        """Receive the next message.

        Args:
            decode: :obj:`None` returns text messages as :class:`str` and
                binary ones as :class:`bytes`. :obj:`True` decodes binary
                messages too; :obj:`False` returns text messages as bytes,
                which saves decoding when the text goes straight back out.

        Raises:
            ConnectionClosed: The connection is closed; every message received
                before was returned first.
            ConcurrencyError: Another task is already receiving.
        """
        try:
            return await self.recv_messages.receive(decode)
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv() while another coroutine is already running "
                "recv() or recv_streaming()"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail_decoding(exc)
        raise await self._closed()

    async def recv_streaming(self, decode: bool | None = None) -> AsyncGenerator[Data]:
        """Receive the next message fragment by fragment, as they arrive.

        For messages too large to hold in memory at once. Stopping before the
        end drops the rest of the message.

        Args:
            decode: As in :meth:`recv`.

        Raises:
            ConnectionClosed: The connection is closed.
            ConcurrencyError: Another task is already receiving.
        """
        try:
            # Close the assembler's iterator as soon as this one stops, so that
            # the next recv() doesn't find it still running.
            async with contextlib.aclosing(self.recv_messages.get_iter(decode)) as fragments:
                async for fragment in fragments:
                    yield fragment
            return
        except EOFError:
            pass
        except ConcurrencyError:
            raise ConcurrencyError(
                "cannot call recv_streaming() while another coroutine is already running "
                "recv() or recv_streaming()"
            ) from None
        except UnicodeDecodeError as exc:
            self._fail_decoding(exc)
        raise await self._closed()

    def _fail_decoding(self, exc: UnicodeDecodeError) -> None:
        if self.protocol.state is OPEN:
            self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            self._send_data()

    def _release_failure(self) -> None:
        """Fail as the core held back: the application read what came before the error.

        The assembler calls it when a reader reaches the failure, which the
        core queued after the frames received before it.
        """
        self.protocol.release_failure()
        self._send_data()

    async def _send_fragments(
        self, chunks: AsyncIterator[Data | BytesLike], text: bool | None, compress: bool | None
    ) -> None:
        """Send the items of ``chunks`` as the fragments of one message."""
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            return  # an empty iterable is no message at all
        await self._wait_for_fragmented_send()
        protocol = self.protocol
        if protocol.state is not OPEN:
            raise await self._closed()
        is_text, data = encode(first, text)
        self._begin_fragmented_send()
        try:
            if is_text:
                protocol.send_text(data, False, compress)
            else:
                protocol.send_binary(data, False, compress)
            await self._write_and_drain()
            async for chunk in chunks:
                chunk_is_text, data = encode(chunk, text)
                if chunk_is_text is not is_text:
                    raise TypeError("all fragments of a message must be of the same type")
                # The connection may have closed while the iterable produced the chunk.
                if protocol.state is not OPEN:
                    raise await self._closed()
                protocol.send_continuation(data, fin=False)
                await self._write_and_drain()
            if protocol.state is not OPEN:
                raise await self._closed()
            protocol.send_continuation(b"", fin=True)
            await self._write_and_drain()
        except ConnectionClosed:
            raise
        except BaseException:  # cancellation too: the message can't be completed either way
            # Half a message went out and the rest never will: the peer can't
            # make sense of what follows, so the connection must end.
            if protocol.state is OPEN:
                protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                self._send_data()
            raise
        finally:
            self._end_fragmented_send()

    def _process_events(self) -> None:
        """Handle the events the core received since the last call."""
        recv_messages = self.recv_messages
        for event in self.protocol.events_received():
            # Data frames, nearly every event, go to the queue without a call
            # to process_event().
            if isinstance(event, Frame) and event.opcode in _DATA_OPCODES:
                recv_messages.put(event)
            elif isinstance(event, HeldFailure):
                # After the frames received before it: recv() reaches it in order.
                recv_messages.put_failure(event.after_message)
            else:
                self.process_event(event)

    # Hooks: see the module's docstring.

    def _send_data(self) -> None:
        raise NotImplementedError

    async def _closed(self) -> ConnectionClosed:
        raise NotImplementedError

    async def _write_and_drain(self) -> None:
        raise NotImplementedError

    async def _wait_for_fragmented_send(self) -> None:
        raise NotImplementedError

    def _begin_fragmented_send(self) -> None:
        raise NotImplementedError

    def _end_fragmented_send(self) -> None:
        raise NotImplementedError

    def process_event(self, event: Event) -> None:
        """Handle a handshake message or a control frame from the core."""
        raise NotImplementedError


class to_async:
    """An iterable as an async iterator, with nothing to finalize if dropped midway.

    ``send()`` sends an iterable's items as fragments through the same path as
    an async iterable's. An async generator would do, but one left unfinished
    when a fragment fails is finalized later by the event loop, which trio
    reports as an error.
    """

    def __init__(self, iterable: Iterable[Data | BytesLike]) -> None:
        self.iterator = iter(iterable)

    def __aiter__(self) -> to_async:
        return self

    async def __anext__(self) -> Data | BytesLike:
        try:
            return next(self.iterator)
        except StopIteration:
            raise StopAsyncIteration from None
