"""Run ``async def`` tests on the event loop their ``stack`` names, bounded in time."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
import uvloop

from .harness import Stack

# No test may hang the suite: a test that runs longer fails.
TEST_TIMEOUT = 30


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test on both of uvicorn's HTTP parsers, one on each loop.

    A test marked ``all_stacks`` runs on the four pairs.
    """
    if "stack" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("all_stacks"):
        stacks = [
            Stack(http, loop) for http in ("httptools", "h11") for loop in ("asyncio", "uvloop")
        ]
    else:
        stacks = [Stack("httptools", "asyncio"), Stack("h11", "uvloop")]
    metafunc.parametrize("stack", stacks, ids=str)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "all_stacks: run on every HTTP parser and event loop")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine test functions on asyncio's loop or uvloop."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    stack = arguments.get("stack")

    async def run() -> Any:
        async with asyncio.timeout(TEST_TIMEOUT):
            return await function(**arguments)

    if isinstance(stack, Stack) and stack.loop == "uvloop":
        uvloop.run(run(), debug=True)
    else:
        asyncio.run(run(), debug=True)
    return True
