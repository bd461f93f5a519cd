"""wskit.legacy's modules: websockets.legacy's names, and an import that warns as it does."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

MODULES = ["auth", "client", "exceptions", "protocol", "server"]


def import_warnings(statement: str) -> list[str]:
    """Run ``statement`` in a fresh interpreter; return the warnings it printed."""
    result = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", statement],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [line for line in result.stderr.splitlines() if "Warning: " in line]


@pytest.mark.parametrize("module", MODULES)
def test_importing_the_legacy_package_warns_as_websockets_does(module: str) -> None:
    (ours,) = import_warnings(f"import wskit.legacy.{module}")
    (theirs,) = import_warnings(f"import websockets.legacy.{module}")
    # One warning, of the same category and shape, from the package itself.
    assert re.search(
        r"wskit/legacy/__init__\.py:\d+: DeprecationWarning: wskit\.legacy is deprecated; "
        r"see 'The legacy API' in wskit's README to upgrade to wskit\.asyncio$",
        ours,
    )
    assert ": DeprecationWarning: websockets.legacy is deprecated; see " in theirs


def test_top_level_import_does_not_load_the_legacy_api() -> None:
    assert import_warnings("import wskit, wskit.asyncio.legacy") == []


@pytest.mark.parametrize("module", MODULES)
def test_public_names_are_those_of_websockets_legacy(module: str) -> None:
    ours = importlib.import_module(f"wskit.legacy.{module}")
    theirs = importlib.import_module(f"websockets.legacy.{module}")
    # websockets.legacy.exceptions has no __all__: the names its documentation gives.
    exceptions = [
        "AbortHandshake",
        "InvalidMessage",
        "InvalidStatusCode",
        "RedirectHandshake",
        "WebSocketProtocolError",
    ]
    for name in getattr(theirs, "__all__", exceptions):
        assert hasattr(ours, name), f"wskit.legacy.{module} lacks {name}"
