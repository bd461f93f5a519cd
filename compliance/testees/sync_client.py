"""Echo client for ``wstest -m fuzzingserver``: wskit.sync.client.

Usage: ``python sync_client.py SERVER_URL AGENT``, e.g.
``python sync_client.py ws://127.0.0.1:9001 wskit-sync-client``.
It asks the fuzzing server how many cases it has, runs each of them by
sending every message back, then asks the server to write its reports.
"""

from __future__ import annotations

import sys
from urllib.parse import quote

from wskit.exceptions import ConnectionClosed
from wskit.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from wskit.sync.client import connect

# As in asyncio_client.py: room for the 16 MiB messages of the 9.x cases, no
# keepalive pings among the frames checked, and compression offered with
# client_max_window_bits left to the server (see there for why).
MAX_SIZE = 2**25
EXTENSIONS = [ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})]


def get_case_count(server: str) -> int:
    with connect(f"{server}/getCaseCount") as websocket:
        count = websocket.recv()
    return int(count)


def run_case(server: str, agent: str, case: int) -> None:
    uri = f"{server}/runCase?case={case}&agent={quote(agent)}"
    with connect(
        uri,
        compression=None,
        extensions=EXTENSIONS,
        max_size=MAX_SIZE,
        ping_interval=None,
    ) as websocket:
        try:
            for message in websocket:
                websocket.send(message)
        except ConnectionClosed:
            # Most failure cases end here: the suite breaks the protocol on purpose.
            pass


def update_reports(server: str, agent: str) -> None:
    with connect(f"{server}/updateReports?agent={quote(agent)}") as websocket:
        # The server closes the connection once the reports are written.
        websocket.wait_closed()


def main(server: str, agent: str) -> None:
    count = get_case_count(server)
    for case in range(1, count + 1):
        run_case(server, agent, case)
    update_reports(server, agent)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
