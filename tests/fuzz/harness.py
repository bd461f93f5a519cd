"""Run a fuzz input through the Sans-I/O core and check the core's invariants.

:func:`check` is the one entry point of every fuzzer: it turns the input into
a :class:`~tests.fuzz.inputs.Scenario`, plays it against a
:class:`~wskit.server.ServerProtocol` or a :class:`~wskit.client.ClientProtocol`
the way an I/O layer would (answering the handshake request on the server
side, releasing held failures, receiving long payloads into their buffer
when the scenario says so), once with the C accelerator and once with the
pure-Python twin (and once more on the fast path when the scenario logs in
debug mode), and raises :exc:`AssertionError` if any run breaks an invariant
or if the runs differ.

The invariants, checked after every chunk of input:

* ``receive_data``, ``receive_eof``, ``accept`` and ``send_response`` raise
  nothing, and nothing is logged at ERROR level (that is how the core reports
  its own bugs: an unexpected exception, closed with 1011 or answered with 500);
* events are valid: one handshake event first; frames only on an open
  connection, with their reserved bits clear, control frames short and whole,
  a close frame's payload that :meth:`Close.parse` accepts, continuation
  frames only inside a message, messages within ``max_size``, text that is
  valid UTF-8 as far as it has arrived; no event once a close frame was
  received or the connection failed; a frame handed out never changes after
  (the core may join fragments into the last frame of a read, never later);
* what is written is valid: frames masked by clients only, at most one close
  frame with a code that may be sent, the close code that the error calls
  for when the connection fails (1002, 1007, 1008, 1009), a pong for every
  ping, nothing after the end of the stream;
* memory is bounded: the bytes the protocol holds stay under a constant
  times ``max_size``, whatever arrives.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import logging
import re
import struct
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from tests.c_extension import C_SPEEDUPS
from wskit import _purepython, _purepython_asyncio, _purepython_messages, speedups
from wskit.client import ClientProtocol
from wskit.exceptions import PayloadTooBig, ProtocolError, TooManyFragments
from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wskit.frames import CLOSE, CONT, PING, PONG, TEXT, Close, CloseCode, Frame, Opcode
from wskit.http11 import MAX_BODY_SIZE, MAX_LINE_LENGTH, Request, Response
from wskit.protocol import SEND_EOF, Event, HeldFailure, Protocol, State
from wskit.receiving import _DATA_OPCODES, InvalidUTF8
from wskit.server import ServerProtocol
from wskit.uri import parse_uri

from .inputs import CLIENT_KEY, Config, Scenario, scenario

__all__ = ["IMPLEMENTATIONS", "Trace", "check", "check_scenario", "run", "using"]

_TWIN_MODULES = (_purepython, _purepython_asyncio, _purepython_messages)


def _python_twins() -> ModuleType:
    """Every pure-Python twin in one namespace, as the C module holds them all."""
    twins = ModuleType("wskit._purepython (with its sibling modules)")
    for module in _TWIN_MODULES:
        for name in module.__all__:
            setattr(twins, name, getattr(module, name))
    return twins


IMPLEMENTATIONS: dict[str, ModuleType] = {"python": _python_twins()}
"""The hot-path implementations to compare: the C one when it was built."""
if C_SPEEDUPS is not None:  # pragma: no branch - the extension is built in CI and here
    IMPLEMENTATIONS["c"] = C_SPEEDUPS

_FIXED_DATE = "Thu, 01 Jan 2026 00:00:00 GMT"  # the same response bytes for every run
_DATE = re.compile(rb"Date: [^\r]*")
# The close code each kind of bad input calls for; anything else is a bug (1011).
_FAILURE_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ProtocolError, CloseCode.PROTOCOL_ERROR),
    (PayloadTooBig, CloseCode.MESSAGE_TOO_BIG),
    (TooManyFragments, CloseCode.POLICY_VIOLATION),
    (UnicodeDecodeError, CloseCode.INVALID_DATA),
    (InvalidUTF8, CloseCode.INVALID_DATA),
)
# What the protocol may hold besides the frame being received: the
# handshake parser's unparsed line, and a response body.
_HANDSHAKE_SLACK = 2 * (MAX_LINE_LENGTH + 2)


# Choosing the implementation.


def _bindings() -> list[tuple[ModuleType, str, str]]:
    """Every ``(module, attribute, name)`` of wskit bound to a hot-path function or class."""
    names = [name for name in speedups.__all__ if name != "IMPLEMENTATION"]
    known = {
        id(getattr(module, name)): name for module in IMPLEMENTATIONS.values() for name in names
    }
    found = []
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] != "wskit" or module_name in {
            *(module.__name__ for module in _TWIN_MODULES),
            "wskit._speedups",
        }:
            continue
        for attribute, value in list(vars(module).items()):
            if id(value) in known:
                found.append((module, attribute, known[id(value)]))
    return found


@contextlib.contextmanager
def using(implementation: str) -> Iterator[None]:
    """Make every wskit module use the C (``"c"``) or Python (``"python"``) hot path.

    ``WSKIT_NO_SPEEDUPS`` picks one at import; this swaps the names each
    module imported, so one process runs both.
    """
    module = IMPLEMENTATIONS[implementation]
    bindings = _bindings()
    saved = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in bindings]
    for owner, attribute, name in bindings:
        setattr(owner, attribute, getattr(module, name))
    try:
        yield
    finally:
        for owner, attribute, value in saved:
            setattr(owner, attribute, value)


# Playing a scenario.


class _Recorder(logging.Handler):
    """Formats every record (a bad format string is a bug) and keeps errors."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{message} {record.exc_info!r}")


def _protocol(config: Config, logger: logging.Logger) -> Protocol:
    if config.side == "server":
        server_factories = {
            "": None,
            "default": [ServerPerMessageDeflateFactory()],
            "frugal": enable_server_permessage_deflate(None),
        }
        return ServerProtocol(
            extensions=server_factories[config.deflate], max_size=config.max_size, logger=logger
        )
    client_factories = {
        "": None,
        "default": [ClientPerMessageDeflateFactory()],
        "frugal": enable_client_permessage_deflate(None),
    }
    client = ClientProtocol(
        parse_uri("ws://server.example.com/chat"),
        extensions=client_factories[config.deflate],
        max_size=config.max_size,
        logger=logger,
    )
    client.key = CLIENT_KEY
    return client


@dataclasses.dataclass
class Trace:
    """What one run received and wrote, step by step, for comparing runs."""

    steps: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    outcome: tuple[Any, ...] = ()


def run(plan: Scenario) -> Trace:
    """Play ``plan`` against a fresh protocol, checking every invariant as it goes.

    Raises:
        AssertionError: An invariant doesn't hold.
    """
    logger = logging.getLogger(f"tests.fuzz.{plan.config.side}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG if plan.config.debug else logging.INFO)
    recorder = _Recorder()
    logger.addHandler(recorder)
    try:
        protocol = _protocol(plan.config, logger)
        protocol.hold_failures = plan.config.hold_failures
        checker = _Checker(plan.config, protocol)
        if isinstance(protocol, ClientProtocol):
            protocol.send_request(protocol.connect())
            checker.step("connect")
        for chunk in plan.chunks:
            if plan.config.receive_into:
                _receive_into(protocol, chunk)
            else:
                protocol.receive_data(chunk)
            checker.step("data")
        if plan.eof:
            protocol.receive_eof()
            checker.step("eof")
        assert not recorder.errors, f"logged errors: {recorder.errors}"
        return checker.finish()
    finally:
        logger.removeHandler(recorder)


def _receive_into(protocol: Protocol, chunk: bytes) -> None:
    """Receive ``chunk`` as the I/O layers do: into the window of a long payload, if any."""
    view = memoryview(chunk)
    while view and protocol.incoming_payload is not None:
        with protocol.incoming_payload.window() as window:
            size = min(len(window), len(view))
            window[:size] = view[:size]
        protocol.receive_into(size)
        view = view[size:]
    if view:
        protocol.receive_data(view)


def check(data: bytes, side: str) -> None:
    """Run the fuzz input ``data`` on the ``"server"`` or ``"client"`` side, every way.

    Raises:
        AssertionError: An invariant doesn't hold, or the C and Python hot
            paths (or the fast and per-frame paths) behave differently.
    """
    check_scenario(scenario(data, side))


def check_scenario(plan: Scenario) -> None:
    """Run ``plan`` every way: see :func:`check`."""
    variants = [(name, plan) for name in IMPLEMENTATIONS]
    if plan.config.debug:  # the fast path too, for comparison with the per-frame one
        fast = dataclasses.replace(plan, config=dataclasses.replace(plan.config, debug=False))
        variants.append((next(iter(IMPLEMENTATIONS)), fast))
    traces = []
    for name, variant in variants:
        with using(name):
            try:
                traces.append((name, variant.config.debug, run(variant)))
            except AssertionError as exc:
                raise AssertionError(
                    f"[{name} hot path, debug={variant.config.debug}] {exc}"
                ) from exc
    _, _, reference = traces[0]
    for name, debug, trace in traces[1:]:
        for index, (expected, actual) in enumerate(zip(reference.steps, trace.steps, strict=True)):
            assert expected == actual, (
                f"{name} hot path (debug={debug}) differs from {traces[0][0]} at step {index}:"
                f"\n{expected}\n{actual}"
            )
        assert reference.outcome == trace.outcome, (
            f"{name} hot path (debug={debug}) ends differently:"
            f"\n{reference.outcome}\n{trace.outcome}"
        )


# Checking invariants.


def _limit(limit: int | None) -> float:
    return float("inf") if limit is None else limit


class _Checker:
    """Follows one run and asserts the invariants after every step."""

    def __init__(self, config: Config, protocol: Protocol) -> None:
        self.config = config
        self.protocol = protocol
        self.is_client = config.side == "client"
        self.max_message = _limit(protocol.max_message_size)
        self.max_fragment = _limit(protocol.max_fragment_size)
        # Every frame handed out, and what it was then: it must never change.
        self.handed_out: list[tuple[Frame, tuple[Any, ...]]] = []
        self.trace = Trace()
        self.handshake: Request | Response | None = None
        self.opened = False
        self.finished = False  # a close frame was received or the connection failed
        self.close_received = False
        self.message: Opcode | None = None
        self.message_size = 0
        self.text = codecs.getincrementaldecoder("utf-8")()
        self.pings: list[bytes] = []
        self.written: list[bytes] = []
        self.response_size = 0  # bytes of the server's handshake response

    def step(self, what: str) -> None:
        protocol = self.protocol
        events = protocol.events_received()
        writes = protocol.data_to_send()
        if isinstance(protocol, ServerProtocol) and events and isinstance(events[0], Request):
            # What an I/O layer does with the request: answer it at once.
            response = protocol.accept(events[0])
            assert response.status_code != 500, f"accept() failed: {response.body!r}"
            del response.headers["Date"]
            response.headers["Date"] = _FIXED_DATE
            protocol.send_response(response)
            self.response_size = len(response.serialize())
            events += protocol.events_received()
            writes += protocol.data_to_send()
        received, failure = self._check_held_failure(events)
        if protocol.held_failure is not None:
            # What an I/O layer does once the application read the messages.
            protocol.release_failure()
            writes += protocol.data_to_send()
        if not self.finished:
            for event in received:
                self._check_event(event)
                if isinstance(event, Frame):
                    self.handed_out.append((event, _describe(event)))
        else:
            assert not received, f"events after a close frame or a failure: {received}"
        self._check_writes(writes)
        self._check_memory()
        if protocol.parser_exc is not None or protocol.close_rcvd is not None:
            self.finished = True
        self.opened = self.opened or protocol.state in (State.OPEN, State.CLOSING)
        described = [_describe(event) for event in received]
        if failure is not None:
            described.append(("HeldFailure", failure.close.code, failure.after_message))
        self.trace.steps.append((what, described, self._describe_writes(writes)))

    def _check_held_failure(
        self, events: list[Event]
    ) -> tuple[list[Request | Response | Frame], HeldFailure | None]:
        """Split ``events`` into the others and the held failure, which must come last."""
        others: list[Request | Response | Frame] = []
        failures: list[HeldFailure] = []
        for event in events:
            if isinstance(event, HeldFailure):
                failures.append(event)
            else:
                assert not failures, f"an event after the held failure: {events}"
                others.append(event)
        if not failures:
            assert self.protocol.held_failure is None, "a failure held without its event"
            return others, None
        assert self.config.hold_failures, f"a held failure without hold_failures: {failures}"
        [failure] = failures
        assert failure.close == self.protocol.held_failure, f"{failure} doesn't match its close"
        ended = any(
            event.fin and event.opcode in _DATA_OPCODES
            for event in others
            if isinstance(event, Frame)
        )
        assert failure.after_message is ended, f"{failure}: a message ended before: {ended}"
        return others, failure

    def _check_event(self, event: Request | Response | Frame) -> None:
        if isinstance(event, (Request, Response)):
            assert self.handshake is None, f"a second handshake event: {event}"
            assert isinstance(event, Response) is self.is_client, f"wrong event: {event}"
            self.handshake = event
            return
        assert not self.close_received, f"a frame after the close frame: {event}"
        assert self.protocol.state is not State.CONNECTING, f"a frame before the handshake: {event}"
        assert self.handshake is not None, f"a frame before the handshake event: {event}"
        assert type(event.opcode) is Opcode, f"not an opcode: {event.opcode!r}"
        assert (event.rsv1, event.rsv2, event.rsv3) == (False,) * 3, f"reserved bits: {event!r}"
        data = bytes(event.data)
        if event.opcode >= CLOSE:
            assert event.fin, f"fragmented control frame: {event!r}"
            assert len(data) <= 125, f"control frame too long: {event!r}"
            if event.opcode is CLOSE:
                self.close_received = True
                try:
                    Close.parse(data)
                except (ProtocolError, UnicodeDecodeError) as exc:
                    raise AssertionError(
                        f"close frame delivered with a bad payload {data!r}: {exc}"
                    ) from exc
            elif event.opcode is PING:
                self.pings.append(data)
            return
        if event.opcode is CONT:
            assert self.message is not None, f"continuation outside a message: {event!r}"
        else:
            assert self.message is None, f"new message inside a message: {event!r}"
            self.message = event.opcode
        self.message_size += len(data)
        assert self.message_size <= self.max_message, (
            f"message of {self.message_size} bytes over max_size {self.max_message}"
        )
        if self.message is TEXT:
            try:
                self.text.decode(data, final=event.fin)
            except UnicodeDecodeError as exc:
                raise AssertionError(f"invalid UTF-8 delivered: {data!r}: {exc}") from None
        if event.fin:
            self.message, self.message_size = None, 0
            self.text.reset()

    def _check_writes(self, writes: list[bytes]) -> None:
        if self.written and self.written[-1] == SEND_EOF:
            assert not writes, f"writes after the end of the stream: {writes}"
        assert SEND_EOF not in writes[:-1], f"writes after the end of the stream: {writes}"
        self.written += writes

    def _check_memory(self) -> None:
        protocol = self.protocol
        held = len(protocol._buffer)
        if protocol.incoming_payload is not None:
            held += protocol._payload_header[2]
        largest = min(self.max_message * (1 + 1 / 16) + 64, self.max_fragment * (1 + 1 / 16) + 64)
        bound = 2 * largest + 1024
        assert held <= bound, f"holds {held} bytes with max_size={self.config.max_size}"
        parser = getattr(protocol, "_request_parser", None) or getattr(
            protocol, "_response_parser", None
        )
        parsing = len(parser._buffer) if parser is not None else 0
        assert parsing <= _HANDSHAKE_SLACK + MAX_BODY_SIZE, f"handshake parser holds {parsing}"

    def _describe_writes(self, writes: list[bytes]) -> list[Any]:
        """Writes, with client frames unmasked and dates blanked: they vary between runs."""
        if not self.is_client or not self.opened:
            return [_DATE.sub(b"Date: -", write) for write in writes]
        return [_parse_frames(write, masked=True) if write else write for write in writes]

    def finish(self) -> Trace:
        protocol = self.protocol
        assert protocol.events_received() == []
        assert protocol.data_to_send() == []
        for frame, described in self.handed_out:
            assert _describe(frame) == described, f"{described} became {frame!r}"
        self._check_output()
        if isinstance(protocol, ServerProtocol) and (
            protocol.parser_exc is not None
            or protocol.close_rcvd is not None
            or protocol.handshake_exc is not None
        ):
            # The server closes the connection once the handshake failed,
            # the connection failed, or the closing handshake is done.
            assert protocol.eof_sent, "the server didn't close the connection"
        if protocol.state is State.CLOSED:
            assert protocol.eof_sent, "EOF received and not answered"
            protocol.close_exc  # noqa: B018 - raises if the close codes are inconsistent
        self.trace.outcome = (
            protocol.state,
            protocol.close_rcvd,
            protocol.close_sent,
            protocol.close_rcvd_then_sent,
            protocol.eof_sent,
            _describe_exception(protocol.parser_exc),
            _describe_exception(getattr(protocol, "handshake_exc", None)),
            [repr(extension) for extension in protocol.extensions],
        )
        return self.trace

    def _check_output(self) -> None:
        """Check the whole byte stream written: handshake, then frames."""
        protocol = self.protocol
        stream = b"".join(self.written)
        handshake_size = len(self.written[0]) if self.is_client else self.response_size
        frames_written = stream[handshake_size:]
        if not self.opened:
            return  # the handshake failed, or is still going on: no frames
        frames = _parse_frames(frames_written, masked=self.is_client)
        closes = [Close.parse(payload) for first, payload in frames if first & 0x0F == CLOSE]
        assert len(closes) <= 1, f"several close frames: {closes}"
        assert all(first & 0x0F in (CLOSE, PONG) for first, _ in frames), frames
        if closes:
            assert frames[-1][0] & 0x0F == CLOSE, "a frame after the close frame"
        pongs = [payload for first, payload in frames if first & 0x0F == PONG]
        assert pongs == self.pings, f"pongs {pongs} for pings {self.pings}"
        failure = protocol.parser_exc
        if failure is not None:
            expected = next(
                (code for kind, code in _FAILURE_CODES if isinstance(failure, kind)),
                CloseCode.INTERNAL_ERROR,
            )
            assert [close.code for close in closes] == [expected], (
                f"failed on {failure!r} with {closes} rather than {expected}"
            )
        elif protocol.close_rcvd is not None:
            # The code echoed; 1005 stands for "no code" both ways.
            code = protocol.close_rcvd.code
            assert [close.code for close in closes] == [code], f"close {code} answered {closes}"


def _parse_frames(data: bytes, *, masked: bool) -> list[tuple[int, bytes]]:
    """Split written bytes into ``(first byte, unmasked payload)``, checking the framing."""
    frames = []
    position = 0
    while position < len(data):
        first, second = data[position], data[position + 1]
        assert bool(second & 0x80) is masked, f"masking wrong in {data[position:]!r}"
        length = second & 0x7F
        position += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, position)
            position += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, position)
            position += 8
        key = data[position : position + 4] if masked else b"\0\0\0\0"
        position += 4 if masked else 0
        payload = bytes(
            byte ^ key[index % 4] for index, byte in enumerate(data[position : position + length])
        )
        assert len(payload) == length, f"a frame cut short: {data!r}"
        position += length
        assert first & 0x70 == 0, f"reserved bits set on a frame written: {first:#x}"
        assert first & 0x80, f"fragmented frame written: {first:#x}"
        assert len(payload) <= 125, f"control frame too long written: {first:#x}"
        frames.append((first, payload))
    return frames


def _describe(event: Request | Response | Frame) -> tuple[Any, ...]:
    if isinstance(event, Frame):
        return (event.opcode, bytes(event.data), event.fin, event.rsv1, event.rsv2, event.rsv3)
    return (type(event).__name__, event.serialize())


def _describe_exception(exc: BaseException | None) -> tuple[str, str] | None:
    return None if exc is None else (type(exc).__name__, str(exc))
