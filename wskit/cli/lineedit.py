"""The line being typed in the interactive client, as a pure state machine.

:class:`LineEditor` turns keystrokes (text decoded from the terminal, escape
sequences included) into an edited line and submitted lines, and renders the
prompt line as the escape sequences that redraw it. It never touches a
terminal itself, so it is tested without one.
"""

from __future__ import annotations

import dataclasses
import unicodedata

__all__ = ["EndOfInput", "LineEditor", "Submitted", "columns"]

ESC = "\x1b"
CLEAR_TO_END = f"{ESC}[K"
DELETE = f"{ESC}[3~"
# What terminals send for arrows, Home and End, as the control key that does the same.
SEQUENCES = {
    f"{ESC}{code}": key
    for codes, key in [
        (["[A"], "\x10"),  # Up: Ctrl-P
        (["[B"], "\x0e"),  # Down: Ctrl-N
        (["[C"], "\x06"),  # Right: Ctrl-F
        (["[D"], "\x02"),  # Left: Ctrl-B
        (["[H", "[1~", "[7~", "OH"], "\x01"),  # Home: Ctrl-A
        (["[F", "[4~", "[8~", "OF"], "\x05"),  # End: Ctrl-E
    ]
    for code in codes
}


@dataclasses.dataclass(frozen=True)
class Submitted:
    """The user pressed Enter on this line."""

    line: str


@dataclasses.dataclass(frozen=True)
class EndOfInput:
    """The user pressed Ctrl-D on an empty line."""


Event = Submitted | EndOfInput


def width(char: str) -> int:
    """Return how many terminal columns ``char`` takes."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def columns(text: str) -> int:
    """Return how many terminal columns ``text`` takes."""
    return sum(width(char) for char in text)


class LineEditor:
    """Edit one line with the keys of a shell.

    Keys: printable characters insert; Backspace, Delete and Ctrl-D (on a
    non-empty line) delete; Left/Right, Home/End, Ctrl-A/E/B/F move; Ctrl-U,
    Ctrl-K and Ctrl-W cut; Up/Down (or Ctrl-P/N) walk the history; Enter
    submits; Ctrl-D on an empty line ends the input. Other control
    characters and unknown escape sequences are ignored.

    Args:
        prompt: Text shown before the line.
        history_size: How many submitted lines Up can bring back.
    """

    def __init__(self, prompt: str = "> ", history_size: int = 100) -> None:
        self.prompt = prompt
        self.history_size = history_size
        self.text = ""
        self.cursor = 0  # index in text
        self.scroll = 0  # index of the first character shown
        self.history: list[str] = []
        # While walking the history: the position in it, and the line being
        # typed before the walk started, which Down brings back.
        self.history_index: int | None = None
        self.draft = ""
        # The start of an escape sequence split between two reads.
        self.pending = ""

    def set_line(self, text: str) -> None:
        """Replace the line with ``text`` and put the cursor at its end."""
        self.text = text
        self.cursor = len(text)
        self.history_index = None

    def feed(self, keys: str) -> list[Event]:
        """Apply keystrokes; return the lines submitted and the end of input, in order."""
        events: list[Event] = []
        keys = self.pending + keys
        self.pending = ""
        index = 0
        while index < len(keys):
            char = keys[index]
            if char == ESC:
                end = sequence_end(keys, index)
                if end is None:
                    self.pending = keys[index:]
                    break
                self.escape(keys[index:end])
                index = end
                continue
            index += 1
            event = self.key(char)
            if event is not None:
                events.append(event)
        return events

    def key(self, char: str) -> Event | None:
        """Apply one key that isn't part of an escape sequence."""
        if char in "\r\n":
            line = self.text
            if line:
                self.remember(line)
            self.set_line("")
            return Submitted(line)
        if char == "\x04":  # Ctrl-D
            if not self.text:
                return EndOfInput()
            self.delete_forward()
        elif char in "\x7f\x08":  # Backspace
            if self.cursor > 0:
                self.cut(self.cursor - 1, self.cursor)
        elif char == "\x01":  # Ctrl-A
            self.cursor = 0
        elif char == "\x05":  # Ctrl-E
            self.cursor = len(self.text)
        elif char == "\x02":  # Ctrl-B
            self.cursor = max(self.cursor - 1, 0)
        elif char == "\x06":  # Ctrl-F
            self.cursor = min(self.cursor + 1, len(self.text))
        elif char == "\x15":  # Ctrl-U
            self.cut(0, self.cursor)
        elif char == "\x0b":  # Ctrl-K
            self.cut(self.cursor, len(self.text))
        elif char == "\x17":  # Ctrl-W
            start = len(self.text[: self.cursor].rstrip(" "))
            start = self.text.rfind(" ", 0, start) + 1
            self.cut(start, self.cursor)
        elif char == "\x10":  # Ctrl-P
            self.walk_history(-1)
        elif char == "\x0e":  # Ctrl-N
            self.walk_history(1)
        elif char == "\t":
            # A tab has no fixed width on screen; keep the word break.
            self.insert(" ")
        elif char.isprintable():
            self.insert(char)
        return None

    def escape(self, sequence: str) -> None:
        """Apply one escape sequence (arrows, Home, End, Delete)."""
        if sequence == DELETE:
            self.delete_forward()
        elif sequence in SEQUENCES:
            self.key(SEQUENCES[sequence])

    def insert(self, char: str) -> None:
        self.text = self.text[: self.cursor] + char + self.text[self.cursor :]
        self.cursor += 1

    def cut(self, start: int, end: int) -> None:
        self.text = self.text[:start] + self.text[end:]
        self.cursor = start

    def delete_forward(self) -> None:
        self.cut(self.cursor, min(self.cursor + 1, len(self.text)))

    def remember(self, line: str) -> None:
        if not self.history or self.history[-1] != line:
            self.history.append(line)
            del self.history[: -self.history_size]

    def walk_history(self, step: int) -> None:
        index = len(self.history) if self.history_index is None else self.history_index
        index += step
        if index < 0 or index > len(self.history):
            return
        if self.history_index is None:
            self.draft = self.text
        line = self.draft if index == len(self.history) else self.history[index]
        self.set_line(line)
        self.history_index = None if index == len(self.history) else index

    def render(self, width: int) -> str:
        """Return what redraws the prompt line on a terminal ``width`` columns wide.

        The line never wraps: when it is longer than the room left by the
        prompt, it scrolls sideways to keep the cursor in view. The last
        column stays free, where some terminals would wrap.
        """
        room = max(width - 1 - columns(self.prompt), 1)
        self.scroll = min(self.scroll, self.cursor)
        # The character under the cursor stays in view too.
        while columns(self.text[self.scroll : self.cursor + 1]) > room:
            self.scroll += 1
        shown = ""
        for char in self.text[self.scroll :]:
            if columns(shown) + columns(char) > room:
                break
            shown += char
        back = columns(shown) - columns(self.text[self.scroll : self.cursor])
        move = f"{ESC}[{back}D" if back else ""
        return f"\r{self.prompt}{shown}{CLEAR_TO_END}{move}"


def sequence_end(keys: str, start: int) -> int | None:
    """Return where the escape sequence at ``keys[start]`` ends; :obj:`None` if incomplete.

    CSI sequences are ``ESC [``, parameters and intermediates, then a final
    byte in ``@``-``~``; SS3 sequences are ``ESC O`` and one character.
    ``ESC`` and anything else (Alt + key) count as a two-character sequence.
    """
    if start + 1 >= len(keys):
        return None
    if keys[start + 1] == "O":
        return start + 3 if start + 2 < len(keys) else None
    if keys[start + 1] != "[":
        return start + 2
    for index in range(start + 2, len(keys)):
        if "@" <= keys[index] <= "~":
            return index + 1
    return None
