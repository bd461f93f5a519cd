"""The tutorial's programs (examples/tutorial/) run and do what the tutorial says."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from wskit.asyncio.client import connect

from .test_examples import EXAMPLES, TIMEOUT, run_client, running


async def receive_json(websocket: Any) -> Any:
    return json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))


def test_part1_client_votes_and_prints_the_results() -> None:
    with running("tutorial/part1/server.py", "ws") as server:
        output = run_client("tutorial/part1/client.py", server.port, "tea")
        assert output == "Tea or coffee?\ntea: 1\ncoffee: 0\n"
        output = run_client("tutorial/part1/client.py", server.port, "coffee")
        assert output == "Tea or coffee?\ntea: 1\ncoffee: 1\n"


def test_part1_client_reports_a_refused_vote() -> None:
    with running("tutorial/part1/server.py", "ws") as server:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "tutorial/part1/client.py"), "milk"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**os.environ, "PORT": str(server.port)},
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "Vote refused: vote for one of: tea, coffee\n"


def test_part1_server_refuses_invalid_votes_and_keeps_counting() -> None:
    async def session(port: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}") as websocket:
            first = await receive_json(websocket)
            assert first == {
                "type": "results",
                "question": "Tea or coffee?",
                "votes": {"tea": 0, "coffee": 0},
            }
            for invalid in ["not json", "[1, 2]", '{"vote": ["tea"]}', '{"vote": "milk"}']:
                await websocket.send(invalid)
                reply = await receive_json(websocket)
                assert reply["type"] == "error", invalid
            # Binary messages are JSON too; the connection stayed open.
            await websocket.send(b'{"vote": "coffee"}')
            reply = await receive_json(websocket)
            assert reply["votes"] == {"tea": 0, "coffee": 1}

    with running("tutorial/part1/server.py", "ws") as server:
        asyncio.run(session(server.port))
