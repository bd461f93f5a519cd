"""Tests for the timers of wskit.asyncio.client: the open timeout without
asyncio.timeout(), and the timers a loop's clients share.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from unittest.mock import patch

import pytest

from tests.asyncio.test_client import LOCALHOST, WAIT, raw_server, serving, silent
from wskit.asyncio.client import connect
from wskit.asyncio.timers import MAX_LOOP_DELAYS, Deadline, call_later
from wskit.exceptions import InvalidURI


async def test_open_timeout_raises_what_asyncio_timeout_raised() -> None:
    # TimeoutError from the TimeoutError that asyncio.timeout() raises, from
    # the CancelledError; the task's cancel request withdrawn.
    async with raw_server(silent) as port:
        with pytest.raises(TimeoutError, match="timed out during the opening handshake") as info:
            await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=0.1)
    cause = info.value.__cause__
    assert type(cause) is TimeoutError
    assert isinstance(cause.__cause__, asyncio.CancelledError)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_connect_uses_no_asyncio_timeout() -> None:
    def no_timeout(*args: Any) -> None:
        raise AssertionError("asyncio.timeout() called")

    async with serving() as uri:
        with patch.object(asyncio, "timeout", no_timeout):
            ws = await connect(uri, open_timeout=WAIT)
        await ws.close()


async def test_open_timeout_lets_a_cancellation_from_elsewhere_through() -> None:
    async with raw_server(silent) as port:

        async def opening() -> None:
            await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)

        connecting = asyncio.create_task(opening())
        await asyncio.sleep(0.05)
        start = time.monotonic()
        connecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await connecting
        assert time.monotonic() - start < 1


async def test_clients_share_the_loops_timers() -> None:
    loop = asyncio.get_running_loop()
    async with serving() as uri:
        first = await connect(uri, open_timeout=7, ping_interval=9)
        second = await connect(uri, open_timeout=7, ping_interval=9)
        starters = loop._wskit_timers  # type: ignore[attr-defined]
        assert {7, 9} <= set(starters)
        # One loop timer for the two keepalive timers (Deadlines).
        assert isinstance(first.keepalive_timer, Deadline)
        assert isinstance(second.keepalive_timer, Deadline)
        assert len(starters[9].__self__.deadlines) == 2
        await first.close()
        await second.close()
    assert first.keepalive_timer.cancelled()


def test_clients_on_uvloop_use_its_timers() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def run() -> None:
        async with serving() as uri:
            ws = await connect(uri, open_timeout=WAIT)
            assert ws.keepalive_timer is not None
            assert not isinstance(ws.keepalive_timer, Deadline)  # uvloop's own
            await ws.close()
        assert not hasattr(asyncio.get_running_loop(), "_wskit_timers")

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())


async def test_call_later_shares_a_few_delays_only() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    timers = [call_later(loop, 0.01 * (n + 1), fired.append, n) for n in range(MAX_LOOP_DELAYS + 1)]
    assert all(isinstance(timer, Deadline) for timer in timers[:MAX_LOOP_DELAYS])
    assert isinstance(timers[-1], asyncio.TimerHandle)
    timers[0].cancel()
    await asyncio.sleep(0.2)
    assert sorted(fired) == list(range(1, MAX_LOOP_DELAYS + 1))


async def test_invalid_uri_leaves_no_open_timer() -> None:
    # The URI is parsed before the timer starts: no timer left to cancel
    # this task later.
    with pytest.raises(InvalidURI):
        await connect("http://localhost/", open_timeout=0.01)
    await asyncio.sleep(0.05)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
