"""Tests for wskit.trio.client over real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http
import os
import tempfile
from collections.abc import AsyncGenerator, Generator
from typing import Any

import pytest
import trio
import trio.testing

from tests.proxies import ConnectProxy, Socks5Proxy
from wskit.exceptions import InvalidStatus, InvalidURI, SecurityError
from wskit.http11 import Request, Response
from wskit.trio.client import ClientConnection, connect, unix_connect
from wskit.trio.server import ServerConnection, serve

from .helpers import LOCALHOST, QUIET, client_tls, echo, port_of, server_tls, serving, uri_of


async def round_trip(uri: str, **kwargs: Any) -> None:
    async with connect(uri, **{**QUIET, **kwargs}) as websocket:
        await websocket.send("ping")
        assert await websocket.recv() == "ping"


async def test_headers_of_the_handshake_request() -> None:
    async with (
        serving() as server,
        connect(
            uri_of(server), additional_headers={"X-Test": "1"}, user_agent_header=None
        ) as websocket,
    ):
        assert websocket.request is not None
        assert websocket.request.headers["X-Test"] == "1"
        assert "User-Agent" not in websocket.request.headers


async def test_body_exception_comes_out_unwrapped() -> None:
    async with serving() as server:
        with pytest.raises(KeyError):
            async with connect(uri_of(server)):
                raise KeyError("mine")


async def test_connect_is_not_reentrant() -> None:
    async with serving() as server:
        connecting = connect(uri_of(server))
        async with connecting:
            with pytest.raises(RuntimeError, match="reentrant"):
                async with connecting:
                    pass


async def test_refusal_raises_invalid_status() -> None:
    def forbid(websocket: ServerConnection, request: Request) -> Response:
        return websocket.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    async with serving(process_request=forbid) as server:
        with pytest.raises(InvalidStatus) as raised:
            await round_trip(uri_of(server))
        assert raised.value.response.status_code == 403


def redirecting(target: str) -> Any:
    def process_request(websocket: ServerConnection, request: Request) -> Response | None:
        if request.path == "/old":
            response = websocket.respond(http.HTTPStatus.FOUND, "moved\n")
            response.headers["Location"] = target
            return response
        return None

    return process_request


async def test_redirects_are_followed() -> None:
    async with (
        serving(process_request=redirecting("/new")) as server,
        connect(uri_of(server) + "old", **QUIET) as websocket,
    ):
        assert websocket.request is not None
        assert websocket.request.path == "/new"


async def test_redirect_loops_and_downgrades_are_refused() -> None:
    async with serving(process_request=redirecting("/old")) as server:
        with pytest.raises(SecurityError, match="redirect"):
            await round_trip(uri_of(server) + "old")
    async with serving(ssl=server_tls(), process_request=redirecting("ws://localhost/")) as server:
        with pytest.raises(SecurityError, match="non-secure"):
            await round_trip(
                f"wss://localhost:{port_of(server)}/old", ssl=client_tls(), host=LOCALHOST
            )


async def test_open_timeout_against_a_silent_server() -> None:
    listeners = await trio.open_tcp_listeners(0, host=LOCALHOST)
    port = listeners[0].socket.getsockname()[1]
    with pytest.raises(TimeoutError, match="opening handshake"):
        await round_trip(f"ws://{LOCALHOST}:{port}/", open_timeout=0.1)
    await listeners[0].aclose()


async def test_invalid_arguments() -> None:
    with pytest.raises(InvalidURI):
        connect("http://localhost/")
    with pytest.raises(ValueError, match="ssl"):
        connect("ws://localhost/", ssl=client_tls())
    with pytest.raises(ValueError, match="compression"):
        connect("ws://localhost/", compression="zstd")


async def test_given_stream() -> None:
    async with serving() as server:
        stream = await trio.open_tcp_stream(LOCALHOST, port_of(server))
        await round_trip("ws://example.invalid/", stream=stream)


async def test_unix_socket() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "socket")
        sock = trio.socket.socket(trio.socket.AF_UNIX)
        await sock.bind(path)
        sock.listen()
        listener = trio.SocketListener(sock)
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve(
                    echo, listeners=[listener], task_status=task_status, **QUIET
                )
            )
            async with server:
                await round_trip_unix(path)


async def round_trip_unix(path: str) -> None:
    async with unix_connect(path, **QUIET) as websocket:
        assert websocket.request is not None
        assert websocket.request.headers["Host"] == "localhost"
        await websocket.send("over a Unix socket")
        assert await websocket.recv() == "over a Unix socket"


async def test_reconnection_retries_transient_failures() -> None:
    attempts = 0

    def flaky(websocket: ServerConnection, request: Request) -> Response | None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            return websocket.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "later\n")
        return None

    def no_delays() -> Generator[float]:
        while True:
            yield 0

    async with serving(process_request=flaky) as server:
        connections = 0
        # aclosing(): leaving the loop closes the generator here, in this task,
        # which owns the nursery of the connection's tasks.
        iterator = connect(uri_of(server), reconnect_delays=no_delays, **QUIET).__aiter__()
        async with contextlib.aclosing(iterator) as websockets:
            async for websocket in websockets:
                connections += 1
                await websocket.send("made it")
                assert await websocket.recv() == "made it"
                if connections == 2:
                    break
        assert attempts == 4
        assert websocket.close_code == 1000


async def test_reconnection_stops_on_fatal_failures() -> None:
    def forbid(websocket: ServerConnection, request: Request) -> Response:
        return websocket.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    async with serving(process_request=forbid) as server:
        iterator = connect(uri_of(server), **QUIET).__aiter__()
        with pytest.raises(InvalidStatus):
            await first_of(iterator)


async def first_of(iterator: AsyncGenerator[ClientConnection]) -> ClientConnection:
    async with contextlib.aclosing(iterator) as websockets:
        async for websocket in websockets:
            return websocket
    raise AssertionError("the loop ended")


@pytest.mark.parametrize("proxy_class", [ConnectProxy, Socks5Proxy])
async def test_through_a_proxy(proxy_class: Any) -> None:
    async with serving() as server:
        with proxy_class(hosts={"wskit.test": LOCALHOST}) as proxy:
            await round_trip(f"ws://wskit.test:{port_of(server)}/", proxy=proxy.url())
            assert proxy.targets[-1][1] == port_of(server)


async def test_through_an_https_proxy_to_a_tls_server() -> None:
    async with serving(ssl=server_tls()) as server:
        with ConnectProxy(tls=server_tls()) as proxy:
            await round_trip(
                f"wss://localhost:{port_of(server)}/",
                proxy=proxy.url(),
                proxy_ssl=client_tls(),
                ssl=client_tls(),
            )


async def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving() as server:
        with ConnectProxy() as proxy:
            monkeypatch.setenv("https_proxy", proxy.url())
            monkeypatch.setenv("http_proxy", proxy.url())
            await round_trip(uri_of(server), proxy=True)
            assert proxy.targets


async def test_proxy_refusal_is_raised() -> None:
    async with serving() as server:
        with (
            ConnectProxy(auth=("alice", "s3cret")) as proxy,
            pytest.raises(Exception, match="407"),
        ):
            await round_trip(uri_of(server), proxy=proxy.url(user_info="alice:wrong"))


async def test_keepalive_runs_on_client_connections() -> None:
    async with (
        serving() as server,
        connect(uri_of(server), ping_interval=0.01, ping_timeout=5) as websocket,
    ):
        while websocket.latency == 0:
            await trio.sleep(0.01)
