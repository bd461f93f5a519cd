"""Run ``async def`` tests with trio.run(), each bounded in time.

A test that takes a ``clock`` argument runs on trio's autojump clock: time
jumps ahead whenever every task waits, so timeouts of seconds pass at once.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import pytest
import trio
import trio.testing

# No test may hang the suite: a test that runs longer fails.
TEST_TIMEOUT = 30


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """trio's autojump clock, for tests of timeouts."""
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine test functions with trio.run()."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    clock = arguments.get("clock")

    async def run() -> Any:
        # On the mock clock, the test's own deadline would jump ahead too.
        if clock is not None:
            return await function(**arguments)
        with trio.fail_after(TEST_TIMEOUT):
            return await function(**arguments)

    trio.run(run, clock=cast(trio.testing.MockClock | None, clock))
    return True
