"""The line editor: keys in, edited line, submitted lines and redraws out."""

from __future__ import annotations

import pytest

from wskit.cli.lineedit import EndOfInput, LineEditor, Submitted, columns

LEFT, RIGHT, UP, DOWN = "\x1b[D", "\x1b[C", "\x1b[A", "\x1b[B"
HOME, END, DELETE = "\x1b[H", "\x1b[F", "\x1b[3~"


def typed(*keys: str) -> LineEditor:
    editor = LineEditor()
    for chunk in keys:
        assert editor.feed(chunk) == []
    return editor


def test_typing_then_enter_submits_the_line() -> None:
    editor = LineEditor()
    assert editor.feed("hello") == []
    assert editor.feed("\r") == [Submitted("hello")]
    assert editor.text == ""
    assert editor.cursor == 0


def test_several_lines_in_one_read_come_out_in_order() -> None:
    editor = LineEditor()
    assert editor.feed("one\ntwo\nthr") == [Submitted("one"), Submitted("two")]
    assert editor.text == "thr"


def test_empty_line_is_submitted_but_not_remembered() -> None:
    editor = LineEditor()
    assert editor.feed("\n") == [Submitted("")]
    assert editor.history == []


@pytest.mark.parametrize(
    ("keys", "text", "cursor"),
    [
        (["abc", "\x7f"], "ab", 2),
        (["abc", "\x08"], "ab", 2),
        (["abc", "\x01", "\x7f"], "abc", 0),  # Backspace at the start does nothing
        (["abc", LEFT, LEFT, "X"], "aXbc", 2),
        (["abc", "\x02", "\x02", "\x06", "X"], "abXc", 3),
        (["abc", RIGHT, "X"], "abcX", 4),  # Right at the end stays there
        (["abc", "\x01", LEFT, "X"], "Xabc", 1),  # Left at the start stays there
        (["abc", HOME, "X"], "Xabc", 1),
        (["abc", "\x1b[1~", "X"], "Xabc", 1),
        (["abc", "\x1bOH", "X"], "Xabc", 1),
        (["abc", "\x01", END, "X"], "abcX", 4),
        (["abc", "\x01", "\x1b[4~", "X"], "abcX", 4),
        (["abc", "\x01", "\x05", "X"], "abcX", 4),
        (["abc", "\x01", DELETE], "bc", 0),
        (["abc", DELETE], "abc", 3),  # Delete at the end does nothing
        (["abc", "\x01", "\x04"], "bc", 0),  # Ctrl-D on a non-empty line deletes
        (["hello world", LEFT * 3, "\x15"], "rld", 0),
        (["hello world", LEFT * 3, "\x0b"], "hello wo", 8),
        (["hello big  world", "\x17"], "hello big  ", 11),
        (["hello big  ", "\x17"], "hello ", 6),
        (["word", "\x17"], "", 0),
        (["a\tb"], "a b", 3),  # a tab becomes a space
        (["a\x07\x1b[99~b\x1bxc"], "abc", 3),  # bell, unknown sequence, Alt-x: ignored
        (["é日本\u0301"], "é日本\u0301", 4),
    ],
)
def test_editing_keys(keys: list[str], text: str, cursor: int) -> None:
    editor = typed(*keys)
    assert editor.text == text
    assert editor.cursor == cursor


def test_escape_sequence_split_between_reads() -> None:
    editor = typed("ab", "\x1b", "[", "D", "X")
    assert editor.text == "aXb"
    editor = typed("ab", "\x1bO", "H", "X")
    assert editor.text == "Xab"


def test_ctrl_d_on_an_empty_line_ends_the_input() -> None:
    editor = LineEditor()
    assert editor.feed("\x04") == [EndOfInput()]
    assert editor.feed("sent\n\x04") == [Submitted("sent"), EndOfInput()]


def test_history_walks_back_and_forth_and_keeps_the_draft() -> None:
    editor = LineEditor()
    editor.feed("first\nsecond\nsecond\ndraft")
    assert editor.history == ["first", "second"]  # repeats are kept once
    editor.feed(UP)
    assert (editor.text, editor.cursor) == ("second", 6)
    editor.feed(UP)
    assert editor.text == "first"
    editor.feed(UP)  # nothing older
    assert editor.text == "first"
    editor.feed("\x0e")  # Ctrl-N
    assert editor.text == "second"
    editor.feed(DOWN)
    assert editor.text == "draft"
    editor.feed(DOWN)  # nothing newer
    assert editor.text == "draft"
    editor.feed("\x10!\n")  # Ctrl-P, edit, submit
    assert editor.history == ["first", "second", "second!"]


def test_history_is_bounded() -> None:
    editor = LineEditor(history_size=3)
    editor.feed("1\n2\n3\n4\n")
    assert editor.history == ["2", "3", "4"]


def test_set_line_puts_the_cursor_at_the_end() -> None:
    editor = typed("abc", LEFT)
    editor.set_line("retry me")
    assert (editor.text, editor.cursor) == ("retry me", 8)


def test_columns_counts_wide_and_combining_characters() -> None:
    assert columns("abc") == 3
    assert columns("日本") == 4
    assert columns("e\u0301") == 1


def test_render_draws_prompt_and_line_and_places_the_cursor() -> None:
    editor = typed("hello")
    assert editor.render(80) == "\r> hello\x1b[K"
    editor.feed(LEFT * 2)
    assert editor.render(80) == "\r> hello\x1b[K\x1b[2D"


def test_render_scrolls_a_long_line_sideways_without_wrapping() -> None:
    editor = typed("0123456789abcdef")
    # 12 columns: 2 for the prompt, 9 for the text, 1 for the cursor after it.
    assert editor.render(12) == "\r> 789abcdef\x1b[K"
    editor.feed(HOME)
    assert editor.render(12) == "\r> 012345678\x1b[K\x1b[9D"
    editor.feed(RIGHT * 10)
    assert editor.render(12) == "\r> 23456789a\x1b[K\x1b[1D"
    editor.feed(END)
    assert editor.render(12) == "\r> 789abcdef\x1b[K"


def test_render_counts_wide_characters() -> None:
    editor = typed("日本語テキスト")
    # 9 columns of room: 4 characters of 2 columns fit, not 5.
    assert editor.render(12) == "\r> テキスト\x1b[K"
    editor.feed(HOME)
    assert editor.render(12) == "\r> 日本語テ\x1b[K\x1b[8D"


def test_render_on_a_tiny_terminal_still_shows_the_cursor() -> None:
    editor = typed("abc")
    assert editor.render(1) == "\r> c\x1b[K"
    editor.feed(HOME)
    assert editor.render(1) == "\r> a\x1b[K\x1b[1D"
