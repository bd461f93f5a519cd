"""Echo client for ``wstest -m fuzzingserver``: wskit.trio.client.

Usage: ``python trio_client.py SERVER_URL AGENT``, e.g.
``python trio_client.py ws://127.0.0.1:9001 wskit-trio-client``.
It asks the fuzzing server how many cases it has, runs each of them by
sending every message back, then asks the server to write its reports.
"""

from __future__ import annotations

import sys
from urllib.parse import quote

import trio

from wskit.exceptions import ConnectionClosed
from wskit.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from wskit.trio.client import connect

# The 9.x cases send messages of up to 16 MiB; keepalive pings would show up
# in the frames the suite checks, so they are off.
MAX_SIZE = 2**25

# As in asyncio_client.py: an offer of client_max_window_bits without a value,
# which the suite's answer in 13.4 and 13.6 is valid for.
EXTENSIONS = [ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})]


async def get_case_count(server: str) -> int:
    async with connect(f"{server}/getCaseCount") as websocket:
        count = await websocket.recv()
    return int(count)


async def run_case(server: str, agent: str, case: int) -> None:
    uri = f"{server}/runCase?case={case}&agent={quote(agent)}"
    async with connect(
        uri,
        compression=None,
        extensions=EXTENSIONS,
        max_size=MAX_SIZE,
        ping_interval=None,
    ) as websocket:
        try:
            async for message in websocket:
                await websocket.send(message)
        except ConnectionClosed:
            # Most failure cases end here: the suite breaks the protocol on purpose.
            pass


async def update_reports(server: str, agent: str) -> None:
    async with connect(f"{server}/updateReports?agent={quote(agent)}") as websocket:
        # The server closes the connection once the reports are written.
        await websocket.wait_closed()


async def main(server: str, agent: str) -> None:
    count = await get_case_count(server)
    for case in range(1, count + 1):
        await run_case(server, agent, case)
    await update_reports(server, agent)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
