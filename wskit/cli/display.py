"""How the client turns messages into lines of text, and input lines into messages.

Whatever comes from the peer is escaped here, before it reaches a terminal or
a pipe: control characters and escape sequences come out as ``\\x1b``,
``\\n``... so a message can't move the cursor, retitle the window or forge
output lines, and every message is one line unless pretty-printed as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from ..typing import Data
from ..utils import escape_controls

__all__ = ["Formatter"]


class Formatter:
    """Format incoming messages and parse outgoing ones.

    Args:
        as_json: Pretty-print incoming JSON and refuse to send invalid JSON.
        as_hex: Input lines are hexadecimal and become binary messages.
        interactive: Mark lines for a person (``< `` before messages, ``* ``
            before notices, spaced hex, indented JSON); otherwise each
            message is exactly one line, for a pipe.
        timestamps: Start each message with the local time of its arrival.
        clock: Where the time comes from; tests replace it.
    """

    def __init__(
        self,
        *,
        as_json: bool = False,
        as_hex: bool = False,
        interactive: bool = False,
        timestamps: bool = False,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.as_json = as_json
        self.as_hex = as_hex
        self.interactive = interactive
        self.timestamps = timestamps
        self.clock = clock

    def message(self, message: Data) -> list[str]:
        """Return the lines that show an incoming message."""
        return self.decorate(self.body(message), "< " if self.interactive else "")

    def notice(self, text: str) -> list[str]:
        """Return the lines that show a notice from the client itself."""
        return self.decorate([text], "* ")

    def body(self, message: Data) -> list[str]:
        if isinstance(message, bytes):
            if self.interactive:
                return [f"[{len(message)} bytes] {message.hex(' ')}"]
            return [message.hex()]
        if self.as_json:
            try:
                value = json.loads(message)
            except ValueError:
                if self.interactive:
                    return [f"{escape_controls(message)}  [not JSON]"]
            else:
                text = json.dumps(value, indent=2 if self.interactive else None, ensure_ascii=False)
                return [escape_json(line) for line in text.split("\n")]
        return [escape_controls(message)]

    def decorate(self, lines: list[str], marker: str) -> list[str]:
        """Put the time and ``marker`` before the first line and align the others."""
        if self.timestamps:
            marker = f"{self.clock().strftime('%H:%M:%S.%f')[:-3]} {marker}"
        indent = " " * len(marker)
        return [marker + lines[0]] + [indent + line for line in lines[1:]]

    def outgoing(self, line: str) -> Data:
        """Return the message to send for an input line.

        Raises:
            ValueError: With ``as_hex``, the line isn't hexadecimal; with
                ``as_json``, it isn't JSON. The message says why.
        """
        if self.as_hex:
            try:
                return bytes.fromhex(line)
            except ValueError as exc:
                raise ValueError(f"not hexadecimal: {exc}") from None
        if self.as_json:
            try:
                json.loads(line)
            except ValueError as exc:
                raise ValueError(f"not JSON: {exc}") from None
        return line


def escape_json(text: str) -> str:
    """Escape what :func:`json.dumps` leaves unprintable, the JSON way.

    With ``ensure_ascii=False``, ``json.dumps`` escapes only U+0000 to U+001F;
    DEL, C1 controls and the like can only be inside strings, where a
    ``\\uXXXX`` escape keeps the line valid JSON.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else json.dumps(char)[1:-1] for char in text)
