"""A future that resumes its task at once when completed from a protocol callback.

A task awaiting an :class:`asyncio.Future` resumes on the loop's next
iteration: ``set_result()`` schedules the wake-up with ``call_soon()``. For a
connection, that is one more pass through the event loop, with its system
call, for every message received. When data arrives, though, the connection
runs in a protocol callback, outside of any task, where the loop itself would
resume a task: there, :class:`Waiter` resumes the task directly.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Generator
from typing import Any

from .. import speedups

__all__ = ["PurePythonWaiter", "Waiter"]

_PENDING = "PENDING"
_DONE = "DONE"
_CANCELLED = "CANCELLED"


class PurePythonWaiter:
    """A future-like object, without a result, that one task awaits.

    ``await waiter`` returns once :meth:`wake` is called. A task awaiting it
    resumes inside :meth:`wake` when no task is running (that is, when
    :meth:`wake` runs in a callback of the event loop, such as a protocol's
    ``buffer_updated()``), and on the loop's next iteration otherwise.
    Cancelling works as with a future.

    Only a task may await it, as tasks speak the protocol of future-like
    objects (``_asyncio_future_blocking``, ``add_done_callback()``), and only
    once: a waiter holds one callback. :class:`Waiter` is this class, or its
    twin in C when wskit's speedups run.
    """

    # Tasks look for get_loop() first, then for _loop: providing only the
    # attribute spares a method call every time a task starts waiting.
    __slots__ = ("_asyncio_future_blocking", "_callback", "_context", "_loop", "_message", "_state")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._asyncio_future_blocking = False
        self._loop = loop
        self._state = _PENDING
        self._message: Any = None
        self._callback: Callable[[PurePythonWaiter], Any] | None = None
        self._context: contextvars.Context | None = None

    def __await__(self) -> Generator[PurePythonWaiter, None, None]:
        if self._state is _PENDING:
            self._asyncio_future_blocking = True
            yield self
            if self._state is _PENDING:
                raise RuntimeError("await wasn't used with future")
        self.result()

    def done(self) -> bool:
        """Whether the waiter was woken or cancelled."""
        return self._state is not _PENDING

    def cancelled(self) -> bool:
        """Whether the waiter was cancelled."""
        return self._state is _CANCELLED

    def result(self) -> None:
        """Return None once woken.

        Raises:
            asyncio.CancelledError: The waiter was cancelled.
            asyncio.InvalidStateError: The waiter is pending.
        """
        if self._state is _CANCELLED:
            raise asyncio.CancelledError(*(() if self._message is None else (self._message,)))
        if self._state is _PENDING:
            raise asyncio.InvalidStateError("waiter is pending")

    def add_done_callback(
        self,
        callback: Callable[[PurePythonWaiter], Any],
        *,
        context: contextvars.Context | None = None,
    ) -> None:
        """Call ``callback(waiter)`` once the waiter is done, as a future would.

        Raises:
            RuntimeError: The waiter already holds a callback.
        """
        if context is None:
            context = contextvars.copy_context()
        if self._state is not _PENDING:
            self._loop.call_soon(callback, self, context=context)
        elif self._callback is not None:
            raise RuntimeError("a Waiter takes one callback")
        else:
            self._callback = callback
            self._context = context

    def remove_done_callback(self, callback: Callable[[PurePythonWaiter], Any]) -> int:
        """Forget ``callback``; return how many callbacks were removed (0 or 1)."""
        if self._callback is None or self._callback != callback:
            return 0
        self._callback = self._context = None
        return 1

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the waiter; its task resumes on the loop's next iteration.

        Returns:
            :obj:`False` if the waiter was done already, else :obj:`True`.
        """
        if self._state is not _PENDING:
            return False
        self._state = _CANCELLED
        self._message = msg
        callback, context = self._take_callback()
        if callback is not None:
            self._loop.call_soon(callback, self, context=context)
        return True

    def wake(self) -> None:
        """Mark the waiter done and resume the task awaiting it, if any.

        The task resumes before this method returns when no task is running,
        as in a protocol callback; else on the loop's next iteration, since
        asyncio runs one task at a time. Waking a done waiter does nothing.
        """
        if self._state is not _PENDING:
            return
        self._state = _DONE
        callback, context = self._take_callback()
        if callback is None:
            return
        if asyncio.current_task(self._loop) is None:
            context.run(callback, self)
        else:
            self._loop.call_soon(callback, self, context=context)

    def _take_callback(self) -> tuple[Any, Any]:
        callback, context = self._callback, self._context
        self._callback = self._context = None
        return callback, context


Waiter: type[PurePythonWaiter] = PurePythonWaiter
if speedups.IMPLEMENTATION == "c":
    from .._speedups import Waiter  # type: ignore[assignment]
