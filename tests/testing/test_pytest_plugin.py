"""The pytest plugin's fixtures: real servers on 127.0.0.1, sync and asyncio handlers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wskit.asyncio.server import ServerConnection as AsyncioServerConnection
from wskit.sync.client import ClientConnection, connect
from wskit.sync.server import ServerConnection
from wskit.typing import Subprotocol


def shout(websocket: ServerConnection) -> None:
    for message in websocket:
        websocket.send(str(message).upper())


async def shout_async(websocket: AsyncioServerConnection) -> None:
    async for message in websocket:
        await websocket.send(str(message).upper())


@pytest.mark.parametrize("handler", [shout, shout_async])
def test_ws_connect_serves_and_connects(
    ws_connect: Callable[..., ClientConnection], handler: Callable[..., Any]
) -> None:
    websocket = ws_connect(handler)
    websocket.send("hi")
    assert websocket.recv() == "HI"
    assert websocket.remote_address[0] == "127.0.0.1"


def test_ws_serve_gives_a_uri_on_127_0_0_1(ws_serve: Callable[..., str]) -> None:
    uri = ws_serve(shout, subprotocols=[Subprotocol("s")])
    assert uri.startswith("ws://127.0.0.1:")
    with connect(uri, subprotocols=[Subprotocol("s")]) as websocket:
        assert websocket.subprotocol == "s"


def test_servers_and_clients_close_when_the_test_ends(tmp_path: Path) -> None:
    # A project of its own, where only the entry point can load the plugin.
    (tmp_path / "test_project.py").write_text(
        """
CLIENTS = []

def quiet(websocket):
    websocket.wait_for_close()

def test_open(ws_connect):
    CLIENTS.append(ws_connect(quiet, "/x"))
    assert CLIENTS[0].request.path == "/x"

def test_closed_after():
    assert CLIENTS[0].close_code == 1000
"""
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_project.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
