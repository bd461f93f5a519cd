"""``wskit bench``: round trips against an echo server."""

from __future__ import annotations

import io
import re

import pytest

from wskit.asyncio.server import ServerConnection
from wskit.cli.bench import Results, run
from wskit.cli.parser import build_parser

from .support import echo, wskit_server


async def bench(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["bench", *argv])
    stdout, stderr = io.StringIO(), io.StringIO()
    status = await run(args, stdout, stderr)
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.mark.parametrize("mode", [[], ["--binary"], ["--no-compression"]])
async def test_bench_against_an_echo_server(mode: list[str]) -> None:
    messages: list[int] = []

    async def counting_echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            messages.append(len(message))
            await websocket.send(message)

    async with wskit_server(counting_echo) as uri:
        argv = [uri, "--connections", "3", "--messages", "20", "--size", "100", *mode]
        status, out, err = await bench(*argv)
    assert (status, err) == (0, "")
    assert re.fullmatch(
        r"60 round trips in \d+\.\d{3} s: \d+ messages/s\n"
        r"round trip \(ms\): p50 [\d.]+, p90 [\d.]+, p99 [\d.]+, max [\d.]+\n",
        out,
    ), out
    assert messages == [100] * 60


async def test_a_server_that_does_not_echo_is_an_error() -> None:
    async def shout(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(str(message).upper() + "!")

    async with wskit_server(shout) as uri:
        status, out, err = await bench(uri, "--messages", "2", "--size", "4")
    assert (status, out) == (1, "")
    assert err == "wskit: the server didn't echo the message: 5 bytes came back\n"


async def test_a_server_that_closes_during_the_run() -> None:
    async def one_echo(websocket: ServerConnection) -> None:
        await websocket.send(await websocket.recv())
        await websocket.close(1001, "bye")

    async with wskit_server(one_echo) as uri:
        status, out, err = await bench(uri, "--messages", "3")
    assert (status, out) == (1, "")
    assert err.startswith("wskit: connection closed during the run: received 1001 (going away) bye")


async def test_connection_refused() -> None:
    async with wskit_server(echo) as uri:
        pass  # closed: nobody listens on that port anymore
    status, out, err = await bench(uri)
    assert (status, out) == (3, "")
    assert err.startswith("wskit: ")


def test_percentiles() -> None:
    results = Results([float(n) for n in range(100, 0, -1)], elapsed=2.0)
    assert [results.percentile(p) for p in (50, 90, 99, 100)] == [50.0, 90.0, 99.0, 100.0]
    assert Results([0.5], 1.0).percentile(1) == 0.5
    assert results.summary().startswith("100 round trips in 2.000 s: 50 messages/s\n")
