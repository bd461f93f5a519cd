"""A topic's history in Redis: a stream of its recent messages, and its numbering.

For the topic ``room:42`` (with the default prefix) Redis holds:

- ``wskit:{room:42}:meta``, a hash: ``e``, the epoch (Redis' clock when the
  history started) and ``o``, the offset of the latest message;
- ``wskit:{room:42}:history``, a stream: entry ``<offset>-0`` per message,
  with ``d`` (the tagged payload, see :mod:`wskit.pubsub.wire`) and ``t``
  (when it was published, in microseconds of Redis' clock).

Both keys share a hash tag, so that in a Redis Cluster they live on one
node and one script can update both. Publishing runs :data:`PUBLISH_SCRIPT`
atomically: number the message, append it, trim the stream to its length
bound, renew the expiry of both keys and publish the message with its
position. Every subscriber thus sees offsets in the order Redis assigned
them. Reading runs :data:`READ_SCRIPT`: the epoch, the latest offset and
the entries after a given offset, in one consistent snapshot.
"""

from __future__ import annotations

import hashlib
from typing import Any

from . import wire
from .broker import Message
from .history import Position, Recovery

__all__ = [
    "PUBLISH_SCRIPT",
    "PUBLISH_SHA",
    "READ_SCRIPT",
    "SPUBLISH_SCRIPT",
    "SPUBLISH_SHA",
    "check_limits",
    "keys",
    "publish_arguments",
    "recovery",
]

# Sets the epoch if the topic has none (a new history: an old stream of a
# forgotten epoch is deleted), in both scripts. KEYS[1] stream, KEYS[2] meta.
_EPOCH = """
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  local now = redis.call('time')
  epoch = now[1] .. '.' .. string.format('%06d', tonumber(now[2]))
  redis.call('hset', KEYS[2], 'e', epoch)
  redis.call('del', KEYS[1])
end
"""

# ARGV: channel, tagged payload, max length, history ttl (ms), meta ttl (ms).
# Returns what PUBLISH returns: how many subscribers got it.
PUBLISH_SCRIPT = (
    _EPOCH
    + """
local offset = redis.call('hincrby', KEYS[2], 'o', 1)
local now = redis.call('time')
redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[3], offset .. '-0',
  'd', ARGV[2], 't', now[1] .. string.format('%06d', tonumber(now[2])))
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[5])
return redis.call('publish', ARGV[1], 'o' .. offset .. ':' .. epoch .. ':' .. ARGV[2])
"""
)
# The same with sharded pub/sub (Redis Cluster): the channel and both keys
# share the topic's hash slot, so the script runs on one node.
SPUBLISH_SCRIPT = PUBLISH_SCRIPT.replace("'publish'", "'spublish'")

# ARGV: last offset seen ('' for none), its epoch, max count, meta ttl (ms).
# Returns epoch, latest offset, Redis' clock (µs), entries after the offset
# seen (all of them if the epoch changed).
READ_SCRIPT = (
    _EPOCH
    + """
redis.call('pexpire', KEYS[2], ARGV[4])
local offset = redis.call('hget', KEYS[2], 'o') or '0'
local now = redis.call('time')
local entries = {}
if ARGV[1] ~= '' then
  local first = 1
  if ARGV[2] == epoch then first = tonumber(ARGV[1]) + 1 end
  entries = redis.call('xrange', KEYS[1], first .. '-0', '+', 'COUNT', ARGV[3])
end
return {epoch, offset, now[1] .. string.format('%06d', tonumber(now[2])), entries}
"""
)

PUBLISH_SHA = hashlib.sha1(PUBLISH_SCRIPT.encode()).hexdigest().encode()
SPUBLISH_SHA = hashlib.sha1(SPUBLISH_SCRIPT.encode()).hexdigest().encode()


def keys(prefix: str, topic: str) -> tuple[bytes, bytes]:
    """Return the names of the stream and of the meta hash of ``topic``."""
    tag = f"{prefix}{{{topic}}}"
    return f"{tag}:history".encode(), f"{tag}:meta".encode()


def check_limits(history: int, ttl: float, meta_ttl: float) -> None:
    """Check the bounds of a history.

    Raises:
        ValueError: ``history`` is negative or the TTLs are not
            ``0 < ttl <= meta_ttl``.
    """
    if history < 0:
        raise ValueError("history must be at least 0")
    if not 0 < ttl <= meta_ttl:
        raise ValueError("history TTLs must satisfy 0 < history_ttl <= history_meta_ttl")


def publish_arguments(
    prefix: str,
    topic: str,
    payload: bytes,
    *,
    history: int,
    ttl: float,
    meta_ttl: float,
    sharded: bool = False,
) -> list[bytes]:
    """Return the two keys then the arguments of :data:`PUBLISH_SCRIPT`."""
    return [
        *keys(prefix, topic),
        wire.channel(prefix, topic, sharded=sharded),
        payload,
        b"%d" % history,
        b"%d" % (ttl * 1000),
        b"%d" % (meta_ttl * 1000),
    ]


def recovery(topic: str, since: Position | None, reply: Any, ttl: float) -> Recovery:
    """Build a :class:`Recovery` from the reply of :data:`READ_SCRIPT`.

    Entries older than ``ttl`` seconds are left out, as if trimmed.

    Raises:
        ValueError: An entry isn't in wskit's format.
    """
    epoch, latest, now, entries = reply
    position = Position(int(latest), epoch.decode())
    oldest = int(now) - int(ttl * 1e6)
    messages = []
    for entry_id, fields in entries:
        values = dict(zip(fields[::2], fields[1::2], strict=True))
        if int(values[b"t"]) < oldest:
            continue
        offset = int(entry_id.split(b"-", 1)[0])
        messages.append(Message(topic, wire.decode(values[b"d"]), Position(offset, position.epoch)))
    if since is None:
        return Recovery([], position, True)
    if since.epoch != position.epoch:
        return Recovery(messages, position, False)
    complete = since.offset <= position.offset and len(messages) == position.offset - since.offset
    return Recovery(messages, position, complete)
