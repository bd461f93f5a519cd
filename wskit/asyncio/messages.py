"""Incoming messages of an asyncio connection, waiting for the reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..shared.messages import AsyncAssembler
from ..speedups import Receiver, Waiter

__all__ = ["Assembler"]


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
