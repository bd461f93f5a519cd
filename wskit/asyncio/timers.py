"""Timers that many connections start with one delay, on one timer of the loop.

A server starts a timer per connection for its opening handshake, always
with the same delay, and nearly always cancels it. On asyncio's own loop,
``call_later()`` builds a :class:`asyncio.TimerHandle`, pushes it on the
loop's heap (comparisons in Python), and ``cancel()`` tells the loop; ~200
bytecodes per connection. With one delay, deadlines come due in the order
they were set: a deque holds them, and one timer of the loop waits for the
first. Other loops (uvloop) keep their timers in compiled code, cheaper
than this: :func:`timer_starter` picks.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_LOOP_DELAYS", "Deadline", "Timers", "call_later", "shared_starter", "timer_starter"]


class Deadline:
    """A callback due at ``when``, unless cancelled; like a :class:`asyncio.TimerHandle`."""

    __slots__ = ("args", "callback", "context", "when")

    def __init__(
        self,
        when: float,
        callback: Callable[..., Any],
        args: tuple[Any, ...],
        context: contextvars.Context | None = None,
    ) -> None:
        self.when = when
        self.callback: Callable[..., Any] | None = callback
        self.args = args
        # Run in the context it was set in, unless given one, as call_later() does.
        self.context: contextvars.Context | None = (
            contextvars.copy_context() if context is None else context
        )

    def cancel(self) -> None:
        """Don't call the callback; drop what it refers to at once."""
        self.callback = None
        self.args = ()
        self.context = None

    def cancelled(self) -> bool:
        """Whether the deadline was cancelled."""
        return self.callback is None


class Timers:
    """Deadlines of one ``delay``, kept in the order they are set.

    Cancelled deadlines stay in the deque, without their callback, until they
    come due, as cancelled timers stay on asyncio's heap.
    """

    __slots__ = ("deadlines", "delay", "loop", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.deadlines: deque[Deadline] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def call_later(
        self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None
    ) -> Deadline:
        """Call ``callback(*args)`` after the delay, as ``loop.call_later()`` would."""
        deadline = Deadline(self.loop.time() + self.delay, callback, args, context)
        deadlines = self.deadlines
        # Cancelled deadlines at the front go now, not when due: most are
        # (a server's open timer, cancelled once the handshake is done), and
        # each would live on for the whole delay, for the garbage collector
        # to walk through. The loop's timer may then fire early: _fire() waits again.
        while deadlines and deadlines[0].callback is None:
            deadlines.popleft()
        deadlines.append(deadline)
        if self.timer is None:
            self.timer = self.loop.call_at(deadline.when, self._fire, deadline.when)
        return deadline

    def _fire(self, when: float) -> None:
        self.timer = None
        # uvloop's clock ticks in milliseconds: the first is due, whatever it says.
        due = max(when, self.loop.time())
        deadlines = self.deadlines
        while deadlines and deadlines[0].when <= due:
            deadline = deadlines.popleft()
            if deadline.callback is not None:
                # A handle of its own: an exception is reported as the loop
                # reports those of its callbacks, and the others still run.
                self.loop.call_soon(deadline.callback, *deadline.args, context=deadline.context)
                deadline.cancel()
        if deadlines:
            first = deadlines[0].when
            self.timer = self.loop.call_at(first, self._fire, first)


def timer_starter(
    loop: asyncio.AbstractEventLoop, delay: float
) -> Callable[..., asyncio.TimerHandle | Deadline]:
    """Return what calls ``callback(*args)`` after ``delay`` on ``loop``, cheapest first.

    :class:`Timers` on asyncio's own loop, ``loop.call_later()`` elsewhere;
    what it returns has ``cancel()`` and ``cancelled()`` either way.
    """
    if isinstance(loop, asyncio.BaseEventLoop):
        return Timers(loop, delay).call_later
    return functools.partial(loop.call_later, delay)


def shared_starter(
    loop: asyncio.AbstractEventLoop,
    starters: dict[float, Callable[..., asyncio.TimerHandle | Deadline]],
    limit: int,
    delay: float,
) -> Callable[..., asyncio.TimerHandle | Deadline]:
    """Return the starter of ``delay`` in ``starters``, made by :func:`timer_starter` once.

    For the owners of timers that many connections share: a server, or a
    loop for its clients. Past ``limit`` delays (delays set per connection),
    ``loop.call_later()``, not kept.
    """
    start = starters.get(delay)
    if start is None:
        if len(starters) >= limit:
            return functools.partial(loop.call_later, delay)
        start = starters[delay] = timer_starter(loop, delay)
    return start


MAX_LOOP_DELAYS = 8
"""How many delays a loop's clients share loop timers for (see :func:`call_later`)."""


def call_later(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., object], *args: Any
) -> asyncio.TimerHandle | Deadline:
    """Call ``callback(*args)`` after ``delay``, on :class:`Timers` that ``loop`` keeps.

    For clients, which have no server to share timers with: on asyncio's own
    loop, those of one delay (the open, close and keepalive timeouts,
    which most connections leave as they are) share one timer of the loop,
    kept in an attribute of the loop, so that they live and go with it.
    Elsewhere, and past :data:`MAX_LOOP_DELAYS` delays, ``loop.call_later()``.
    """
    if isinstance(loop, asyncio.BaseEventLoop):
        starters: dict[float, Callable[..., asyncio.TimerHandle | Deadline]] | None
        starters = getattr(loop, "_wskit_timers", None)
        if starters is None:
            starters = loop._wskit_timers = {}  # type: ignore[attr-defined]
        return shared_starter(loop, starters, MAX_LOOP_DELAYS, delay)(callback, *args)
    return loop.call_later(delay, callback, *args)
