"""Async tests run as in tests/asyncio; each test gets a proxy from docs/deployment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.asyncio.conftest import pytest_pyfunc_call
from tests.deployment.proxies import HAProxy, Nginx, Proxy

__all__ = ["proxy", "pytest_pyfunc_call"]


@pytest.fixture(params=[Nginx, HAProxy], ids=["nginx", "haproxy"])
def proxy(request: pytest.FixtureRequest) -> Iterator[Proxy]:
    """The guide's configuration running on a free port, stopped after the test."""
    with request.param() as running:
        yield running
