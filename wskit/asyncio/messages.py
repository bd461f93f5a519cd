"""Incoming messages of an asyncio connection, waiting for the reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..shared.messages import AsyncAssembler
from .waiter import PurePythonWaiter, Waiter

__all__ = ["Assembler"]


class Assembler(AsyncAssembler):
    """Turns the data frames received into messages for ``recv()``.

    See :class:`~wskit.shared.messages.BaseAssembler` for the arguments.
    """

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        pause: Callable[[], Any] = lambda: None,
        resume: Callable[[], Any] = lambda: None,
    ) -> None:
        super().__init__(high, low, pause, resume)
        self.loop = asyncio.get_running_loop()
        self.waiter: PurePythonWaiter | None = None

    def wake(self) -> None:
        """Resume the reader if it waits and a frame arrived or the stream ended.

        Called from a protocol callback, once the connection has handled all
        it received, the reader resumes before this method returns, rather
        than on the loop's next iteration (see :class:`Waiter`).
        """
        waiter = self.waiter
        if waiter is not None and (self.queue.frames or self.closed):
            self.waiter = None
            waiter.wake()

    def _wait(self) -> PurePythonWaiter:
        """Return a waiter woken when the next frame arrives or the stream ends.

        Raises:
            EOFError: The stream ended already.
        """
        if self.closed:
            raise EOFError("stream of frames ended")
        waiter = self.waiter = Waiter(self.loop)
        return waiter
