"""Pure-Python twins of the per-message path in C (``_speedups_messages.c`` and its counters).

As in :mod:`wskit._purepython`, of which this is the part for
:meth:`~wskit.receiving.FrameReceiver.receive_messages` and
:meth:`~wskit.protocol.Protocol.send_message`: each public function here is
the twin of one in C, with the same API, results and exceptions. Nothing
else is public here. :mod:`wskit.speedups` picks one of the two.
"""

from __future__ import annotations

import codecs
import sys
from typing import TYPE_CHECKING, Any

from ._purepython import (
    _byte_view,
    _imported,
    _whole_message_frame,
    build_frame,
    parse_header,
    read_messages,
)
from .typing import BytesLike

if TYPE_CHECKING:
    from .frames import Frame

__all__ = ["Counters", "receive_messages", "receive_payload_end", "send_message"]


class Counters:
    """The base of the core that holds its statistics' counters.

    In C, the counters are C integers that the per-message path adds to in
    place; here, slots. The core counts through :meth:`_count_received` and
    :meth:`_count_sent`.
    """

    __slots__ = ("bytes_received", "bytes_sent", "frames_received", "frames_sent")
    bytes_received: int
    bytes_sent: int
    frames_received: int
    frames_sent: int

    def _count_received(self, nbytes: int, frames: int) -> None:
        """Add to ``bytes_received`` and ``frames_received``."""
        self.bytes_received = _within_a_word(self.bytes_received + nbytes)
        self.frames_received = _within_a_word(self.frames_received + frames)

    def _count_sent(self, nbytes: int, frames: int) -> None:
        """Add to ``bytes_sent`` and ``frames_sent``."""
        self.bytes_sent = _within_a_word(self.bytes_sent + nbytes)
        self.frames_sent = _within_a_word(self.frames_sent + frames)


def _within_a_word(count: int) -> int:
    """``count``, if the C twin's counters hold it: else OverflowError, as in C."""
    if not -sys.maxsize - 1 <= count <= sys.maxsize:
        raise OverflowError("counter past sys.maxsize")
    return count


def _inflate_message(extension: Any, first: int, payload: bytes, max_size: int | None) -> Frame:
    """The payload of a whole compressed message, inflated by ``extension``, as a Frame.

    Raises:
        Exception: What the core's general rules would raise: the
            extension's errors, ``InvalidUTF8`` for text that isn't UTF-8.
    """
    frames = _imported("wskit.frames")
    data = extension.inflate(payload, True, max_size)
    text = first & 0x0F == 1
    if text:
        try:
            codecs.decode(data, "utf-8")
        except UnicodeDecodeError:
            raise _imported("wskit.receiving").InvalidUTF8(
                "invalid UTF-8 in text message"
            ) from None
    frame: Frame = frames.Frame(frames.TEXT if text else frames.BINARY, data)
    return frame


def _read_run_inflating(  # noqa: PLR0917 - the C twin's positional arguments
    data: BytesLike,
    masked: bool,
    max_message_size: int | None,
    max_fragment_size: int | None,
    extension: Any,
    max_compressed_size: int | None,
    run: list[Frame],
) -> tuple[int, Exception | None]:
    """Read the run at the start of ``data`` into ``run``.

    :func:`read_messages`' frames and, unless ``extension`` is :obj:`None`,
    whole compressed messages, inflated. Where inflating a message fails, the
    run ends before it, and the exception comes back with where the run
    ends. Where reading fails otherwise, as when memory runs out, the run ends
    where the last compressed message does: the general path meets that
    error again, and nothing it could not read again was taken.
    """
    end = 0
    while True:
        start, taken = end, len(run)
        try:
            end = read_messages(data, start, run, masked, max_message_size, max_fragment_size)
        except MemoryError:
            del run[taken:]
            return start, None
        if extension is None:
            return end, None
        try:
            compressed = _whole_message_frame(data, end, masked, 0x40, max_compressed_size)
        except MemoryError:  # nothing inflated yet
            return end, None
        if compressed is None:
            return end, None
        first, payload, following = compressed
        # The extension's state changes from here: a failure is the
        # connection's, no longer something to leave to the general path.
        try:
            run.append(_inflate_message(extension, first, payload, max_message_size))
        except Exception as exc:  # the core's rules sort it out
            return end, exc
        end = following


def receive_messages(  # noqa: PLR0917 - the C twin's positional signature
    protocol: Any,
    data: BytesLike,
    queue: Any,
    masked: bool,
    max_message_size: int | None,
    max_fragment_size: int | None,
    extension: Any,
    max_compressed_size: int | None,
) -> int:
    """Receive the run of frames at the start of ``data`` that each carry a
    whole message, as :func:`read_messages` reads it, into ``queue``.

    For :meth:`~wskit.protocol.Protocol.receive_messages`, once it has
    checked that its general rules have nothing to do with such frames. They
    are added to ``queue`` (a :class:`~wskit.shared.messages.FrameQueue`) as
    its ``put()`` would add each, pausing reading past its high-water mark,
    and counted in ``protocol.bytes_received`` and
    ``protocol.frames_received``, as ``receive_data()`` and
    ``events_received()`` would count them.

    With ``extension`` (a
    :class:`~wskit.extensions.permessage_deflate.PerMessageDeflate`;
    :obj:`None` for none), the run also takes frames that each carry a whole
    compressed message (RSV1 set, at most ``max_compressed_size`` bytes,
    :obj:`None` for no limit), inflated by the extension's ``inflate()``
    within ``max_message_size`` and checked as UTF-8 for text. When that
    fails, the run ends before that frame and the connection fails through
    ``protocol._fail_on_parse_error()``, as the general rules would fail it.
    Without it, an unfragmented binary frame after the run whose payload
    goes in place (see ``Protocol.incoming_payload``) and is within both
    limits starts that payload, as the general rules would start it.

    Returns:
        How many bytes of ``data`` were received; 0 if an error stopped the
        run before any compressed message (nothing is taken then: the
        general rules meet it again).
    """
    run: list[Frame] = []
    end, failure = _read_run_inflating(
        data, masked, max_message_size, max_fragment_size, extension, max_compressed_size, run
    )
    if failure is None and extension is None:
        end += _start_payload(protocol, data, end, masked, max_message_size, max_fragment_size)
    if end:
        protocol._count_received(end, len(run))
        _queue_frames(queue, run)
    if failure is not None:
        protocol._fail_on_parse_error(failure)
    return end


def _start_payload(  # noqa: PLR0917 - receive_messages()'s arguments
    protocol: Any,
    data: BytesLike,
    offset: int,
    masked: bool,
    max_message_size: int | None,
    max_fragment_size: int | None,
) -> int:
    """Start the long payload of the unfragmented binary frame at ``data[offset:]``,
    as the core's general rules start it; return how many bytes it took: all or none."""
    view = _byte_view(data)
    if len(view) - offset < 4 or view[offset] != 0x82:
        return 0
    receiving = _imported("wskit.receiving")
    try:
        header = parse_header(view, offset)
    except receiving.ProtocolError:  # a length with its top bit set
        return 0
    if header is None:
        return 0
    _, length, start, key = header
    arrived = len(view) - start
    if (
        (key is not None) is not masked
        or arrived < 0
        or length < receiving._LONG_PAYLOAD
        or (max_message_size is not None and length > max_message_size)
        or (max_fragment_size is not None and length > max_fragment_size)
        or arrived >= length
        or arrived * receiving._LONG_PAYLOAD_ARRIVED < length
    ):
        return 0
    payload = receiving.PayloadBuffer(length, key)
    payload.write(view[start:])
    protocol._payload_header = (0x82, receiving.BINARY, length)
    protocol.incoming_payload = payload
    return len(view) - offset


def _queue_frames(queue: Any, run: list[Frame]) -> None:
    """Add the frames of ``run`` to ``queue``, as its ``put()`` adds each."""
    frames = queue.frames
    frames.extend(run)
    if queue.high is not None and len(frames) > queue.high and not queue.paused:
        queue.paused = True
        queue.pause()


def receive_payload_end(protocol: Any, payload: Any, nbytes: int, queue: Any) -> None:
    """Receive the ``nbytes`` that end a long binary payload into ``queue``,
    as a whole message.

    For :meth:`~wskit.receiving.FrameReceiver.receive_payload_end`, once it
    has checked that its general rules have nothing to do with the message:
    ``payload`` (its ``incoming_payload``, which it has let go) advances by
    ``nbytes``, its last, and the message goes to ``queue`` as
    ``FrameQueue.put()`` would add it, counted in ``protocol.bytes_received``
    and ``protocol.frames_received`` as ``receive_into()`` and
    ``events_received()`` would count it.
    """
    payload.advance(nbytes)
    protocol._count_received(nbytes, 1)
    frames = _imported("wskit.frames")
    _queue_frames(queue, [frames.Frame(frames.BINARY, payload.take())])


def send_message(  # noqa: PLR0917 - the C twin's positional signature
    protocol: Any,
    message: Any,
    text: bool | None,
    mask: bool,
    max_length: int | None,
    extension: Any,
) -> bytes | tuple[bytes, bytes] | None:
    """Build the frame of a whole message, as ``send_text()`` or
    ``send_binary()`` would.

    For :meth:`~wskit.protocol.Protocol.send_message`, once it has checked
    that its general rules have nothing to do with a whole message.
    ``message`` (:class:`str`, :class:`bytes`, :class:`bytearray` or
    :class:`memoryview`) is text or binary as
    :func:`~wskit.shared.messages.encode` says. The frame is masked if
    ``mask`` is true, counted in ``protocol.bytes_sent`` and
    ``protocol.frames_sent``, and returned rather than queued: the caller
    writes it. With ``extension`` (a
    :class:`~wskit.extensions.permessage_deflate.PerMessageDeflate`;
    :obj:`None` for none), the payload is compressed by the extension's
    ``deflate()`` and the frame has RSV1 set.

    A message of ``max_length`` bytes or more (:obj:`None` for no limit),
    unmasked, goes after its header as it is, if it is :class:`bytes` (or a
    :class:`str`, encoded): the two are returned, counted, as
    ``send_frame()`` queues a server's long payload.

    Returns:
        The frame, ``(header, payload)``, or :obj:`None` when the message is
        of another type, fails to encode or to export a contiguous buffer,
        or has ``max_length`` bytes or more and isn't bytes: the caller then
        takes the general path.
    """
    if isinstance(message, str):
        is_text = text is not False
        try:
            data: BytesLike = message.encode()
        except UnicodeEncodeError:  # the general path raises it
            return None
    elif isinstance(message, (bytes, bytearray, memoryview)):
        is_text = text is True
        data = message
    else:
        return None
    try:
        length = len(_byte_view(data))
    except BufferError:  # a strided view: the general path raises it
        return None
    first = 0x81 if is_text else 0x82
    if max_length is not None and length >= max_length:
        # bytes go after their header, as they are (see send_frame());
        # another type could change before it is written.
        if type(data) is not bytes:
            return None
        header = _imported("wskit.frames").frame_header(first, length, False)
        protocol._count_sent(len(header) + length, 1)
        return header, data
    if extension is not None:
        first |= 0x40
        data = extension.deflate(data, True)
    frame = build_frame(first, data, mask)
    protocol._count_sent(len(frame), 1)
    return frame
