"""Tests for wskit.shared.messages: incoming frame queue, message assembly, outgoing encoding."""

from __future__ import annotations

import array
import dis

import pytest

from wskit.frames import BINARY, CONT, TEXT, Frame
from wskit.shared.messages import (
    BYTES_LIKE,
    MESSAGE_TYPES,
    BaseAssembler,
    Fragments,
    FrameQueue,
    PartialMessage,
    encode,
    join,
    queue_limits,
)

# queue_limits.


def test_queue_limits_default_low_is_a_quarter_of_high() -> None:
    assert queue_limits(16) == (16, 4)
    assert queue_limits(1) == (1, 0)
    assert queue_limits(0) == (0, 0)


def test_queue_limits_tuple() -> None:
    assert queue_limits((10, 3)) == (10, 3)
    assert queue_limits((10, 10)) == (10, 10)
    assert queue_limits((10, 0)) == (10, 0)


def test_queue_limits_tuple_without_low() -> None:
    assert queue_limits((20, None)) == (20, 5)


@pytest.mark.parametrize("max_queue", [None, (None, None), (None, 5)])
def test_queue_limits_none_means_no_limit(
    max_queue: int | tuple[int | None, int | None] | None,
) -> None:
    assert queue_limits(max_queue) == (None, 0)


@pytest.mark.parametrize("max_queue", [-1, (10, 11), (10, -1), (-4, None), (-4, -8)])
def test_queue_limits_invalid(max_queue: int | tuple[int | None, int | None]) -> None:
    with pytest.raises(ValueError, match="max_queue"):
        queue_limits(max_queue)


def test_queue_limits_are_cached_and_still_checked() -> None:
    # Every connection of a server asks for the same marks: one C call then.
    assert queue_limits(16) is queue_limits(16)
    assert queue_limits(True) == (True, 0)  # not 1's entry: typed
    for _ in range(2):  # errors aren't cached: raised each time
        with pytest.raises(ValueError, match="max_queue"):
            queue_limits(-1)


# FrameQueue.


class Recorder:
    """Records the pause() and resume() calls of a FrameQueue."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def make_queue(high: int | None, low: int) -> tuple[FrameQueue, Recorder]:
    recorder = Recorder()
    return FrameQueue(high, low, recorder.pause, recorder.resume), recorder


def frame(data: bytes, *, fin: bool = True) -> Frame:
    return Frame(BINARY, data, fin=fin)


def test_frame_queue_is_fifo() -> None:
    queue, _ = make_queue(None, 0)
    frames = [frame(bytes([i])) for i in range(5)]
    for item in frames:
        queue.put(item)
    assert len(queue) == 5
    assert [queue.get() for _ in range(5)] == frames
    assert len(queue) == 0


def test_frame_queue_get_empty_raises_index_error() -> None:
    queue, recorder = make_queue(2, 0)
    with pytest.raises(IndexError):
        queue.get()
    assert recorder.calls == []


def test_frame_queue_pauses_once_above_high_and_resumes_once_at_low() -> None:
    queue, recorder = make_queue(4, 1)
    for i in range(4):
        queue.put(frame(bytes([i])))
    # Up to the high water mark, reading goes on.
    assert recorder.calls == []
    assert not queue.paused
    queue.put(frame(b"5"))
    assert recorder.calls == ["pause"]
    assert queue.paused
    # Further frames (already in flight) don't pause again.
    queue.put(frame(b"6"))
    queue.put(frame(b"7"))
    assert recorder.calls == ["pause"]
    # Draining down to just above the low water mark doesn't resume.
    for _ in range(5):
        queue.get()
    assert len(queue) == 2
    assert recorder.calls == ["pause"]
    # Reaching the low water mark resumes, once.
    queue.get()
    assert len(queue) == 1
    assert recorder.calls == ["pause", "resume"]
    assert not queue.paused
    queue.get()
    assert recorder.calls == ["pause", "resume"]


def test_frame_queue_pauses_again_after_resuming() -> None:
    queue, recorder = make_queue(1, 0)
    queue.put(frame(b"a"))
    queue.put(frame(b"b"))
    queue.get()
    queue.get()
    assert recorder.calls == ["pause", "resume"]
    queue.put(frame(b"c"))
    queue.put(frame(b"d"))
    assert recorder.calls == ["pause", "resume", "pause"]


def test_frame_queue_without_high_never_pauses() -> None:
    queue, recorder = make_queue(None, 0)
    for i in range(1000):
        queue.put(frame(i.to_bytes(2, "big")))
    for _ in range(1000):
        queue.get()
    assert recorder.calls == []


def test_frame_queue_high_zero_pauses_on_first_frame() -> None:
    queue, recorder = make_queue(0, 0)
    queue.put(frame(b"a"))
    assert recorder.calls == ["pause"]
    queue.get()
    assert recorder.calls == ["pause", "resume"]


def test_frame_queue_unget_restores_order_at_the_front() -> None:
    queue, _ = make_queue(None, 0)
    first, second, third, fourth = (frame(data, fin=False) for data in (b"1", b"2", b"3", b"4"))
    for item in (first, second, third, fourth):
        queue.put(item)
    taken = [queue.get(), queue.get()]
    assert taken == [first, second]
    queue.unget(taken)
    assert [queue.get() for _ in range(4)] == [first, second, third, fourth]


def test_frame_queue_unget_accepts_any_iterable_and_empty() -> None:
    queue, _ = make_queue(None, 0)
    last = frame(b"z")
    queue.put(last)
    queue.unget([])
    assert len(queue) == 1
    a, b = frame(b"a"), frame(b"b")
    queue.unget(iter([a, b]))
    assert [queue.get() for _ in range(3)] == [a, b, last]


# join.


def test_join_single_text_frame() -> None:
    result = join([Frame(TEXT, "café".encode())], None)
    assert result == "café"
    assert isinstance(result, str)


def test_join_single_binary_frame() -> None:
    result = join([Frame(BINARY, b"\x00\xff")], None)
    assert result == b"\x00\xff"
    assert type(result) is bytes


def test_join_single_binary_frame_does_not_copy_bytes() -> None:
    data = b"payload" * 10
    assert join([Frame(BINARY, data)], None) is data


@pytest.mark.parametrize("data", [bytearray(b"abc"), memoryview(b"abc")])
def test_join_returns_bytes_for_bytes_like_payloads(data: bytearray | memoryview) -> None:
    result = join([Frame(BINARY, data)], None)
    assert result == b"abc"
    assert type(result) is bytes


def test_join_multiple_frames_text() -> None:
    encoded = "日本語テキスト".encode()
    frames = [
        Frame(TEXT, encoded[:4], fin=False),  # splits a character
        Frame(CONT, encoded[4:10], fin=False),
        Frame(CONT, encoded[10:], fin=True),
    ]
    assert join(frames, None) == "日本語テキスト"


def test_join_multiple_frames_binary() -> None:
    frames = [
        Frame(BINARY, b"ab", fin=False),
        Frame(CONT, bytearray(b"cd"), fin=False),
        Frame(CONT, memoryview(b"ef"), fin=False),
        Frame(CONT, b"", fin=True),
    ]
    result = join(frames, None)
    assert result == b"abcdef"
    assert type(result) is bytes


def test_join_decode_false_returns_text_as_bytes() -> None:
    result = join([Frame(TEXT, "é".encode())], False)
    assert result == "é".encode()
    assert type(result) is bytes
    frames = [Frame(TEXT, b"a", fin=False), Frame(CONT, b"b")]
    assert join(frames, False) == b"ab"


def test_join_decode_true_decodes_binary() -> None:
    assert join([Frame(BINARY, "é".encode())], True) == "é"
    frames = [Frame(BINARY, b"\xc3", fin=False), Frame(CONT, b"\xa9")]
    assert join(frames, True) == "é"


def test_join_decode_true_on_invalid_binary_raises() -> None:
    with pytest.raises(UnicodeDecodeError):
        join([Frame(BINARY, b"\xff\xfe")], True)
    with pytest.raises(UnicodeDecodeError):
        join([Frame(BINARY, b"ok", fin=False), Frame(CONT, b"\xc3")], True)


# Fragments.


def test_fragments_text_decodes_incrementally() -> None:
    encoded = "€uro".encode()  # € is three bytes
    first = Frame(TEXT, encoded[:1], fin=False)
    second = Frame(CONT, encoded[1:2], fin=False)
    third = Frame(CONT, encoded[2:], fin=True)
    fragments = Fragments(first, None)
    # No character is complete yet: nothing to return, no error.
    assert fragments.decode(first) == ""
    assert fragments.decode(second) == ""
    assert fragments.decode(third) == "€uro"


def test_fragments_text_character_split_between_two_fragments() -> None:
    encoded = "aé".encode()
    first = Frame(TEXT, encoded[:2], fin=False)  # "a" and the first byte of "é"
    last = Frame(CONT, encoded[2:], fin=True)
    fragments = Fragments(first, None)
    assert fragments.decode(first) == "a"
    assert fragments.decode(last) == "é"


def test_fragments_text_truncated_character_at_end_raises() -> None:
    first = Frame(TEXT, b"a", fin=False)
    last = Frame(CONT, b"\xc3", fin=True)
    fragments = Fragments(first, None)
    assert fragments.decode(first) == "a"
    with pytest.raises(UnicodeDecodeError):
        fragments.decode(last)


def test_fragments_binary() -> None:
    first = Frame(BINARY, bytearray(b"\xff\x00"), fin=False)
    last = Frame(CONT, memoryview(b"\x01"), fin=True)
    fragments = Fragments(first, None)
    results = [fragments.decode(first), fragments.decode(last)]
    assert results == [b"\xff\x00", b"\x01"]
    assert all(type(result) is bytes for result in results)


def test_fragments_decode_false_returns_text_as_bytes() -> None:
    first = Frame(TEXT, "é".encode()[:1], fin=False)
    fragments = Fragments(first, False)
    assert fragments.decode(first) == b"\xc3"


def test_fragments_decode_true_decodes_binary() -> None:
    encoded = "é".encode()
    first = Frame(BINARY, encoded[:1], fin=False)
    last = Frame(CONT, encoded[1:], fin=True)
    fragments = Fragments(first, True)
    assert fragments.decode(first) == ""
    assert fragments.decode(last) == "é"


def test_fragments_decode_true_on_invalid_binary_raises() -> None:
    first = Frame(BINARY, b"\xff", fin=False)
    fragments = Fragments(first, True)
    with pytest.raises(UnicodeDecodeError):
        fragments.decode(first)


# encode.


def test_encode_str_is_text() -> None:
    assert encode("café", None) == (True, "café".encode())


@pytest.mark.parametrize("data", [b"\x00\xff", bytearray(b"\x00\xff"), memoryview(b"\x00\xff")])
def test_encode_bytes_like_is_binary_without_copy(data: bytes | bytearray | memoryview) -> None:
    is_text, payload = encode(data, None)
    assert is_text is False
    assert payload is data


def test_encode_text_override() -> None:
    assert encode("abc", False) == (False, b"abc")
    assert encode("abc", True) == (True, b"abc")
    assert encode(b"abc", True) == (True, b"abc")
    assert encode(b"abc", False) == (False, b"abc")


@pytest.mark.parametrize("data", [42, None, ["a"], {"a": 1}, 1.5])
def test_encode_rejects_other_types(data: object) -> None:
    with pytest.raises(TypeError, match=type(data).__name__):
        encode(data, None)


# PartialMessage.


def test_partial_message_of_one_frame_is_that_frame() -> None:
    frame = Frame(TEXT, b"whole")
    message = PartialMessage(frame)
    assert message.fin
    assert message.frame() is frame


def test_partial_message_joins_fragments_in_one_buffer() -> None:
    first = Frame(BINARY, b"ab", fin=False)
    message = PartialMessage(first)
    message.add(Frame(CONT, b"c", fin=False))
    assert not message.fin
    assert message.frame() == Frame(BINARY, b"abc", fin=False)
    payload = message.payload
    message.add(Frame(CONT, memoryview(b"de")))
    # One buffer, extended in place; the first frame stays as it was.
    assert message.payload is payload
    assert message.frame() == Frame(BINARY, b"abcde")
    assert first == Frame(BINARY, b"ab", fin=False)


# BaseAssembler.


def test_base_assembler_starts_empty_open_and_idle() -> None:
    assembler = BaseAssembler(8)
    assert len(assembler.queue) == 0
    assert (assembler.queue.high, assembler.queue.low) == (8, 2)
    assert not assembler.get_in_progress
    assert not assembler.skip_rest_of_message
    assert not assembler.closed
    # Without callbacks, crossing the water marks is harmless.
    for _ in range(9):
        assembler.queue.put(Frame(BINARY, b"x"))
    assert assembler.queue.paused


def test_base_assembler_message_waiting() -> None:
    assembler = BaseAssembler()
    assert not assembler.message_waiting()
    assembler.queue.put(frame(b"fragment", fin=False))
    assert not assembler.message_waiting()
    assembler.queue.put(frame(b"end"))
    assert assembler.message_waiting()


def test_base_assembler_message_waiting_after_streaming_reader_left() -> None:
    assembler = BaseAssembler()
    assembler.skip_rest_of_message = True
    assembler.queue.put(frame(b"rest of the message left behind"))
    assert not assembler.message_waiting()
    assembler.queue.put(frame(b"next message"))
    assert assembler.message_waiting()


# The failure held after the frames received before it.


def failing_assembler() -> tuple[BaseAssembler, list[str]]:
    calls: list[str] = []
    return BaseAssembler(fail=lambda: calls.append("fail")), calls


def test_let_go_drops_the_connections_callbacks() -> None:
    # They are the connection's methods: held, they make it a cycle.
    calls: list[str] = []
    assembler = BaseAssembler(
        1,
        0,
        pause=lambda: calls.append("pause"),
        resume=lambda: calls.append("resume"),
        fail=lambda: calls.append("fail"),
    )
    assembler.let_go()
    assembler.queue.put(frame(b"one"))
    assembler.queue.put(frame(b"two"))  # past the high water mark
    assembler.queue.get()
    assembler.queue.get()  # down to the low one
    assembler.put_failure(after_message=False)
    assert calls == []


def test_failure_with_nothing_before_it_is_reached_at_once() -> None:
    assembler, calls = failing_assembler()
    assembler.put_failure(after_message=False)
    assert calls == ["fail"]
    assert not assembler.failure_queued
    assembler._reach_failure()  # once only
    assert calls == ["fail"]


def test_failure_after_a_fragment_is_reached_at_once() -> None:
    assembler, calls = failing_assembler()
    assembler.queue.put(frame(b"never finished", fin=False))
    assembler.put_failure(after_message=False)
    assert calls == ["fail"]


@pytest.mark.parametrize("earlier", [True, False], ids=["earlier read", "same read"])
def test_failure_after_a_message_waits_for_the_reader(earlier: bool) -> None:
    assembler, calls = failing_assembler()
    assembler.queue.put(frame(b"answer me"))
    # A message of an earlier read, unread, or one that ended in the same read.
    assembler.put_failure(after_message=not earlier)
    assert calls == []
    assert assembler.failure_queued
    assembler.queue.get()
    # The reader needs the next frame: it reaches the failure.
    assembler._reach_failure()
    assert calls == ["fail"]
    assembler._reach_failure()
    assert calls == ["fail"]


def test_failure_after_a_message_taken_already_waits_for_the_next_read() -> None:
    # With threads, a reader may take the message before the failure is put.
    assembler, calls = failing_assembler()
    assembler.put_failure(after_message=True)
    assert calls == []
    assembler._reach_failure()
    assert calls == ["fail"]


def test_failure_after_the_rest_of_a_skipped_message_is_reached_at_once() -> None:
    assembler, calls = failing_assembler()
    assembler.skip_rest_of_message = True
    assembler.queue.put(frame(b"rest of the message left behind"))
    assembler.put_failure(after_message=False)
    assert calls == ["fail"]


# Performance device (ARCHITECTURE.md): message types as constant tuples for isinstance().


class StrSubclass(str):
    pass


class BytesSubclass(bytes):
    pass


@pytest.mark.parametrize(
    "data",
    [
        *["text", "", b"bytes", bytearray(b"x"), memoryview(b"x")],
        *[StrSubclass("x"), BytesSubclass(b"x")],
        *[None, 1, 1.0, ["text"], {"text": 1}, array.array("B", b"x"), object()],
    ],
)
def test_message_types_are_what_encode_accepts(data: object) -> None:
    # send() sends what isinstance(message, MESSAGE_TYPES) accepts as one
    # message, with encode(): the tuples must say exactly what encode() takes.
    assert type(MESSAGE_TYPES) is tuple
    assert type(BYTES_LIKE) is tuple
    try:
        encode(data, None)
    except TypeError:
        accepted = False
    else:
        accepted = True
    assert accepted is isinstance(data, MESSAGE_TYPES)
    assert isinstance(data, BYTES_LIKE) is (accepted and not isinstance(data, str))


@pytest.mark.parametrize("layer", ["asyncio", "sync", "trio"])
def test_send_checks_message_types_with_the_constant_tuples(layer: str) -> None:
    # A tuple of types written in the isinstance() call is built on every call.
    connection = pytest.importorskip(f"wskit.{layer}.connection")
    codes = {"encode": encode.__code__, "send": connection.Connection.send.__code__}
    for name, code in codes.items():
        loaded = {
            instruction.argval
            for instruction in dis.get_instructions(code)
            if instruction.opname == "LOAD_GLOBAL"
        }
        assert loaded & {"bytes", "bytearray", "memoryview"} == set(), name
        assert loaded & {"MESSAGE_TYPES", "BYTES_LIKE"}, name
