"""The states of the Sans-I/O core: which side, which stage, what it does with bytes.

:class:`Side` and :class:`State` are public as :mod:`wskit.protocol` has them,
like websockets'; they are defined here so that the modules
:class:`~wskit.protocol.Protocol` is made of share them.
"""

from __future__ import annotations

import enum

__all__ = ["Reading", "Side", "State"]


class Side(enum.IntEnum):
    """Which end of the connection this is."""

    SERVER, CLIENT = range(2)

    __module__ = "wskit.protocol"  # its public home, documented and pickled there


class State(enum.IntEnum):
    """Connection state (RFC 6455, section 4 and 7)."""

    CONNECTING, OPEN, CLOSING, CLOSED = range(4)

    __module__ = "wskit.protocol"


class Reading(enum.Enum):
    """What the receive side does with incoming bytes."""

    HANDSHAKE = enum.auto()  # the opening handshake is being parsed
    HOLD = enum.auto()  # buffered, not parsed: the server has not answered yet
    FRAMES = enum.auto()  # parsed as frames
    DISCARD = enum.auto()  # ignored: closing handshake done, or connection failed


# Enum members as module constants: on Python 3.11, Reading.FRAMES goes
# through EnumType.__getattr__, and the receive path compares the reading
# state several times per message (see ARCHITECTURE.md, Performance devices).
SERVER, CLIENT = Side.SERVER, Side.CLIENT
CONNECTING, OPEN, CLOSING, CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED
HANDSHAKE, HOLD, FRAMES, DISCARD = Reading.HANDSHAKE, Reading.HOLD, Reading.FRAMES, Reading.DISCARD
