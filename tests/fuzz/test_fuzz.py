"""A short fuzzing run of the server and client protocols, in every test run.

The inputs come from hypothesis and go through the same generator and
checker as the long campaigns of ``python -m tests.fuzz`` (see
:mod:`tests.fuzz.harness` for the invariants). A thousand inputs per side
take a few seconds; on a machine so busy that they would take longer than
:data:`BUDGET` seconds, the run stops there. The long campaigns go further.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wskit.frames
import wskit.protocol
import wskit.receiving
from tests.c_extension import needs_c
from tests.fuzz import harness
from tests.fuzz.inputs import Config, Scenario, scenario
from wskit.frames import CloseCode, Opcode
from wskit.protocol import Protocol

SIDES = ["server", "client"]
# Scenarios that failed once (from the .json file saved beside a failing input).
REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.json"))


BUDGET = 15.0
"""Seconds of fuzzing per side at most, whatever the load of the machine."""
# When each side started, and whether it failed: a failure is always shrunk.
_started: dict[str, float] = {}
_failed: set[str] = set()


@pytest.mark.parametrize("side", SIDES)
@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.binary(min_size=32, max_size=2048))
def test_fuzz(side: str, data: bytes) -> None:
    started = _started.setdefault(side, time.monotonic())
    if side not in _failed and time.monotonic() - started > BUDGET:
        return  # the budget is spent: the remaining examples pass at once
    try:
        harness.check(data, side)
    except AssertionError:
        _failed.add(side)
        raise


@pytest.mark.parametrize("path", REGRESSIONS, ids=[path.stem for path in REGRESSIONS])
def test_regression(path: Path) -> None:
    harness.check_scenario(Scenario.from_json(path.read_text()))


# The harness itself: it must see what it is there to see.


def test_same_input_same_scenario() -> None:
    data = random.Random(1).randbytes(500)
    assert scenario(data, "server") == scenario(data, "server")


@pytest.mark.parametrize("side", SIDES)
def test_scenario_to_json_and_back(side: str) -> None:
    for seed in range(20):
        plan = scenario(random.Random(seed).randbytes(500), side)
        assert Scenario.from_json(plan.to_json()) == plan


def test_empty_input_is_a_plain_connection() -> None:
    # Zeros pick the plainest choices: a valid handshake, no frames.
    plan = scenario(b"", "server")
    assert plan.config == Config("server", "default", 2**20, debug=False)
    assert plan.chunks == (plan.chunks[0],)
    assert plan.chunks[0].startswith(b"GET /chat?room=1 HTTP/1.1\r\n")
    assert plan.chunks[0].endswith(b"\r\n\r\n")
    assert not plan.eof


def test_empty_input_opens_a_connection() -> None:
    # Zeros pick the plainest choices: a valid handshake, no frames.
    for side in SIDES:
        trace = harness.run(scenario(b"", side))
        assert trace.outcome[0] is wskit.protocol.State.OPEN


@needs_c
@pytest.mark.parametrize("implementation", ["c", "python"])
def test_using_swaps_every_binding(implementation: str) -> None:
    module = harness.IMPLEMENTATIONS[implementation]
    with harness.using(implementation):
        assert vars(wskit.receiving)["read_frame"] is module.read_frame
        assert vars(wskit.protocol)["UTF8Validator"] is module.UTF8Validator
        assert vars(wskit.frames)["build_frame"] is module.build_frame
    assert vars(wskit.receiving)["read_frame"] is wskit.speedups.read_frame


def failures(side: str, count: int = 300) -> Iterator[str]:
    """What the harness reports on up to ``count`` random inputs, as it goes."""
    rng = random.Random(2)
    for _ in range(count):
        try:
            harness.check(rng.randbytes(rng.randrange(800)), side)
        except AssertionError as exc:
            yield str(exc)


def drifted() -> ModuleType:
    """A twin that drifted: a payload byte changes on the per-frame path."""
    python = harness.IMPLEMENTATIONS["python"]
    module = ModuleType("drifted")
    for name in dir(python):
        setattr(module, name, getattr(python, name))

    def read_frame(*args: Any) -> Any:
        parsed = python.read_frame(*args)
        if parsed is not None and parsed[4]:
            data = bytes(parsed[4])
            parsed = (*parsed[:4], data[:-1] + bytes([data[-1] ^ 1]))
        return parsed

    module.read_frame = read_frame  # type: ignore[attr-defined]
    return module


def test_twin_drift_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(harness.IMPLEMENTATIONS, "drifted", drifted())
    assert any(
        "drifted hot path" in failure and "differs" in failure for failure in failures("server")
    )


def test_wrong_close_code_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_with_1011(self: Protocol, exc: Exception) -> None:
        self._fail_on_input(exc, CloseCode.INTERNAL_ERROR)

    monkeypatch.setattr(Protocol, "_fail_on_parse_error", fail_with_1011)
    assert any("rather than 100" in failure for failure in failures("client"))


def test_unbounded_buffer_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    check_header = Protocol._check_header

    def no_size_limit(self: Protocol, first: int, length: int, masked: bool) -> Opcode:
        return check_header(self, first, 0, masked)

    monkeypatch.setattr(Protocol, "_check_header", no_size_limit)
    assert any(
        failure.startswith("[python") and "holds" in failure for failure in failures("server")
    )
