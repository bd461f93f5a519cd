"""Tests for wskit.sync.messages: the Assembler between the reader thread and recv()."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable, Generator, Iterator
from typing import cast

import pytest

from wskit.exceptions import ConcurrencyError
from wskit.frames import BINARY, CONT, TEXT, Frame
from wskit.sync.messages import Assembler
from wskit.typing import Data

# Bounds every wait that should succeed; a broken assembler fails the test, not the suite.
WAIT = 5


def text(data: str, fin: bool = True) -> Frame:
    return Frame(TEXT, data.encode(), fin)


def binary(data: bytes, fin: bool = True) -> Frame:
    return Frame(BINARY, data, fin)


def cont(data: bytes | str, fin: bool = True) -> Frame:
    return Frame(CONT, data.encode() if isinstance(data, str) else data, fin)


def stop(fragments: Iterator[Data]) -> None:
    """Stop a streaming read before the end of the message, as a ``break`` would."""
    cast(Generator[Data, None, None], fragments).close()


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


class Reader(threading.Thread):
    """Runs ``get()`` (or a whole ``get_iter()``) in a thread; keeps the outcome."""

    def __init__(self, assembler: Assembler, *, stream: bool = False) -> None:
        super().__init__()
        self.assembler = assembler
        self.stream = stream
        self.result: Data | list[Data] | None = None
        self.error: BaseException | None = None
        self.start()
        wait_for(lambda: assembler.get_in_progress)

    def run(self) -> None:
        try:
            if self.stream:
                self.result = list(self.assembler.get_iter())
            else:
                self.result = self.assembler.get(timeout=WAIT)
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self.join(WAIT)
        assert not self.is_alive()


# get()


def test_get_returns_text_as_str_and_binary_as_bytes() -> None:
    assembler = Assembler()
    assembler.put(text("café"))
    assembler.put(binary(b"\x00\xff"))
    assert assembler.get() == "café"
    assert assembler.get() == b"\x00\xff"


def test_get_decode_overrides_the_message_type() -> None:
    assembler = Assembler()
    assembler.put(text("café"))
    assembler.put(binary("thé".encode()))
    assert assembler.get(decode=False) == "café".encode()
    assert assembler.get(decode=True) == "thé"


def test_get_joins_fragments() -> None:
    assembler = Assembler()
    for frame in [text("ca", fin=False), cont(b"f\xc3", fin=False), cont(b"\xa9")]:
        assembler.put(frame)
    for frame in [binary(b"\x01", fin=False), cont(b"\x02")]:
        assembler.put(frame)
    assert assembler.get() == "café"
    assert assembler.get() == b"\x01\x02"


def test_get_decode_true_on_invalid_utf8_raises() -> None:
    assembler = Assembler()
    assembler.put(binary(b"\xff\xfe"))
    with pytest.raises(UnicodeDecodeError):
        assembler.get(decode=True)


def test_get_waits_for_a_frame_from_another_thread() -> None:
    assembler = Assembler()
    reader = Reader(assembler)
    time.sleep(0.02)
    assert reader.is_alive()
    assembler.put(text("late"))
    reader.finish()
    assert reader.error is None
    assert reader.result == "late"


def test_get_waits_for_the_last_fragment() -> None:
    assembler = Assembler()
    assembler.put(text("a", fin=False))
    reader = Reader(assembler)
    time.sleep(0.02)
    assert reader.is_alive()  # half a message isn't a message
    assembler.put(cont("b"))
    reader.finish()
    assert reader.result == "ab"


def test_get_timeout_without_message() -> None:
    assembler = Assembler()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0.05)
    assert time.monotonic() - start >= 0.04
    assert not assembler.get_in_progress  # the next get() isn't refused


def test_get_timeout_zero_returns_a_message_already_there() -> None:
    assembler = Assembler()
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0)
    assembler.put(text("here"))
    assert assembler.get(timeout=0) == "here"
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0)


def test_get_timeout_mid_message_leaves_the_message_whole() -> None:
    assembler = Assembler()
    assembler.put(text("one ", fin=False))
    assembler.put(cont("two ", fin=False))
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0.02)
    # Both fragments went back, joined, in order.
    assert [(frame.opcode, frame.data, frame.fin) for frame in assembler.queue.frames] == [
        (TEXT, b"one two ", False)
    ]
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0)
    assembler.put(cont("three"))
    assert assembler.get(timeout=0) == "one two three"


def test_fragments_taken_one_at_a_time_are_not_kept_as_frames() -> None:
    """A message whose fragments arrive one by one costs its size, not a frame each."""
    count = 2_000
    assembler = Assembler()
    messages: list[Data] = []
    reader = threading.Thread(target=lambda: messages.append(assembler.get(timeout=WAIT)))
    reader.start()
    tracemalloc.start()
    try:
        assembler.put(binary(b"x", fin=False))
        for index in range(1, count):
            # Wait for the reader to take each fragment before the next one.
            deadline = time.monotonic() + WAIT
            while assembler.queue.frames:
                assert time.monotonic() < deadline, "the reader doesn't take fragments"
                time.sleep(0)
            assembler.put(cont(b"x", fin=index == count - 1))
        reader.join(WAIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert messages == [b"x" * count]
    # A frame a fragment: ~500 KB; the message: a few KB.
    assert peak < 100 * count


# get_iter()


def test_get_iter_yields_fragments_as_they_arrive() -> None:
    assembler = Assembler()
    assembler.put(text("ca", fin=False))
    fragments = assembler.get_iter()
    assert next(fragments) == "ca"  # the rest hasn't arrived yet
    assembler.put(cont("f", fin=False))
    assert next(fragments) == "f"
    assembler.put(cont("é"))
    assert next(fragments) == "é"
    with pytest.raises(StopIteration):
        next(fragments)
    assert not assembler.get_in_progress


def test_get_iter_of_a_single_frame_message() -> None:
    assembler = Assembler()
    assembler.put(binary(b"whole"))
    assert list(assembler.get_iter()) == [b"whole"]


def test_get_iter_waits_in_another_thread() -> None:
    assembler = Assembler()
    reader = Reader(assembler, stream=True)
    assembler.put(binary(b"a", fin=False))
    assembler.put(cont(b"b"))
    reader.finish()
    assert reader.error is None
    assert reader.result == [b"a", b"b"]


def test_get_iter_decodes_characters_split_across_fragments() -> None:
    assembler = Assembler()
    encoded = "é".encode()
    assembler.put(text("", fin=False))
    assembler.put(Frame(CONT, encoded[:1], False))
    assembler.put(Frame(CONT, encoded[1:], True))
    assert list(assembler.get_iter()) == ["", "", "é"]


def test_get_iter_decode_overrides_the_message_type() -> None:
    assembler = Assembler()
    assembler.put(text("a", fin=False))
    assembler.put(cont("b"))
    assembler.put(binary(b"c", fin=False))
    assembler.put(cont(b"d"))
    assert list(assembler.get_iter(decode=False)) == [b"a", b"b"]
    assert list(assembler.get_iter(decode=True)) == ["c", "d"]


def test_get_iter_decode_true_on_invalid_utf8_raises() -> None:
    assembler = Assembler()
    assembler.put(binary(b"ok", fin=False))
    assembler.put(cont(b"\xff"))
    fragments = assembler.get_iter(decode=True)
    assert next(fragments) == "ok"
    with pytest.raises(UnicodeDecodeError):
        next(fragments)
    assert not assembler.get_in_progress


def test_get_iter_stopped_early_drops_the_rest_already_queued() -> None:
    assembler = Assembler()
    for frame in [text("a", fin=False), cont("b", fin=False), cont("c"), text("next")]:
        assembler.put(frame)
    fragments = assembler.get_iter()
    assert next(fragments) == "a"
    stop(fragments)
    assert not assembler.get_in_progress
    assert assembler.get(timeout=0) == "next"


def test_get_iter_stopped_early_drops_the_rest_arriving_later() -> None:
    assembler = Assembler()
    assembler.put(text("a", fin=False))
    fragments = assembler.get_iter()
    assert next(fragments) == "a"
    stop(fragments)
    assembler.put(cont("b", fin=False))
    # Still in the middle of the dropped message: nothing to return yet.
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0.02)
    assembler.put(cont("c"))
    assembler.put(binary(b"next", fin=False))
    assembler.put(cont(b"!"))
    assert list(assembler.get_iter()) == [b"next", b"!"]


def test_get_iter_stopped_after_the_last_fragment_drops_nothing() -> None:
    assembler = Assembler()
    assembler.put(text("only"))
    assembler.put(text("next"))
    fragments = assembler.get_iter()
    assert next(fragments) == "only"
    stop(fragments)
    assert assembler.get(timeout=0) == "next"


# Flow control.


def test_pause_and_resume_at_the_water_marks() -> None:
    calls: list[str] = []
    assembler = Assembler(
        4, 1, pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume")
    )
    for index in range(4):
        assembler.put(text(str(index)))
    assert calls == []  # at the high water mark, not above it
    assembler.put(text("4"))
    assert calls == ["pause"]
    assert assembler.queue.paused
    assembler.put(text("5"))
    assert calls == ["pause"]  # once
    for expected in ["0", "1", "2", "3"]:
        assert assembler.get(timeout=0) == expected
        assert calls == ["pause"]  # still above the low water mark
    assert assembler.get(timeout=0) == "4"
    assert calls == ["pause", "resume"]  # one frame left: at the low water mark
    assert not assembler.queue.paused
    assert assembler.get(timeout=0) == "5"
    assert calls == ["pause", "resume"]


def test_low_water_mark_defaults_to_a_quarter_of_the_high_one() -> None:
    calls: list[str] = []
    assembler = Assembler(
        8, pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume")
    )
    for index in range(9):
        assembler.put(text(str(index)))
    assert calls == ["pause"]
    for _ in range(6):
        assembler.get(timeout=0)
    assert calls == ["pause"]  # 3 frames left
    assembler.get(timeout=0)
    assert calls == ["pause", "resume"]  # 2 frames left


def test_no_high_water_mark_never_pauses() -> None:
    calls: list[str] = []
    assembler = Assembler(None, pause=lambda: calls.append("pause"))
    for index in range(1000):
        assembler.put(text(str(index)))
    assert calls == []


def test_water_marks_count_frames_not_messages() -> None:
    calls: list[str] = []
    assembler = Assembler(
        2, 0, pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume")
    )
    for frame in [text("a", fin=False), cont("b", fin=False), cont("c")]:
        assembler.put(frame)
    assert calls == ["pause"]
    assert assembler.get(timeout=0) == "abc"
    assert calls == ["pause", "resume"]


# Closing.


def test_close_returns_remaining_messages_then_eof() -> None:
    assembler = Assembler()
    assembler.put(text("one"))
    assembler.put(binary(b"two", fin=False))
    assembler.put(cont(b"!"))
    assembler.close()
    assert assembler.get() == "one"
    assert list(assembler.get_iter()) == [b"two", b"!"]
    with pytest.raises(EOFError):
        assembler.get()
    with pytest.raises(EOFError):
        next(assembler.get_iter())
    with pytest.raises(EOFError):
        assembler.get(timeout=0)


def test_close_drops_a_message_that_will_never_end() -> None:
    assembler = Assembler()
    assembler.put(text("half", fin=False))
    assembler.close()
    with pytest.raises(EOFError):
        assembler.get()
    fragments = assembler.get_iter()
    assert next(fragments) == "half"
    with pytest.raises(EOFError):
        next(fragments)


def test_put_after_close_raises_eof() -> None:
    assembler = Assembler()
    assembler.close()
    with pytest.raises(EOFError):
        assembler.put(text("too late"))


def test_close_wakes_up_a_waiting_get() -> None:
    assembler = Assembler()
    reader = Reader(assembler)
    assembler.close()
    reader.finish()
    assert isinstance(reader.error, EOFError)


def test_close_wakes_up_a_waiting_get_iter_mid_message() -> None:
    assembler = Assembler()
    assembler.put(text("a", fin=False))
    reader = Reader(assembler, stream=True)
    assembler.close()
    reader.finish()
    assert isinstance(reader.error, EOFError)
    assert not assembler.get_in_progress


# Concurrency.


def test_get_while_another_thread_gets_raises_concurrency_error() -> None:
    assembler = Assembler()
    reader = Reader(assembler)
    with pytest.raises(ConcurrencyError):
        assembler.get(timeout=0)
    with pytest.raises(ConcurrencyError):
        next(assembler.get_iter())
    assembler.put(text("for the first reader"))
    reader.finish()
    assert reader.result == "for the first reader"
    assert not assembler.get_in_progress


def test_get_while_a_streaming_read_is_suspended_raises_concurrency_error() -> None:
    assembler = Assembler()
    assembler.put(text("a", fin=False))
    fragments = assembler.get_iter()
    assert next(fragments) == "a"
    with pytest.raises(ConcurrencyError):
        assembler.get(timeout=0)
    with pytest.raises(ConcurrencyError):
        next(assembler.get_iter())
    stop(fragments)
    assembler.put(cont("b"))
    assembler.put(text("c"))
    assert assembler.get(timeout=0) == "c"


def test_messages_cross_threads_in_order() -> None:
    assembler = Assembler(4, 1)
    count = 2000
    received: list[Data] = []

    def read() -> None:
        for _ in range(count):
            received.append(assembler.get(timeout=WAIT))

    thread = threading.Thread(target=read)
    thread.start()
    for index in range(count):
        if index % 3:
            assembler.put(text(str(index)))
        else:
            assembler.put(text(str(index), fin=False))
            assembler.put(cont("."))
    thread.join(WAIT)
    assert not thread.is_alive()
    assert received == [str(index) if index % 3 else f"{index}." for index in range(count)]


# A failure queued after the frames received before it.


def test_get_reaches_a_failure_after_the_message_before_it() -> None:
    failed = threading.Event()
    assembler = Assembler(fail=failed.set)
    assembler.put(text("answer me"))
    assembler.put_failure(after_message=True)
    assert assembler.get() == "answer me"
    assert not failed.is_set()
    # The next read reaches the failure; it waits for the end of the stream.
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0)
    assert failed.is_set()


def test_reader_waiting_reaches_a_failure_queued_after_the_message_it_took() -> None:
    """The reader thread put a message, the application took it and asks for the
    next one, then the failure comes: it must wake the waiting reader."""
    failed = threading.Event()
    assembler = Assembler(fail=failed.set)
    assembler.put(text("taken"))
    assert assembler.get() == "taken"
    reader = Reader(assembler)
    assembler.put_failure(after_message=True)
    assert failed.wait(WAIT)
    assembler.close()
    reader.finish()
    assert isinstance(reader.error, EOFError)


def test_failure_with_nothing_before_it_fails_at_once() -> None:
    failed = threading.Event()
    assembler = Assembler(fail=failed.set)
    assembler.put(text("fragment", fin=False))
    assembler.put_failure(after_message=False)
    assert failed.is_set()
