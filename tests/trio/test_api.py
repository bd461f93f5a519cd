"""wskit.trio has the names and parameters of websockets.trio 17.4.

A program written for websockets' trio layer must run on wskit's by changing
its imports: every public name exists, and every parameter exists with the
same kind and default. wskit may add parameters (``write_limit``,
``compress``), never drop or rename one.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import websockets.trio.client
import websockets.trio.connection
import websockets.trio.server

import wskit.trio.client
import wskit.trio.connection
import wskit.trio.server

PAIRS = [
    (websockets.trio.server, wskit.trio.server, "serve"),
    (websockets.trio.server, wskit.trio.server, "broadcast"),
    (websockets.trio.server, wskit.trio.server, "basic_auth"),
    (websockets.trio.server, wskit.trio.server, "ServerConnection"),
    (websockets.trio.server, wskit.trio.server, "Server"),
    (websockets.trio.client, wskit.trio.client, "connect"),
    (websockets.trio.client, wskit.trio.client, "unix_connect"),
    (websockets.trio.client, wskit.trio.client, "ClientConnection"),
]

METHODS = ["recv", "recv_streaming", "send", "aclose", "wait_closed", "ping", "pong"]
SERVER_METHODS = ["serve_forever", "aclose"]


def parameters(function: Any) -> dict[str, tuple[Any, Any]]:
    return {
        name: (parameter.kind, parameter.default)
        for name, parameter in inspect.signature(function).parameters.items()
    }


def check_same_parameters(theirs: Any, ours: Any) -> None:
    their_parameters, our_parameters = parameters(theirs), parameters(ours)
    for name, (kind, default) in their_parameters.items():
        assert name in our_parameters, name
        our_kind, our_default = our_parameters[name]
        assert our_kind == kind, name
        if name in ("logger", "process_exception", "reconnect_delays"):
            continue  # their own objects: wskit's logger names and functions
        if name in ("user_agent_header", "server_header"):
            continue  # names the library
        assert our_default == default, name


@pytest.mark.parametrize(("theirs", "ours", "name"), PAIRS, ids=[p[2] for p in PAIRS])
def test_public_names_take_the_same_parameters(theirs: Any, ours: Any, name: str) -> None:
    check_same_parameters(getattr(theirs, name), getattr(ours, name))


@pytest.mark.parametrize("method", METHODS)
def test_connection_methods_take_the_same_parameters(method: str) -> None:
    check_same_parameters(
        getattr(websockets.trio.connection.Connection, method),
        getattr(wskit.trio.connection.Connection, method),
    )


@pytest.mark.parametrize("method", SERVER_METHODS)
def test_server_methods_take_the_same_parameters(method: str) -> None:
    check_same_parameters(
        getattr(websockets.trio.server.Server, method), getattr(wskit.trio.server.Server, method)
    )
