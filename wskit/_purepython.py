"""Pure-Python versions of the hot-path functions in ``_speedups.c``.

Same API, same results, slower. :mod:`wskit.speedups` picks one of the two.
"""

from __future__ import annotations

import codecs

from .typing import BytesLike

__all__ = ["UTF8Validator", "apply_mask"]


def apply_mask(data: BytesLike, mask: bytes | bytearray) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455, section 5.3).

    Args:
        data: Payload to mask or unmask.
        mask: Masking key.

    Raises:
        ValueError: ``mask`` is not 4 bytes long.
    """
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    size = len(data)
    if size == 0:
        return b""
    # One big-integer XOR runs in C, far faster than a Python loop per byte.
    repeated = bytes(mask) * (size // 4 + 1)
    data_int = int.from_bytes(data, "little")
    mask_int = int.from_bytes(repeated[:size], "little")
    return (data_int ^ mask_int).to_bytes(size, "little")


class UTF8Validator:
    """Incremental UTF-8 validation, across fragment boundaries.

    :meth:`feed` reports an error as soon as the bytes seen so far cannot be
    the start of valid UTF-8, so a text message fails on its first bad byte,
    not when its last fragment arrives.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._valid = True

    def feed(self, data: BytesLike) -> bool:
        """Validate the next chunk; return :obj:`False` once the text is invalid."""
        if self._valid:
            try:
                self._decoder.decode(data, False)
            except UnicodeDecodeError:
                self._valid = False
        return self._valid

    def finish(self) -> bool:
        """End the text; return whether it was complete, valid UTF-8, then reset."""
        valid = self._valid
        if valid:
            try:
                self._decoder.decode(b"", True)
            except UnicodeDecodeError:
                valid = False
        self.reset()
        return valid

    def reset(self) -> None:
        """Forget everything fed so far, ready for a new text."""
        self._decoder.reset()
        self._valid = True
