"""Pick every accelerated piece: from the C accelerator, or its pure-Python twin.

The C extension ``wskit._speedups`` is optional. It is used when it was built
and ``WSKIT_NO_SPEEDUPS`` is unset (or empty); otherwise its twin with the
same API in Python, :mod:`wskit._purepython` (and
:mod:`wskit._purepython_messages`, :mod:`wskit._purepython_asyncio`), takes over. ``IMPLEMENTATION``
says which one runs. Everything else imports these pieces from here, never
from ``_speedups`` or ``_purepython`` (but the tests that compare them).

Exports:
    apply_mask: XOR a payload with a 4-byte masking key.
    UTF8Validator: Incremental, fail-fast, strict UTF-8 validation.
    parse_header: Decode a frame header.
    read_frame: Decode a frame header and, once it has arrived, the payload.
    build_frame: Serialize a frame, masked or not, in one allocation.
    read_messages: Read a run of frames that each carry a whole message.
    receive_messages: Whole messages from the bytes read to ``recv()``'s queue, counted.
    receive_payload_end: The end of a long binary message to ``recv()``'s queue, counted.
    send_message: A whole message to its frame, counted.
    Counters: The base of the core that holds its statistics' counters.
    PayloadBuffer: The payload of a long frame, unmasked into place as it arrives.
    Waiter: What ``recv()`` awaits in asyncio, resumed in the callback that wakes it.
    Receiving: One await of ``recv()``'s next message in asyncio, without a coroutine.
    Receiver: The base of an asyncio ``Assembler``: ``receive()``, a ``Receiving``.
    MessageIterator: ``async for`` over an asyncio connection's messages, with ``Receiving``.
    ReadPath: The base of an asyncio connection: ``get_buffer()``, ``buffer_updated()``.
    write_message: What ``send()`` of a whole message does in asyncio, in one call.
    split_request: Split a handshake request's head that needs no further check.
    split_response: The same for a 101 response.
    IMPLEMENTATION: ``"c"`` or ``"python"``.

And, apart, :func:`socket_transport`: wskit's compiled socket transport for
asyncio's selector loop, whose twin is asyncio's own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

# Type checkers see the fallback's signatures; the C twin has the same API
# (see _speedups.pyi), and the tests hold both to it.
from ._purepython import (
    PayloadBuffer,
    UTF8Validator,
    apply_mask,
    build_frame,
    parse_header,
    read_frame,
    read_messages,
    split_request,
    split_response,
)
from ._purepython_asyncio import (
    MessageIterator,
    ReadPath,
    Receiver,
    Receiving,
    Waiter,
    write_message,
)
from ._purepython_messages import Counters, receive_messages, receive_payload_end, send_message

if TYPE_CHECKING:
    from ._speedups import SocketTransport

__all__ = [
    "IMPLEMENTATION",
    "Counters",
    "MessageIterator",
    "PayloadBuffer",
    "ReadPath",
    "Receiver",
    "Receiving",
    "UTF8Validator",
    "Waiter",
    "apply_mask",
    "build_frame",
    "parse_header",
    "read_frame",
    "read_messages",
    "receive_messages",
    "receive_payload_end",
    "send_message",
    "split_request",
    "split_response",
    "write_message",
]

IMPLEMENTATION: Literal["c", "python"] = "python"

if not os.environ.get("WSKIT_NO_SPEEDUPS"):
    try:
        from ._speedups import (  # type: ignore[assignment]
            Counters,
            MessageIterator,
            PayloadBuffer,
            ReadPath,
            Receiver,
            Receiving,
            UTF8Validator,
            Waiter,
            apply_mask,
            build_frame,
            parse_header,
            read_frame,
            read_messages,
            receive_messages,
            receive_payload_end,
            send_message,
            split_request,
            split_response,
            write_message,
        )
    except ImportError:  # not built: no compiler, or a pure-Python install
        pass
    else:
        IMPLEMENTATION = "c"


def socket_transport() -> type[SocketTransport] | None:
    """wskit's socket transport for asyncio's selector loop, from the C
    accelerator, or None: then asyncio's own, its twin, is made (see
    :mod:`wskit.asyncio.transport`). Made at the first call, as it imports
    asyncio, which ``import wskit`` doesn't.
    """
    if IMPLEMENTATION != "c":
        return None
    from . import _speedups  # noqa: PLC0415 (only with the accelerator)

    # Missing where asyncio's transport classes aren't laid out as the C
    # type expects (see _speedups_transport.c).
    return getattr(_speedups, "SocketTransport", None)
