"""Tests for wskit.utils: Sec-WebSocket-Key and Sec-WebSocket-Accept helpers."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from wskit import speedups, utils
from wskit.utils import GUID, accept_key, apply_mask, escape_controls, generate_key


def test_guid() -> None:
    # RFC 6455, section 1.3.
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_accept_key_rfc_example() -> None:
    # RFC 6455, section 1.3.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_key_is_base64_sha1_of_key_and_guid() -> None:
    key = generate_key()
    digest = hashlib.sha1((key + GUID).encode()).digest()
    result = accept_key(key)
    assert base64.b64decode(result, validate=True) == digest
    assert len(result) == 28


def test_accept_key_depends_on_key() -> None:
    assert accept_key("AQIDBAUGBwgJCgsMDQ4PEA==") != accept_key("dGhlIHNhbXBsZSBub25jZQ==")


def test_generate_key_is_16_bytes_base64() -> None:
    key = generate_key()
    assert isinstance(key, str)
    assert len(key) == 24
    assert len(base64.b64decode(key, validate=True)) == 16


def test_generate_key_differs_between_calls() -> None:
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20


def test_generate_key_uses_os_urandom(monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[int] = []

    def fake_urandom(size: int) -> bytes:
        requested.append(size)
        return bytes(range(size))

    monkeypatch.setattr(os, "urandom", fake_urandom)
    assert generate_key() == "AAECAwQFBgcICQoLDA0ODw=="
    assert requested == [16]


def test_apply_mask_is_reexported() -> None:
    assert apply_mask is speedups.apply_mask
    assert "apply_mask" in utils.__all__
    assert apply_mask(b"\x00\x00\x00\x00\xff", b"\x01\x02\x03\x04") == b"\x01\x02\x03\x04\xfe"


# escape_controls.


@pytest.mark.parametrize("text", ["", "hello", "going away: bye!", "~!@#$%^&*()_+{}|:<>?"])
def test_escape_controls_printable_text_is_returned_as_is(text: str) -> None:
    assert escape_controls(text) is text


def test_escape_controls_keeps_printable_non_ascii() -> None:
    text = "café 日本語 ☃ Ω"
    assert escape_controls(text) is text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("line1\nline2", "line1\\nline2"),
        ("tab\there", "tab\\there"),
        ("a\r\nb", "a\\r\\nb"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("\x85next line", "\\x85next line"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("sep\u2028line", "sep\\u2028line"),
        ("lone\udcff", "lone\\udcff"),
        ("café\n", "café\\n"),
    ],
)
def test_escape_controls_escapes_unprintable_characters(text: str, expected: str) -> None:
    result = escape_controls(text)
    assert result == expected
    assert result.isprintable()


def test_escape_controls_leaves_quotes_and_backslashes() -> None:
    # Only unprintable characters change; repr() would also escape these.
    assert escape_controls('it\'s "quoted" \\ \n') == 'it\'s "quoted" \\ \\n'
