"""The format of messages and channel names on the broker."""

from __future__ import annotations

import pytest

from wskit.pubsub import wire


def test_text_and_binary_survive_the_trip() -> None:
    messages: list[str | bytes] = ["", "héllo ☃", b"", b"\x00\xff binary", "t", b"t"]
    for message in messages:
        decoded = wire.decode(wire.encode(message))
        assert decoded == message
        assert type(decoded) is type(message)


def test_encoding_is_tagged() -> None:
    assert wire.encode("hé") == b"th\xc3\xa9"
    assert wire.encode(b"hi") == b"bhi"
    assert wire.encode(bytearray(b"hi")) == b"bhi"
    assert wire.encode(memoryview(b"xhix")[1:3]) == b"bhi"


def test_normalize_copies_mutable_buffers() -> None:
    buffer = bytearray(b"abc")
    normalized = wire.normalize(buffer)
    buffer[0] = ord("z")
    assert normalized == b"abc"
    assert type(normalized) is bytes
    text = "abc"
    assert wire.normalize(text) is text
    data = b"abc"
    assert wire.normalize(data) is data


@pytest.mark.parametrize("message", [42, None, ["a"], {"a": 1}])
def test_unsupported_types_are_refused(message: object) -> None:
    with pytest.raises(TypeError, match="str or bytes-like"):
        wire.encode(message)  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", [b"", b"xhello", b"{}", b"t\xff\xfe"])
def test_foreign_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (tag or UTF-8 error)
        wire.decode(payload)


def test_channel_names() -> None:
    assert wire.channel("wskit:", "room:42") == b"wskit:room:42"
    assert wire.channel("", "é") == "é".encode()
    assert wire.topic("wskit:", b"wskit:room:42") == "room:42"
    assert wire.topic("", "é".encode()) == "é"
    with pytest.raises(ValueError, match="doesn't start with"):
        wire.topic("wskit:", b"other:room:42")
    with pytest.raises(UnicodeDecodeError):
        wire.topic("wskit:", b"wskit:\xff")
