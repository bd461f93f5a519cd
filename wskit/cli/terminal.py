"""The interactive client's terminal: a prompt line that messages flow above.

The terminal is switched to cbreak mode (no echo, keys one at a time, Ctrl-C
still a signal) so that the client draws the line being typed itself. When
a message arrives, the prompt line is cleared, the message printed in its
place, and the prompt line drawn again below it with what was being typed:
typing is never interrupted.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import os
import termios
import tty
from types import TracebackType
from typing import Any

from ..typing import Data
from .display import Formatter
from .fdio import FdReader, write_all
from .lineedit import CLEAR_TO_END, EndOfInput, LineEditor

__all__ = ["Terminal"]

PROMPT = "> "
DEFAULT_WIDTH = 80


class Terminal:
    """Read lines from a terminal while showing messages above the prompt.

    Use it as a context manager: it sets up the terminal on entry and puts it
    back as it was on exit.

    Args:
        fd_in: The terminal, for reading keys.
        fd_out: The terminal, for drawing.
        formatter: Turns messages into lines.
    """

    def __init__(self, fd_in: int, fd_out: int, formatter: Formatter) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.formatter = formatter
        self.editor = LineEditor(PROMPT)
        self.reader = FdReader(fd_in)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.saved_mode: list[Any] | None = None
        # Lines typed but not read yet, and whether the input ended after them.
        self.pending: collections.deque[str] = collections.deque()
        self.ended = False

    def __enter__(self) -> Terminal:
        self.saved_mode = termios.tcgetattr(self.fd_in)
        # TCSANOW: keys typed while connecting stay in the queue.
        tty.setcbreak(self.fd_in, termios.TCSANOW)
        self.redraw()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Leave the cursor at the start of an empty line, for the shell.
        self.write("\r" + CLEAR_TO_END)
        if self.saved_mode is not None:
            with contextlib.suppress(termios.error):  # the terminal is gone
                termios.tcsetattr(self.fd_in, termios.TCSADRAIN, self.saved_mode)

    def write(self, text: str) -> None:
        # When the terminal hangs up, writes fail with EIO and reads end: the
        # input ends, and the connection closes as after Ctrl-D.
        with contextlib.suppress(OSError):
            write_all(self.fd_out, text.encode())

    def width(self) -> int:
        # Asked every time, so that resizing the window just works.
        try:
            return os.get_terminal_size(self.fd_out).columns or DEFAULT_WIDTH
        except OSError:
            return DEFAULT_WIDTH

    def redraw(self) -> None:
        """Draw the prompt line again."""
        self.write(self.editor.render(self.width()))

    def show(self, lines: list[str]) -> None:
        """Print ``lines`` above the prompt line."""
        text = "".join(line + "\r\n" for line in lines)
        self.write(f"\r{CLEAR_TO_END}{text}{self.editor.render(self.width())}")

    def message(self, message: Data) -> None:
        """Show an incoming message."""
        self.show(self.formatter.message(message))

    def notice(self, text: str) -> None:
        """Show a notice from the client itself."""
        self.show(self.formatter.notice(text))

    def reject(self, line: str, reason: str) -> None:
        """Say why ``line`` can't be sent, and give it back for editing."""
        self.editor.set_line(line)
        self.notice(reason)

    async def read_line(self) -> str | None:
        """Return the next line typed; :obj:`None` after Ctrl-D on an empty line or a hangup.

        Cancelling this call loses nothing: keys are only read once they are
        there, and lines typed together wait for the next calls.
        """
        while not (self.pending or self.ended):
            data = await self.reader.read()
            self.ended = not data
            for event in self.editor.feed(self.decoder.decode(data)):
                if isinstance(event, EndOfInput):
                    self.ended = True
                    break
                if event.line:
                    # The line stays on screen as typed, and the prompt moves below.
                    self.show(self.formatter.decorate([event.line], PROMPT))
                    self.pending.append(event.line)
            self.redraw()
        return self.pending.popleft() if self.pending else None
