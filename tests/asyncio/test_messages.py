"""Tests for wskit.asyncio.messages: the Assembler that feeds recv() and recv_streaming()."""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc

import pytest

from wskit.asyncio.messages import Assembler
from wskit.exceptions import ConcurrencyError
from wskit.frames import BINARY, CONT, TEXT, Frame
from wskit.typing import Data


class Flow:
    """Records the pause() and resume() calls an Assembler makes."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def text(data: str, fin: bool = True) -> Frame:
    return Frame(TEXT, data.encode(), fin)


def binary(data: bytes, fin: bool = True) -> Frame:
    return Frame(BINARY, data, fin)


def cont(data: bytes, fin: bool = True) -> Frame:
    return Frame(CONT, data, fin)


async def wait_until_blocked(task: asyncio.Task[object]) -> None:
    """Let ``task`` run until it waits for something, and check that it does."""
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()


def deliver(assembler: Assembler, frame: Frame) -> None:
    """Add a frame and resume a waiting reader, as the connection does."""
    assembler.put(frame)
    assembler.wake()


def end(assembler: Assembler) -> None:
    """End the stream and resume a waiting reader, as the connection does."""
    assembler.close()
    assembler.wake()


async def collect(assembler: Assembler, decode: bool | None = None) -> list[Data]:
    async with contextlib.aclosing(assembler.get_iter(decode)) as fragments:
        return [fragment async for fragment in fragments]


# get()


async def test_get_returns_text_as_str_and_binary_as_bytes() -> None:
    assembler = Assembler()
    assembler.put(text("café"))
    assembler.put(binary(b"\x00\xff"))
    assert await assembler.get() == "café"
    assert await assembler.get() == b"\x00\xff"


@pytest.mark.parametrize(
    ("frame", "decode", "expected"),
    [
        (text("café"), False, "café".encode()),
        (text("café"), True, "café"),
        (binary("été".encode()), True, "été"),
        (binary(b"\xff"), False, b"\xff"),
    ],
)
async def test_get_decode_overrides_message_type(
    frame: Frame, decode: bool, expected: Data
) -> None:
    assembler = Assembler()
    assembler.put(frame)
    result = await assembler.get(decode)
    assert result == expected
    assert type(result) is type(expected)


async def test_get_returns_bytes_not_a_view_of_a_memoryview_payload() -> None:
    assembler = Assembler()
    assembler.put(Frame(BINARY, memoryview(b"abc")))
    result = await assembler.get()
    assert result == b"abc"
    assert type(result) is bytes


async def test_get_decode_true_on_invalid_utf8_raises_and_allows_next_get() -> None:
    assembler = Assembler()
    assembler.put(binary(b"\xff\xfe", fin=False))
    assembler.put(cont(b"\x00"))
    with pytest.raises(UnicodeDecodeError):
        await assembler.get(decode=True)
    assembler.put(text("next"))
    assert await assembler.get() == "next"


async def test_get_joins_fragments_already_queued() -> None:
    assembler = Assembler()
    for frame in [text("ca", fin=False), cont("fé".encode(), fin=False), cont(b"!")]:
        assembler.put(frame)
    assembler.put(text("next"))
    assert await assembler.get() == "café!"
    assert await assembler.get() == "next"
    assert len(assembler.queue) == 0


async def test_get_waits_for_the_rest_of_a_message() -> None:
    assembler = Assembler()
    assembler.put(binary(b"ab", fin=False))
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    deliver(assembler, cont(b"cd", fin=False))
    await wait_until_blocked(task)
    deliver(assembler, cont(b"ef"))
    assert await task == b"abcdef"


async def test_get_waits_for_a_message() -> None:
    assembler = Assembler()
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    deliver(assembler, text("hello"))
    assert await task == "hello"


async def test_put_alone_leaves_the_reader_waiting_until_wake() -> None:
    assembler = Assembler()
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    assembler.put(text("hello"))
    await wait_until_blocked(task)
    assembler.wake()
    assert await task == "hello"


async def test_wake_with_nothing_received_leaves_the_reader_waiting() -> None:
    assembler = Assembler()
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    assembler.wake()
    await wait_until_blocked(task)
    deliver(assembler, text("hello"))
    assert await task == "hello"


async def test_wake_from_a_loop_callback_resumes_the_reader_before_returning() -> None:
    assembler = Assembler()
    received: list[Data] = []

    async def reader() -> None:
        received.append(await assembler.get())

    task = asyncio.create_task(reader())
    await wait_until_blocked(task)
    seen_by_callback: list[list[Data]] = []

    def callback() -> None:  # as the connection's buffer_updated() does
        deliver(assembler, text("hello"))
        seen_by_callback.append(list(received))

    asyncio.get_running_loop().call_soon(callback)
    await task
    assert seen_by_callback == [["hello"]]


async def test_cancelled_get_leaves_the_partial_message_whole() -> None:
    assembler = Assembler()
    assembler.put(text("he", fin=False))
    assembler.put(cont(b"l", fin=False))
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    # The reader took both fragments out of the queue while it waited.
    assert len(assembler.queue) == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(frame.opcode, frame.data, frame.fin) for frame in assembler.queue.frames] == [
        (TEXT, b"hel", False)
    ]
    deliver(assembler, cont(b"lo"))
    assert await assembler.get() == "hello"


async def test_fragments_taken_one_at_a_time_are_not_kept_as_frames() -> None:
    """A message whose fragments arrive one by one costs its size, not a frame each."""
    # Under tracemalloc and the loop's debug mode: few enough to stay quick
    # on a loaded machine, enough that a frame kept per fragment (~250 bytes)
    # would break the bound below.
    count = 2_000
    assembler = Assembler()
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    tracemalloc.start()
    try:
        for index in range(count):
            frame = binary(b"x", fin=False) if index == 0 else cont(b"x", index == count - 1)
            deliver(assembler, frame)
            # Let the reader take each fragment before the next one.
            while assembler.queue.frames:
                await asyncio.sleep(0)
        assert await task == b"x" * count
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A frame a fragment: ~500 KB; the message: a few KB.
    assert peak < 100 * count


async def test_concurrent_get_raises_concurrency_error() -> None:
    assembler = Assembler()
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    with pytest.raises(ConcurrencyError):
        await assembler.get()
    with pytest.raises(ConcurrencyError):
        await collect(assembler)
    # The first reader isn't disturbed.
    deliver(assembler, text("first"))
    assert await task == "first"


async def test_get_while_get_iter_is_running_raises_concurrency_error() -> None:
    assembler = Assembler()
    assembler.put(text("a", fin=False))
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        assert await anext(fragments) == "a"
        assembler.put(text("whole message"))  # queued behind, must not be taken
        with pytest.raises(ConcurrencyError):
            await assembler.get()


# get_iter()


async def test_get_iter_yields_fragments_as_they_arrive() -> None:
    assembler = Assembler()
    assembler.put(text("ca", fin=False))
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        assert await anext(fragments) == "ca"
        next_fragment = asyncio.ensure_future(anext(fragments))
        await wait_until_blocked(next_fragment)
        deliver(assembler, cont("fé".encode()))
        assert await next_fragment == "fé"
        with pytest.raises(StopAsyncIteration):
            await anext(fragments)


async def test_get_iter_decodes_characters_split_across_fragments() -> None:
    assembler = Assembler()
    encoded = "été".encode()  # c3 a9 74 c3 a9
    assembler.put(binary(encoded[:1], fin=False))
    assembler.put(cont(encoded[1:4], fin=False))
    assembler.put(cont(encoded[4:]))
    assert await collect(assembler, decode=True) == ["", "ét", "é"]


async def test_get_iter_decode_false_returns_bytes_of_text() -> None:
    assembler = Assembler()
    assembler.put(text("ab", fin=False))
    assembler.put(cont(b"c"))
    assert await collect(assembler, decode=False) == [b"ab", b"c"]


async def test_get_iter_binary_single_frame() -> None:
    assembler = Assembler()
    assembler.put(binary(b"\x01\x02"))
    assert await collect(assembler) == [b"\x01\x02"]


async def test_get_iter_decode_true_on_invalid_utf8_raises() -> None:
    assembler = Assembler()
    assembler.put(binary(b"ok", fin=False))
    assembler.put(cont(b"\xff"))
    async with contextlib.aclosing(assembler.get_iter(decode=True)) as fragments:
        assert await anext(fragments) == "ok"
        with pytest.raises(UnicodeDecodeError):
            await anext(fragments)
    assert not assembler.get_in_progress


async def test_stopping_get_iter_early_drops_the_rest_of_the_message() -> None:
    assembler = Assembler()
    for frame in [text("a", fin=False), cont(b"b", fin=False), cont(b"c"), text("next")]:
        assembler.put(frame)
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        assert await anext(fragments) == "a"
    assert await assembler.get() == "next"
    assert len(assembler.queue) == 0


async def test_stopping_get_iter_early_drops_fragments_that_arrive_later() -> None:
    assembler = Assembler()
    assembler.put(binary(b"a", fin=False))
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        assert await anext(fragments) == b"a"
    # The rest of the message isn't there yet; the next reader waits past it.
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    deliver(assembler, cont(b"b", fin=False))
    await wait_until_blocked(task)
    deliver(assembler, cont(b"c"))
    await wait_until_blocked(task)
    deliver(assembler, binary(b"next"))
    assert await task == b"next"


async def test_next_get_iter_also_skips_the_rest_of_a_dropped_message() -> None:
    assembler = Assembler()
    assembler.put(text("a", fin=False))
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        assert await anext(fragments) == "a"
    assembler.put(cont(b"b"))
    assembler.put(text("x", fin=False))
    assembler.put(cont(b"y"))
    assert await collect(assembler) == ["x", "y"]


async def test_get_iter_stopped_after_last_fragment_drops_nothing() -> None:
    assembler = Assembler()
    assembler.put(text("whole"))
    assembler.put(text("next"))
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        assert await anext(fragments) == "whole"
    # The fast path applies again: nothing is left to skip.
    assert not assembler.skip_rest_of_message
    assert await assembler.get() == "next"


async def test_concurrent_get_iter_raises_concurrency_error() -> None:
    assembler = Assembler()
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        first = asyncio.ensure_future(anext(fragments))
        await wait_until_blocked(first)
        with pytest.raises(ConcurrencyError):
            await collect(assembler)
        deliver(assembler, text("x"))
        assert await first == "x"


# Flow control.


async def test_pause_above_high_and_resume_at_low() -> None:
    flow = Flow()
    assembler = Assembler(4, 1, pause=flow.pause, resume=flow.resume)
    for index in range(4):
        assembler.put(text(str(index)))
    assert flow.calls == []
    assembler.put(text("4"))
    assert flow.calls == ["pause"]
    assert assembler.queue.paused
    assembler.put(text("5"))  # no second pause
    assert flow.calls == ["pause"]
    for index in range(4):
        assert await assembler.get() == str(index)
    assert flow.calls == ["pause"]  # two frames left: above low
    assert await assembler.get() == "4"
    assert flow.calls == ["pause", "resume"]
    assert not assembler.queue.paused
    assert await assembler.get() == "5"
    assert flow.calls == ["pause", "resume"]


async def test_low_defaults_to_a_quarter_of_high() -> None:
    flow = Flow()
    assembler = Assembler(8, pause=flow.pause, resume=flow.resume)
    for index in range(9):
        assembler.put(text(str(index)))
    assert flow.calls == ["pause"]
    for _ in range(6):
        await assembler.get()
    assert flow.calls == ["pause"]  # 3 left, low is 2
    await assembler.get()
    assert flow.calls == ["pause", "resume"]


async def test_fragments_count_against_the_high_mark() -> None:
    flow = Flow()
    assembler = Assembler(2, 0, pause=flow.pause, resume=flow.resume)
    assembler.put(text("a", fin=False))
    assembler.put(cont(b"b", fin=False))
    assembler.put(cont(b"c"))
    assert flow.calls == ["pause"]
    assert await assembler.get() == "abc"
    assert flow.calls == ["pause", "resume"]


async def test_no_high_mark_never_pauses() -> None:
    flow = Flow()
    assembler = Assembler(None, pause=flow.pause, resume=flow.resume)
    for index in range(1000):
        assembler.put(binary(bytes([index % 256])))
    assert flow.calls == []
    assert len(assembler.queue) == 1000


def test_invalid_water_marks() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        Assembler(2, 3)
    with pytest.raises(ValueError, match="low <= high"):
        Assembler(4, -1)


# close()


async def test_close_returns_remaining_messages_then_eof() -> None:
    assembler = Assembler()
    assembler.put(text("a"))
    assembler.put(binary(b"b", fin=False))
    assembler.put(cont(b"c"))
    assembler.close()
    assert await assembler.get() == "a"
    assert await assembler.get() == b"bc"
    with pytest.raises(EOFError):
        await assembler.get()
    with pytest.raises(EOFError):
        await collect(assembler)


async def test_close_wakes_up_a_waiting_get() -> None:
    assembler = Assembler()
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    end(assembler)
    with pytest.raises(EOFError):
        await task
    assert not assembler.get_in_progress


async def test_close_alone_leaves_the_reader_waiting_until_wake() -> None:
    assembler = Assembler()
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    assembler.close()
    await wait_until_blocked(task)
    assembler.wake()
    with pytest.raises(EOFError):
        await task


async def test_close_in_the_middle_of_a_message_raises_eof() -> None:
    assembler = Assembler()
    assembler.put(text("incomplete", fin=False))
    task = asyncio.create_task(assembler.get())
    await wait_until_blocked(task)
    end(assembler)
    with pytest.raises(EOFError):
        await task
    # The incomplete message is never returned as if it were whole.
    with pytest.raises(EOFError):
        await assembler.get()


async def test_close_wakes_up_get_iter_in_the_middle_of_a_message() -> None:
    assembler = Assembler()
    assembler.put(binary(b"a", fin=False))
    async with contextlib.aclosing(assembler.get_iter()) as fragments:
        assert await anext(fragments) == b"a"
        next_fragment = asyncio.ensure_future(anext(fragments))
        await wait_until_blocked(next_fragment)
        end(assembler)
        with pytest.raises(EOFError):
            await next_fragment
    assert not assembler.get_in_progress


async def test_put_after_close_raises_eof() -> None:
    assembler = Assembler()
    assembler.close()
    with pytest.raises(EOFError):
        assembler.put(text("late"))
    assert len(assembler.queue) == 0


async def test_close_is_idempotent() -> None:
    assembler = Assembler()
    assembler.put(text("kept"))
    assembler.close()
    assembler.close()
    assert await assembler.get() == "kept"


# A failure queued after the frames received before it.


async def test_get_reaches_a_failure_after_the_message_before_it() -> None:
    calls: list[str] = []
    assembler = Assembler(fail=lambda: calls.append("fail"))
    assembler.put(text("answer me"))
    assembler.put_failure(after_message=True)
    assert await assembler.get() == "answer me"
    assert calls == []
    # The next read reaches the failure, then waits for the end of the stream.
    receiving = asyncio.create_task(assembler.get())
    await wait_until_blocked(receiving)
    assert calls == ["fail"]
    end(assembler)
    with pytest.raises(EOFError):
        await receiving


async def test_reader_waiting_mid_message_reaches_a_failure_at_once() -> None:
    calls: list[str] = []
    assembler = Assembler(fail=lambda: calls.append("fail"))
    receiving = asyncio.create_task(assembler.get())
    await wait_until_blocked(receiving)
    deliver(assembler, text("never finished", fin=False))
    await wait_until_blocked(receiving)
    assembler.put_failure(after_message=False)
    assert calls == ["fail"]
    end(assembler)
    with pytest.raises(EOFError):
        await receiving


async def test_wake_resumes_a_reader_that_reaches_a_failure() -> None:
    calls: list[str] = []
    assembler = Assembler(fail=lambda: calls.append("fail"))
    receiving = asyncio.create_task(assembler.get())
    await wait_until_blocked(receiving)
    # A message ended before the failure, and was taken already (see sync).
    assembler.put_failure(after_message=True)
    assert calls == []
    assembler.wake()
    await wait_until_blocked(receiving)
    assert calls == ["fail"]
    end(assembler)
    with pytest.raises(EOFError):
        await receiving


# Performance device (ARCHITECTURE.md): get() skips a coroutine level when no
# fragmented message is in the way.


@pytest.mark.parametrize(
    "frames",
    [[text("whole")], [text("who", fin=False), cont(b"le")]],
    ids=["one frame", "fragments"],
)
async def test_get_of_a_queued_message_completes_without_suspending(frames: list[Frame]) -> None:
    assembler = Assembler()
    for frame in frames:
        assembler.put(frame)
    skips: list[None] = []
    skip = assembler._skip_rest_of_message

    async def recording_skip() -> None:
        skips.append(None)
        await skip()

    assembler._skip_rest_of_message = recording_skip  # type: ignore[method-assign]
    coroutine = assembler.get()
    with pytest.raises(StopIteration) as stop:
        coroutine.send(None)
    assert stop.value.value == "whole"
    # Nothing to skip: not even a coroutine that would return at once.
    assert skips == []
