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
    ) -> None:
        super().__init__(high, low, pause, resume)
        self.waiter: trio.Event | None = None

    def wake(self) -> None:
        """Resume the reader if it waits and a frame arrived or the stream ended."""
        waiter = self.waiter
        if waiter is not None and (self.queue.frames or self.closed):
            self.waiter = None
            waiter.set()

    async def _wait(self) -> None:
        """Wait until :meth:`wake` is called.

        Raises:
            EOFError: The stream ended already.
        """
        if self.closed:
            raise EOFError("stream of frames ended")
        waiter = self.waiter = trio.Event()
        await waiter.wait()
