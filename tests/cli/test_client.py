"""``wskit connect`` as a pipe tool, its options, its errors and its exit statuses.

The interactive client (on a terminal) is tested in test_interactive.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import IO, cast

import pytest
import websockets.asyncio.server
import websockets.exceptions
import websockets.sync.server

from wskit.asyncio.server import ServerConnection
from wskit.cli.client import interruptible
from wskit.cli.errors import INTERRUPTED
from wskit.http11 import Request, Response

from .support import TIMEOUT, echo, running_client, wskit_server

CERTIFICATE = str(Path(__file__).parents[2] / "examples" / "localhost.pem")


async def test_pipe_echo() -> None:
    async with wskit_server(echo) as uri, running_client(uri, "--linger", "0.1") as client:
        client.driver.type("hi\nthere\n")
        await client.driver.expect("hi\nthere\n")
        client.close_input()
        assert await client.finish() == (0, "hi\nthere\n")
        assert client.stderr.getvalue() == ""


async def test_pipe_against_the_websockets_server() -> None:
    async def websockets_echo(websocket: websockets.asyncio.server.ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with websockets.asyncio.server.serve(websockets_echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with running_client(f"ws://127.0.0.1:{port}") as client:
            client.driver.type("one\r\ntwo\nlast line without newline")
            client.close_input()
            status, output = await client.finish()
    assert (status, output) == (0, "one\ntwo\nlast line without newline\n")


async def test_pipe_sends_each_line_even_empty_ones_and_invalid_utf8() -> None:
    received: list[object] = []

    async def record(websocket: ServerConnection) -> None:
        async for message in websocket:
            received.append(message)

    async with wskit_server(record) as uri, running_client(uri, "--linger", "0") as client:
        os.write(client.driver.write_fd, b"a\n\n\xff\xfeb\n")
        client.close_input()
        assert await client.finish() == (0, "")
    assert received == ["a", "", "\ufffd\ufffdb"]


async def test_received_messages_are_escaped_one_line_each() -> None:
    async def hostile(websocket: ServerConnection) -> None:
        await websocket.send("two\nlines\x1b]0;pwned\x07\x1b[2J")
        await websocket.send(b"\x00\x1b\xff")

    async with wskit_server(hostile) as uri, running_client(uri) as client:
        status, output = await client.finish()
    assert status == 0
    assert output == "two\\nlines\\x1b]0;pwned\\x07\\x1b[2J\n001bff\n"


async def test_linger_waits_for_late_replies_then_closes() -> None:
    async def slow_echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await asyncio.sleep(0.2)
            await websocket.send(message)

    async with wskit_server(slow_echo) as uri, running_client(uri, "--linger", "1.5") as client:
        client.driver.type("late\n")
        client.close_input()
        await client.driver.expect("late\n")
        # The server went quiet: the client closes 1.5 s later, not before.
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await client.status() == 0
        assert loop.time() - start > 1


async def test_linger_zero_closes_at_the_end_of_input() -> None:
    async def never_answer(websocket: ServerConnection) -> None:
        await websocket.wait_closed()

    async with (
        wskit_server(never_answer) as uri,
        running_client(uri, "--linger", "0") as client,
    ):
        client.driver.type("anyone?\n")
        client.close_input()
        assert await client.finish() == (0, "")


async def test_count_closes_after_n_messages() -> None:
    closes: list[int | None] = []

    async def chatty(websocket: ServerConnection) -> None:
        try:
            for number in range(100):
                await websocket.send(str(number))
            await websocket.wait_closed()
        finally:
            closes.append(websocket.close_code)

    async with wskit_server(chatty) as uri, running_client(uri, "--count", "3") as client:
        assert await client.finish() == (0, "0\n1\n2\n")
    assert closes == [1000]


async def test_send_and_count_for_scripts() -> None:
    async with (
        wskit_server(echo) as uri,
        running_client(uri, "--send", "a", "--send", "b c", "--count", "2") as client,
    ):
        # With --send, standard input isn't read: it stays open here.
        assert await client.finish() == (0, "a\nb c\n")


async def test_send_lingers_without_count() -> None:
    async with (
        wskit_server(echo) as uri,
        running_client(uri, "--send", "x", "--linger", "0.2") as client,
    ):
        assert await client.finish() == (0, "x\n")


async def test_json_pipe_compacts_and_skips_invalid_lines() -> None:
    argv = ["--json", "--linger", "0.1"]
    async with wskit_server(echo) as uri, running_client(uri, *argv) as client:
        client.driver.type('{ "a" : [1, 2] }\nnot json\n"\\u001b"\n')
        await client.driver.expect('"\\u001b"\n')
        client.close_input()
        status, output = await client.finish()
    assert status == 0
    assert output == '{"a": [1, 2]}\n"\\u001b"\n'
    assert client.stderr.getvalue() == (
        "wskit: skipped a line, not JSON: Expecting value: line 1 column 1 (char 0)\n"
    )


async def test_binary_pipe_sends_hex_lines_as_bytes() -> None:
    received: list[object] = []

    async def record(websocket: ServerConnection) -> None:
        async for message in websocket:
            received.append(message)
            await websocket.send(message)

    argv = ["--binary", "--linger", "0.1"]
    async with wskit_server(record) as uri, running_client(uri, *argv) as client:
        client.driver.type("68 69 00\nzz\n\n")
        await client.driver.expect("686900\n\n")
        client.close_input()
        status, output = await client.finish()
    assert (status, output) == (0, "686900\n\n")
    assert received == [b"hi\x00", b""]
    assert "skipped a line, not hexadecimal: " in client.stderr.getvalue()


async def test_timestamps() -> None:
    argv = ["--timestamps", "--linger", "0.1"]
    async with wskit_server(echo) as uri, running_client(uri, *argv) as client:
        client.driver.type("tick\n")
        await client.driver.expect("tick\n")
        client.close_input()
        status, output = await client.finish()
    assert status == 0
    assert output[:12].replace(":", "").replace(".", "").isdigit()
    assert output[12:] == " tick\n"


@pytest.mark.parametrize(
    ("code", "reason", "status", "stderr"),
    [
        (1000, "bye", 0, ""),
        (1001, "", 0, ""),
        (
            1011,
            "oops\x1b[2J",
            1,
            "wskit: connection closed: received 1011 (internal error) oops\\x1b[2J",
        ),
        (4000, "custom", 1, "wskit: connection closed: received 4000 (private use) custom"),
    ],
)
async def test_exit_status_when_the_server_closes(
    code: int, reason: str, status: int, stderr: str
) -> None:
    async def close(websocket: ServerConnection) -> None:
        await websocket.close(code, reason)

    async with wskit_server(close) as uri, running_client(uri) as client:
        assert await client.status() == status
    assert client.stderr.getvalue().startswith(stderr)
    if stderr:
        assert client.stderr.getvalue().count("\n") == 1


async def test_exit_status_when_the_connection_is_lost() -> None:
    async def vanish(websocket: ServerConnection) -> None:
        websocket.transport.abort()
        await websocket.wait_closed()

    async with wskit_server(vanish) as uri, running_client(uri) as client:
        assert await client.status() == 1
    assert client.stderr.getvalue() == (
        "wskit: connection closed: no close frame received or sent\n"
    )


async def test_message_too_big_fails_the_connection() -> None:
    async def big(websocket: ServerConnection) -> None:
        await websocket.send("x" * 11)
        await websocket.wait_closed()

    async with wskit_server(big) as uri, running_client(uri, "--max-size", "10") as client:
        assert await client.finish() == (1, "")
    assert "sent 1009 (message too big)" in client.stderr.getvalue()


async def test_handshake_options_reach_the_server() -> None:
    requests: list[Request] = []

    def record(connection: ServerConnection, request: Request) -> None:
        requests.append(request)

    argv = ["-H", "X-Token: secret", "--header", "X-Two:2", "--origin", "https://o.test"]
    argv += ["-s", "chat.v1", "-s", "chat.v2"]
    async with (
        wskit_server(echo, process_request=record, subprotocols=["chat.v2"]) as uri,
        running_client(uri, *argv, "--send", "x", "--count", "1") as client,
    ):
        assert await client.status() == 0
    headers = requests[0].headers
    assert headers["X-Token"] == "secret"
    assert headers["X-Two"] == "2"
    assert headers["Origin"] == "https://o.test"
    assert headers["Sec-WebSocket-Protocol"] == "chat.v1, chat.v2"


async def test_refused_handshake_shows_status_and_body() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "Token expired.\n\x1b[31m")

    async with wskit_server(echo, process_request=refuse) as uri, running_client(uri) as client:
        assert await client.finish() == (4, "")
    assert client.stderr.getvalue() == (
        "wskit: server refused the WebSocket connection: HTTP 403 Forbidden: "
        "Token expired.\\n\\x1b[31m\n"
    )


@pytest.mark.parametrize(
    ("argv", "status", "error"),
    [
        (["http://127.0.0.1/"], 2, "wskit: http://127.0.0.1/ isn't a valid WebSocket URI"),
        (["ws://127.0.0.1:1/", "-H", "no colon"], 2, "wskit: invalid --header 'no colon'"),
        (["ws://127.0.0.1:1/", "-H", "Bad Name: x"], 2, "wskit: invalid --header 'Bad Name: x'"),
        (["ws://127.0.0.1:1/"], 3, "wskit: connection to ws://127.0.0.1:1/ refused"),
        (["wss://127.0.0.1:1/", "--cacert", "/nonexistent"], 2, "wskit: cannot load --cacert"),
    ],
)
async def test_failures_before_connecting(argv: list[str], status: int, error: str) -> None:
    async with running_client(*argv) as client:
        assert await client.finish() == (status, "")
    assert client.stderr.getvalue().startswith(error)
    assert client.stderr.getvalue().count("\n") == 1


async def test_tls() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    async with wskit_server(echo, ssl=context) as address:
        uri = address.replace("127.0.0.1", "localhost")
        async with running_client(uri, "--send", "secret", "--count", "1") as client:
            assert await client.finish() == (3, "")
        assert client.stderr.getvalue().startswith(f"wskit: TLS certificate of {uri} rejected: ")
        assert "--cacert FILE" in client.stderr.getvalue()
        for option in (["--cacert", CERTIFICATE], ["--insecure"]):
            argv = [uri, *option, "--send", "secret", "--count", "1"]
            async with running_client(*argv) as client:
                assert await client.finish() == (0, "secret\n")


async def test_interruptible_returns_130_on_sigint() -> None:
    started = asyncio.Event()

    async def forever() -> int:
        started.set()
        await asyncio.sleep(TIMEOUT)
        return 0

    task = asyncio.create_task(interruptible(forever()))
    await started.wait()
    os.kill(os.getpid(), signal.SIGINT)
    assert await task == INTERRUPTED


async def test_interruptible_lets_other_cancellations_through() -> None:
    task = asyncio.create_task(interruptible(asyncio.sleep(TIMEOUT, 0)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# The real command, in a subprocess, against the websockets package's server.


def websockets_echo(websocket: websockets.sync.server.ServerConnection) -> None:
    for message in websocket:
        websocket.send(message)


@contextmanager
def websockets_server(
    handler: Callable[[websockets.sync.server.ServerConnection], None] = websockets_echo,
) -> Iterator[str]:
    with websockets.sync.server.serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        finally:
            server.shutdown()
            thread.join(TIMEOUT)


def wskit(*argv: str, input: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wskit", *argv],
        input=input,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_echo_hi_pipe_into_wskit() -> None:
    with websockets_server() as uri:
        result = wskit(uri, input="hi\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")


def test_pipe_with_json_from_a_subprocess() -> None:
    with websockets_server() as uri:
        result = wskit(uri, "--json", "--linger", "0.5", input='{"b": 1,\n[1,2]\n')
    assert (result.returncode, result.stdout) == (0, "[1, 2]\n")
    assert result.stderr.startswith("wskit: skipped a line, not JSON: ")


def test_nobody_reading_the_output_closes_normally() -> None:
    closes: list[int | None] = []

    def flood(websocket: websockets.sync.server.ServerConnection) -> None:
        try:
            while True:
                websocket.send("x" * 1000)
        except websockets.exceptions.ConnectionClosed:
            closes.append(websocket.close_code)

    # As in `wskit URI | head -1`.
    with (
        websockets_server(flood) as uri,
        subprocess.Popen(
            [sys.executable, "-m", "wskit", uri],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as process,
    ):
        stdout, stderr = cast(IO[bytes], process.stdout), cast(IO[bytes], process.stderr)
        assert stdout.readline() == b"x" * 1000 + b"\n"
        stdout.close()
        assert process.wait(TIMEOUT) == 0
        assert stderr.read() == b""
    assert closes == [1000]
