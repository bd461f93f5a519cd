"""Pure-Python twins of the asyncio pieces of the C accelerator: ``Waiter``,
``Receiving``, ``Receiver``, ``MessageIterator``, ``ReadPath``, ``write_message``
(``_speedups_waiter.c``, ``_speedups_receive.c``, ``_speedups_read.c``,
``_speedups_send.c``).

Part of :mod:`wskit._purepython`, which exports them; kept apart for its size.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import types
from collections.abc import Callable, Generator
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from .frames import Frame

__all__ = ["MessageIterator", "ReadPath", "Receiver", "Receiving", "Waiter", "write_message"]


@functools.cache
def _asyncio() -> ModuleType:
    """asyncio, imported when a waiter first needs it, as in C: the core doesn't import it."""
    return importlib.import_module("asyncio")


# The asyncio Waiter. A task awaiting an asyncio.Future resumes on the loop's
# next iteration: set_result() schedules the wake-up with call_soon(). For a
# connection, that is one more pass through the event loop, with its system
# call, for every message received. When data arrives, though, the connection
# runs in a protocol callback, outside of any task, where the loop itself
# would resume a task: there, a Waiter resumes the task directly.

_PENDING = "PENDING"
_DONE = "DONE"
_CANCELLED = "CANCELLED"


class Waiter:
    """A future-like object, without a result, that one task awaits.

    ``await waiter`` returns once :meth:`wake` is called. A task awaiting it
    resumes inside :meth:`wake` when no task is running (that is, when
    :meth:`wake` runs in a callback of the event loop, such as a protocol's
    ``buffer_updated()``), and on the loop's next iteration otherwise.
    Cancelling works as with a future.

    Only a task may await it, as tasks speak the protocol of future-like
    objects (``_asyncio_future_blocking``, ``add_done_callback()``), and only
    once: a waiter holds one callback. As in C, asyncio is imported when a
    waiter first needs it, not when the core is.
    """

    # Tasks look for get_loop() first, then for _loop: providing only the
    # attribute spares a method call every time a task starts waiting.
    __slots__ = ("_asyncio_future_blocking", "_callback", "_context", "_loop", "_message", "_state")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._asyncio_future_blocking = False
        self._loop = loop
        self._state = _PENDING
        self._message: Any = None
        self._callback: Callable[[Waiter], Any] | None = None
        self._context: contextvars.Context | None = None

    def __await__(self) -> Generator[Waiter, None, None]:
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
            error = _asyncio().CancelledError
            raise error(*(() if self._message is None else (self._message,)))
        if self._state is _PENDING:
            raise _asyncio().InvalidStateError("waiter is pending")

    def add_done_callback(
        self,
        callback: Callable[[Waiter], Any],
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

    def remove_done_callback(self, callback: Callable[[Waiter], Any]) -> int:
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
        if _asyncio().current_task(self._loop) is None:
            context.run(callback, _wake_argument(callback, self))
        else:
            self._loop.call_soon(callback, self, context=context)

    def _take_callback(self) -> tuple[Any, Any]:
        callback, context = self._callback, self._context
        self._callback = self._context = None
        return callback, context


@functools.cache
def _finished_future() -> asyncio.Future[None]:
    # Its loop is a stand-in: Future() only asks it for get_debug(), and
    # nothing else ever looks at it, so no event loop is kept alive.
    future: asyncio.Future[None] = _asyncio().Future(loop=types.SimpleNamespace(get_debug=bool))
    future.set_result(None)
    return future


def _wake_argument(callback: Callable[..., Any], waiter: Waiter) -> Any:
    """What the callback of a woken waiter gets: the waiter, but for a C task's wake-up.

    That one (the builtin ``task_wakeup`` bound to an :class:`asyncio.Task`,
    which task steps give to ``add_done_callback()``) gets a finished future.
    Either way the task resumes with None; but ``task_wakeup()`` takes an
    exact future's result in place, and of anything else calls ``result()``
    by name, a string built and looked up on every wake-up.
    """
    if (
        isinstance(callback, types.BuiltinMethodType)
        and isinstance(callback.__self__, _asyncio().Task)
        and callback.__name__ == "task_wakeup"
    ):
        return _finished_future()
    return waiter


class Receiving:
    """One await of the next message of an asyncio ``Assembler``, without a coroutine.

    A whole single-frame message waiting in the queue is taken and returned
    as the assembler's ``get(decode)`` would; while the queue is empty, it
    waits with the assembler's waiter, as ``get()`` does. Anything else goes,
    before anything is taken, to the general path, ``general(decode)``
    (:obj:`None`: the assembler's ``get()``).
    """

    __slots__ = ("_assembler", "_awaited", "_decode", "_general")

    def __init__(
        self,
        assembler: Any,
        decode: bool | None,
        general: Callable[[bool | None], Any] | None = None,
    ) -> None:
        self._assembler = assembler
        self._decode = decode
        self._general = general
        self._awaited = False

    def __await__(self) -> Generator[Any, None, Any]:
        if self._awaited:
            raise RuntimeError("cannot reuse already awaited Receiving")
        self._awaited = True
        assembler = self._assembler
        if not assembler.get_in_progress:  # else the general path raises
            queue = assembler.queue
            while not assembler.skip_rest_of_message:
                if queue.frames:
                    message = _whole_message(queue.frames[0], self._decode)
                    if message is None:
                        break
                    queue.get()
                    return message
                if assembler.closed or assembler.failure_queued:
                    break
                # What the asyncio Assembler's _waiter() does.
                waiter = assembler.waiter = Waiter(assembler.loop)
                assembler.get_in_progress = True
                try:
                    yield from waiter.__await__()
                finally:
                    assembler.get_in_progress = False
        general = assembler.get if self._general is None else self._general
        return (yield from general(self._decode).__await__())


def _whole_message(frame: Frame, decode: bool | None) -> Any:
    """The message of a frame as ``join()`` returns it, if the fast path may: else None."""
    if not frame.fin:
        return None
    text = frame.opcode == 1
    if decode is None:
        decode = text
    if not decode:
        return frame.data if type(frame.data) is bytes else bytes(frame.data)
    # Text frames were validated on receipt; binary ones may fail: general path.
    return str(frame.data, "utf-8") if text else None


class Receiver:
    """A base of the asyncio ``Assembler``: its :meth:`receive`."""

    __slots__ = ()

    def receive(self, decode: bool | None = None) -> Receiving:
        """Return an awaitable of the next message, as ``get(decode)`` is: a :class:`Receiving`."""
        return Receiving(self, decode)


class MessageIterator:
    """The messages of an asyncio ``Assembler``, for ``async for``.

    Each ``__anext__()`` is ``Receiving(assembler, None, general)``;
    ``general`` ends the iteration.
    """

    __slots__ = ("_assembler", "_general")

    def __init__(self, assembler: Any, general: Callable[[bool | None], Any]) -> None:
        self._assembler = assembler
        self._general = general

    def __aiter__(self) -> MessageIterator:
        return self

    def __anext__(self) -> Receiving:
        return Receiving(self._assembler, None, self._general)


class ReadPath:
    """The base of an asyncio connection that receives what its transport reads.

    The event loop calls :meth:`get_buffer` and :meth:`buffer_updated` on
    every read. The connection provides ``protocol`` (the core),
    ``read_buffer``, ``recv_messages`` (its ``Assembler``),
    ``writing_paused``, ``sent_since_read``, ``read_low_water``,
    ``_wait_for_payload()``, ``_payload_started(nbytes)`` (after a read
    that ends with the start of a long payload) and
    ``_receive_rest(nbytes, taken)``, the
    general path for what the core's ``receive_messages()`` and
    ``receive_payload_end()`` leave of a read.
    """

    __slots__ = ()

    def get_buffer(self, sizehint: int) -> memoryview:
        """The buffer to read into: the read buffer, or the long payload's window."""
        connection: Any = self
        payload = connection.protocol.incoming_payload
        buffer: memoryview = connection.read_buffer if payload is None else payload.window()
        return buffer

    def buffer_updated(self, nbytes: int) -> None:
        """Receive the ``nbytes`` read into the buffer.

        Whole messages go to the queue, and so does the end of a long binary
        message read into its payload's window, and the reader resumes; the
        rest goes through ``_receive_rest(nbytes, taken)``.
        """
        connection: Any = self
        protocol = connection.protocol
        ready = protocol.incoming_payload is None
        connection.sent_since_read = False
        taken = 0
        # When writing is paused, the general path may have a burst to write
        # first (see _send_answers).
        if not connection.writing_paused:
            assembler = connection.recv_messages
            if ready:
                taken = protocol.receive_messages(connection.read_buffer[:nbytes], assembler.queue)
                done = taken == nbytes and taken > 0
                if done and protocol.incoming_payload is not None:
                    connection._payload_started(nbytes)  # the start of a long payload last
                    return
            else:  # read into the payload's window
                done = protocol.receive_payload_end(nbytes, assembler.queue)
            if done:
                # The mark back first: the reader may send at once.
                if not ready and connection.read_low_water != 1:
                    connection._wait_for_payload()
                # Frames are queued: wake the reader, as the assembler's wake().
                waiter = assembler.waiter
                if waiter is not None:
                    assembler.waiter = None
                    waiter.wake()
                return
        connection._receive_rest(nbytes, taken)


def write_message(
    connection: Any, message: Any, text: bool | None, compress: bool | None
) -> bool | None:
    """Send a whole message on an asyncio connection, if nothing is in the way.

    For ``Connection.send()``: when no fragmented message is being sent and
    the core's ``Protocol.send_message()`` builds the frame of ``message``
    (:class:`str` or bytes-like; ``text`` and ``compress`` as ``send()``
    takes them), the frame is written as ``Connection._write_frame()``
    writes it: joined to a burst, or to the transport; a server's long
    payload after its header, by ``Connection._write_long_payload()``.

    Returns:
        :obj:`True` once the frame is written; :obj:`False` once it is
        written and writing is paused (``send()`` waits for the buffer to
        drain); :obj:`None` when nothing was done and the general path must
        send the message (or raise what is wrong with it).
    """
    if connection.fragmented_send_waiter is not None:
        return None
    frame = connection.protocol.send_message(message, text, compress)
    if frame is None:
        return None
    if type(frame) is tuple:  # a server's long payload, after its header
        connection._write_long_payload(*frame)
    else:
        connection._write_frame(frame)
    return not connection.writing_paused
