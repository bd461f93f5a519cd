"""Tests for wskit.speedups.Waiter: a future that resumes its task from a callback.

Every test runs against the pure-Python Waiter and, when it was built, its
twin in C, on the default event loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop

from tests.c_extension import C_SPEEDUPS as _speedups
from tests.c_extension import needs_c
from wskit import _purepython_asyncio, speedups

IMPLEMENTATIONS = [
    pytest.param(_purepython_asyncio.Waiter, id="python"),
    pytest.param(getattr(_speedups, "Waiter", None), id="c", marks=needs_c),
]
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


@pytest.fixture(params=IMPLEMENTATIONS)
def Waiter(request: pytest.FixtureRequest) -> Any:
    """The class under test: the pure-Python Waiter or its twin in C."""
    return request.param


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop that isn't running, for tests that drive it by hand."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(params=list(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine to completion on a new loop of the kind of the parameter."""

    def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
        loop = LOOPS[request.param]()
        try:
            return loop.run_until_complete(asyncio.wait_for(coroutine, 10))
        finally:
            loop.close()

    return run


def test_waiter_is_the_c_twin_when_speedups_run() -> None:
    if speedups.IMPLEMENTATION == "c":
        assert _speedups is not None
        assert speedups.Waiter is _speedups.Waiter
    else:
        assert speedups.Waiter is _purepython_asyncio.Waiter


def test_wake_from_a_callback_resumes_the_task_before_returning(Waiter: Any, run: Any) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop)
        order: list[str] = []

        async def sleeper() -> None:
            await waiter
            order.append("resumed")

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)

        def callback() -> None:
            waiter.wake()
            order.append("wake() returned")

        loop.call_soon(callback)
        await task
        return order

    assert run(main()) == ["resumed", "wake() returned"]


def test_a_task_woken_from_a_callback_gets_a_finished_future(run: Any) -> None:
    # The C task's wake-up is handed a finished asyncio.Future, whose result
    # it takes in place, not the waiter, whose result() it would call by name
    # (ARCHITECTURE.md, Performance devices). The pure-Python twin shows what
    # each callback is given; the C one hands over the same.
    results: list[Any] = []

    class Spy(_purepython_asyncio.Waiter):
        __slots__ = ()

        def result(self) -> None:
            results.append(self)
            super().result()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        waiter = Spy(loop)
        task = asyncio.create_task(waiter_awaiter(waiter))
        await asyncio.sleep(0)
        assert waiter._callback is not None
        given = _purepython_asyncio._wake_argument(waiter._callback, waiter)
        assert type(given) is asyncio.Future
        assert given.result() is None
        assert given.get_loop() is not loop  # a stand-in: it keeps no loop alive
        loop.call_soon(waiter.wake)
        assert await task == "resumed"

    run(main())
    # Once, by the await itself as it finishes; never by the task's wake-up.
    assert len(results) == 1


def test_other_builtin_methods_of_a_task_get_the_waiter(Waiter: Any, run: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop)
        task = asyncio.create_task(asyncio.sleep(10))
        waiter.add_done_callback(task.set_name)
        loop.call_soon(waiter.wake)  # from a callback: called at once, with...
        await asyncio.sleep(0)
        assert task.get_name() == str(waiter)  # ... the waiter, as by a future
        task.cancel()

    run(main())


async def waiter_awaiter(waiter: Any) -> str:
    """Await ``waiter``, then say so."""
    await waiter
    return "resumed"


def test_wake_from_a_task_resumes_the_other_task_on_the_next_iteration(
    Waiter: Any, run: Any
) -> None:
    async def main() -> list[str]:
        waiter = Waiter(asyncio.get_running_loop())
        order: list[str] = []

        async def sleeper() -> None:
            await waiter
            order.append("resumed")

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)
        waiter.wake()  # one task at a time: this one is running
        order.append("wake() returned")
        assert waiter.done()
        assert not waiter.cancelled()
        await task
        return order

    assert run(main()) == ["wake() returned", "resumed"]


def test_awaiting_a_woken_waiter_does_not_suspend(
    Waiter: Any, loop: asyncio.AbstractEventLoop
) -> None:
    waiter = Waiter(loop)
    waiter.wake()

    async def wait() -> str:
        await waiter
        return "done"

    coroutine = wait()
    with pytest.raises(StopIteration) as stop:
        coroutine.send(None)
    assert stop.value.value == "done"


def test_task_resumes_in_its_own_context(Waiter: Any, run: Any) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop)

        async def sleeper() -> str:
            request_id.set("task's")
            await waiter
            return request_id.get()

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)
        request_id.set("main's")
        loop.call_soon(waiter.wake)
        return await task

    assert run(main()) == "task's"


def test_cancelling_the_task_cancels_the_waiter(Waiter: Any, run: Any) -> None:
    async def main() -> tuple[Any, ...]:
        waiter = Waiter(asyncio.get_running_loop())
        caught: list[tuple[Any, ...]] = []

        async def sleeper() -> None:
            try:
                await waiter
            except asyncio.CancelledError as exc:
                caught.append(exc.args)
                raise

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)
        task.cancel("shutting down")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert waiter.cancelled()
        assert waiter.done()
        waiter.wake()  # too late: nothing happens
        assert waiter.cancelled()
        return caught[0]

    assert run(main()) == ("shutting down",)


def test_a_task_woken_then_cancelled_is_cancelled(Waiter: Any, run: Any) -> None:
    async def main() -> None:
        waiter = Waiter(asyncio.get_running_loop())

        async def sleeper() -> None:
            await waiter

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)
        waiter.wake()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not waiter.cancelled()

    run(main())


def test_cancel_returns_whether_it_cancelled(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    waiter = Waiter(loop)
    assert waiter.cancel() is True
    assert waiter.cancel() is False
    with pytest.raises(asyncio.CancelledError) as raised:
        waiter.result()
    assert raised.value.args == ()
    woken = Waiter(loop)
    woken.wake()
    assert woken.cancel(msg="late") is False
    assert not woken.cancelled()


def test_result(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    waiter = Waiter(loop)
    assert not waiter.done()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.result()
    waiter.wake()
    waiter.wake()  # idempotent
    assert waiter.result() is None
    cancelled = Waiter(loop)
    cancelled.cancel("why")
    with pytest.raises(asyncio.CancelledError, match="why"):
        cancelled.result()


def test_future_protocol_attributes(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    waiter = Waiter(loop)
    assert asyncio.isfuture(waiter)
    assert waiter._loop is loop
    assert waiter._asyncio_future_blocking is False
    waiter._asyncio_future_blocking = True
    assert waiter._asyncio_future_blocking is True
    iterator = waiter.__await__()
    assert next(iterator) is waiter
    # Resumed while still pending: not awaited by a task.
    with pytest.raises(RuntimeError, match="await wasn't used with future"):
        next(iterator)


def test_the_attributes_a_task_reads_by_name(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    # A task's step reads these, by name, each time it starts waiting; the
    # C twin answers them without the generic lookup (see Waiter_getattro).
    waiter = Waiter(loop)
    assert waiter._loop is loop
    waiter._asyncio_future_blocking = True
    assert waiter._asyncio_future_blocking is True
    waiter._asyncio_future_blocking = False
    assert waiter._asyncio_future_blocking is False
    add_done_callback = waiter.add_done_callback
    assert add_done_callback.__self__ is waiter
    assert add_done_callback.__name__ == "add_done_callback"
    called: list[Any] = []
    add_done_callback(called.append)
    waiter.wake()
    assert called == [waiter]
    # No get_loop(): a task then reads _loop, as of asyncio's own futures.
    assert not hasattr(waiter, "get_loop")
    with pytest.raises(AttributeError, match="get_loop"):
        waiter.get_loop  # noqa: B018 - the lookup is the test
    # Any other name: the generic lookup.
    assert waiter.done()
    assert not waiter.cancelled()
    with pytest.raises(AttributeError):
        waiter.no_such_attribute  # noqa: B018 - the lookup is the test
    with pytest.raises(AttributeError):
        waiter.no_such_attribute = 1


def test_callbacks_outside_a_task(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    calls: list[tuple[Any, str]] = []

    def callback(waiter: Any) -> None:
        calls.append((waiter, request_id.get("unset")))

    context = contextvars.copy_context()
    context.run(request_id.set, "callback's")
    waiter = Waiter(loop)
    waiter.add_done_callback(callback, context=context)
    with pytest.raises(RuntimeError, match="one callback"):
        waiter.add_done_callback(print)
    # No task runs: the callback runs at once, in its context.
    waiter.wake()
    assert calls == [(waiter, "callback's")]

    # Added once done: called on the loop's next iteration, as by a future.
    waiter.add_done_callback(callback)
    assert len(calls) == 1
    loop.run_until_complete(asyncio.sleep(0))
    assert calls == [(waiter, "callback's"), (waiter, "unset")]


def test_remove_done_callback(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    calls: list[Any] = []
    waiter = Waiter(loop)
    waiter.add_done_callback(calls.append)
    # Equal, not identical: each access to calls.append is a new bound method.
    assert waiter.remove_done_callback(print) == 0
    assert waiter.remove_done_callback(calls.append) == 1
    assert waiter.remove_done_callback(calls.append) == 0
    waiter.wake()
    loop.run_until_complete(asyncio.sleep(0))
    assert calls == []


def test_cancel_schedules_the_callback(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    calls: list[Any] = []
    waiter = Waiter(loop)
    waiter.add_done_callback(calls.append)
    assert waiter.cancel()
    assert calls == []  # never from cancel() itself: it may run in a task
    loop.run_until_complete(asyncio.sleep(0))
    assert calls == [waiter]


def test_an_error_in_the_callback_reaches_wake(
    Waiter: Any, loop: asyncio.AbstractEventLoop
) -> None:
    def callback(waiter: Any) -> None:
        raise KeyboardInterrupt

    waiter = Waiter(loop)
    context = contextvars.copy_context()
    waiter.add_done_callback(callback, context=context)
    with pytest.raises(KeyboardInterrupt):
        waiter.wake()
    assert waiter.done()
    assert context.run(request_id.get, "left") == "left"  # the context was left


def test_bad_arguments(Waiter: Any, loop: asyncio.AbstractEventLoop) -> None:
    waiter = Waiter(loop)
    with pytest.raises(TypeError):
        Waiter()
    with pytest.raises(TypeError):
        waiter.add_done_callback()
    with pytest.raises(TypeError):
        waiter.add_done_callback(print, loop=loop)
    with pytest.raises(TypeError):
        waiter.cancel("a", "b")
    with pytest.raises(TypeError):
        waiter.cancel("a", msg="b")
    with pytest.raises(TypeError):
        waiter.cancel(message="a")
    assert not waiter.done()


def test_keywords_equal_to_their_name_but_not_interned(
    Waiter: Any, loop: asyncio.AbstractEventLoop
) -> None:
    # Python 3.11's C tasks pass "context" as a string of their own, which
    # the C twin compares once and then knows by identity: the same string
    # must still be refused where another keyword is expected.
    context_key = "".join(["con", "text"])
    message_key = "".join(["ms", "g"])
    calls: list[str] = []
    context = contextvars.copy_context()
    context.run(request_id.set, "given")
    for _ in range(2):
        waiter = Waiter(loop)
        waiter.add_done_callback(
            lambda _: calls.append(request_id.get("unset")), **{context_key: context}
        )
        waiter.wake()
    assert calls == ["given", "given"]
    waiter = Waiter(loop)
    with pytest.raises(TypeError):
        waiter.cancel(**{context_key: "a"})
    with pytest.raises(TypeError):
        waiter.add_done_callback(print, **{message_key: "a"})
    assert waiter.cancel(**{message_key: "a"})
    with pytest.raises(asyncio.CancelledError, match=r"^a$"):
        waiter.result()
