"""Tests for wskit.reconnect: backoff delays, transient and fatal failures, Retry."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Generator

import pytest

import wskit.client
from wskit.datastructures import Headers
from wskit.exceptions import (
    InvalidHandshake,
    InvalidMessage,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidStatus,
    InvalidURI,
    ProxyError,
    SecurityError,
)
from wskit.http11 import Response
from wskit.reconnect import Retry, backoff, process_exception


def first(delays: Generator[float, None, None], count: int) -> list[float]:
    return list(itertools.islice(delays, count))


def caused(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


def response(status: int) -> Response:
    return Response(status, "", Headers())


def fixed(*delays: float) -> Generator[float, None, None]:
    yield from delays


# backoff


def test_backoff_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("random.random", lambda: 0.5)
    delays = first(backoff(environ={}), 12)
    assert delays[0] == 2.5
    assert delays[1] == 3.1
    assert delays[2] == pytest.approx(3.1 * 1.618)
    assert delays[3] == pytest.approx(3.1 * 1.618**2)
    # 3.1 * 1.618 ** 7 is just under 90; the next one would exceed it.
    assert delays[8] == pytest.approx(3.1 * 1.618**7)
    assert delays[9:] == [90.0, 90.0, 90.0]


def test_backoff_first_delay_is_random() -> None:
    assert len({next(backoff(environ={})) for _ in range(20)}) > 1
    assert all(0 <= next(backoff(environ={})) <= 5 for _ in range(20))


def test_backoff_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("random.random", lambda: 1.0)
    assert first(backoff(1, 2, 10, 2, environ={}), 6) == [1, 2, 4, 8, 10, 10]


def test_backoff_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("random.random", lambda: 1.0)
    environ = {
        "WSKIT_BACKOFF_INITIAL_DELAY": "0.01",
        "WSKIT_BACKOFF_MIN_DELAY": "0.02",
        "WSKIT_BACKOFF_MAX_DELAY": "0.05",
        "WSKIT_BACKOFF_FACTOR": "2",
    }
    assert first(backoff(environ=environ), 5) == [0.01, 0.02, 0.04, 0.05, 0.05]
    # Arguments win over the environment.
    assert first(backoff(0.5, environ=environ), 2) == [0.5, 0.02]


def test_backoff_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSKIT_BACKOFF_MAX_DELAY", "0")
    monkeypatch.setenv("WSKIT_BACKOFF_INITIAL_DELAY", "0")
    assert first(backoff(), 3) == [0, 0, 0]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WSKIT_BACKOFF_INITIAL_DELAY", "soon", "must be a number"),
        ("WSKIT_BACKOFF_MIN_DELAY", "-1", "must be at least 0"),
        ("WSKIT_BACKOFF_MAX_DELAY", "nan", "must be at least 0"),
        ("WSKIT_BACKOFF_FACTOR", "0.5", "must be at least 1"),
    ],
)
def test_backoff_invalid_environment(name: str, value: str, message: str) -> None:
    # Raised at once, not at the first failure.
    with pytest.raises(ValueError, match=f"{name} {message}"):
        backoff(environ={name: value})


# process_exception


@pytest.mark.parametrize(
    "exc",
    [
        OSError("network down"),
        ConnectionRefusedError(),
        ConnectionResetError(),
        TimeoutError("timed out during the opening handshake"),
        caused(InvalidMessage("connection closed during the opening handshake"), EOFError()),
        InvalidStatus(response(500)),
        InvalidStatus(response(502)),
        InvalidStatus(response(503)),
        InvalidStatus(response(504)),
        InvalidProxyStatus(response(502)),
        InvalidProxyStatus(response(503)),
        caused(InvalidProxyMessage("proxy closed the connection"), EOFError()),
        caused(ProxyError("SOCKS proxy failed to connect: connection refused"), OSError()),
    ],
)
def test_transient(exc: Exception) -> None:
    assert process_exception(exc) is None


@pytest.mark.parametrize(
    "exc",
    [
        InvalidURI("http://x", "scheme isn't ws or wss"),
        InvalidProxy("ftp://x", "scheme"),
        InvalidStatus(response(400)),
        InvalidStatus(response(401)),
        InvalidStatus(response(403)),
        InvalidStatus(response(404)),
        InvalidStatus(response(501)),
        InvalidStatus(response(302)),
        InvalidProxyStatus(response(407)),
        InvalidMessage("invalid status line"),
        caused(InvalidMessage("bad"), ValueError()),
        InvalidProxyMessage("invalid HTTP response from proxy"),
        ProxyError("SOCKS proxy rejected the user name or password"),
        caused(InvalidHandshake("other"), OSError()),
        SecurityError("more than 10 redirects"),
        ValueError("cannot follow redirect"),
        RuntimeError("bug"),
    ],
)
def test_fatal(exc: Exception) -> None:
    assert process_exception(exc) is exc


# Retry


def test_retry_uses_delays_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    retry = Retry(process_exception, lambda: fixed(0.5, 1.0, 2.0))
    with caplog.at_level(logging.INFO, logger="wskit.client"):
        assert retry.failed(ConnectionRefusedError("refused")) == 0.5
        assert retry.failed(OSError("down")) == 1.0
    assert caplog.messages == [
        "connection attempt failed (ConnectionRefusedError: refused); retrying in 0.5 seconds",
        "connection attempt failed (OSError: down); retrying in 1 seconds",
    ]


def test_retry_starts_over_after_a_success() -> None:
    starts: list[int] = []

    def delays() -> Generator[float, None, None]:
        starts.append(1)
        yield from itertools.count(1)

    retry = Retry(process_exception, delays)
    assert [retry.failed(OSError()) for _ in range(3)] == [1, 2, 3]
    retry.succeeded()
    assert retry.failed(OSError()) == 1
    assert len(starts) == 2


def test_retry_raises_fatal_errors() -> None:
    retry = Retry(process_exception, backoff)
    exc = InvalidStatus(response(403))
    with pytest.raises(InvalidStatus) as raised:
        retry.failed(exc)
    assert raised.value is exc
    assert retry.delays is None


def test_retry_raises_what_process_exception_returns() -> None:
    replacement = RuntimeError("give up")
    retry = Retry(lambda exc: replacement, backoff, logging.getLogger("test"))
    original = OSError()
    with pytest.raises(RuntimeError) as raised:
        retry.failed(original)
    assert raised.value is replacement
    assert raised.value.__cause__ is original


def test_retry_custom_process_exception() -> None:
    retry = Retry(lambda exc: None, lambda: fixed(0.0))
    assert retry.failed(InvalidStatus(response(403))) == 0.0


def test_policy_is_in_wskit_client_too() -> None:
    # Where websockets.client has it.
    assert wskit.client.process_exception is process_exception
    assert wskit.client.backoff is backoff
