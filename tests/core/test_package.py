"""The top-level package exposes the core API under the websockets names."""

from __future__ import annotations

import wskit
from wskit import client, exceptions, frames, protocol, server


def test_top_level_names_are_the_module_objects() -> None:
    assert wskit.ClientProtocol is client.ClientProtocol
    assert wskit.ServerProtocol is server.ServerProtocol
    assert wskit.Protocol is protocol.Protocol
    assert wskit.Frame is frames.Frame
    assert wskit.ConnectionClosedOK is exceptions.ConnectionClosedOK


def test_every_exception_is_exported() -> None:
    assert set(exceptions.__all__) <= set(wskit.__all__)
    for name in wskit.__all__:
        assert hasattr(wskit, name), name


def test_version() -> None:
    assert wskit.__version__.count(".") >= 2
