"""The top-level package: the asyncio implementation under websockets' top-level names, lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import wskit

ASYNCIO_NAMES = {
    "ClientConnection": "wskit.asyncio.client",
    "Server": "wskit.asyncio.server",
    "ServerConnection": "wskit.asyncio.server",
    "basic_auth": "wskit.asyncio.server",
    "broadcast": "wskit.asyncio.server",
    # These also take the legacy style of older tutorials (see tests/legacy).
    "connect": "wskit.asyncio.legacy",
    "unix_connect": "wskit.asyncio.legacy",
    "serve": "wskit.asyncio.legacy",
    "unix_serve": "wskit.asyncio.legacy",
    "Router": "wskit.asyncio.router",
    "route": "wskit.asyncio.router",
    "unix_route": "wskit.asyncio.router",
}


@pytest.mark.parametrize(("name", "module"), ASYNCIO_NAMES.items())
def test_asyncio_names(name: str, module: str) -> None:
    assert getattr(wskit, name) is getattr(importlib.import_module(module), name)
    assert name in wskit.__all__


def test_unknown_name() -> None:
    with pytest.raises(AttributeError, match="module 'wskit' has no attribute 'nope'"):
        wskit.nope  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(wskit, "serve_forever")


def test_import_wskit_does_not_load_asyncio() -> None:
    script = (
        "import sys, wskit\n"
        "print('wskit.asyncio' in sys.modules, 'asyncio' in sys.modules)\n"
        "wskit.serve\n"
        "print('wskit.asyncio' in sys.modules, 'asyncio' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == "False False\nTrue True\n"
