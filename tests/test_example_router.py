"""examples/router/server.py: chat rooms picked by URL, a lobby, and 404 for other paths."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from wskit.exceptions import InvalidStatus
from wskit.sync.client import connect

from .sync.test_examples import TIMEOUT, running


def lobby(base: str) -> Any:
    with connect(f"{base}/", open_timeout=TIMEOUT) as websocket:
        return json.loads(websocket.recv(timeout=TIMEOUT))


def wait_for_lobby(base: str, expected: dict[str, int]) -> None:
    """Poll the lobby until it shows ``expected``: handlers join rooms after the handshake."""
    deadline = time.monotonic() + TIMEOUT
    while (rooms := lobby(base)) != expected:
        assert time.monotonic() < deadline, f"lobby shows {rooms}, not {expected}"
        time.sleep(0.01)


def test_rooms_lobby_and_not_found() -> None:
    with running("router/server.py") as port:
        base = f"ws://127.0.0.1:{port}"
        assert lobby(base) == {}
        with (
            connect(f"{base}/rooms/kitchen", open_timeout=TIMEOUT) as alice,
            connect(f"{base}/rooms/kitchen", open_timeout=TIMEOUT) as bob,
            connect(f"{base}/rooms/caf%C3%A9", open_timeout=TIMEOUT) as carol,
        ):
            wait_for_lobby(base, {"caf\u00e9": 1, "kitchen": 2})
            alice.send("hi")
            assert alice.recv(timeout=TIMEOUT) == "kitchen: hi"
            assert bob.recv(timeout=TIMEOUT) == "kitchen: hi"
            carol.send("hello")
            assert carol.recv(timeout=TIMEOUT) == "caf\u00e9: hello"
            bob.send(b"bye \xf0\x9f\x91\x8b")  # binary messages are relayed as text
            assert alice.recv(timeout=TIMEOUT) == "kitchen: bye \U0001f44b"
        wait_for_lobby(base, {})

        for path in ["/kitchen", "/rooms/", "/rooms/kitchen/", "/rooms/a/b"]:
            with pytest.raises(InvalidStatus) as raised, connect(f"{base}{path}"):
                pytest.fail(f"{path} was accepted")
            assert raised.value.response.status_code == 404, path
