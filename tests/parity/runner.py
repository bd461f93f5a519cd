"""Run one scenario on wskit and on websockets 17.4, and compare what a program sees.

A scenario is a function of a :class:`Lib`, which imports a module of either
package by its path (``lib.mod("asyncio.client")``), so that the same code
runs on both. It returns an observation built from plain values: what
:func:`outcome` and :func:`warned` report, status and close codes, reasons.
``async def`` scenarios run in a fresh event loop, bounded in time.

:func:`same` asserts that both packages give the same observation;
:func:`differs` asserts a deliberate difference, each side's observation
spelled out, with the reason in the test that calls it.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import socket
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeAlias

from websockets.version import version as websockets_version

# The parity tests compare with this version exactly (the test extra pins it).
REFERENCE_VERSION = "17.4"

# No scenario may hang the suite.
SCENARIO_TIMEOUT = 20

Scenario: TypeAlias = "Callable[[Lib], Any] | Callable[[Lib], Awaitable[Any]]"


@dataclass(frozen=True)
class Lib:
    """One of the two packages, as a scenario sees it."""

    name: str

    def mod(self, path: str) -> ModuleType:
        """Import ``<package>.<path>``: ``lib.mod("sync.server")``."""
        return importlib.import_module(f"{self.name}.{path}")

    def __repr__(self) -> str:
        return self.name


WEBSOCKETS = Lib("websockets")
WSKIT = Lib("wskit")


def run(scenario: Scenario, lib: Lib) -> Any:
    """Run ``scenario`` on ``lib`` and return its observation."""
    if inspect.iscoroutinefunction(scenario):

        async def bounded() -> Any:
            async with asyncio.timeout(SCENARIO_TIMEOUT):
                return await scenario(lib)

        return asyncio.run(bounded())
    return scenario(lib)


def same(scenario: Scenario) -> Any:
    """Assert that a program sees the same on both packages; return what it sees."""
    assert websockets_version == REFERENCE_VERSION, websockets_version
    reference = run(scenario, WEBSOCKETS)
    observed = run(scenario, WSKIT)
    assert observed == reference, f"wskit: {observed!r}\nwebsockets: {reference!r}"
    return observed


def differs(scenario: Scenario, *, websockets: Any, wskit: Any) -> None:
    """Assert a deliberate difference: what each package shows, spelled out."""
    assert run(scenario, WEBSOCKETS) == websockets
    assert run(scenario, WSKIT) == wskit
    assert websockets != wskit


def name_of(exc: BaseException | None) -> str | None:
    """The name of an exception's type: the classes differ, the names match."""
    return None if exc is None else type(exc).__name__


def outcome(call: Callable[[], Any]) -> tuple[str, ...]:
    """What calling ``call`` does: ``("ok",)`` or the exception and its cause."""
    try:
        call()
    except Exception as exc:
        return ("raised", *exception_chain(exc))
    return ("ok",)


async def async_outcome(call: Callable[[], Awaitable[Any]]) -> tuple[str, ...]:
    """Like :func:`outcome`, for a coroutine function."""
    try:
        await call()
    except Exception as exc:
        return ("raised", *exception_chain(exc))
    return ("ok",)


def exception_chain(exc: BaseException) -> tuple[str, ...]:
    """Names of the exception's type and of its cause's type, if it has one.

    Causes of causes are details of each parser (websockets chains EOFError
    to EOFError): a program looks at the exception and its cause.
    """
    if exc.__cause__ is None:
        return (type(exc).__name__,)
    return type(exc).__name__, type(exc.__cause__).__name__


def warned(call: Callable[[], Any]) -> tuple[str, ...]:
    """Names of the warning categories that ``call`` emits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return tuple(sorted({warning.category.__name__ for warning in caught}))


@contextmanager
def raw_server(answer: bytes) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that reads a request, sends ``answer``, closes.

    Yields its port. It serves connections one after the other, in a
    thread, until the ``with`` block ends.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(SCENARIO_TIMEOUT)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            if done.is_set():  # woken up to stop
                sock.close()
                return
            with sock:
                sock.settimeout(SCENARIO_TIMEOUT)
                try:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    sock.sendall(answer)
                    sock.shutdown(socket.SHUT_WR)
                except OSError:  # the client gave up first
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        # Closing a socket doesn't wake accept() up: a connection does.
        with socket.create_connection(listener.getsockname(), timeout=SCENARIO_TIMEOUT):
            thread.join(SCENARIO_TIMEOUT)
        listener.close()
