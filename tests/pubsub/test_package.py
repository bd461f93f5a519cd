"""wskit.pubsub imports without the optional redis package; the Redis classes load on use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import wskit.pubsub
from wskit.pubsub.emitter import RedisEmitter
from wskit.pubsub.redis import RedisBroker


def test_redis_classes_load_on_first_use() -> None:
    assert wskit.pubsub.RedisBroker is RedisBroker
    assert wskit.pubsub.RedisEmitter is RedisEmitter
    assert set(wskit.pubsub.__all__) >= {"Broker", "Hub", "MemoryBroker", "RedisBroker"}


def test_unknown_names() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        wskit.pubsub.Nope  # noqa: B018


def test_importing_wskit_pubsub_does_not_import_redis() -> None:
    code = "import sys, wskit.pubsub; print('redis' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == "False\n"
