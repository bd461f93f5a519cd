"""How many attributes an instance may have and stay fast.

CPython 3.11 keeps at most 29 attributes in an instance's compact layout.
Past that, every attribute access and method call on the instance is slower:
a 64 B round trip took 7% more instructions when the protocol and the
connection objects had 30 to 37. What they set once lives in ``__slots__``;
the tests of each class hold it to this limit.
"""

from __future__ import annotations

__all__ = ["COMPACT_ATTRIBUTES"]

COMPACT_ATTRIBUTES = 29
