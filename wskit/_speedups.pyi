"""Type stub for the C accelerator ``wskit._speedups`` (see ``_speedups.c``)."""

import asyncio
import asyncio.transports
import contextvars
import socket
from collections.abc import Generator
from typing import Any

from .typing import BytesLike

def apply_mask(data: BytesLike, mask: BytesLike) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455, section 5.3)."""

class UTF8Validator:
    """Incremental, fail-fast, strict UTF-8 validation across fragments."""

    def feed(self, data: BytesLike) -> bool:
        """Validate the next chunk; return :obj:`False` once the text is invalid."""

    def finish(self) -> bool:
        """Return whether the text is complete, valid UTF-8, then reset."""

    def reset(self) -> None:
        """Forget everything fed so far."""

def parse_header(
    buffer: BytesLike, offset: int = 0, /
) -> tuple[int, int, int, bytes | None] | None:
    """Decode the header of the frame that starts at ``buffer[offset]``."""

def read_frame(
    buffer: BytesLike, offset: int = 0, /
) -> tuple[int, bool, int, int, bytes | None] | None:
    """Decode the frame at ``buffer[offset]``: header, and payload once it has arrived."""

def build_frame(first_byte: int, payload: BytesLike, mask: bool, /) -> bytes:
    """Serialize a frame: header, then payload, masked with a random key if ``mask``."""

def read_messages(
    buffer: BytesLike,
    offset: int,
    events: list[Any],
    masked: bool,
    max_message_size: int | None,
    max_fragment_size: int | None,
    /,
) -> int:
    """Read the run of frames at ``buffer[offset]`` that each carry a whole message."""

def receive_messages(
    protocol: Any,
    data: BytesLike,
    queue: Any,
    masked: bool,
    max_message_size: int | None,
    max_fragment_size: int | None,
    extension: Any,
    max_compressed_size: int | None,
    /,
) -> int:
    """Receive the run of whole messages at the start of ``data`` into ``queue``, counted."""

def receive_payload_end(protocol: Any, payload: Any, nbytes: int, queue: Any, /) -> None:
    """Receive the ``nbytes`` that end a long binary payload into ``queue``, counted."""

def send_message(
    protocol: Any,
    message: Any,
    text: bool | None,
    mask: bool,
    max_length: int | None,
    extension: Any,
    /,
) -> bytes | tuple[bytes, bytes] | None:
    """Build the frame of a whole message, counted; None for what the general path handles."""

def write_message(
    connection: Any,
    message: Any,
    text: bool | None,
    compress: bool | None,
    /,
) -> bool | None:
    """Send a whole message on an asyncio connection in one call; None for the general path."""

class PayloadBuffer:
    """The payload of a long frame, unmasked into place as it arrives."""

    def __init__(self, length: int, mask_key: BytesLike | None) -> None: ...
    @property
    def missing(self) -> int:
        """How many bytes of the payload have yet to arrive."""

    def write(self, data: BytesLike) -> memoryview:
        """Add the next bytes received; return a read-only view of those added, unmasked."""

    def window(self) -> memoryview:
        """Return a writable view of the missing part, to receive bytes straight into it."""

    def advance(self, nbytes: int) -> memoryview:
        """Add the nbytes written at the start of window(); return a read-only view of them."""

    def take(self) -> bytes:
        """Return the whole payload; the buffer is empty afterwards."""

class Counters:
    """The base of the core that holds its statistics' counters."""

    bytes_received: int
    bytes_sent: int
    frames_received: int
    frames_sent: int

    def _count_received(self, nbytes: int, frames: int, /) -> None:
        """Add to bytes_received and frames_received."""

    def _count_sent(self, nbytes: int, frames: int, /) -> None:
        """Add to bytes_sent and frames_sent."""

class Waiter:
    """A future-like object, without a result, that one task awaits."""

    def __init__(self, loop: Any) -> None: ...

class Receiving:
    """One await of the next message of an asyncio Assembler, without a coroutine."""

    def __init__(self, assembler: Any, decode: bool | None, general: Any = None) -> None: ...
    def __await__(self) -> Generator[Any, None, Any]: ...

class Receiver:
    """A base of the asyncio Assembler: its receive()."""

    def receive(self, decode: bool | None = None) -> Receiving:
        """Return an awaitable of the next message, as get(decode) is: a Receiving."""

class MessageIterator:
    """The messages of an asyncio Assembler, for ``async for``."""

    def __init__(self, assembler: Any, general: Any) -> None: ...
    def __aiter__(self) -> MessageIterator: ...
    def __anext__(self) -> Receiving: ...

def split_request(
    data: BytesLike, max_line: int, max_headers: int, /
) -> tuple[str, str, str, list[tuple[str, str]], dict[str, str | list[str]], int] | None:
    """Split the head of a handshake request that the general rules take as it is."""

def split_response(
    data: BytesLike, max_line: int, max_headers: int, /
) -> tuple[str, list[tuple[str, str]], dict[str, str | list[str]], int] | None:
    """Split the head of a 101 response that the general rules take as it is."""

class ReadPath:
    """The base of an asyncio connection that receives what its transport reads."""

    def get_buffer(self, sizehint: int) -> memoryview:
        """The buffer to read into: the read buffer, or the long payload's window."""

    def buffer_updated(self, nbytes: int) -> None:
        """Receive the ``nbytes`` read: whole messages to the queue, the rest elsewhere."""

class SocketTransport(asyncio.transports._FlowControlMixin, asyncio.Transport):
    """A socket transport for asyncio's selector event loop, as asyncio's own."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
        server: asyncio.Server | None = None,
        /,
        *,
        context: contextvars.Context | None = None,
    ) -> None: ...
