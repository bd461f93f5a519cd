"""Incoming messages of a trio connection, waiting for the reader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from ..shared.messages import AsyncAssembler

__all__ = ["Assembler"]


class Assembler(AsyncAssembler):
    """Turns the data frames received into messages for ``recv()``.

    The connection's reading task calls ``put()``, then :meth:`wake`; the
    application's task awaits ``get()`` or iterates ``get_iter()``. See
    :class:`~wskit.shared.messages.BaseAssembler` for the arguments.
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
        self.waiter: trio.Event | None = None

    def wake(self) -> None:
        """Resume a waiting reader: frames arrived, the stream ended or a failure was queued."""
        waiter = self.waiter
        if waiter is not None and (self.queue.frames or self.closed or self.failure_queued):
            self.waiter = None
            waiter.set()

    async def _waiter(self) -> None:
        waiter = self.waiter = trio.Event()
        await waiter.wait()
