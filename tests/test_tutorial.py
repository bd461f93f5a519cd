"""The tutorial's programs (examples/tutorial/) run and do what the tutorial says."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from examples.tutorial.part1 import client
from wskit.asyncio.client import connect

from .test_examples import TIMEOUT, run_client, running


async def receive_json(websocket: Any) -> Any:
    return json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))


def test_part1_client_votes_and_prints_the_results() -> None:
    with running("tutorial/part1/server.py", "ws") as server:
        output = run_client("tutorial/part1/client.py", server.port, "tea")
        assert output == "Tea or coffee?\ntea: 1\ncoffee: 0\n"
        output = run_client("tutorial/part1/client.py", server.port, "coffee")
        assert output == "Tea or coffee?\ntea: 1\ncoffee: 1\n"


def test_part1_client_reports_a_refused_vote(capsys: pytest.CaptureFixture[str]) -> None:
    with running("tutorial/part1/server.py", "ws") as server:
        assert asyncio.run(client.vote("milk", server.port)) == 1
    assert capsys.readouterr() == ("", "Vote refused: vote for one of: tea, coffee\n")


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


def test_part2_every_voter_sees_each_vote() -> None:
    async def session(port: int) -> None:
        uri = f"ws://127.0.0.1:{port}"
        async with connect(uri) as alice, connect(uri) as bob:
            for voter in (alice, bob):
                assert (await receive_json(voter))["votes"] == {"tea": 0, "coffee": 0}
            await alice.send('{"vote": "tea"}')
            for voter in (alice, bob):
                assert (await receive_json(voter))["votes"] == {"tea": 1, "coffee": 0}
            # An invalid vote is answered to its sender only: Bob's next
            # message is the result of Alice's next vote.
            await bob.send('{"vote": "milk"}')
            assert (await receive_json(bob))["type"] == "error"
            await alice.send('{"vote": "coffee"}')
            for voter in (alice, bob):
                assert (await receive_json(voter))["votes"] == {"tea": 1, "coffee": 1}
        # A voter who comes later gets the results so far, then its own vote.
        async with connect(uri) as carol:
            assert (await receive_json(carol))["votes"] == {"tea": 1, "coffee": 1}
            await carol.send('{"vote": "tea"}')
            assert (await receive_json(carol))["votes"] == {"tea": 2, "coffee": 1}

    with running("tutorial/part2/server.py", "ws") as server:
        asyncio.run(session(server.port))
        # The part 1 client votes on part 2's server as well.
        output = run_client("tutorial/part1/client.py", server.port, "coffee")
        assert output == "Tea or coffee?\ntea: 2\ncoffee: 2\n"
