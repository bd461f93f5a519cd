"""Tests for wskit.shared.keepalive: pings awaiting their pong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wskit.exceptions import ConcurrencyError
from wskit.shared.keepalive import PendingPings


def test_random_payload_is_four_bytes_and_changes() -> None:
    pings: PendingPings[str] = PendingPings()
    payloads = {pings.payload(None) for _ in range(20)}
    assert len(payloads) == 20
    assert all(type(payload) is bytes and len(payload) == 4 for payload in payloads)


def test_payload_does_not_register_the_ping() -> None:
    pings: PendingPings[str] = PendingPings()
    pings.payload(b"abc")
    assert len(pings) == 0
    # Nothing was added, so the same payload can be chosen again.
    assert pings.payload(b"abc") == b"abc"


def test_explicit_bytes_payload() -> None:
    pings: PendingPings[str] = PendingPings()
    assert pings.payload(b"\x00\xff") == b"\x00\xff"
    assert type(pings.payload(bytearray(b"ab"))) is bytes
    assert pings.payload(bytearray(b"ab")) == b"ab"
    assert pings.payload(memoryview(b"cd")) == b"cd"
    assert type(pings.payload(memoryview(b"cd"))) is bytes


def test_explicit_str_payload_is_utf8() -> None:
    pings: PendingPings[str] = PendingPings()
    assert pings.payload("héllo") == "héllo".encode()


def test_empty_payload_is_allowed() -> None:
    pings: PendingPings[str] = PendingPings()
    assert pings.payload(b"") == b""
    assert pings.payload("") == b""


@pytest.mark.parametrize("duplicate", [b"abc", "abc", bytearray(b"abc"), memoryview(b"abc")])
def test_duplicate_payload_raises(duplicate: bytes | str | bytearray | memoryview) -> None:
    pings: PendingPings[str] = PendingPings()
    pings.add(pings.payload(b"abc"), "waiter", 1.0)
    with pytest.raises(ConcurrencyError):
        pings.payload(duplicate)
    # Once answered, the payload is free again.
    pings.acknowledge(b"abc", 2.0)
    assert pings.payload(duplicate) == b"abc"


def test_random_payload_avoids_pending_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    pings: PendingPings[str] = PendingPings()
    pings.add(b"\x00\x00\x00\x00", "first", 1.0)
    pings.add(b"\x01\x01\x01\x01", "second", 1.0)
    draws: Iterator[bytes] = iter(
        [b"\x00\x00\x00\x00", b"\x01\x01\x01\x01", b"\x00\x00\x00\x00", b"\x02\x02\x02\x02"]
    )
    sizes: list[int] = []

    def fake_urandom(size: int) -> bytes:
        sizes.append(size)
        return next(draws)

    monkeypatch.setattr("wskit.shared.keepalive.os.urandom", fake_urandom)
    assert pings.payload(None) == b"\x02\x02\x02\x02"
    assert sizes == [4, 4, 4, 4]


def test_acknowledge_matching_ping() -> None:
    pings: PendingPings[str] = PendingPings()
    pings.add(b"a", "waiter", 10.0)
    assert len(pings) == 1
    assert pings.acknowledge(b"a", 10.25) == [("waiter", 0.25)]
    assert len(pings) == 0
    assert pings.latency == 0.25


def test_acknowledge_answers_earlier_pings_too() -> None:
    pings: PendingPings[str] = PendingPings()
    pings.add(b"1", "first", 1.0)
    pings.add(b"2", "second", 2.0)
    pings.add(b"3", "third", 3.0)
    pings.add(b"4", "fourth", 4.0)
    # The peer answered only the third ping: the first two are answered too,
    # the fourth one still waits.
    assert pings.acknowledge(b"3", 5.0) == [("first", 4.0), ("second", 3.0), ("third", 2.0)]
    assert len(pings) == 1
    # Latency is that of the ping the pong matches.
    assert pings.latency == 2.0
    assert pings.acknowledge(b"4", 4.5) == [("fourth", 0.5)]
    assert len(pings) == 0


def test_acknowledge_unknown_pong_does_nothing() -> None:
    pings: PendingPings[str] = PendingPings()
    pings.add(b"a", "waiter", 1.0)
    assert pings.acknowledge(b"unsolicited", 2.0) == []
    assert len(pings) == 1
    assert pings.latency == 0.0


def test_acknowledge_on_empty() -> None:
    pings: PendingPings[str] = PendingPings()
    assert pings.acknowledge(b"", 2.0) == []
    assert pings.latency == 0.0


def test_latency_is_updated_by_each_pong() -> None:
    pings: PendingPings[str] = PendingPings()
    assert pings.latency == 0.0
    pings.add(b"a", "a", 1.0)
    pings.acknowledge(b"a", 1.5)
    assert pings.latency == 0.5
    pings.add(b"b", "b", 2.0)
    pings.acknowledge(b"b", 2.125)
    assert pings.latency == 0.125


def test_pong_for_answered_ping_is_ignored() -> None:
    pings: PendingPings[str] = PendingPings()
    pings.add(b"a", "a", 1.0)
    pings.acknowledge(b"a", 1.5)
    assert pings.acknowledge(b"a", 9.0) == []
    assert pings.latency == 0.5


def test_clear_returns_waiters_and_forgets_pings() -> None:
    pings: PendingPings[str] = PendingPings()
    pings.add(b"1", "first", 1.0)
    pings.add(b"2", "second", 2.0)
    assert pings.clear() == ["first", "second"]
    assert len(pings) == 0
    assert pings.acknowledge(b"1", 3.0) == []
    assert pings.clear() == []
    # Payloads are free again.
    assert pings.payload(b"1") == b"1"
