"""``wskit serve``: echo, broadcast, exec, origins, TLS, and the command itself."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from wskit.asyncio.client import ClientConnection, connect
from wskit.cli.parser import build_parser
from wskit.cli.serve import run, start
from wskit.exceptions import ConnectionClosedError, InvalidStatus

from .support import TIMEOUT

CERTIFICATE = str(Path(__file__).parents[2] / "examples" / "localhost.pem")


@asynccontextmanager
async def serving(*argv: str) -> AsyncIterator[str]:
    """Run ``wskit serve ARGV...`` on a free port; yield its URI."""
    args = build_parser().parse_args(["serve", "--port", "0", *argv])
    async with start(args) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"{'wss' if args.certfile else 'ws'}://127.0.0.1:{port}/"


async def recv(websocket: ClientConnection) -> str | bytes:
    async with asyncio.timeout(TIMEOUT):
        return await websocket.recv()


async def test_echo_is_the_default() -> None:
    async with serving() as uri, connect(uri) as websocket:
        await websocket.send("hello")
        assert await recv(websocket) == "hello"
        await websocket.send(b"\x00\xff")
        assert await recv(websocket) == b"\x00\xff"


async def test_broadcast_relays_to_every_other_client() -> None:
    async with (
        serving("--broadcast") as uri,
        connect(uri) as alice,
        connect(uri) as bob,
        connect(uri) as carol,
    ):
        # Every client is registered once it can hear the others.
        await alice.send("alice here")
        assert await recv(bob) == "alice here"
        assert await recv(carol) == "alice here"
        await bob.send("bob here")
        await carol.send(b"carol's bytes")
        assert {await recv(alice), await recv(alice)} == {"bob here", b"carol's bytes"}
        assert await recv(carol) == "bob here"
        assert await recv(bob) == b"carol's bytes"
        await carol.close()
        await alice.send("carol left")
        assert await recv(bob) == "carol left"
        # Nobody hears their own messages.
        for websocket in (alice, bob):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await websocket.recv()


async def test_exec_bridges_each_connection_to_its_own_process() -> None:
    async with (
        serving("--exec", "echo started $$; cat") as uri,
        connect(uri) as first,
        connect(uri) as second,
    ):
        first_pid = str(await recv(first)).split()[1]
        second_pid = str(await recv(second)).split()[1]
        assert first_pid != second_pid
        await first.send("to first")
        await second.send("to second")
        assert await recv(first) == "to first"
        assert await recv(second) == "to second"


async def test_origin_allow_list() -> None:
    async with serving("--origin", "https://good.test", "--origin", "https://also.test") as uri:
        for origin in ("https://good.test", "https://also.test", None):
            async with connect(uri, origin=origin) as websocket:  # type: ignore[arg-type]
                await websocket.send("ok")
                assert await recv(websocket) == "ok"
        with pytest.raises(InvalidStatus) as raised:
            await connect(uri, origin="https://evil.test")  # type: ignore[arg-type]
        assert raised.value.response.status_code == 403


async def test_max_size() -> None:
    async with serving("--max-size", "10") as uri, connect(uri) as websocket:
        await websocket.send("x" * 11)
        with pytest.raises(ConnectionClosedError):
            await recv(websocket)
        assert websocket.close_code == 1009


async def test_tls() -> None:
    context = ssl.create_default_context(cafile=CERTIFICATE)
    async with serving("--certfile", CERTIFICATE) as address:
        uri = address.replace("127.0.0.1", "localhost")
        async with connect(uri, ssl=context) as websocket:
            await websocket.send("secret")
            assert await recv(websocket) == "secret"


async def wait_for_line(out: io.StringIO) -> str:
    async with asyncio.timeout(TIMEOUT):
        while not out.getvalue().endswith("\n"):
            await asyncio.sleep(0.01)
    return out.getvalue()


async def test_run_prints_where_it_listens_and_stops_on_sigterm() -> None:
    out = io.StringIO()
    args = build_parser().parse_args(["serve", "--port", "0", "--broadcast"])
    task = asyncio.create_task(run(args, out))
    line = await wait_for_line(out)
    match = re.fullmatch(
        r"wskit serve \(broadcast\) on (ws://127\.0\.0\.1:\d+/); Ctrl-C stops\n", line
    )
    assert match is not None
    async with connect(match[1]) as websocket:
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(TIMEOUT):
            assert await task == 0
        # The server closed the connection on its way out.
        await websocket.wait_closed()
        assert websocket.close_code == 1001


async def test_run_explains_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        args = build_parser().parse_args(["serve", "--port", str(port)])
        assert await run(args, io.StringIO()) == 3
    assert (
        capsys.readouterr().err == f"wskit: cannot use 127.0.0.1:{port}: Address already in use\n"
    )


async def test_run_explains_bad_tls_files(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["serve", "--port", "0", "--keyfile", CERTIFICATE])
    assert await run(args, io.StringIO()) == 2
    assert capsys.readouterr().err == "wskit: --keyfile needs --certfile\n"


async def test_wskit_serve_broadcast_with_three_clients_in_a_subprocess() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wskit",
        "serve",
        "--broadcast",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        async with asyncio.timeout(TIMEOUT):
            line = (await process.stdout.readline()).decode()
        uri = line.split(" on ")[1].split(";")[0]
        async with connect(uri) as one, connect(uri) as two, connect(uri) as three:
            await one.send("hi all")
            assert await recv(two) == "hi all"
            assert await recv(three) == "hi all"
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(TIMEOUT):
                assert await process.wait() == 0
        log = (await process.stderr.read()).decode()
        assert log.count(" connected\n") == 3
        assert "server closing" in log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
