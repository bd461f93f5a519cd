"""What permessage-deflate keeps between messages: windows of data, and a few zlib objects.

A connection keeps, between messages with context takeover, the last window
of data it compressed or inflated (:func:`slide`), from which a new zlib
object can start where the last one stopped. The zlib objects of the
connections that used theirs last wait in :data:`LIVE_COMPRESSORS` and
:data:`LIVE_DECOMPRESSORS`, so that a busy connection doesn't make new ones
for every message.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from ..typing import BytesLike

__all__ = ["LIVE_COMPRESSORS", "LIVE_DECOMPRESSORS", "LiveContexts", "slide"]

_Context = TypeVar("_Context", "zlib._Compress", "zlib._Decompress")


class LiveContexts(Generic[_Context]):
    """The zlib objects of the connections that used theirs last, at most a few.

    Each object belongs to one connection (its key) and goes back to it
    only; when a connection's object has been dropped, it makes another from
    its window. A process-wide cache, so that a busy connection keeps its
    contexts without idle ones holding theirs. Each dict operation is atomic:
    connections in several threads share it without a lock.
    """

    def __init__(self) -> None:
        self._objects: OrderedDict[Hashable, _Context] = OrderedDict()

    def take(self, owner: Hashable) -> _Context | None:
        """Remove and return the object that ``owner`` left here, if it is still here."""
        return self._objects.pop(owner, None)

    def keep(self, owner: Hashable, context: _Context, size: int) -> None:
        """Keep ``owner``'s object, dropping the oldest ones past ``size``."""
        objects = self._objects
        objects[owner] = context
        while len(objects) > size:
            try:
                objects.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                break

    def __len__(self) -> int:
        return len(self._objects)


LIVE_COMPRESSORS: LiveContexts[zlib._Compress] = LiveContexts()
LIVE_DECOMPRESSORS: LiveContexts[zlib._Decompress] = LiveContexts()


def slide(window: bytes, data: BytesLike, size: int) -> bytes:
    """The last ``size`` bytes of ``window`` followed by ``data``."""
    if len(data) >= size:
        return bytes(data[-size:])
    return window[len(data) - size :] + data
