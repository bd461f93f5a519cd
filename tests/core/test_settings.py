"""Tests for wskit.settings: WSKIT_* environment variables."""

from __future__ import annotations

import pytest

from wskit.settings import setting


def test_setting() -> None:
    assert setting("X", 1.5, {}) == 1.5
    assert setting("X", 1.5, {"WSKIT_X": ""}) == 1.5
    assert setting("X", 1.5, {"WSKIT_X": "2"}) == 2.0
    assert setting("X", 1.5, {"WSKIT_X": "0"}) == 0.0
    assert setting("X", 1.5, {"WSKIT_X": " 3e-2 "}) == 0.03


@pytest.mark.parametrize(
    ("value", "message"),
    [("x", "WSKIT_X must be a number: 'x'"), ("-1", "WSKIT_X must be at least 0: '-1'")],
)
def test_invalid_setting(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        setting("X", 1.5, {"WSKIT_X": value})


def test_setting_minimum() -> None:
    assert setting("X", 1.5, {"WSKIT_X": "1"}, minimum=1) == 1.0
    with pytest.raises(ValueError, match="at least 1"):
        setting("X", 1.5, {"WSKIT_X": "0.9"}, minimum=1)


def test_setting_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSKIT_SOME_SETTING", "7")
    assert setting("SOME_SETTING", 1) == 7
