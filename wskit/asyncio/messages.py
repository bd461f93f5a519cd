"""Incoming messages of an asyncio connection, waiting for the reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import ConnectionClosedOK
from ..shared.messages import AsyncAssembler
from ..speedups import Receiver, Waiter
from ..typing import Data

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Assembler", "MessageLoop"]


class Assembler(Receiver, AsyncAssembler):
    """Turns the data frames received into messages for ``recv()``.

    See :class:`~wskit.shared.messages.BaseAssembler` for the arguments.

    ``receive(decode)`` (from :class:`~wskit.speedups.Receiver`) returns an
    awaitable of the next message, as :meth:`get` is: a
    :class:`~wskit.speedups.Receiving` rather than a coroutine, so that a
    whole message that waits, or the wait for one, costs no coroutine and no
    Python frame (see ARCHITECTURE.md, Performance devices); it hands
    anything else to :meth:`get`.
    """

    # A __dict__ too: tests replace methods of an instance.
    __slots__ = ("__dict__", "loop", "waiter")

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        pause: Callable[[], Any] = lambda: None,
        resume: Callable[[], Any] = lambda: None,
        fail: Callable[[], Any] = lambda: None,
    ) -> None:
        super().__init__(high, low, pause, resume, fail)
        self.loop = asyncio.get_running_loop()
        self.waiter: Waiter | None = None

    def wake(self) -> None:
        """Resume a waiting reader: frames arrived, the stream ended or a failure was queued.

        Called from a protocol callback, once the connection has handled all
        it received, the reader resumes before this method returns, rather
        than on the loop's next iteration (see :class:`~wskit.speedups.Waiter`).
        """
        waiter = self.waiter
        if waiter is not None and (self.queue.frames or self.closed or self.failure_queued):
            self.waiter = None
            waiter.wake()

    def _waiter(self) -> Waiter:
        waiter = self.waiter = Waiter(self.loop)
        return waiter


class MessageLoop:
    """What ``async for`` over a connection does but take a message that waits.

    An object, not a closure: its function, cells and their tuple would be
    four objects for the garbage collector to track for the life of the loop.
    """

    __slots__ = ("connection", "ended")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.ended = False

    async def __call__(self, decode: bool | None) -> Data:
        # Like an async generator, an iteration that raised is over: its
        # next steps end the loop rather than raise again.
        if self.ended:
            raise StopAsyncIteration
        connection = self.connection
        messages = connection.recv_messages
        if (
            messages.closed
            and not messages.queue.frames
            and not messages.failure_queued
            and not messages.get_in_progress
        ):
            # The stream ended with nothing left to read: how the connection
            # ended is all recv() would tell. Most loops end here: the
            # exceptions recv() raises and catches on the way cost more.
            self.ended = True
            closed = await connection._closed()
            if isinstance(closed, ConnectionClosedOK):
                raise StopAsyncIteration
            raise closed
        try:
            return await connection.recv(decode)
        except ConnectionClosedOK:
            self.ended = True
            raise StopAsyncIteration from None
        except BaseException:
            self.ended = True
            raise
