"""Incoming messages of a threaded connection, waiting for the reader."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..exceptions import ConcurrencyError
from ..frames import Frame
from ..shared.messages import BaseAssembler, Fragments, PartialMessage, join
from ..typing import Data
from .utils import NO_DEADLINE, Deadline

__all__ = ["Assembler"]


class Assembler(BaseAssembler):
    """Turns the data frames received into messages for ``recv()``.

    The thread that reads from the network calls :meth:`put`; application
    threads call :meth:`get` or :meth:`get_iter`. See
    :class:`~wskit.shared.messages.BaseAssembler` for the arguments.
    """

    def __init__(
        self,
        high: int | None = None,
        low: int | None = None,
        pause: Callable[[], Any] = lambda: None,
        resume: Callable[[], Any] = lambda: None,
        fail: Callable[[], Any] = lambda: None,
    ) -> None:
        super().__init__(high, low, pause, resume, fail)
        self.mutex = threading.Lock()
        self.frame_added = threading.Condition(self.mutex)
        # Set by the connection when the thread waiting for a frame may read
        # the socket itself (see Connection._read_in_recv()): called with the
        # seconds left, it returns False when it can't (the reader thread
        # reads, or reading is paused), and the thread waits for the reader.
        self.read: Callable[[float | None], bool] | None = None
        # Whether a thread waits for frame_added; guarded by mutex.
        self.waiting = False

    def let_go(self) -> None:
        """Drop the callbacks and the reading in recv(), once the connection ended."""
        super().let_go()
        self.read = None

    def put(self, frame: Frame) -> None:
        """Add a data frame received from the network.

        Raises:
            EOFError: :meth:`close` was called.
        """
        with self.mutex:
            if self.closed:
                raise EOFError("stream of frames ended")
            self.queue.put(frame)
            self.frame_added.notify()

    def wake(self) -> None:
        """Wake the thread waiting for a frame, if one waits.

        For frames added with the queue's own ``put()`` (as
        ``Protocol.receive_messages`` adds them), not with :meth:`put`,
        which wakes it itself.
        """
        with self.mutex:
            if self.waiting:
                self.frame_added.notify()

    def put_failure(self, after_message: bool) -> None:
        """Queue the connection's failure after the frames received before it.

        As :meth:`~wskit.shared.messages.BaseAssembler.put_failure` does, and
        wakes a reader that waits already.
        """
        with self.mutex:
            reached = self._queue_failure(after_message)
            # A reader may wait already, having taken the message just put.
            self.frame_added.notify()
        if reached:
            self.fail()

    def close(self) -> None:
        """End the stream of frames; readers get what remains, then EOFError."""
        with self.mutex:
            self.closed = True
            self.frame_added.notify_all()

    def message_waiting(self) -> bool:
        """Whether a whole message waits in the queue, ready for :meth:`get`."""
        with self.mutex:
            return super().message_waiting()

    def get(self, timeout: float | None = None, decode: bool | None = None) -> Data:
        """Return the next message.

        Args:
            timeout: Seconds to wait; :obj:`None` waits forever, 0 only
                returns a message that is already there.
            decode: :obj:`True` for :class:`str`, :obj:`False` for
                :class:`bytes`, :obj:`None` to follow the message type.

        Raises:
            EOFError: The stream ended and no whole message is left.
            TimeoutError: No whole message arrived in time; nothing was lost.
            ConcurrencyError: Another thread is reading.
            UnicodeDecodeError: ``decode=True`` on binary data that isn't UTF-8.
        """
        deadline = NO_DEADLINE if timeout is None else Deadline(timeout)
        # Taken and released by name: `with` costs twice as much (it looks
        # up and binds two methods), on every message.
        self.mutex.acquire()
        try:
            if self.get_in_progress:
                raise ConcurrencyError("get() or get_iter() is already running")
            self.get_in_progress = True
            received: PartialMessage | None = None
            try:
                if self.skip_rest_of_message:
                    self._skip_rest_of_message(deadline)
                message = self._next_frame(deadline)
                if not message.fin:  # a fragmented message, joined as it comes
                    received = PartialMessage(message)
                    while not received.fin:
                        received.add(self._next_frame(deadline))
                    message = received.frame()
            except BaseException:
                # Timed out or ended mid-message: leave the message whole.
                if received is not None:
                    self.queue.unget([received.frame()])
                raise
            finally:
                self.get_in_progress = False
        finally:
            self.mutex.release()
        return join([message], decode)

    def get_iter(self, decode: bool | None = None) -> Iterator[Data]:
        """Yield the fragments of the next message as they arrive.

        Stopping early drops the rest of the message.

        Raises:
            EOFError: The stream ended before the message did.
            ConcurrencyError: Another thread is reading.
            UnicodeDecodeError: ``decode=True`` on binary data that isn't UTF-8.
        """
        with self.mutex:
            if self.get_in_progress:
                raise ConcurrencyError("get() or get_iter() is already running")
            self.get_in_progress = True
        try:
            frame = self._next_fragment(skip=True)
            fragments = Fragments(frame, decode)
            yield fragments.decode(frame)
            while not frame.fin:
                frame = self._next_fragment(skip=False)
                yield fragments.decode(frame)
        finally:
            with self.mutex:
                self.get_in_progress = False

    def _next_fragment(self, *, skip: bool) -> Frame:
        with self.mutex:
            if skip:
                self._skip_rest_of_message(NO_DEADLINE)
            frame = self._next_frame(NO_DEADLINE)
            self.skip_rest_of_message = not frame.fin
            return frame

    def _next_frame(self, deadline: Deadline) -> Frame:
        """Wait for a frame; call with the mutex held.

        A failure queued after the frames is reached here: the connection fails.
        """
        queue = self.queue
        read = self.read
        while not queue.frames:
            if self.closed:
                raise EOFError("stream of frames ended")
            if self.failure_queued:
                self._reach_failure()
            if read is not None:
                timeout = deadline.timeout()
                self.mutex.release()  # the read puts what it finds
                try:
                    if not read(timeout):
                        read = None  # wait for the reader thread this time
                finally:
                    self.mutex.acquire()
                continue
            self.waiting = True
            try:
                if not self.frame_added.wait(deadline.timeout()):
                    raise TimeoutError("timed out while waiting for a message")
            finally:
                self.waiting = False
        return queue.get()

    def _skip_rest_of_message(self, deadline: Deadline) -> None:
        while self.skip_rest_of_message:
            frame = self._next_frame(deadline)
            self.skip_rest_of_message = not frame.fin
