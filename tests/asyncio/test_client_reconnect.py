"""Tests for ``async for websocket in connect(...)``: reconnecting over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, cast

import pytest

from wskit.asyncio.client import connect, process_exception
from wskit.asyncio.server import Server, ServerConnection, serve
from wskit.exceptions import ConnectionClosed, InvalidStatus
from wskit.http11 import Request, Response
from wskit.reconnect import backoff

LOCALHOST = "127.0.0.1"

# Bounds every wait.
WAIT = 5


def tiny_delays() -> Generator[float, None, None]:
    return backoff(0.001, 0.005, 0.02, 2)


def no_delay() -> Generator[float, None, None]:
    yield 0.0


async def first_message(uri: str, **kwargs: Any) -> str:
    """Iterate over connect() until a connection opens; return its first message."""
    async for ws in connect(uri, close_timeout=1, **kwargs):
        return cast(str, await ws.recv())
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return cast(int, sock.getsockname()[1])


def port_of(server: Server) -> int:
    return cast(int, server.sockets[0].getsockname()[1])


async def greet(ws: ServerConnection) -> None:
    await ws.send("hello")
    await ws.wait_closed()


class Attempts:
    """A process_exception that records the failures it judges."""

    def __init__(self, judge: Callable[[Exception], Exception | None] = process_exception) -> None:
        self.judge = judge
        self.failures: list[Exception] = []

    def __call__(self, exc: Exception) -> Exception | None:
        self.failures.append(exc)
        return self.judge(exc)

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.failures) < count:
                await asyncio.sleep(0.005)


def statuses(*codes: int) -> Callable[[ServerConnection, Request], Response | None]:
    """A process_request that answers these statuses in turn, then accepts."""
    remaining = list(codes)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if not remaining:
            return None
        return connection.respond(remaining.pop(0), "not now\n")

    return process_request


@contextlib.asynccontextmanager
async def serving(port: int = 0, **kwargs: Any) -> AsyncIterator[Server]:
    async with serve(greet, LOCALHOST, port, **kwargs) as server:
        yield server


async def test_reconnects_across_a_server_restart() -> None:
    attempts = Attempts()
    greetings: list[str] = []
    async with serving() as server:
        port = port_of(server)
        uri = f"ws://{LOCALHOST}:{port}/"

        async def client() -> None:
            async for ws in connect(
                uri, process_exception=attempts, reconnect_delays=tiny_delays, close_timeout=1
            ):
                greetings.append(cast(str, await ws.recv()))
                if len(greetings) == 2:
                    break
                with contextlib.suppress(ConnectionClosed):
                    await ws.recv()  # until the server goes away

        task = asyncio.create_task(client())
        async with asyncio.timeout(WAIT):
            while not greetings:
                await asyncio.sleep(0.005)
    # The server is gone: attempts fail until it's back on the same port.
    await attempts.wait_for(2)
    assert all(isinstance(exc, ConnectionRefusedError) for exc in attempts.failures)
    async with serving(port):
        async with asyncio.timeout(WAIT):
            await task
    assert greetings == ["hello", "hello"]


async def test_retries_a_refused_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The delays come from the environment variables.
    monkeypatch.setenv("WSKIT_BACKOFF_INITIAL_DELAY", "0.001")
    monkeypatch.setenv("WSKIT_BACKOFF_MIN_DELAY", "0.002")
    monkeypatch.setenv("WSKIT_BACKOFF_MAX_DELAY", "0.01")
    port = free_port()
    attempts = Attempts()

    async def client() -> str:
        async for ws in connect(f"ws://{LOCALHOST}:{port}/", process_exception=attempts):
            return cast(str, await ws.recv())
        raise AssertionError("unreachable")

    task = asyncio.create_task(client())
    await attempts.wait_for(3)
    async with serving(port):
        async with asyncio.timeout(WAIT):
            assert await task == "hello"


async def test_gives_up_on_403() -> None:
    attempts = Attempts()
    async with serving(process_request=statuses(403)) as server:
        uri = f"ws://{LOCALHOST}:{port_of(server)}/"
        with pytest.raises(InvalidStatus, match="HTTP 403"):
            await first_message(uri, process_exception=attempts, reconnect_delays=tiny_delays)
    assert len(attempts.failures) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_retries_on_server_errors(status: int) -> None:
    attempts = Attempts()
    async with serving(process_request=statuses(status, status)) as server:
        async for ws in connect(
            f"ws://{LOCALHOST}:{port_of(server)}/",
            process_exception=attempts,
            reconnect_delays=tiny_delays,
        ):
            assert await ws.recv() == "hello"
            break
    assert [cast(InvalidStatus, exc).response.status_code for exc in attempts.failures] == [
        status,
        status,
    ]


async def test_retries_a_handshake_timeout() -> None:
    attempts = Attempts()
    release = asyncio.Event()
    stalled: list[Request] = []

    async def process_request(connection: ServerConnection, request: Request) -> None:
        if not stalled:  # the first handshake stalls until the test ends
            stalled.append(request)
            async with asyncio.timeout(WAIT):
                await release.wait()

    async with serving(process_request=process_request) as server:
        async for ws in connect(
            f"ws://{LOCALHOST}:{port_of(server)}/",
            process_exception=attempts,
            reconnect_delays=tiny_delays,
            open_timeout=0.2,
        ):
            assert await ws.recv() == "hello"
            break
        release.set()
    assert [type(exc) for exc in attempts.failures] == [TimeoutError]


async def test_custom_process_exception() -> None:
    def retry_403(exc: Exception) -> Exception | None:
        if isinstance(exc, InvalidStatus) and exc.response.status_code == 403:
            return None
        return process_exception(exc)

    async with serving(process_request=statuses(403, 403)) as server:
        async for ws in connect(
            f"ws://{LOCALHOST}:{port_of(server)}/",
            process_exception=retry_403,
            reconnect_delays=tiny_delays,
        ):
            assert await ws.recv() == "hello"
            break


async def test_process_exception_replaces_the_exception() -> None:
    def give_up(exc: Exception) -> Exception | None:
        return RuntimeError("giving up")

    with pytest.raises(RuntimeError, match="giving up") as raised:
        await first_message(f"ws://{LOCALHOST}:{free_port()}/", process_exception=give_up)
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


async def test_fatal_errors_raise_at_once() -> None:
    with pytest.raises(ValueError, match="unsupported compression"):
        await first_message("ws://127.0.0.1:1/", compression="zip")


async def test_logs_retries(caplog: pytest.LogCaptureFixture) -> None:
    attempts = Attempts()
    with caplog.at_level(logging.INFO, logger="wskit.client"):
        async with serving(process_request=statuses(http.HTTPStatus.SERVICE_UNAVAILABLE)) as server:
            async for _ in connect(
                f"ws://{LOCALHOST}:{port_of(server)}/",
                process_exception=attempts,
                reconnect_delays=no_delay,
            ):
                break
    assert caplog.messages == [
        "connection attempt failed (InvalidStatus: server rejected WebSocket connection: "
        "HTTP 503); retrying in 0 seconds"
    ]


async def test_each_iteration_gets_a_new_connection() -> None:
    server_sides: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        server_sides.append(ws)
        await ws.wait_closed()

    async with serve(handler, LOCALHOST, 0) as server:
        seen = []
        async for ws in connect(
            f"ws://{LOCALHOST}:{port_of(server)}/", reconnect_delays=tiny_delays, close_timeout=1
        ):
            seen.append(ws)
            if len(seen) == 3:
                break
            # Leaving the iteration closes the connection normally.
        async with asyncio.timeout(WAIT):
            for connection in server_sides:
                await connection.wait_closed()
    assert len({id(ws) for ws in seen}) == 3
    assert [connection.close_code for connection in server_sides] == [1000, 1000, 1000]


async def test_an_exception_in_the_body_ends_the_loop() -> None:
    iterations = 0

    async def fail() -> None:
        nonlocal iterations
        async for _ in connect(f"ws://{LOCALHOST}:{port_of(server)}/", close_timeout=1):
            iterations += 1
            raise ZeroDivisionError

    async with serving() as server:
        with pytest.raises(ZeroDivisionError):
            await fail()
    assert iterations == 1


async def test_reconnects_to_the_first_uri_after_a_redirect() -> None:
    # A redirect may be temporary: a new attempt starts from the first URI.
    requests: list[str] = []

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        requests.append(request.path)
        if request.path == "/start":
            response = connection.respond(http.HTTPStatus.FOUND, "")
            response.headers["Location"] = "/landing"
            return response
        return None

    async with serving(process_request=process_request) as server:
        count = 0
        async for ws in connect(
            f"ws://{LOCALHOST}:{port_of(server)}/start", reconnect_delays=tiny_delays
        ):
            assert await ws.recv() == "hello"
            count += 1
            if count == 2:
                break
    assert requests == ["/start", "/landing", "/start", "/landing"]
