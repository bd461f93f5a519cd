"""Incoming messages of an asyncio connection, waiting for the reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

from ..exceptions import ConcurrencyError
from ..frames import Frame
from ..shared.messages import BaseAssembler, Fragments, PartialMessage, join
from ..speedups import Waiter
from ..typing import Data

__all__ = ["Assembler"]


class Assembler(BaseAssembler):
    """Turns the data frames received into messages for ``recv()``.

    See :class:`~wskit.shared.messages.BaseAssembler` for the arguments.
    """

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

    def put(self, frame: Frame) -> None:
        """Add a data frame received from the network.

        A reader waiting for it resumes when :meth:`wake` is called.

        Raises:
            EOFError: :meth:`close` was called.
        """
        if self.closed:
            raise EOFError("stream of frames ended")
        self.queue.put(frame)

    def close(self) -> None:
        """End the stream of frames: readers get what remains, then EOFError.

        A reader waiting resumes when :meth:`wake` is called.
        """
        self.closed = True

    def wake(self) -> None:
        """Resume the reader if it waits and a frame arrived or the stream ended.

        Called from a protocol callback, once the connection has handled all
        it received, the reader resumes before this method returns, rather
        than on the loop's next iteration (see :class:`~wskit.speedups.Waiter`).
        """
        waiter = self.waiter
        if waiter is not None and (self.queue.frames or self.closed or self.failure_queued):
            self.waiter = None
            waiter.wake()

    async def get(self, decode: bool | None = None) -> Data:
        """Return the next message.

        Args:
            decode: :obj:`True` for :class:`str`, :obj:`False` for
                :class:`bytes`, :obj:`None` to follow the message type.

        Raises:
            EOFError: The stream ended and no whole message is left.
            ConcurrencyError: Another coroutine is reading.
            UnicodeDecodeError: ``decode=True`` on binary data that isn't UTF-8.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        queue = self.queue
        frames = queue.frames
        # Fast path: a single-frame message is waiting.
        if frames and frames[0].fin and not self.skip_rest_of_message:
            return join([queue.get()], decode)
        self.get_in_progress = True
        received: PartialMessage | None = None
        try:
            if self.skip_rest_of_message:
                await self._skip_rest_of_message()
            # Waiting here rather than in _next_frame() spares resuming one
            # more coroutine on every wake-up.
            while not frames:
                await self._wait()
            received = PartialMessage(queue.get())
            while not received.fin:
                while not frames:
                    await self._wait()
                received.add(queue.get())
            message = received.frame()
        except BaseException:
            # Cancelled or ended mid-message: leave the message whole.
            if received is not None:
                queue.unget([received.frame()])
            raise
        finally:
            self.get_in_progress = False
        return join([message], decode)

    async def get_iter(self, decode: bool | None = None) -> AsyncGenerator[Data]:
        """Yield the fragments of the next message as they arrive.

        Stopping early drops the rest of the message.

        Raises:
            EOFError: The stream ended before the message did.
            ConcurrencyError: Another coroutine is reading.
            UnicodeDecodeError: ``decode=True`` on binary data that isn't UTF-8.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        self.get_in_progress = True
        try:
            await self._skip_rest_of_message()
            frame = await self._next_frame()
            fragments = Fragments(frame, decode)
            self.skip_rest_of_message = not frame.fin
            yield fragments.decode(frame)
            while not frame.fin:
                frame = await self._next_frame()
                self.skip_rest_of_message = not frame.fin
                yield fragments.decode(frame)
        finally:
            self.get_in_progress = False

    def _wait(self) -> Waiter:
        """Return a waiter woken when the next frame arrives or the stream ends.

        A failure queued after the frames is reached here: the connection fails.

        Raises:
            EOFError: The stream ended already.
        """
        if self.closed:
            raise EOFError("stream of frames ended")
        if self.failure_queued:
            self._reach_failure()
        waiter = self.waiter = Waiter(self.loop)
        return waiter

    async def _next_frame(self) -> Frame:
        frames = self.queue.frames
        while not frames:
            await self._wait()
        return self.queue.get()

    async def _skip_rest_of_message(self) -> None:
        while self.skip_rest_of_message:
            frame = await self._next_frame()
            self.skip_rest_of_message = not frame.fin
