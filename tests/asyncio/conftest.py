"""Run ``async def`` tests on a fresh event loop, each bounded in time."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

# No test may hang the suite: a test that runs longer fails.
TEST_TIMEOUT = 30


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine test functions with asyncio.run()."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def run() -> Any:
        async with asyncio.timeout(TEST_TIMEOUT):
            return await function(**arguments)

    asyncio.run(run(), debug=True)
    return True
