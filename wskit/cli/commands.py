"""The slash commands of the interactive client.

A line that starts with ``/`` is a command; ``//`` sends a message that
starts with ``/``. Anything else is a message.
"""

from __future__ import annotations

import dataclasses

from ..exceptions import ProtocolError
from ..frames import Close, CloseCode

__all__ = [
    "HELP",
    "CloseRequest",
    "Command",
    "Help",
    "Message",
    "Ping",
    "Pong",
    "Quit",
    "parse",
]

HELP = """\
/ping [DATA]            send a ping and show the round trip time
/pong [DATA]            send an unsolicited pong (a one-way heartbeat)
/close [CODE [REASON]]  close the connection (default: 1000, no reason)
/quit                   close normally and exit (or Ctrl-D)
/help                   show this help
//TEXT                  send a message that starts with /"""


@dataclasses.dataclass(frozen=True)
class Message:
    """Send ``text``."""

    text: str


@dataclasses.dataclass(frozen=True)
class Ping:
    """Send a ping with ``data``, or a random payload if it is empty."""

    data: str


@dataclasses.dataclass(frozen=True)
class Pong:
    """Send an unsolicited pong with ``data``."""

    data: str


@dataclasses.dataclass(frozen=True)
class CloseRequest:
    """Close the connection with ``code`` and ``reason``."""

    code: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Quit:
    """Close the connection normally and exit."""


@dataclasses.dataclass(frozen=True)
class Help:
    """Show the list of commands."""


Command = Message | Ping | Pong | CloseRequest | Quit | Help


def parse(line: str) -> Command:
    """Tell what a line typed in the interactive client asks for.

    Raises:
        ValueError: The command is unknown or its arguments are invalid;
            the message says why.
    """
    if not line.startswith("/"):
        return Message(line)
    if line.startswith("//"):
        return Message(line[1:])
    name, _, argument = line[1:].partition(" ")
    if name == "ping":
        return Ping(argument)
    if name == "pong":
        return Pong(argument)
    if name == "close":
        return close_request(argument.strip())
    if name == "quit":
        return Quit()
    if name == "help":
        return Help()
    raise ValueError(f"unknown command: {line}; /help lists the commands")


def close_request(argument: str) -> CloseRequest:
    if not argument:
        return CloseRequest(CloseCode.NORMAL_CLOSURE, "")
    code_text, _, reason = argument.partition(" ")
    if not (code_text.isascii() and code_text.isdigit()):
        raise ValueError(f"close code must be a number, not {code_text}")
    code = int(code_text)
    try:
        # Check what the close frame would carry now, rather than fail later.
        Close(code, reason).serialize()
    except ProtocolError as exc:
        raise ValueError(f"can't close with {argument}: {exc}") from None
    return CloseRequest(code, reason)
