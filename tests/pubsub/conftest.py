"""Async tests run as in tests/asyncio; each test that asks gets its own redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.asyncio.conftest import pytest_pyfunc_call
from tests.pubsub.redis_server import RedisServer

__all__ = ["pytest_pyfunc_call", "redis_server"]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server on a free port of 127.0.0.1, stopped after the test."""
    with RedisServer() as server:
        yield server
