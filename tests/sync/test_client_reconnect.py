"""Tests for ``for websocket in reconnect(...)`` in wskit.sync.client, over real sockets."""

from __future__ import annotations

import logging
import pathlib
import socket
import tempfile
import threading
from collections.abc import Callable, Generator
from typing import Any, cast

import pytest

from wskit.exceptions import ConnectionClosed, InvalidStatus
from wskit.http11 import Request, Response
from wskit.reconnect import backoff
from wskit.sync.client import process_exception, reconnect, unix_reconnect
from wskit.sync.server import ServerConnection, serve, unix_serve

from .support import LOCALHOST, WAIT, port_of, running, serving, until


def tiny_delays() -> Generator[float, None, None]:
    return backoff(0.001, 0.005, 0.02, 2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return cast(int, sock.getsockname()[1])


def greet(ws: ServerConnection) -> None:
    ws.send("hello")
    ws.wait_closed(WAIT)


class Attempts:
    """A process_exception that records the failures it judges."""

    def __init__(self, judge: Callable[[Exception], Exception | None] = process_exception) -> None:
        self.judge = judge
        self.failures: list[Exception] = []

    def __call__(self, exc: Exception) -> Exception | None:
        self.failures.append(exc)
        return self.judge(exc)


def statuses(*codes: int) -> Callable[[ServerConnection, Request], Response | None]:
    remaining = list(codes)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        return connection.respond(remaining.pop(0), "not now\n") if remaining else None

    return process_request


def first_message(uri: str, **kwargs: Any) -> str:
    for ws in reconnect(uri, close_timeout=1, **kwargs):
        return cast(str, ws.recv(WAIT))
    raise AssertionError("unreachable")


def test_reconnects_across_a_server_restart() -> None:
    attempts = Attempts()
    greetings: list[str] = []
    errors: list[BaseException] = []
    with serve(greet, LOCALHOST, 0) as first_server, running(first_server):
        port = port_of(first_server)

        def client() -> None:
            try:
                for ws in reconnect(
                    f"ws://{LOCALHOST}:{port}/",
                    process_exception=attempts,
                    reconnect_delays=tiny_delays,
                    close_timeout=1,
                ):
                    greetings.append(cast(str, ws.recv(WAIT)))
                    if len(greetings) == 2:
                        break
                    try:
                        ws.recv(WAIT)  # until the server goes away
                    except ConnectionClosed:
                        continue
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        thread = threading.Thread(target=client)
        thread.start()
        until(lambda: bool(greetings))
    # The server is gone: attempts fail until it's back on the same port.
    until(lambda: len(attempts.failures) >= 2)
    with serve(greet, LOCALHOST, port) as second_server, running(second_server):
        thread.join(WAIT)
    assert not thread.is_alive()
    assert errors == []
    assert greetings == ["hello", "hello"]
    assert all(isinstance(exc, ConnectionRefusedError) for exc in attempts.failures)


def test_retries_a_refused_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSKIT_BACKOFF_INITIAL_DELAY", "0.001")
    monkeypatch.setenv("WSKIT_BACKOFF_MIN_DELAY", "0.002")
    monkeypatch.setenv("WSKIT_BACKOFF_MAX_DELAY", "0.01")
    port = free_port()
    attempts = Attempts()
    result: list[str] = []
    thread = threading.Thread(
        target=lambda: result.append(
            first_message(f"ws://{LOCALHOST}:{port}/", process_exception=attempts)
        )
    )
    thread.start()
    until(lambda: len(attempts.failures) >= 3)
    with serve(greet, LOCALHOST, port) as server, running(server):
        thread.join(WAIT)
    assert result == ["hello"]


def test_gives_up_on_403() -> None:
    attempts = Attempts()
    with serving(greet, process_request=statuses(403)) as server:
        uri = f"ws://{LOCALHOST}:{port_of(server)}/"
        with pytest.raises(InvalidStatus, match="HTTP 403"):
            first_message(uri, process_exception=attempts, reconnect_delays=tiny_delays)
    assert len(attempts.failures) == 1


def test_retries_on_503(caplog: pytest.LogCaptureFixture) -> None:
    attempts = Attempts()
    with (
        caplog.at_level(logging.INFO, logger="wskit.client"),
        serving(greet, process_request=statuses(503, 503)) as server,
    ):
        uri = f"ws://{LOCALHOST}:{port_of(server)}/"
        assert first_message(uri, process_exception=attempts, reconnect_delays=tiny_delays)
    assert len(attempts.failures) == 2
    assert len(caplog.records) == 2
    assert caplog.messages[0].startswith("connection attempt failed (InvalidStatus: ")


def test_each_iteration_gets_a_new_connection() -> None:
    server_sides: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        server_sides.append(ws)
        ws.wait_closed(WAIT)

    with serving(handler) as server:
        seen = []
        for ws in reconnect(f"ws://{LOCALHOST}:{port_of(server)}/", close_timeout=1):
            seen.append(ws)
            if len(seen) == 3:
                break
        until(lambda: len(server_sides) == 3)
        for connection in server_sides:
            connection.wait_closed(WAIT)
    assert len({id(ws) for ws in seen}) == 3
    assert [connection.close_code for connection in server_sides] == [1000, 1000, 1000]


def test_an_exception_in_the_body_ends_the_loop() -> None:
    iterations = 0

    def fail(uri: str) -> None:
        nonlocal iterations
        for _ in reconnect(uri, close_timeout=1):
            iterations += 1
            raise ZeroDivisionError

    with serving(greet) as server, pytest.raises(ZeroDivisionError):
        fail(f"ws://{LOCALHOST}:{port_of(server)}/")
    assert iterations == 1


def test_process_exception_replaces_the_exception() -> None:
    def give_up(exc: Exception) -> Exception | None:
        return RuntimeError("giving up")

    with pytest.raises(RuntimeError, match="giving up") as raised:
        first_message(f"ws://{LOCALHOST}:{free_port()}/", process_exception=give_up)
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


def test_context_manager_connects_once() -> None:
    with serving(greet) as server:
        with reconnect(f"ws://{LOCALHOST}:{port_of(server)}/", close_timeout=1) as ws:
            assert ws.recv(WAIT) == "hello"
        with pytest.raises(ConnectionRefusedError), reconnect(f"ws://{LOCALHOST}:{free_port()}/"):
            pass


def test_unix_reconnect() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = str(pathlib.Path(directory) / "ws.sock")
        with unix_serve(greet, path) as server, running(server):
            for ws in unix_reconnect(path, close_timeout=1):
                assert ws.recv(WAIT) == "hello"
                break
            for ws in unix_reconnect(path, "ws://localhost/chat", close_timeout=1):
                assert ws.request is not None
                assert ws.request.path == "/chat"
                break
