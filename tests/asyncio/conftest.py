"""Run ``async def`` tests on a fresh event loop, each bounded in time."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

# No test may hang the suite: a test that runs longer fails. A heavy test
# marked @pytest.mark.timeout(N) (pytest-timeout, which stops the whole run)
# gets N - MARGIN instead, so that it fails alone first.
TEST_TIMEOUT = 30
MARGIN = 10


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine test functions with asyncio.run()."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    marker = pyfuncitem.get_closest_marker("timeout")
    timeout = TEST_TIMEOUT if marker is None else marker.args[0] - MARGIN

    async def run() -> Any:
        async with asyncio.timeout(timeout):
            return await function(**arguments)

    asyncio.run(run(), debug=True)
    return True
