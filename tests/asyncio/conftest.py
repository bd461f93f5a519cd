"""Run ``async def`` tests on a fresh event loop, each bounded in time.

``WSKIT_TEST_LOOP=aiofastnet`` runs them on asyncio's loop patched to make
aiofastnet's compiled transports (``scripts/test`` runs the connection tests
that way once), ``uvloop`` on uvloop: the asyncio layer must work on any
transport a loop makes. On uvloop, the connection's suites pass
(``test_connection.py``, ``test_read_path.py``, ``test_write_message.py``,
``test_long_payload.py``); tests elsewhere that look into asyncio's own loop,
transports or timers, or measure websockets' latency with uvloop's
millisecond clock, don't apply there.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .socket_transports import MAKERS, Maker, Sockets, unavailable

# No test may hang the suite: a test that runs longer fails. A heavy test
# marked @pytest.mark.timeout(N) (pytest-timeout, which stops the whole run)
# gets N - MARGIN instead, so that it fails alone first.
TEST_TIMEOUT = 30
MARGIN = 10


# uvloop's transports read the protocol's methods once and won't have their
# own replaced: tests that watch those calls by patching them run elsewhere.
watches_transport_calls = pytest.mark.skipif(
    os.environ.get("WSKIT_TEST_LOOP") == "uvloop",
    reason="patches transport or protocol methods, which uvloop's transports don't see",
)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind ``WSKIT_TEST_LOOP`` names (asyncio's by default)."""
    kind = os.environ.get("WSKIT_TEST_LOOP", "asyncio")
    if kind == "uvloop":
        import uvloop  # noqa: PLC0415 (only when asked for)

        return uvloop.new_event_loop()
    loop = asyncio.new_event_loop()
    if kind == "aiofastnet":
        import aiofastnet  # noqa: PLC0415 (only when asked for)

        aiofastnet.patch_loop(loop)
    elif kind != "asyncio":
        raise ValueError(f"WSKIT_TEST_LOOP: unknown loop {kind!r}")
    return loop


def run(main: Callable[[], Any]) -> Any:
    """Run the coroutine function ``main`` on a new loop, in debug mode."""
    with asyncio.Runner(debug=True, loop_factory=new_event_loop) as runner:
        return runner.run(main())


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine test functions on a new event loop (see new_event_loop)."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    marker = pyfuncitem.get_closest_marker("timeout")
    timeout = TEST_TIMEOUT if marker is None else marker.args[0] - MARGIN

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await function(**arguments)

    run(bounded)
    return True


@pytest.fixture(params=sorted(MAKERS))
def make_transport(request: pytest.FixtureRequest) -> Iterator[Maker]:
    """Each socket transport under test in turn (see socket_transports.py)."""
    reason = unavailable(request.param)
    if reason is not None:
        pytest.skip(reason)
    maker = MAKERS[request.param].for_a_test()
    yield maker
    maker.keep_unclosed()


@pytest.fixture
def socket_pairs() -> Iterator[Sockets]:
    """Connected socket pairs, closed after the test."""
    sockets = Sockets()
    yield sockets
    sockets.close()
