"""The cheat sheet (examples/cheatsheet/) does what its comments say, on asyncio and on threads.

Each test runs the sheet's server on a free port and its client functions
against it: echo, 404 on an unknown path, broadcast in a chat room, a message
sent uncompressed, a close with a code, and the server closing with 1001.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from examples.cheatsheet import asyncio_sheet, sync_sheet
from tests.test_examples import EXAMPLES, TIMEOUT, free_port
from wskit.asyncio.client import connect
from wskit.exceptions import InvalidStatus
from wskit.sync.client import connect as sync_connect

CERTIFICATE = EXAMPLES / "localhost.pem"
NOISE = b"\x00\x01" * 32
# What Carol, the listener, hears: her arrival, then the server's close.
HEARD = ["carol joined", "closed: 1001 (going away)"]


def client_tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CERTIFICATE)


def test_asyncio_sheet() -> None:
    async def main() -> None:
        port, tls = free_port(), client_tls()
        base = f"wss://localhost:{port}"
        async with asyncio.timeout(TIMEOUT):
            async with asyncio_sheet.make_server(port, CERTIFICATE):
                assert await asyncio_sheet.ask(f"{base}/echo", "ping", tls) == "ping"
                with pytest.raises(InvalidStatus) as refused:
                    await asyncio_sheet.ask(f"{base}/nowhere", "ping", tls)
                assert refused.value.response.status_code == 404

                async with connect(f"{base}/chat/alice", ssl=tls) as alice:
                    assert await alice.recv() == "alice joined"
                    async with connect(f"{base}/chat/bob", ssl=tls) as bob:
                        for member in (alice, bob):
                            assert await member.recv() == "bob joined"
                        # Back to back: both reach both, in order.
                        await alice.send("hi")
                        await asyncio_sheet.send_noise(alice, NOISE)
                        for member in (alice, bob):
                            assert await member.recv() == "hi"
                            assert await member.recv() == NOISE
                        carol = asyncio.create_task(asyncio_sheet.listen(f"{base}/chat/carol", tls))
                        assert await bob.recv() == "carol joined"
                    await asyncio_sheet.leave(alice)
                    assert alice.close_code == 1001
            # Leaving the block closed the server and Carol's connection.
            assert await carol == HEARD

    asyncio.run(main())


def test_sync_sheet() -> None:
    port, tls = free_port(), client_tls()
    base = f"wss://localhost:{port}"
    with (
        sync_sheet.make_server(port, CERTIFICATE) as server,
        ThreadPoolExecutor() as pool,
    ):
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        try:
            assert sync_sheet.ask(f"{base}/echo", "ping", tls) == "ping"
            with pytest.raises(InvalidStatus) as refused:
                sync_sheet.ask(f"{base}/nowhere", "ping", tls)
            assert refused.value.response.status_code == 404

            with sync_connect(f"{base}/chat/alice", ssl=tls) as alice:
                assert alice.recv(TIMEOUT) == "alice joined"
                with sync_connect(f"{base}/chat/bob", ssl=tls) as bob:
                    for member in (alice, bob):
                        assert member.recv(TIMEOUT) == "bob joined"
                    # Back to back: both reach both, in order.
                    alice.send("hi")
                    sync_sheet.send_noise(alice, NOISE)
                    for member in (alice, bob):
                        assert member.recv(TIMEOUT) == "hi"
                        assert member.recv(TIMEOUT) == NOISE
                    carol = pool.submit(sync_sheet.listen, f"{base}/chat/carol", tls)
                    assert bob.recv(TIMEOUT) == "carol joined"
                sync_sheet.leave(alice)
                assert alice.close_code == 1001
        finally:
            server.shutdown()
            serving.join(TIMEOUT)
        assert carol.result(TIMEOUT) == HEARD


@pytest.mark.parametrize("sheet", ["cheatsheet/asyncio_sheet.py", "cheatsheet/sync_sheet.py"])
def test_sheet_fits_a_screen(sheet: str) -> None:
    """The part the page shows stays short: a cheat sheet that scrolls on is a manual."""
    text = (EXAMPLES / sheet).read_text()
    shown = text.split("# cheat sheet: start\n")[1].split("# cheat sheet: end\n")[0]
    assert len(shown.splitlines()) <= 80
