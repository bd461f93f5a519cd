"""``wskit connect --proxy`` and ``--reconnect``."""

from __future__ import annotations

import asyncio
import socket
from http import HTTPStatus

import pytest

from wskit.asyncio.server import ServerConnection, serve
from wskit.http11 import Request, Response

from ..proxies import ConnectProxy, Socks5Proxy
from .support import TIMEOUT, echo, running_client, wskit_server


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make reconnection attempts follow each other quickly."""
    for name, value in [("INITIAL", "0.05"), ("MIN", "0.05"), ("MAX", "0.1")]:
        monkeypatch.setenv(f"WSKIT_BACKOFF_{name}_DELAY", value)


@pytest.mark.parametrize("proxy_class", [ConnectProxy, Socks5Proxy])
async def test_proxy(proxy_class: type[ConnectProxy | Socks5Proxy]) -> None:
    async with wskit_server(echo) as uri:
        port = int(uri.split(":")[2].rstrip("/"))
        with proxy_class() as proxy:
            argv = [uri, "--proxy", proxy.url(), "--send", "tunnelled", "--count", "1"]
            async with running_client(*argv) as client:
                assert await client.finish() == (0, "tunnelled\n")
        assert proxy.targets == [("127.0.0.1", port)]


async def test_proxy_from_the_environment_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    async with wskit_server(echo) as uri:
        with ConnectProxy() as proxy:
            monkeypatch.setenv("all_proxy", proxy.url())
            argv = [uri, "--send", "x", "--count", "1"]
            async with running_client(*argv) as client:
                assert await client.finish() == (0, "x\n")
            assert len(proxy.targets) == 1
            async with running_client(*argv, "--proxy", "none") as client:
                assert await client.finish() == (0, "x\n")
            assert len(proxy.targets) == 1  # not through the proxy this time


async def test_proxy_refusal_is_a_network_failure() -> None:
    with ConnectProxy(status=403) as proxy:
        async with running_client("ws://127.0.0.1:1/", "--proxy", proxy.url()) as client:
            assert await client.finish() == (3, "")
    assert client.stderr.getvalue() == (
        "wskit: proxy failed to reach ws://127.0.0.1:1/: proxy rejected connection: HTTP 403\n"
    )


async def test_invalid_proxy_is_a_usage_error() -> None:
    async with running_client("ws://127.0.0.1:1/", "--proxy", "ftp://proxy.test") as client:
        assert await client.finish() == (2, "")
    assert client.stderr.getvalue().startswith("wskit: ftp://proxy.test isn't a valid proxy: ")


class Restarting:
    """A server handler that closes each connection after ``per_connection`` echoes."""

    def __init__(self, per_connection: int) -> None:
        self.per_connection = per_connection
        self.connections = 0

    async def handler(self, websocket: ServerConnection) -> None:
        self.connections += 1
        for _ in range(self.per_connection):
            await websocket.send(await websocket.recv())
        await websocket.close(1001, "restarting")


@pytest.mark.usefixtures("fast_backoff")
async def test_reconnect_after_the_server_closes() -> None:
    server = Restarting(per_connection=1)
    async with (
        wskit_server(server.handler) as uri,
        running_client(uri, "--reconnect", "--linger", "0.1") as client,
    ):
        for number, line in enumerate(["one", "two", "three"], 1):
            # A line sent while the server is closing the connection would be
            # lost: wait until the client is connected again.
            async with asyncio.timeout(TIMEOUT):
                while server.connections < number:
                    await asyncio.sleep(0.01)
            client.driver.type(f"{line}\n")
            await client.driver.expect(f"{line}\n")
        client.close_input()
        assert await client.finish() == (0, "one\ntwo\nthree\n")
    # After the third message, the server closes once more: the client may
    # connect again before it sees the end of its input.
    assert server.connections in (3, 4)
    # Each closure is reported, then the client connects again.
    reconnections = client.stderr.getvalue().count("; reconnecting (Ctrl-C quits)\n")
    assert reconnections == server.connections - 1


@pytest.mark.usefixtures("fast_backoff")
async def test_reconnect_waits_for_the_server_to_come_up() -> None:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
    uri = f"ws://127.0.0.1:{port}/"
    argv = [uri, "--reconnect", "--send", "hello", "--count", "1"]
    async with running_client(*argv) as client:
        await asyncio.sleep(0.3)  # a few refused attempts
        assert not client.task.done()
        async with serve(echo, "127.0.0.1", port):
            assert await client.finish() == (0, "hello\n")


@pytest.mark.usefixtures("fast_backoff")
async def test_count_spans_reconnections() -> None:
    async def two_then_close(websocket: ServerConnection) -> None:
        await websocket.send("a")
        await websocket.send("b")
        await websocket.close(1001)

    async with (
        wskit_server(two_then_close) as uri,
        running_client(uri, "--reconnect", "--count", "3") as client,
    ):
        assert await client.finish() == (0, "a\nb\na\n")


@pytest.mark.usefixtures("fast_backoff")
async def test_reconnect_gives_up_on_a_refusal() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "No.\n")

    async with (
        wskit_server(echo, process_request=refuse) as uri,
        running_client(uri, "--reconnect") as client,
    ):
        assert await client.finish() == (4, "")
    assert client.stderr.getvalue() == (
        "wskit: server refused the WebSocket connection: HTTP 403 Forbidden: No.\n"
    )


@pytest.mark.usefixtures("fast_backoff")
async def test_reconnect_on_a_terminal() -> None:
    server = Restarting(per_connection=1)
    async with (
        wskit_server(server.handler) as uri,
        running_client(uri, "--reconnect", tty=True) as client,
    ):
        driver = client.driver
        await driver.expect(f"* connected to {uri}; /help lists the commands; Ctrl-D closes")
        driver.type("ping me\r")
        await driver.expect("< ping me")
        await driver.expect(
            "* connection closed: received 1001 (going away) restarting; "
            "then sent 1001 (going away) restarting; reconnecting (Ctrl-C quits)"
        )
        await driver.expect(f"* reconnected to {uri}")
        driver.type("again\r")
        await driver.expect("< again")
        await driver.expect("reconnected")
        driver.type("\x04")
        async with asyncio.timeout(TIMEOUT):
            assert await client.status() == 0
