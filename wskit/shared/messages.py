"""Messages in and out of a connection, shared by the asyncio, threading and trio layers.

Incoming, :class:`FrameQueue` holds the data frames received and not read yet,
and tells the I/O layer when to stop and restart reading from the network, so
that a slow reader holds at most ``high`` frames in memory. :func:`join`
turns the frames of one message into :class:`str` or :class:`bytes`.

Outgoing, :func:`encode` turns what the application passes to ``send()`` into
a payload and a message type.

When bad input fails the connection, the failure comes after the frames
received before it (see :class:`~wskit.protocol.HeldFailure`): the assembler
queues it there, and readers get the whole messages before it; the connection
fails when a reader needs more.

Waiting is what differs between the layers; it stays in them. The asyncio and
trio layers, which both wait with ``await``, share :class:`AsyncAssembler`.
"""

from __future__ import annotations

import codecs
import functools
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

from ..exceptions import ConcurrencyError
from ..frames import TEXT, Frame
from ..typing import BytesLike, Data

__all__ = [
    "BYTES_LIKE",
    "MESSAGE_TYPES",
    "AsyncAssembler",
    "BaseAssembler",
    "Fragments",
    "FrameQueue",
    "PartialMessage",
    "encode",
    "join",
    "queue_limits",
]

# For isinstance(): a tuple written in the call is built on every call, which
# costs more than the check itself.
BYTES_LIKE = (bytes, bytearray, memoryview)
"""The types of a binary payload given to ``send()``."""
MESSAGE_TYPES = (str, *BYTES_LIKE)
"""The types of a message given to ``send()`` whole, rather than in fragments."""


# Cached: every connection of a server computes the same marks, twice (the
# connection, then its assembler), and a cached call is one C call.
@functools.lru_cache(maxsize=64, typed=True)
def queue_limits(max_queue: int | tuple[int | None, int | None] | None) -> tuple[int | None, int]:
    """Return the high and low water marks of the incoming frame queue.

    Args:
        max_queue: The high water mark, or :obj:`None` for no limit, or a
            ``(high, low)`` tuple. The low water mark defaults to a quarter of
            the high one.

    Raises:
        ValueError: The marks are negative or in the wrong order.
    """
    if isinstance(max_queue, tuple):
        high, low = max_queue
    else:
        high, low = max_queue, None
    if high is None:
        return None, 0
    if low is None:
        low = high // 4
    if not 0 <= low <= high:
        raise ValueError(f"max_queue must satisfy 0 <= low <= high, got high={high} low={low}")
    return high, low


class FrameQueue:
    """Data frames received and not read yet, with flow control.

    ``pause()`` is called when more than ``high`` frames wait; ``resume()``
    when no more than ``low`` are left. The I/O layer stops reading from the
    network in between, which lets TCP push back on the sender.

    Args:
        high: High water mark in frames; :obj:`None` never pauses.
        low: Low water mark in frames.
        pause: Stops reading from the network.
        resume: Restarts reading from the network.
    """

    # Slots: read in place by the C Receiving (see wskit.speedups) and by
    # receive_messages, on every message.
    __slots__ = ("frames", "high", "low", "pause", "paused", "resume")

    def __init__(
        self,
        high: int | None,
        low: int,
        pause: Callable[[], Any],
        resume: Callable[[], Any],
    ) -> None:
        self.frames: deque[Frame] = deque()
        self.high = high
        self.low = low
        self.pause = pause
        self.resume = resume
        self.paused = False

    def __len__(self) -> int:
        return len(self.frames)

    def put(self, frame: Frame) -> None:
        """Add a frame at the end of the queue."""
        frames = self.frames
        frames.append(frame)
        if self.high is not None and not self.paused and len(frames) > self.high:
            self.paused = True
            self.pause()

    def get(self) -> Frame:
        """Remove and return the first frame.

        Raises:
            IndexError: The queue is empty.
        """
        frame = self.frames.popleft()
        if self.paused and len(self.frames) <= self.low:
            self.paused = False
            self.resume()
        return frame

    def unget(self, frames: Iterable[Frame]) -> None:
        """Put frames taken with :meth:`get` back at the front, in order.

        A reader that is interrupted in the middle of a message uses this to
        leave the message whole for the next reader.
        """
        self.frames.extendleft(reversed(list(frames)))


def join(frames: list[Frame], decode: bool | None) -> Data:
    """Assemble the frames of one message.

    Args:
        frames: The frames of the message, the first carrying its opcode.
        decode: :obj:`True` to return :class:`str`, :obj:`False` for
            :class:`bytes`, :obj:`None` to follow the message type.

    Raises:
        UnicodeDecodeError: ``decode`` is :obj:`True` and a binary message
            is not valid UTF-8.
    """
    first = frames[0]
    data = first.data if len(frames) == 1 else b"".join([frame.data for frame in frames])
    if decode is None:
        decode = first.opcode is TEXT
    if decode:
        # Text frames were validated on receipt; this only fails on binary.
        return str(data, "utf-8")
    # bytes() would return a bytes payload as is, but only after a slow type call.
    return data if type(data) is bytes else bytes(data)


class PartialMessage:
    """The fragments of one message taken from the queue so far, joined as they come.

    One growing buffer rather than a frame per fragment: a message costs
    about its size, whatever its fragmentation.

    Args:
        first: The first frame of the message.
    """

    def __init__(self, first: Frame) -> None:
        self.first = first
        self.fin = first.fin
        self.payload: bytearray | None = None

    def add(self, fragment: Frame) -> None:
        """Append the next fragment of the message."""
        if self.payload is None:
            self.payload = bytearray(self.first.data)
        self.payload += fragment.data
        self.fin = fragment.fin

    def frame(self) -> Frame:
        """Return the message so far as one frame."""
        if self.payload is None:
            return self.first
        return Frame(self.first.opcode, self.payload, self.fin)


class BaseAssembler:
    """What the asyncio and threading assemblers share; they add the waiting.

    An assembler turns the data frames received into messages for
    ``recv()``. Reading pauses when more than ``high`` frames wait and resumes
    when no more than ``low`` are left.

    Args:
        high: High water mark, in frames; :obj:`None` for no limit.
        low: Low water mark, in frames; a quarter of ``high`` by default.
        pause: Stops reading from the network.
        resume: Restarts reading from the network.
        fail: Fails the connection as the core held back (see
            ``put_failure()``); called once, when a reader reaches the failure.
    """

    # Slots: read in place by the C Receiving (see wskit.speedups) on every
    # message. Subclasses without __slots__ have a __dict__ too.
    __slots__ = (
        "closed",
        "fail",
        "failure_queued",
        "get_in_progress",
        "queue",
        "skip_rest_of_message",
    )

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        pause: Callable[[], Any] = lambda: None,
        resume: Callable[[], Any] = lambda: None,
        fail: Callable[[], Any] = lambda: None,
    ) -> None:
        self.queue = FrameQueue(*queue_limits((high, low)), pause, resume)
        self.fail = fail
        self.get_in_progress = False
        # Set when a streaming reader stops in the middle of a message: the
        # rest of that message is dropped rather than read as a new one.
        self.skip_rest_of_message = False
        self.closed = False
        # Set while a failure waits after the frames in the queue.
        self.failure_queued = False

    def let_go(self) -> None:
        """Drop the callbacks, once reading is over for good.

        They are the connection's methods, which the connection's reference to
        its assembler makes into cycles: without them, reference counting
        frees a closed connection rather than the garbage collector, which
        found ~50 objects in cycles per asyncio connection, ~190 per pair of
        threading ones.

        Nothing is left to pause or resume, and a failure held back is never
        reached: a reader past the messages before it gets the end of the
        stream first.
        """
        self.queue.pause = self.queue.resume = self.fail = _nothing

    def message_waiting(self) -> bool:
        """Whether a whole message waits in the queue, ready for ``get()``."""
        ends = sum(1 for frame in self.queue.frames if frame.fin)
        # The first end belongs to a message a streaming reader left unfinished.
        return ends > (1 if self.skip_rest_of_message else 0)

    def put_failure(self, after_message: bool) -> None:
        """Queue the connection's failure after the frames received before it.

        ``fail`` is called now if no whole message comes before it and no
        message ended among the frames just put (``after_message``), else
        when a reader needs more frames than those before it.
        """
        if self._queue_failure(after_message):
            self.fail()

    def _queue_failure(self, after_message: bool) -> bool:
        """Queue the failure after the frames in the queue; return whether it is reached now.

        It is, unless a whole message waits before it, or a message ended
        among the frames just put (``after_message``): a reader may have
        taken it already, and the application must be able to answer it.
        """
        # BaseAssembler's own message_waiting(): the caller holds any lock.
        if after_message or BaseAssembler.message_waiting(self):
            self.failure_queued = True
            return False
        return True

    def _reach_failure(self) -> None:
        """Fail the connection, once, if a failure is queued: a reader needs more frames."""
        if self.failure_queued:
            self.failure_queued = False
            self.fail()


class AsyncAssembler(BaseAssembler):
    """What the asyncio and trio assemblers share: reading with ``await``.

    The reading is the same; how a reader waits differs. A subclass gives
    ``_waiter()``, which returns what to await until :meth:`wake` is called,
    and :meth:`wake`, which resumes a waiting reader when frames arrived, the
    stream ended or a failure was queued. The reading task of the connection calls :meth:`put`
    for each data frame, then :meth:`wake` once it has handled all it read.
    """

    __slots__ = ()

    def put(self, frame: Frame) -> None:
        """Add a data frame received from the network.

        A reader waiting for it resumes when :meth:`wake` is called.

        Raises:
            EOFError: :meth:`close` was called.
        """
        if self.closed:
            raise EOFError("stream of frames ended")
        self.queue.put(frame)

    def close(self) -> None:
        """End the stream of frames: readers get what remains, then EOFError.

        A reader waiting resumes when :meth:`wake` is called.
        """
        self.closed = True

    def wake(self) -> None:
        """Resume a waiting reader: frames arrived, the stream ended or a failure was queued."""
        raise NotImplementedError

    def _wait(self) -> Awaitable[Any]:
        """Return what to await until :meth:`wake` resumes the reader.

        A failure queued after the frames is reached here: the connection fails.

        Raises:
            EOFError: The stream ended already.
        """
        if self.closed:
            raise EOFError("stream of frames ended")
        if self.failure_queued:
            self._reach_failure()
        return self._waiter()

    def _waiter(self) -> Awaitable[Any]:
        """Return what to await until :meth:`wake` is called."""
        raise NotImplementedError

    def receive(self, decode: bool | None = None) -> Awaitable[Data]:
        """Return an awaitable of the next message: :meth:`get`, unless a layer has faster."""
        return self.get(decode)

    async def get(self, decode: bool | None = None) -> Data:
        """Return the next message.

        Args:
            decode: :obj:`True` for :class:`str`, :obj:`False` for
                :class:`bytes`, :obj:`None` to follow the message type.

        Raises:
            EOFError: The stream ended and no whole message is left.
            ConcurrencyError: Another task is reading.
            UnicodeDecodeError: ``decode=True`` on binary data that isn't UTF-8.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        queue = self.queue
        frames = queue.frames
        # Fast path: a single-frame message is waiting.
        if frames and frames[0].fin and not self.skip_rest_of_message:
            return join([queue.get()], decode)
        self.get_in_progress = True
        received: PartialMessage | None = None
        try:
            if self.skip_rest_of_message:
                await self._skip_rest_of_message()
            # Waiting here rather than in _next_frame() spares resuming one
            # more coroutine on every wake-up.
            while not frames:
                await self._wait()
            first = queue.get()
            if first.fin:  # a single-frame message, as it mostly is
                return join([first], decode)
            received = PartialMessage(first)
            while not received.fin:
                while not frames:
                    await self._wait()
                received.add(queue.get())
            message = received.frame()
        except BaseException:
            # Cancelled or ended mid-message: leave the message whole.
            if received is not None:
                queue.unget([received.frame()])
            raise
        finally:
            self.get_in_progress = False
        return join([message], decode)

    async def get_iter(self, decode: bool | None = None) -> AsyncGenerator[Data]:
        """Yield the fragments of the next message as they arrive.

        Stopping early drops the rest of the message.

        Raises:
            EOFError: The stream ended before the message did.
            ConcurrencyError: Another task is reading.
            UnicodeDecodeError: ``decode=True`` on binary data that isn't UTF-8.
        """
        if self.get_in_progress:
            raise ConcurrencyError("get() or get_iter() is already running")
        self.get_in_progress = True
        try:
            await self._skip_rest_of_message()
            frame = await self._next_frame()
            fragments = Fragments(frame, decode)
            self.skip_rest_of_message = not frame.fin
            yield fragments.decode(frame)
            while not frame.fin:
                frame = await self._next_frame()
                self.skip_rest_of_message = not frame.fin
                yield fragments.decode(frame)
        finally:
            self.get_in_progress = False

    async def _next_frame(self) -> Frame:
        frames = self.queue.frames
        while not frames:
            await self._wait()
        return self.queue.get()

    async def _skip_rest_of_message(self) -> None:
        while self.skip_rest_of_message:
            frame = await self._next_frame()
            self.skip_rest_of_message = not frame.fin


class Fragments:
    """Decodes a message fragment by fragment, for streaming reads.

    Args:
        first: The first frame of the message, which carries its type.
        decode: As in :func:`join`.
    """

    def __init__(self, first: Frame, decode: bool | None) -> None:
        if decode is None:
            decode = first.opcode is TEXT
        self.decoder = codecs.getincrementaldecoder("utf-8")() if decode else None

    def decode(self, frame: Frame) -> Data:
        """Return the payload of the next fragment, as text or bytes.

        Raises:
            UnicodeDecodeError: Decoding was requested for a binary message
                that is not valid UTF-8.
        """
        if self.decoder is None:
            return bytes(frame.data)
        return self.decoder.decode(frame.data, frame.fin)


def encode(data: Any, text: bool | None) -> tuple[bool, BytesLike]:
    """Turn one message or fragment given to ``send()`` into a payload.

    Args:
        data: :class:`str` for text, a bytes-like object for binary.
        text: Overrides the message type: :obj:`True` sends bytes as a text
            frame (the caller vouches they are UTF-8), :obj:`False` sends a
            string as a binary frame.

    Returns:
        Whether the frame is text, and its payload.

    Raises:
        TypeError: ``data`` is neither a string nor bytes-like.
    """
    if isinstance(data, str):
        return text is not False, data.encode()
    if isinstance(data, BYTES_LIKE):
        return text is True, data
    raise TypeError(f"message must be str or bytes-like, not {type(data).__name__}")


def _nothing() -> None:
    """Pause, resume or fail once reading is over: nothing to do."""
