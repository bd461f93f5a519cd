"""Ctrl-C and SIGTERM as callbacks on the event loop."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from wskit.cli.signals import on_stop_signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_signals_call_back_while_in_the_block(signum: int) -> None:
    received = asyncio.Event()
    with on_stop_signals(received.set):
        os.kill(os.getpid(), signum)
        async with asyncio.timeout(5):
            await received.wait()


async def test_handlers_are_removed_on_exit() -> None:
    with on_stop_signals(lambda: None):
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
