"""``wskit connect``: an interactive WebSocket client that doubles as a pipe tool.

On a terminal, messages received print above a prompt line where the next
message is typed (see :mod:`wskit.cli.terminal`), and lines starting with
``/`` are commands (see :mod:`wskit.cli.commands`). Otherwise each input line
is a message and each message received is one output line (see
:mod:`wskit.cli.pipe`). The exit status tells how the connection ended.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from typing import Any, Protocol, TextIO, cast

from ..asyncio.client import ClientConnection, connect
from ..datastructures import Headers
from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK, InvalidHeader
from ..frames import PING, PONG, CloseCode, Frame
from ..protocol import State
from ..typing import BytesLike, Data, Origin, Subprotocol
from ..uri import parse_uri
from . import commands
from .display import Formatter
from .errors import CLOSED, INTERRUPTED, OK, UsageError, report
from .pipe import Pipe
from .signals import on_stop_signals
from .terminal import Terminal
from .tls import client_context

__all__ = ["main", "run"]


class UI(Protocol):
    """Where messages are shown and input lines come from: a terminal or pipes."""

    def message(self, message: Data) -> None: ...

    def notice(self, text: str) -> None: ...

    def reject(self, line: str, reason: str) -> None: ...

    async def read_line(self) -> str | None: ...


def main(args: argparse.Namespace) -> int:
    """Run ``wskit connect``; return the exit status."""
    return asyncio.run(interruptible(run(args)))


async def interruptible(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run ``coroutine``; Ctrl-C or SIGTERM cancels it and the status becomes 130."""
    task = cast(asyncio.Task[int], asyncio.current_task())
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    with on_stop_signals(interrupt):
        try:
            return await coroutine
        except asyncio.CancelledError:
            if not interrupted:
                raise
            return INTERRUPTED


async def run(
    args: argparse.Namespace,
    *,
    stdin: int = 0,
    stdout: int = 1,
    stderr: TextIO = sys.stderr,
) -> int:
    """Connect as ``args`` say, talk until the connection ends, return the exit status.

    With ``--reconnect``, connect again whenever the server closes the
    connection or it is lost, until the input ends.

    Args:
        args: Options of ``wskit connect``.
        stdin: Where input comes from: a terminal or anything else.
        stdout: Where messages go.
        stderr: Where errors go.
    """
    try:
        attempts = connect(args.uri, **connect_options(args))
        connections: AsyncGenerator[ClientConnection]
        if args.reconnect:
            # async for websocket in connect(...): an async generator, closed below.
            connections = cast(AsyncGenerator[ClientConnection], attempts.__aiter__())
        else:
            # A failure is reported before the terminal is touched.
            connections = just(await attempts)
    except Exception as exc:
        return report(exc, args.uri, stderr)
    interactive = not (args.raw or args.send) and os.isatty(stdin) and os.isatty(stdout)
    formatter = Formatter(
        as_json=args.json,
        as_hex=args.binary,
        interactive=interactive,
        timestamps=args.timestamps,
    )
    ui = (
        Terminal(stdin, stdout, formatter)
        if interactive
        else Pipe(stdin, stdout, stderr, formatter)
    )
    status = OK
    failure: Exception | None = None
    count = args.count
    again = False
    with ui:
        try:
            while True:
                try:
                    websocket = await anext(connections)
                except StopAsyncIteration:
                    break
                except Exception as exc:  # a failure that another attempt wouldn't fix
                    failure = exc
                    break
                if interactive:
                    ui.notice(greeting(websocket, args.uri, again=again))
                if isinstance(websocket, WatchedConnection):
                    websocket.watch(ui.notice)
                session = Session(
                    websocket,
                    ui,
                    formatter,
                    interactive=interactive,
                    to_send=args.send,
                    count=count,
                    linger=args.linger,
                )
                status = await session.run()
                closed = f"connection closed: {websocket.protocol.close_exc}"
                if session.finished or not args.reconnect:
                    if interactive or status != OK:
                        ui.notice(closed)
                    break
                ui.notice(f"{closed}; reconnecting (Ctrl-C quits)")
                if count is not None:
                    count -= session.received
                again = True
        finally:
            await connections.aclose()
    return status if failure is None else report(failure, args.uri, stderr)


async def just(websocket: ClientConnection) -> AsyncGenerator[ClientConnection]:
    """The connections to use without --reconnect: one."""
    yield websocket


def greeting(websocket: ClientConnection, uri: str, *, again: bool) -> str:
    text = f"{'reconnected' if again else 'connected'} to {uri}"
    if websocket.subprotocol is not None:
        text += f", subprotocol {websocket.subprotocol}"
    return text if again else f"{text}; /help lists the commands; Ctrl-D closes"


def connect_options(args: argparse.Namespace) -> dict[str, Any]:
    """Turn options of ``wskit connect`` into arguments of :func:`connect`.

    Raises:
        InvalidURI: The URI isn't a WebSocket URI.
        UsageError: A header or the CA file is invalid.
    """
    options: dict[str, Any] = {"max_size": args.max_size}
    if args.header:
        options["additional_headers"] = parse_headers(args.header)
    if args.subprotocol:
        options["subprotocols"] = [Subprotocol(name) for name in args.subprotocol]
    if args.origin is not None:
        options["origin"] = Origin(args.origin)
    if args.proxy is not None:
        # Without --proxy, connect() uses the environment's (https_proxy...).
        options["proxy"] = None if args.proxy == "none" else args.proxy
    if args.no_compression:
        options["compression"] = None
    if args.unix is not None:
        options["unix"] = True
        options["path"] = args.unix
    options["ping_interval"] = args.ping_interval or None
    options["ping_timeout"] = args.ping_timeout or None
    if args.show_pings:
        options["create_connection"] = WatchedConnection
    if parse_uri(args.uri).secure:
        options["ssl"] = client_context(args.cacert, args.insecure, args.cert, args.key)
    return options


class WatchedConnection(ClientConnection):
    """A client connection that reports the pings and pongs it receives (--show-pings).

    Those that come before the interface watches, with the handshake's
    response, wait for it (:data:`MAX_UNSEEN` at most).
    """

    notice: Callable[[str], None] | None = None
    unseen: tuple[str, ...] = ()

    def watch(self, notice: Callable[[str], None]) -> None:
        """Report pings and pongs with ``notice``: those received so far, then the next ones."""
        self.notice = notice
        for text in self.unseen:
            notice(text)
        self.unseen = ()

    def process_event(self, event: Any) -> None:
        """Report a ping or a pong, then handle it as usual."""
        if isinstance(event, Frame) and event.opcode in (PING, PONG):
            text = f"{event.opcode.name.lower()} received: {describe_payload(event.data)}"
            if self.notice is not None:
                self.notice(text)
            elif len(self.unseen) < MAX_UNSEEN:
                self.unseen += (text,)
        super().process_event(event)


# Pings and pongs kept for the interface until it watches the connection.
MAX_UNSEEN = 16


def describe_payload(data: BytesLike) -> str:
    """Show a control frame's payload as text if it is printable, else in hexadecimal."""
    if not data:
        return "empty"
    try:
        text = bytes(data).decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return repr(text)
    return f"{len(data)} bytes {bytes(data).hex()}"


def parse_headers(lines: list[str]) -> Headers:
    """Parse ``Name: value`` options into headers.

    Raises:
        UsageError: A line has no colon or isn't a valid header.
    """
    headers = Headers()
    for line in lines:
        name, colon, value = line.partition(":")
        try:
            if not colon:
                raise InvalidHeader(line, "expected Name: value")
            headers[name.strip()] = value.strip()
        except InvalidHeader as exc:
            raise UsageError(f"invalid --header {line!r}: {exc}") from None
    return headers


@dataclasses.dataclass(frozen=True)
class Ending:
    """How the input ended: the close to send, and whether to wait for replies first."""

    code: int = CloseCode.NORMAL_CLOSURE
    reason: str = ""
    linger: bool = False


class Session:
    """Relay messages between a connection and a UI until one of them ends.

    Args:
        websocket: The open connection.
        ui: The terminal or the pipes.
        formatter: Turns input lines into messages.
        interactive: Whether lines starting with ``/`` are commands.
        to_send: Messages to send instead of reading input lines (--send).
        count: Close after receiving this many messages (--count).
        linger: Seconds of quiet to wait for at the end of the input (--linger).
    """

    def __init__(
        self,
        websocket: ClientConnection,
        ui: UI,
        formatter: Formatter,
        *,
        interactive: bool = False,
        to_send: Sequence[str] = (),
        count: int | None = None,
        linger: float = 1.0,
    ) -> None:
        self.websocket = websocket
        self.ui = ui
        self.formatter = formatter
        self.interactive = interactive
        self.to_send = to_send
        self.count = count
        self.linger_time = linger
        self.received = 0
        self.last_received = 0.0
        # Whether the session ended on our side: the input ended, --count was
        # reached, or the output is gone. Otherwise the connection did.
        self.finished = False
        self.closed_by_us = False
        self.pings: set[asyncio.Task[None]] = set()

    async def run(self) -> int:
        """Relay messages; close when the input ends; return the exit status."""
        receiver = asyncio.create_task(self.receive())
        sender = asyncio.create_task(self.send())
        try:
            await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            ending: Ending | None
            if receiver.done():
                # The connection closed (False), or --count was reached or
                # nobody reads the output anymore (True).
                ending = Ending() if receiver.result() else None
            else:
                ending = sender.result()  # None if the connection closed
                if ending is not None and ending.linger:
                    await self.linger(receiver)
            if ending is not None:
                self.finished = True
                if receiver.done():
                    # Messages may keep coming until the peer's close frame:
                    # reading must go on, or it stops once the queue is full.
                    receiver = asyncio.create_task(self.discard())
                await self.close(ending.code, ending.reason)
            await receiver
        except asyncio.CancelledError:
            # Ctrl-C: say goodbye before leaving; another Ctrl-C cuts it short.
            await self.close(CloseCode.GOING_AWAY, "")
            raise
        finally:
            for task in (receiver, sender, *self.pings):
                task.cancel()
        await self.websocket.wait_closed()
        return self.exit_status()

    async def receive(self) -> bool:
        """Show messages; return whether to close: --count reached or output gone."""
        loop = asyncio.get_running_loop()
        try:
            while self.count is None or self.received < self.count:
                message = await self.websocket.recv()
                self.received += 1
                self.last_received = loop.time()
                self.ui.message(message)
        except ConnectionClosed:
            return False
        except BrokenPipeError:
            return True
        return True

    async def discard(self) -> bool:
        """Receive and drop messages until the connection closes; then return False."""
        try:
            while True:
                await self.websocket.recv()
        except ConnectionClosed:
            return False

    async def send(self) -> Ending | None:
        """Send the input; return how it ended, or :obj:`None` if the connection did first."""
        try:
            if self.to_send:
                for text in self.to_send:
                    await self.send_line(text)
                return Ending(linger=True)
            while (line := await self.ui.read_line()) is not None:
                ending = await self.handle(line)
                if ending is not None:
                    return ending
        except ConnectionClosed:
            return None
        # The end of the input: a person pressing Ctrl-D is done; a pipe may
        # still be waiting for replies.
        return Ending(linger=not self.interactive)

    async def handle(self, line: str) -> Ending | None:
        """Act on an input line; return how to end if it ends the input."""
        if not self.interactive:
            await self.send_line(line)
            return None
        try:
            command = commands.parse(line)
        except ValueError as exc:
            self.ui.reject(line, str(exc))
            return None
        match command:
            case commands.Message(text):
                await self.send_line(text, original=line)
            case commands.Ping(data):
                await self.ping(data)
            case commands.Pong(data):
                await self.websocket.pong(data)
                self.ui.notice(f"pong sent: {describe_payload(data.encode())}")
            case commands.CloseRequest(code, reason):
                return Ending(code, reason)
            case commands.Quit():
                return Ending()
            case commands.Help():
                self.ui.notice(commands.HELP)
        return None

    async def send_line(self, text: str, original: str | None = None) -> None:
        """Send ``text`` as --json or --binary say, or explain why it can't be."""
        try:
            message = self.formatter.outgoing(text)
        except ValueError as exc:
            self.ui.reject(text if original is None else original, str(exc))
            return
        await self.websocket.send(message)

    async def ping(self, data: str) -> None:
        """Send a ping; show the round trip in the background."""
        try:
            pong = await self.websocket.ping(data or None)
        except ConcurrencyError:
            self.ui.notice(f"a ping with payload {data!r} is already waiting for its pong")
            return

        async def report() -> None:
            try:
                latency = await pong
            except ConnectionClosed:
                return
            self.ui.notice(f"pong received after {latency * 1000:.1f} ms")

        task = asyncio.create_task(report())
        self.pings.add(task)
        task.add_done_callback(self.pings.discard)

    async def linger(self, receiver: asyncio.Task[bool]) -> None:
        """After the end of the input, wait for replies: --count, or --linger seconds of quiet."""
        if self.count is not None:
            await asyncio.wait({receiver})
            return
        loop = asyncio.get_running_loop()
        self.last_received = loop.time()
        while not receiver.done():
            quiet_until = self.last_received + self.linger_time
            if loop.time() >= quiet_until:
                return
            await asyncio.wait({receiver}, timeout=quiet_until - loop.time())

    async def close(self, code: int, reason: str) -> None:
        # If the peer closed first, the closure is the peer's, whatever we wanted.
        if self.websocket.protocol.state is State.OPEN:
            self.closed_by_us = True
        await self.websocket.close(code, reason)

    def exit_status(self) -> int:
        """0 after a normal closure or one that we asked for and the peer answered; else 1."""
        protocol = self.websocket.protocol
        if self.closed_by_us:
            return OK if protocol.close_rcvd is not None else CLOSED
        return OK if isinstance(protocol.close_exc, ConnectionClosedOK) else CLOSED
