"""Tests for wskit.asyncio.timers: deadlines of one delay on one timer of the loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import weakref
from typing import Any

import pytest

from wskit.asyncio.timers import Deadline, Timers, timer_starter

WAIT = 5
DELAY = 0.02

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def test_deadlines_fire_in_order_after_the_delay_unless_cancelled() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop, DELAY)
    fired: list[tuple[str, float]] = []
    done = loop.create_future()

    def note(name: str) -> None:
        fired.append((name, loop.time()))
        if name == "last":
            done.set_result(None)

    start = loop.time()
    first = timers.call_later(note, "first")
    skipped = timers.call_later(note, "skipped")
    await asyncio.sleep(DELAY / 2)
    last = timers.call_later(note, "last")
    skipped.cancel()
    assert skipped.cancelled()
    # Not cancelled with it; a deadline that fired drops its callback, which
    # reads as cancelled (a busy machine may have slept past the first).
    assert first.cancelled() == (fired != [])  # only "first" may have fired yet
    async with asyncio.timeout(WAIT):
        await done
    assert [name for name, _ in fired] == ["first", "last"]
    # Each no earlier than its own deadline: the last one waited for a timer of its own.
    assert fired[0][1] >= first.when - 0.002
    assert fired[1][1] >= last.when - 0.002
    assert last.when >= start + DELAY * 1.5 - 0.002
    assert not timers.deadlines
    assert timers.timer is None


async def test_a_cancelled_deadline_drops_what_it_refers_to() -> None:
    timers = Timers(asyncio.get_running_loop(), WAIT)

    class Target:
        def method(self) -> None:
            pass

    target = Target()
    ref = weakref.ref(target)
    deadline = timers.call_later(target.method)
    deadline.cancel()
    del target
    gc.collect()
    assert ref() is None
    assert deadline.context is None
    timers.timer.cancel()  # type: ignore[union-attr]


async def test_cancelled_deadlines_at_the_front_leave_with_the_next_one() -> None:
    # They would live on for the whole delay, for the garbage collector to walk through.
    loop = asyncio.get_running_loop()
    timers = Timers(loop, DELAY)
    fired: asyncio.Future[str] = loop.create_future()
    first = timers.call_later(fired.set_result, "first")
    second = timers.call_later(fired.set_result, "second")
    kept = timers.call_later(fired.set_result, "kept")
    last = timers.call_later(fired.set_result, "last")
    first.cancel()
    last.cancel()
    other = timers.call_later(lambda: None)
    other.cancel()
    assert list(timers.deadlines) == [second, kept, last, other]
    second.cancel()
    newest = timers.call_later(lambda: None)
    # Up to the first that isn't cancelled: the others wait to come due.
    assert list(timers.deadlines) == [kept, last, other, newest]
    # The loop's timer, set for the first deadline, fires early: the rest still comes due.
    async with asyncio.timeout(WAIT):
        assert await fired == "kept"
    newest.cancel()


async def test_callbacks_run_in_the_context_they_were_set_in() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop, DELAY)
    seen: asyncio.Future[list[str]] = loop.create_future()
    values: list[str] = []

    def note() -> None:
        values.append(request_id.get())
        if len(values) == 2:
            seen.set_result(values)

    async def set_in(value: str) -> None:
        request_id.set(value)
        timers.call_later(note)

    await asyncio.gather(set_in("a"), set_in("b"))
    async with asyncio.timeout(WAIT):
        assert await seen == ["a", "b"]


async def test_a_callback_given_a_context_runs_in_it_without_a_copy() -> None:
    # A server's open timer: one context for every connection's.
    loop = asyncio.get_running_loop()
    timers = Timers(loop, DELAY)
    context = contextvars.copy_context()
    context.run(request_id.set, "given")
    seen: asyncio.Future[str] = loop.create_future()
    request_id.set("current")
    deadline = timers.call_later(lambda: seen.set_result(request_id.get()), context=context)
    assert deadline.context is context
    async with asyncio.timeout(WAIT):
        assert await seen == "given"


async def test_an_exception_goes_to_the_loop_and_the_others_still_run() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    timers = Timers(loop, DELAY)
    done = loop.create_future()

    def fail() -> None:
        raise RuntimeError("boom")

    timers.call_later(fail)
    timers.call_later(done.set_result, None)
    try:
        async with asyncio.timeout(WAIT):
            await done
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    [error] = errors
    assert isinstance(error["exception"], RuntimeError)


async def test_timer_starter_uses_timers_on_asyncio_loop_only() -> None:
    loop = asyncio.get_running_loop()
    start = timer_starter(loop, WAIT)
    deadline = start(lambda: None)
    assert isinstance(deadline, Deadline)
    deadline.cancel()
    timers = cast_timers(start)
    assert timers.deadlines[0] is deadline
    assert timers.timer is not None
    timers.timer.cancel()


def cast_timers(start: Any) -> Timers:
    timers = start.__self__
    assert isinstance(timers, Timers)
    return timers


def test_timer_starter_uses_call_later_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        start = timer_starter(loop, WAIT)
        assert isinstance(start, functools.partial)
        assert start.func == loop.call_later
        assert start.args == (WAIT,)
    finally:
        loop.close()
