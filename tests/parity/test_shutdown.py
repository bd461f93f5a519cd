"""Shutting a threading server down."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from .runner import SCENARIO_TIMEOUT, Lib, same


@pytest.mark.parametrize("close_connections", [False, True])
def test_sync_shutdown_waits_for_handlers(close_connections: bool) -> None:
    # shutdown() returns once every handler has returned; with
    # close_connections=False, it leaves the connections open meanwhile.
    def scenario(lib: Lib) -> Any:
        started, release = threading.Event(), threading.Event()
        order: list[str] = []

        def handler(websocket: Any) -> None:
            started.set()
            if close_connections:
                for _ in websocket:  # until shutdown() closes the connection
                    pass
            else:
                release.wait(SCENARIO_TIMEOUT)
            order.append("handler returned")

        server = lib.mod("sync.server").serve(handler, "127.0.0.1", 0)
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        port = server.socket.getsockname()[1]
        with lib.mod("sync.client").connect(f"ws://127.0.0.1:{port}/") as client:
            assert started.wait(SCENARIO_TIMEOUT)

            def shutdown() -> None:
                server.shutdown(close_connections=close_connections)
                order.append("shutdown returned")

            stopping = threading.Thread(target=shutdown)
            stopping.start()
            # A shutdown() that doesn't wait returns at once; one that waits
            # is still waiting then. (On a busy machine this can only miss a
            # regression, never fail a correct shutdown().)
            stopping.join(1 if not close_connections else SCENARIO_TIMEOUT)
            state_meanwhile = client.protocol.state.name
            release.set()
            stopping.join(SCENARIO_TIMEOUT)
        serving.join(SCENARIO_TIMEOUT)
        return order, state_meanwhile

    expected_state = "CLOSED" if close_connections else "OPEN"
    assert same(scenario) == (["handler returned", "shutdown returned"], expected_state)
