"""How a message travels through a broker that only carries bytes.

Redis channels carry byte strings, but a WebSocket message is either text or
binary, and the difference must survive the trip: a text message must reach
browsers as a text frame. Every payload starts with one tag byte:

- ``t``: the rest is a text message, UTF-8 encoded;
- ``b``: the rest is a binary message, as is.

A message published with a history (:mod:`wskit.pubsub.history`) is
prefixed with its position: ``o<offset>:<epoch>:`` then the tagged payload,
e.g. ``o42:1733462400.123456:thello``.

A topic travels on the channel named ``prefix + topic``, UTF-8 encoded.

Any writer can take part: ``redis-cli PUBLISH wskit:room:42 'thello'`` sends
the text message ``hello`` to the room ``room:42`` (with the default prefix).
"""

from __future__ import annotations

from ..typing import BytesLike, Data
from .history import Position

__all__ = [
    "BINARY_TAG",
    "POSITION_TAG",
    "TEXT_TAG",
    "channel",
    "decode",
    "encode",
    "normalize",
    "split_position",
    "topic",
]

TEXT_TAG = b"t"
BINARY_TAG = b"b"
POSITION_TAG = b"o"


def normalize(message: Data | BytesLike) -> Data:
    """Return ``message`` as :class:`str` or as immutable :class:`bytes`.

    A :class:`bytearray` or :class:`memoryview` is copied: the caller may
    change it once ``publish()`` returns, while subscribers still hold it.

    Raises:
        TypeError: ``message`` is neither a string nor bytes-like.
    """
    if isinstance(message, (str, bytes)):
        return message
    if isinstance(message, (bytearray, memoryview)):
        return bytes(message)
    raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")


def encode(message: Data | BytesLike) -> bytes:
    """Serialize a message for the broker.

    Raises:
        TypeError: ``message`` is neither a string nor bytes-like.
    """
    message = normalize(message)
    if isinstance(message, str):
        return TEXT_TAG + message.encode()
    return BINARY_TAG + message


def decode(payload: bytes) -> Data:
    """Deserialize a message read from the broker.

    Raises:
        ValueError: The tag is unknown or the text isn't valid UTF-8 (a
            foreign writer on the channel): the message must be dropped.
    """
    tag, body = payload[:1], payload[1:]
    if tag == TEXT_TAG:
        return body.decode()  # UnicodeDecodeError is a ValueError
    if tag == BINARY_TAG:
        return body
    raise ValueError(f"unknown message tag {tag!r}: not published by wskit")


def split_position(payload: bytes) -> tuple[Position | None, bytes]:
    """Separate a message's position, if it has one, from its tagged payload.

    Raises:
        ValueError: The position is malformed.
    """
    if payload[:1] != POSITION_TAG:
        return None, payload
    offset, epoch, rest = payload[1:].split(b":", 2)  # ValueError if not 3 parts
    return Position(int(offset), epoch.decode()), rest


def channel(prefix: str, topic: str, *, sharded: bool = False) -> bytes:
    """Return the name of the broker channel that carries ``topic``.

    With ``sharded`` (Redis Cluster), the topic is a hash tag,
    ``prefix{topic}``: the channel lives on the node that holds the topic's
    history.
    """
    return (f"{prefix}{{{topic}}}" if sharded else prefix + topic).encode()


def topic(prefix: str, channel: bytes, *, sharded: bool = False) -> str:
    """Return the topic carried by ``channel``, the inverse of :func:`channel`.

    Raises:
        ValueError: ``channel`` isn't named after a topic with this prefix.
    """
    encoded_prefix = (prefix + "{" if sharded else prefix).encode()
    if not channel.startswith(encoded_prefix) or (sharded and not channel.endswith(b"}")):
        raise ValueError(f"channel {channel!r} doesn't start with {prefix!r}")
    end = -1 if sharded else len(channel)
    return channel[len(encoded_prefix) : end].decode()  # UnicodeDecodeError is a ValueError
