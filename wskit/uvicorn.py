"""A WebSocket engine for uvicorn: ASGI apps served on wskit.

uvicorn takes the class of its WebSocket protocol as an import string, so
any ASGI app (FastAPI, Starlette, raw ASGI) runs on wskit without a change::

    uvicorn app:app --ws wskit.uvicorn:WebSocketProtocol

or, from Python, ``uvicorn.run(app, ws=WebSocketProtocol)``.

uvicorn parses the HTTP request; when it asks for a WebSocket upgrade, it
creates this protocol, hands it the transport and replays the request into
:meth:`WebSocketProtocol.data_received`. From then on, wskit's asyncio
connection reads and writes the socket: buffered reads, the burst writer,
flow control both ways, keepalive and the closing handshake. This module
only translates between ASGI events (spec version 2.4) and that connection.

uvicorn's settings apply: ``ws_max_size`` (largest message),
``ws_max_queue`` (frames received and not read before reading pauses),
``ws_ping_interval`` and ``ws_ping_timeout`` (keepalive),
``ws_per_message_deflate`` (compression), ``root_path`` and the proxy
headers middleware (both shape the scope).
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from urllib.parse import unquote

from uvicorn.config import Config
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_client_addr,
    get_local_addr,
    get_path_with_query_string,
    get_remote_addr,
    is_ssl,
)
from uvicorn.server import ServerState

from .asyncio.connection import Connection
from .datastructures import Headers
from .exceptions import ConnectionClosed
from .extensions.permessage_deflate import enable_server_permessage_deflate
from .frames import CloseCode
from .http11 import Request, Response
from .protocol import CLOSED, CONNECTING, OPEN
from .server import ServerProtocol
from .speedups import write_message
from .typing import Subprotocol

__all__ = ["WebSocketProtocol"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

# uvicorn has no setting for it; its own engines wait this long too.
CLOSE_TIMEOUT = 10.0

# What the app's answer to the handshake was, as far as it went.
AWAITING, ACCEPTED, RESPONDING, REFUSED, CLOSED_BY_APP = range(5)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class WebSocketProtocol(Connection):
    """uvicorn's WebSocket protocol, on wskit's asyncio connection.

    uvicorn creates one per upgrade request; applications never do. Select it
    with ``--ws wskit.uvicorn:WebSocketProtocol`` or ``Config(ws=...)``.

    Args:
        config: uvicorn's configuration: the app and the ``ws_*`` settings.
        server_state: uvicorn's bookkeeping of connections and tasks, which
            graceful shutdown walks.
        app_state: The state the lifespan handler set up, copied into each
            scope.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app: Callable[..., Awaitable[Any]] = config.loaded_app
        self.app_state = app_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.default_headers: list[tuple[bytes, bytes]] = server_state.default_headers
        self.error_logger = logging.getLogger("uvicorn.error")
        interval = config.ws_ping_interval
        super().__init__(
            ServerProtocol(
                extensions=(
                    enable_server_permessage_deflate(None)
                    if config.ws_per_message_deflate
                    else None
                ),
                max_size=config.ws_max_size,
                logger=self.error_logger,
            ),
            ping_interval=interval if interval else None,  # 0 disables, as in uvicorn
            ping_timeout=config.ws_ping_timeout,
            close_timeout=CLOSE_TIMEOUT,
            max_queue=config.ws_max_queue,
        )
        self.protocol: ServerProtocol
        self.scope: Scope = {}
        self.answer = AWAITING
        # The denial response, while the app sends its body.
        self.denial: Response | None = None
        # Set when receive() has nothing more to return than this event.
        self.disconnect: Message | None = None
        self.connect_sent = False
        self.task: asyncio.Task[None] | None = None
        self.client: tuple[str, int] | None = None
        self.server_addr: tuple[str, int | None] | None = None
        self.scheme = "ws"

    # asyncio callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take over the transport of the HTTP connection uvicorn upgrades."""
        super().connection_made(transport)
        self.connections.add(self)
        self.client = get_remote_addr(self.transport)
        self.server_addr = get_local_addr(self.transport)
        self.scheme = "wss" if is_ssl(self.transport) else "ws"
        self._trace("WebSocket connection made")

    def data_received(self, data: bytes) -> None:
        """Take bytes handed over rather than read into a buffer.

        uvicorn replays the handshake request so. It goes the way of bytes
        read from the socket, through ``get_buffer()`` and
        ``buffer_updated()``, so that a transport that never calls these
        works too.
        """
        view = memoryview(data)
        while view:
            buffer = self.get_buffer(len(view))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            self.buffer_updated(size)
            view = view[size:]

    def connection_lost(self, exc: Exception | None) -> None:
        """Called by asyncio when the TCP connection is closed."""
        super().connection_lost(exc)
        self.connections.discard(self)
        self._trace("WebSocket connection lost")

    def process_event(self, event: Any) -> None:
        """Start the app when the handshake request arrives."""
        if isinstance(event, Request):
            self.request = event
            # A request that isn't a valid handshake never reaches the app.
            response = self.protocol.accept(event)
            if response.status_code == 101:
                self.response = response
                self._start_app(event)
            else:
                self.answer = REFUSED
                self._send_response(response)
        super().process_event(event)

    def _trace(self, message: str) -> None:
        if self.error_logger.isEnabledFor(TRACE_LOG_LEVEL):
            prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            self.error_logger.log(TRACE_LOG_LEVEL, "%s%s", prefix, message)

    # uvicorn's graceful shutdown.

    def shutdown(self) -> None:
        """Close the connection because the server is shutting down.

        An open connection closes with 1012 (service restart), so that clients
        know to reconnect; one the app hasn't answered yet gets a 503.
        """
        state = self.protocol.state
        if state is OPEN:
            self.protocol.send_close(CloseCode.SERVICE_RESTART)
            self._send_data()
        elif state is CONNECTING and self.answer in (AWAITING, RESPONDING):
            self.answer = REFUSED
            self.disconnect = {"type": "websocket.disconnect", "code": CloseCode.ABNORMAL_CLOSURE}
            self._send_response(
                self.protocol.reject(
                    http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
                )
            )
        elif state is not CLOSED:
            # A closing handshake is under way: don't wait for the peer.
            self.transport.close()

    # The ASGI application.

    def _start_app(self, request: Request) -> None:
        root_path: str = self.config.root_path
        path, _, query = request.path.partition("?")
        subprotocols = [
            token.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for token in value.split(",")
            if token.strip()
        ]
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server_addr,
            "client": self.client,
            "root_path": root_path,
            "path": root_path + unquote(path),
            "raw_path": root_path.encode("ascii") + path.encode("ascii"),
            "query_string": query.encode("ascii"),
            # ASGI wants names lowercased; values outside ASCII came as ISO-8859-1.
            "headers": [
                (name.lower().encode("ascii"), value.encode("latin-1"))
                for name, value in request.headers.raw_items()
            ],
            "subprotocols": subprotocols,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self.task = self.loop.create_task(self._run_app())
        self.tasks.add(self.task)
        self.task.add_done_callback(self.tasks.discard)

    async def _run_app(self) -> None:
        try:
            result = await self.app(self.scope, self.asgi_receive, self.asgi_send)
        except ClientDisconnected:
            pass  # the app let the OSError of send() on a closed connection through
        except BaseException:
            self.error_logger.exception("Exception in ASGI application\n")
            self._end(CloseCode.INTERNAL_ERROR)
        else:
            if result is not None:
                self.error_logger.error(
                    "ASGI callable should return None, but returned '%s'.", result
                )
            if self.answer in (AWAITING, RESPONDING) and self.protocol.state is CONNECTING:
                self.error_logger.error("ASGI callable returned without completing handshake.")
            self._end(CloseCode.NORMAL_CLOSURE)

    def _end(self, code: CloseCode) -> None:
        """Close what the app left open when it returned or raised."""
        state = self.protocol.state
        if state is OPEN:
            self.protocol.send_close(code)
            self._send_data()
        elif state is CONNECTING and self.answer in (AWAITING, RESPONDING):
            # Unanswered, or a denial response left without its end: the
            # client gets a 500 rather than half an answer.
            self.answer = REFUSED
            error = http.HTTPStatus.INTERNAL_SERVER_ERROR
            self._send_response(self.protocol.reject(error, "Internal Server Error\n"))

    async def asgi_receive(self) -> Message:
        """The ASGI ``receive`` callable."""
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        if self.disconnect is not None:
            return self.disconnect
        try:
            try:
                # A Receiving: a whole message that waits, or the wait for
                # one, without get()'s coroutines (see wskit.speedups).
                data = await self.recv_messages.receive()
            except EOFError:  # recv() handles the end of the stream
                data = await self.recv()
        except ConnectionClosed as exc:
            if self.disconnect is None:  # the app may have closed meanwhile
                if exc.rcvd is not None:
                    close = exc.rcvd
                elif exc.sent is not None:
                    close = exc.sent
                else:
                    close = None
                self.disconnect = {
                    "type": "websocket.disconnect",
                    "code": CloseCode.ABNORMAL_CLOSURE if close is None else close.code,
                    "reason": "" if close is None else close.reason,
                }
            return self.disconnect
        if type(data) is str:
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    async def asgi_send(self, message: Message) -> None:
        """The ASGI ``send`` callable.

        Raises:
            ClientDisconnected: (an :exc:`OSError`) The connection is closed.
            RuntimeError: The event isn't valid at this point of the connection.
        """
        kind = message["type"]
        answer = self.answer
        if answer is ACCEPTED and kind == "websocket.send":
            data: bytes | None = message.get("bytes")
            text: str | None = message.get("text")
            payload: str | bytes
            if data is not None and text is None:
                payload = data
            elif text is not None and data is None:
                payload = text
            else:
                raise RuntimeError("websocket.send needs exactly one of 'bytes' or 'text'")
            try:
                # Most messages: checked, built and written in one call, as
                # in send(), without send()'s coroutine.
                written = write_message(self, payload, None, None)
                if written is None:
                    await self.send(payload)
                elif not written:  # writing is paused
                    await self._drain()
            except ConnectionClosed as exc:
                raise ClientDisconnected(str(exc)) from exc
        elif answer is ACCEPTED and kind == "websocket.close":
            self._close_by_app(message)
        elif answer is AWAITING:
            self._answer(message)
        elif answer is RESPONDING and kind == "websocket.http.response.body":
            self._respond_body(message)
        elif answer is REFUSED or (answer is ACCEPTED and self.protocol.state is CLOSED):
            raise ClientDisconnected("the connection is closed")
        else:
            expected = {
                ACCEPTED: "'websocket.send' or 'websocket.close'",
                RESPONDING: "'websocket.http.response.body'",
                CLOSED_BY_APP: "nothing after 'websocket.close'",
            }[answer]
            raise RuntimeError(f"Expected ASGI message {expected}, but got '{kind}'.")

    def _answer(self, message: Message) -> None:
        """Handle the app's answer to the handshake request."""
        kind = message["type"]
        if self.protocol.state is not CONNECTING:  # the client left first
            raise ClientDisconnected("the client disconnected before the handshake")
        if kind == "websocket.accept":
            self._accept(message.get("subprotocol"), message.get("headers") or [])
        elif kind == "websocket.close":
            # Spec: closing before accepting refuses with 403.
            self.answer = REFUSED
            self.disconnect = {"type": "websocket.disconnect", "code": CloseCode.ABNORMAL_CLOSURE}
            self._log_access(403)
            self._send_response(self.protocol.reject(http.HTTPStatus.FORBIDDEN, ""))
        elif kind == "websocket.http.response.start":
            status = message["status"]
            if not 100 <= status < 600:
                raise RuntimeError(f"Invalid HTTP status code '{status}' in response.")
            self.answer = RESPONDING
            self.denial = Response(status, _phrase(status), self._headers(message), b"")
        else:
            raise RuntimeError(
                "Expected ASGI message 'websocket.accept', 'websocket.close' "
                f"or 'websocket.http.response.start', but got '{kind}'."
            )

    def _accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None:
        response = cast(Response, self.response)
        if subprotocol is not None:
            # A client fails the connection on a subprotocol it didn't offer:
            # say so here, where the mistake is.
            if subprotocol not in self.scope["subprotocols"]:
                raise RuntimeError(f"the client didn't offer subprotocol '{subprotocol}'")
            self.protocol.subprotocol = Subprotocol(subprotocol)
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        extra = self._headers({"headers": self.default_headers + list(headers)})
        if "Date" in extra:
            del response.headers["Date"]
        response.headers.update(extra)
        self.answer = ACCEPTED
        self._log_access("[accepted]")
        self.protocol.send_response(response)
        self._send_data()
        self.start_keepalive()

    def _respond_body(self, message: Message) -> None:
        denial = cast(Response, self.denial)
        denial.body += message.get("body", b"")
        if message.get("more_body", False):
            return
        headers = denial.headers
        if "Date" not in headers:
            headers.update(self._headers({"headers": self.default_headers}))
        for name, value in (
            ("Connection", "close"),
            ("Content-Length", str(len(denial.body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ):
            if name not in headers:
                headers[name] = value
        self.answer = REFUSED
        self.disconnect = {"type": "websocket.disconnect", "code": CloseCode.ABNORMAL_CLOSURE}
        self._log_access(denial.status_code)
        self._send_response(denial)

    def _send_response(self, response: Response) -> None:
        """Send a response that refuses the connection; the core then closes it."""
        self.response = response
        self.protocol.send_response(response)
        self._send_data()

    def _close_by_app(self, message: Message) -> None:
        code = message.get("code")
        code = CloseCode.NORMAL_CLOSURE if code is None else code
        reason = message.get("reason") or ""
        if self.protocol.state is OPEN:
            self.protocol.send_close(code, reason)
            self._send_data()
        self.answer = CLOSED_BY_APP
        if self.disconnect is None:
            self.disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}

    @staticmethod
    def _headers(message: Message) -> Headers:
        """Decode the ``headers`` of an ASGI event: names and values are ISO-8859-1."""
        pairs = message["headers"]
        return Headers([(name.decode("latin-1"), value.decode("latin-1")) for name, value in pairs])

    def _log_access(self, outcome: int | str) -> None:
        self.error_logger.info(
            '%s - "WebSocket %s" %s',
            get_client_addr(cast(Any, self.scope)),
            get_path_with_query_string(cast(Any, self.scope)),
            outcome,
        )
