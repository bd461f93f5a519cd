"""The quick round-trip check runs on every layer and library; speed is not asserted."""

from __future__ import annotations

import pytest

from benchmarks import roundtrip


@pytest.mark.parametrize("library", roundtrip.TRIO_LIBRARIES)
def test_trio_round_trips_run(library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roundtrip, "DURATION", 0.05)
    rate, cpu = roundtrip.trio_round_trips(library, 64)
    assert rate > 0
    assert cpu > 0
