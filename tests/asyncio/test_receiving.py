"""Tests for wskit.speedups.Receiving, Receiver and MessageIterator: recv() without a coroutine.

Every test runs against the pure-Python twins and, when it was built, the C
ones: the same messages, waits, errors and assembler state either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.asyncio.test_messages import Flow
from tests.c_extension import C_SPEEDUPS as _speedups
from tests.c_extension import needs_c
from wskit import _purepython_asyncio, speedups
from wskit.asyncio.messages import Assembler
from wskit.exceptions import ConcurrencyError
from wskit.frames import BINARY, CONT, TEXT, Frame

IMPLEMENTATIONS = [
    pytest.param(_purepython_asyncio, id="python"),
    pytest.param(_speedups, id="c", marks=needs_c),
]


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> Any:
    """The module whose Receiving and MessageIterator are under test."""
    return request.param


def receiving(impl: Any, assembler: Assembler, decode: bool | None = None) -> Any:
    return impl.Receiving(assembler, decode, assembler.get)


async def read(impl: Any, assembler: Assembler) -> Any:
    """Await the next message, in a coroutine, for a task."""
    return await receiving(impl, assembler)


def deliver(assembler: Assembler, *frames: Frame) -> None:
    """Queue frames and resume a waiting reader, as the connection does."""
    for frame in frames:
        assembler.put(frame)
    assembler.wake()


def run_at_once(awaitable: Any) -> Any:
    """Drive ``awaitable`` by hand: it must complete without suspending."""
    iterator = awaitable.__await__()
    with pytest.raises(StopIteration) as stop:
        iterator.send(None)
    return stop.value.value


async def blocked(task: asyncio.Task[Any]) -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()


@pytest.mark.parametrize(
    ("frame", "decode", "expected"),
    [
        (Frame(TEXT, "café".encode()), None, "café"),
        (Frame(TEXT, "café".encode()), True, "café"),
        (Frame(TEXT, "café".encode()), False, "café".encode()),
        (Frame(BINARY, b"\x00\xff"), None, b"\x00\xff"),
        (Frame(BINARY, b"\x00\xff"), False, b"\x00\xff"),
        (Frame(BINARY, bytearray(b"ab")), None, b"ab"),
        (Frame(BINARY, memoryview(b"ab")), None, b"ab"),
        (Frame(BINARY, b"abc"), True, "abc"),  # through the general path
    ],
)
async def test_waiting_message_is_returned_as_get_returns_it(
    impl: Any, frame: Frame, decode: bool | None, expected: Any
) -> None:
    assembler = Assembler()
    assembler.put(frame)
    reference = Assembler()
    reference.put(frame)
    result = run_at_once(receiving(impl, assembler, decode))
    assert result == await reference.get(decode)
    assert result == expected
    assert type(result) is type(expected)
    assert len(assembler.queue) == 0
    assert not assembler.get_in_progress


async def test_binary_message_that_isnt_utf8_raises_as_get_does(impl: Any) -> None:
    assembler = Assembler()
    assembler.put(Frame(BINARY, b"\xff"))
    with pytest.raises(UnicodeDecodeError):
        await receiving(impl, assembler, True)


async def test_fragmented_message_goes_to_the_general_path(impl: Any) -> None:
    assembler = Assembler()
    assembler.put(Frame(TEXT, b"ca", fin=False))
    task = asyncio.create_task(asyncio.wait_for(receiving(impl, assembler), 10))
    await blocked(task)
    deliver(assembler, Frame(CONT, "fé".encode()))
    assert await task == "café"
    assert not assembler.get_in_progress


async def test_reader_waits_then_takes_the_message(impl: Any) -> None:
    assembler = Assembler()
    task = asyncio.create_task(asyncio.wait_for(receiving(impl, assembler), 10))
    await blocked(task)
    assert assembler.get_in_progress
    assert assembler.waiter is not None
    deliver(assembler, Frame(TEXT, b"hello"), Frame(TEXT, b"next"))
    assert await task == "hello"
    assert not assembler.get_in_progress
    assert run_at_once(receiving(impl, assembler)) == "next"


async def test_reader_woken_in_a_callback_resumes_there(impl: Any) -> None:
    assembler = Assembler()
    received: list[Any] = []

    async def reader() -> None:
        received.append(await receiving(impl, assembler))

    task = asyncio.create_task(reader())
    await blocked(task)
    woken = asyncio.Event()

    def callback() -> None:  # as buffer_updated() runs: in no task
        deliver(assembler, Frame(BINARY, b"data"))
        woken.set()
        assert received == [b"data"]

    asyncio.get_running_loop().call_soon(callback)
    await woken.wait()
    await task


async def test_reader_waits_after_a_wake_with_nothing_for_it(impl: Any) -> None:
    assembler = Assembler()
    task = asyncio.create_task(asyncio.wait_for(receiving(impl, assembler), 10))
    await blocked(task)
    assembler.wake()
    await blocked(task)
    deliver(assembler, Frame(TEXT, b"hello"))
    assert await task == "hello"


async def test_cancelled_reader_loses_no_message(impl: Any) -> None:
    assembler = Assembler()
    task = asyncio.create_task(read(impl, assembler))
    await blocked(task)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not assembler.get_in_progress
    deliver(assembler, Frame(TEXT, b"kept"))
    assert run_at_once(receiving(impl, assembler)) == "kept"


async def test_reader_cancelled_after_its_wake_up_leaves_the_message(impl: Any) -> None:
    assembler = Assembler()
    task = asyncio.create_task(read(impl, assembler))
    await blocked(task)
    # Woken from within a task: the reader resumes on the loop's next pass,
    # and the cancellation comes first.
    deliver(assembler, Frame(TEXT, b"kept"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not assembler.get_in_progress
    assert run_at_once(receiving(impl, assembler)) == "kept"


async def test_timeout_while_waiting(impl: Any) -> None:
    assembler = Assembler()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await receiving(impl, assembler)
    assert not assembler.get_in_progress


async def test_second_reader_raises_concurrency_error(impl: Any) -> None:
    assembler = Assembler()
    task = asyncio.create_task(asyncio.wait_for(receiving(impl, assembler), 10))
    await blocked(task)
    with pytest.raises(ConcurrencyError):
        await receiving(impl, assembler)
    deliver(assembler, Frame(TEXT, b"first"))
    assert await task == "first"


async def test_second_reader_raises_even_with_a_message_waiting(impl: Any) -> None:
    assembler = Assembler()
    assembler.put(Frame(TEXT, b"a", fin=False))
    task = asyncio.create_task(asyncio.wait_for(receiving(impl, assembler), 10))
    await blocked(task)
    assembler.put(Frame(TEXT, b"other"))
    with pytest.raises(ConcurrencyError):
        await receiving(impl, assembler)
    task.cancel()


async def test_end_of_stream_raises_eof_error(impl: Any) -> None:
    assembler = Assembler()
    task = asyncio.create_task(asyncio.wait_for(receiving(impl, assembler), 10))
    await blocked(task)
    assembler.close()
    assembler.wake()
    with pytest.raises(EOFError):
        await task
    with pytest.raises(EOFError):
        await receiving(impl, assembler)
    assert not assembler.get_in_progress


async def test_queued_failure_is_reached_by_the_general_path(impl: Any) -> None:
    failed: list[bool] = []
    assembler = Assembler(fail=lambda: failed.append(True))
    assembler.put(Frame(TEXT, b"last"))
    assembler.put_failure(after_message=True)
    assert run_at_once(receiving(impl, assembler)) == "last"
    assert not failed
    task = asyncio.create_task(asyncio.wait_for(receiving(impl, assembler), 10))
    await blocked(task)
    assert failed == [True]
    task.cancel()


async def test_rest_of_a_streamed_message_is_skipped(impl: Any) -> None:
    assembler = Assembler()
    assembler.put(Frame(TEXT, b"a", fin=False))
    fragments = assembler.get_iter()
    assert await anext(fragments) == "a"
    await fragments.aclose()  # stops midway: the rest is dropped
    assembler.put(Frame(CONT, b"b"))
    assembler.put(Frame(TEXT, b"next"))
    assert await receiving(impl, assembler) == "next"


async def test_taking_frames_resumes_reading_at_the_low_mark(impl: Any) -> None:
    flow = Flow()
    assembler = Assembler(4, 1, flow.pause, flow.resume)
    for index in range(5):
        assembler.put(Frame(TEXT, str(index).encode()))
    assert flow.calls == ["pause"]
    messages = [run_at_once(receiving(impl, assembler)) for _ in range(3)]
    assert messages == ["0", "1", "2"]
    assert flow.calls == ["pause"]
    assert run_at_once(receiving(impl, assembler)) == "3"
    assert flow.calls == ["pause", "resume"]
    assert not assembler.queue.paused


async def test_awaiting_twice_raises(impl: Any) -> None:
    assembler = Assembler()
    assembler.put(Frame(TEXT, b"once"))
    awaitable = receiving(impl, assembler)
    assert await awaitable == "once"
    with pytest.raises(RuntimeError, match="already awaited"):
        await awaitable


def waiting(impl: Any, assembler: Assembler) -> Any:
    """Start an await of an empty queue by hand; return its iterator, suspended."""
    iterator = receiving(impl, assembler).__await__()
    waiter = iterator.send(None)
    assert waiter._asyncio_future_blocking
    assert waiter is assembler.waiter
    assert assembler.get_in_progress
    return iterator


async def test_await_closed_while_waiting_ends_the_reading(impl: Any) -> None:
    waiting(impl, assembler := Assembler()).close()
    assert not assembler.get_in_progress


async def test_exception_thrown_while_waiting_ends_the_reading(impl: Any) -> None:
    iterator = waiting(impl, assembler := Assembler())
    with pytest.raises(KeyError):
        iterator.throw(KeyError("x"))
    assert not assembler.get_in_progress


async def test_resumed_before_its_wake_up_raises(impl: Any) -> None:
    iterator = waiting(impl, assembler := Assembler())
    with pytest.raises(RuntimeError, match="await wasn't used with future"):
        iterator.send(None)
    assert not assembler.get_in_progress


async def test_throw_and_close_reach_the_general_path(impl: Any) -> None:
    assembler = Assembler()
    assembler.put(Frame(TEXT, b"a", fin=False))
    iterator = receiving(impl, assembler).__await__()
    iterator.send(None)  # the general path waits for the rest
    assert assembler.get_in_progress
    with pytest.raises(KeyError):
        iterator.throw(KeyError("x"))
    assert not assembler.get_in_progress
    assert len(assembler.queue) == 1  # the message is left whole
    iterator = receiving(impl, assembler).__await__()
    iterator.send(None)
    iterator.close()
    assert not assembler.get_in_progress


def ended_by_eof(assembler: Assembler) -> Callable[[bool | None], Awaitable[Any]]:
    """A message iterator's general path: the assembler's get(), its EOF the end."""

    async def general(decode: bool | None) -> Any:
        try:
            return await assembler.get(decode)
        except EOFError:
            raise StopAsyncIteration from None

    return general


async def test_message_iterator_ends_as_its_general_path_says(impl: Any) -> None:
    assembler = Assembler()
    messages = impl.MessageIterator(assembler, ended_by_eof(assembler))
    assert messages.__aiter__() is messages
    received = []

    async def reader() -> None:
        async for message in messages:
            received.append(message)

    task = asyncio.create_task(asyncio.wait_for(reader(), 10))
    await blocked(task)
    deliver(assembler, Frame(TEXT, b"one"), Frame(BINARY, b"two"))
    await blocked(task)
    assert received == ["one", b"two"]
    assembler.close()
    assembler.wake()
    await task
    assert received == ["one", b"two"]


async def test_message_iterator_never_reuses_an_await_held_elsewhere(impl: Any) -> None:
    # The C iterator starts its last Receiving again once it is finished and
    # nothing else holds it; one still held, or not finished, stays as it is.
    assembler = Assembler()
    messages = impl.MessageIterator(assembler, ended_by_eof(assembler))
    deliver(assembler, Frame(TEXT, b"one"), Frame(TEXT, b"two"), Frame(TEXT, b"three"))
    held = messages.__anext__()
    assert run_at_once(held) == "one"
    second = messages.__anext__()
    assert second is not held
    with pytest.raises(RuntimeError, match="already awaited"):
        run_at_once(held)  # finished, still finished
    pending = messages.__anext__()  # made while the second is neither finished nor dropped
    assert pending is not second
    assert run_at_once(second) == "two"
    assert run_at_once(pending) == "three"
    del held, second, pending
    received = []

    async def reader() -> None:
        async for message in messages:
            received.append(message)

    task = asyncio.create_task(asyncio.wait_for(reader(), 10))
    for number in range(5):
        deliver(assembler, Frame(BINARY, bytes([number])))
        await blocked(task)
    assert received == [bytes([number]) for number in range(5)]
    assembler.close()
    assembler.wake()
    await task


async def test_a_waiter_held_elsewhere_is_never_awaited_again(impl: Any) -> None:
    # The C Receiving keeps its last waiters for its next waits, pending
    # again, if nothing else holds them; one held elsewhere stays woken.
    assembler = Assembler()
    messages = impl.MessageIterator(assembler, assembler.get)
    received = []

    async def reader() -> None:
        for _ in range(3):
            received.append(await messages.__anext__())

    task = asyncio.create_task(asyncio.wait_for(reader(), 10))
    await blocked(task)
    first = assembler.waiter
    assert first is not None
    deliver(assembler, Frame(TEXT, b"one"))
    await blocked(task)
    second = assembler.waiter
    assert second is not first
    assert first.done()
    del first, second  # the next wait may take it
    deliver(assembler, Frame(TEXT, b"two"))
    await blocked(task)
    third = assembler.waiter
    assert third is not None
    assert not third.done()
    deliver(assembler, Frame(TEXT, b"three"))
    await task
    assert received == ["one", "two", "three"]
    assert third.done()


async def test_assembler_state_is_in_slots() -> None:
    # What the C Receiving reads in place, rather than by name.
    assembler = Assembler()
    for owner, names in [
        (assembler, ["closed", "failure_queued", "get_in_progress", "queue"]),
        (assembler, ["skip_rest_of_message", "loop", "waiter"]),
        (assembler.queue, ["frames", "low", "paused"]),
    ]:
        for name in names:
            assert any(name in vars(cls).get("__slots__", ()) for cls in type(owner).__mro__), name


def receive(impl: Any, assembler: Assembler, *args: Any, **kwargs: Any) -> Any:
    """``impl``'s ``Receiver.receive()`` on ``assembler``: the asyncio Assembler's receive()."""
    if impl is not _purepython_asyncio and not isinstance(assembler, impl.Receiver):
        pytest.skip("the asyncio Assembler derives from the Python twin's Receiver")
    return impl.Receiver.receive(assembler, *args, **kwargs)


async def test_receive_is_a_receiving_with_the_assemblers_get_as_general_path(impl: Any) -> None:
    assembler = Assembler()
    deliver(assembler, Frame(TEXT, "café".encode()))
    awaitable = receive(impl, assembler)
    assert type(awaitable) is impl.Receiving
    assert await awaitable == "café"
    # A binary message to decode, a fragmented message: the assembler's get().
    deliver(assembler, Frame(BINARY, b"abc"))
    assert await receive(impl, assembler, decode=True) == "abc"
    deliver(assembler, Frame(TEXT, b"ca", fin=False), Frame(CONT, "fé".encode()))
    assert await receive(impl, assembler, False) == "café".encode()
    assembler.put(Frame(BINARY, b"\xff"))
    with pytest.raises(UnicodeDecodeError):
        await receive(impl, assembler, True)


async def test_receive_takes_decode_alone(impl: Any) -> None:
    assembler = Assembler()
    with pytest.raises(TypeError):
        receive(impl, assembler, None, None)
    with pytest.raises(TypeError):
        receive(impl, assembler, mode=None)
    with pytest.raises(TypeError):
        receive(impl, assembler, None, decode=None)


def test_asyncio_assembler_receives_without_a_python_frame() -> None:
    # recv()'s receive() is the Receiver's, a built-in method with the C twin.
    assert Assembler.receive is speedups.Receiver.receive
    if speedups.IMPLEMENTATION == "c":
        assert _speedups is not None
        assert speedups.Receiver is _speedups.Receiver
