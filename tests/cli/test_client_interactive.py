"""``wskit connect`` on a terminal: typing while messages arrive, commands, escaping.

The client runs in the test's event loop on a pseudo-terminal, except for the
last tests, which run the real command in a subprocess whose controlling
terminal is a pseudo-terminal, so that Ctrl-C is a signal as in real life.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import termios

from wskit.asyncio.server import ServerConnection

from .support import TIMEOUT, Driver, Screen, echo, running_client, wskit_server

GREETING = "/help lists the commands; Ctrl-D closes"


class Talker:
    """A server handler that records messages and sends what the test asks."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.received: list[str | bytes] = []
        self.arrived = asyncio.Event()
        self.close_codes: list[tuple[int | None, str | None]] = []

    async def handler(self, websocket: ServerConnection) -> None:
        pusher = asyncio.create_task(self.push(websocket))
        try:
            async for message in websocket:
                self.received.append(message)
                self.arrived.set()
        finally:
            pusher.cancel()
            await websocket.wait_closed()
            self.close_codes.append((websocket.close_code, websocket.close_reason))

    async def push(self, websocket: ServerConnection) -> None:
        while True:
            await websocket.send(await self.outbox.get())

    async def next_message(self) -> str | bytes:
        async with asyncio.timeout(TIMEOUT):
            await self.arrived.wait()
        self.arrived.clear()
        return self.received[-1]


async def test_typing_while_messages_arrive() -> None:
    talker = Talker()
    async with wskit_server(talker.handler) as uri, running_client(uri, tty=True) as client:
        driver = client.driver
        await driver.expect(GREETING)
        driver.type("hel")
        await driver.expect("> hel")
        talker.outbox.put_nowait("first")
        await driver.expect("< first")
        # The line being typed comes back below the message, as it was.
        await driver.expect("> hel\x1b[K")
        driver.type("lo\r")
        assert await talker.next_message() == "hello"
        driver.type("wor")
        await driver.expect("> wor")
        talker.outbox.put_nowait("second")
        talker.outbox.put_nowait(b"\x00\x01")
        await driver.expect("< [2 bytes] 00 01")
        await driver.expect("> wor\x1b[K")
        screen = Screen(driver.text)
        assert screen.lines[1:] == ["< first", "> hello", "< second", "< [2 bytes] 00 01", "> wor"]
        assert screen.col == len("> wor")  # the cursor is where typing goes on
        driver.type("\x15\x04")  # Ctrl-U, Ctrl-D
        assert await client.status() == 0
        await driver.read_to_end()
    screen = Screen(driver.text)
    assert screen.lines[0] == f"* connected to {uri}; {GREETING}"
    assert screen.lines[-2:] == [
        "* connection closed: sent 1000 (OK); then received 1000 (OK)",
        "",
    ]
    assert talker.close_codes == [(1000, "")]


async def test_ping() -> None:
    async with wskit_server(echo) as uri, running_client(uri, tty=True) as client:
        await client.driver.expect(GREETING)
        client.driver.type("/ping\r/ping hello\r")
        await client.driver.expect("* pong received after ")
        await client.driver.expect(" ms")
        await client.driver.expect("* pong received after ")
        client.driver.type("/quit\r")
        assert await client.status() == 0


async def test_close_with_code_and_reason() -> None:
    talker = Talker()
    async with wskit_server(talker.handler) as uri, running_client(uri, tty=True) as client:
        await client.driver.expect(GREETING)
        client.driver.type("/close 4000 bye\r")
        assert await client.status() == 0
        await client.driver.read_to_end()
    assert talker.close_codes == [(4000, "bye")]
    lines = Screen(client.driver.text).lines
    assert lines[-3] == "> /close 4000 bye"
    # The server echoed the code and the reason, as websockets does.
    assert lines[-2] == (
        "* connection closed: sent 4000 (private use) bye; then received 4000 (private use) bye"
    )
    assert lines[-1] == ""


async def test_invalid_commands_are_explained_and_given_back() -> None:
    talker = Talker()
    async with wskit_server(talker.handler) as uri, running_client(uri, tty=True) as client:
        driver = client.driver
        await driver.expect(GREETING)
        driver.type("/close 1006\r")
        await driver.expect("* can't close with 1006: invalid close code 1006")
        await driver.expect("> /close 1006\x1b[K")
        driver.type("\x15/bogus\r")
        await driver.expect("* unknown command: /bogus; /help lists the commands")
        driver.type("\x15/help\r")
        await driver.expect("//TEXT")
        driver.type("\x15//slash\r")
        assert await talker.next_message() == "/slash"
        driver.type("/quit\r")
        assert await client.status() == 0


async def test_json_mode_pretty_prints_and_checks_input() -> None:
    talker = Talker()
    argv = ["--json", "--timestamps"]
    async with (
        wskit_server(talker.handler) as uri,
        running_client(uri, *argv, tty=True) as client,
    ):
        driver = client.driver
        await driver.expect(GREETING)
        driver.type('{"a": \r')
        await driver.expect("not JSON: Expecting value")
        driver.type("1}\r")
        assert await talker.next_message() == '{"a": 1}'
        talker.outbox.put_nowait('{"b":[true]}')
        await driver.expect("]\r")
        await driver.expect("}\r")
        driver.type("\x04")
        assert await client.status() == 0
    lines = Screen(driver.text).lines
    start = next(index for index, line in enumerate(lines) if line.endswith("< {"))
    stamp = lines[start][:13]
    assert stamp[:12].replace(":", "").replace(".", "").isdigit()
    indent = " " * len(f"{stamp}< ")
    assert lines[start : start + 5] == [
        f"{stamp}< {{",
        f'{indent}  "b": [',
        f"{indent}    true",
        f"{indent}  ]",
        f"{indent}}}",
    ]


async def test_binary_mode_sends_hex() -> None:
    talker = Talker()
    async with (
        wskit_server(talker.handler) as uri,
        running_client(uri, "--binary", tty=True) as client,
    ):
        await client.driver.expect(GREETING)
        client.driver.type("no\r")
        await client.driver.expect("* not hexadecimal: ")
        client.driver.type("\x15ff 00\r")
        assert await talker.next_message() == b"\xff\x00"
        client.driver.type("\x04")
        assert await client.status() == 0


async def test_hostile_control_sequences_are_shown_escaped() -> None:
    hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[1;1H\x1b[31mred\r\n\x9b6n\u202eevil"

    async def attack(websocket: ServerConnection) -> None:
        await websocket.send(hostile)
        await websocket.send(hostile.encode())
        await websocket.close(4000, "\x1b[2Jbye\x07")

    async with wskit_server(attack) as uri, running_client(uri, tty=True) as client:
        assert await client.status() == 1
        output = await client.driver.read_to_end()
    # Screen fails on any escape sequence but the client's own few.
    lines = Screen(output).lines
    assert lines[1] == (
        "< \\x1b]0;pwned\\x07\\x1b[2J\\x1b[1;1H\\x1b[31mred\\r\\n\\x9b6n\\u202eevil"
    )
    assert lines[2].startswith("< [41 bytes] 1b 5d 30 3b")
    assert lines[3] == (
        "* connection closed: received 4000 (private use) \\x1b[2Jbye\\x07; "
        "then sent 4000 (private use) \\x1b[2Jbye\\x07"
    )


# The real command on a real controlling terminal.


async def run_in_pty(uri: str) -> tuple[asyncio.subprocess.Process, Driver, int]:
    """Start ``wskit URI`` in a new session whose controlling terminal is a new pty."""
    master, slave = os.openpty()
    process = await asyncio.create_subprocess_exec(
        # setsid -c: a new session, with standard input as controlling terminal.
        "setsid",
        "-c",
        sys.executable,
        "-m",
        "wskit",
        uri,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    return process, Driver(master, master), slave


async def test_subprocess_ctrl_d_exits_cleanly_and_restores_the_terminal() -> None:
    talker = Talker()
    async with wskit_server(talker.handler) as uri:
        process, driver, slave = await run_in_pty(uri)
        try:
            before = termios.tcgetattr(slave)
            await driver.expect(GREETING)
            driver.type("hello\r")
            assert await talker.next_message() == "hello"
            talker.outbox.put_nowait("world")
            await driver.expect("< world")
            driver.type("\x04")
            async with asyncio.timeout(TIMEOUT):
                assert await process.wait() == 0
            assert termios.tcgetattr(slave) == before
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            os.close(slave)
            os.close(driver.write_fd)
    assert talker.close_codes == [(1000, "")]


async def test_subprocess_ctrl_c_exits_with_130_after_going_away() -> None:
    talker = Talker()
    async with wskit_server(talker.handler) as uri:
        process, driver, slave = await run_in_pty(uri)
        try:
            await driver.expect(GREETING)
            driver.type("half a line\x03")
            async with asyncio.timeout(TIMEOUT):
                assert await process.wait() == 128 + signal.SIGINT
            assert termios.tcgetattr(slave)[3] & termios.ECHO
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            os.close(slave)
            os.close(driver.write_fd)
    assert talker.close_codes == [(1001, "")]
