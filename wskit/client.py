"""The client side of a WebSocket connection, Sans-I/O (RFC 6455, section 4.1)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from .datastructures import Headers
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidState,
    InvalidStatus,
    NegotiationError,
    StatusLineTooLong,
)
from .extensions.base import ClientExtensionFactory, Extension
from .handshake import check_upgrade, parse_all, single_header
from .headers import (
    MAX_EXTENSIONS,
    MAX_SUBPROTOCOLS,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    parse_extension,
    parse_subprotocol,
    validate_subprotocols,
)
from .http11 import Request, Response, ResponseParser, response_at_once
from .protocol import CLIENT, CONNECTING, OPEN, Protocol, State
from .reconnect import backoff, process_exception
from .typing import BytesLike, LoggerLike, Origin, Subprotocol
from .uri import WebSocketURI
from .utils import accept_key, generate_key

# The reconnection policy is here too, as in websockets.client.
__all__ = ["ClientProtocol", "backoff", "process_exception"]


class ClientProtocol(Protocol):
    """Sans-I/O implementation of the client side of a WebSocket connection.

    Args:
        uri: The server's URI, from :func:`~wskit.uri.parse_uri`.
        origin: Value of the ``Origin`` header, if any.
        extensions: Extensions to offer, in order of preference.
        subprotocols: Subprotocols to offer, in order of preference.
        state: Initial state.
        max_size: Largest incoming message in bytes, :obj:`None` for no
            limit, or a ``(max_message_size, max_fragment_size)`` tuple.
        logger: Logger; defaults to ``logging.getLogger("wskit.client")``.
    """

    # The opening handshake's state: out of the instance dict (see Protocol).
    __slots__ = (
        "_response_parser",
        "available_extensions",
        "available_subprotocols",
        "handshake_exc",
        "key",
        "origin",
        "subprotocol",
        "uri",
    )

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: Origin | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        state: State = CONNECTING,
        max_size: tuple[int | None, int | None] | int | None = 2**20,
        logger: LoggerLike | None = None,
    ) -> None:
        super().__init__(CLIENT, state=state, max_size=max_size, logger=logger)
        self.uri = uri
        self.origin = origin
        self.available_extensions = extensions
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.available_subprotocols = subprotocols
        self.key = generate_key()
        self.subprotocol: Subprotocol | None = None
        """Subprotocol negotiated in the handshake, if any."""
        self.handshake_exc: Exception | None = None
        """Why the opening handshake failed, if it did."""
        # Made for a response that arrives in pieces (see receive_handshake_data).
        self._response_parser: ResponseParser | None = None

    def connect(self) -> Request:
        """Build the handshake request; send it with :meth:`send_request`.

        Headers may be added to the request before it is sent.
        """
        headers = Headers()
        headers["Host"] = build_host(self.uri.host, self.uri.port, self.uri.secure)
        if self.uri.user_info is not None:
            headers["Authorization"] = build_authorization_basic(*self.uri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        # Constants, and the key that generate_key() made: base64, valid by
        # construction, and absent so far. Both halves written out, without
        # the checks, as _add_valid() would fill them in a loop.
        key = self.key
        headers._list += [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
        lowered = headers._dict
        lowered["upgrade"] = "websocket"
        lowered["connection"] = "Upgrade"
        lowered["sec-websocket-key"] = key
        lowered["sec-websocket-version"] = "13"
        if self.available_extensions:
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [
                    (factory.name, factory.get_request_params())
                    for factory in self.available_extensions
                ]
            )
        if self.available_subprotocols:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        return Request(self.uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Send the handshake request.

        Raises:
            InvalidState: The handshake is already over.
        """
        if self.state is not CONNECTING:
            raise InvalidState(f"cannot send a handshake request: connection is {self.state.name}")
        if self.debug:
            self.logger.debug("> GET %s HTTP/1.1", request.path)
        self.send_handshake(request.serialize())

    # Receiving the response.

    def receive_handshake_data(self, data: BytesLike) -> None:
        """Parse the handshake response; open the connection if it is valid."""
        parser = self._response_parser
        if parser is None:
            # Most responses arrive whole, in the first read: no parser then.
            whole = response_at_once(data)
            if whole is not None:
                self._receive_response(*whole)
                return
            parser = self._response_parser = ResponseParser()
        try:
            response = parser.feed(data)
        except InvalidHandshake as exc:
            self._handshake_failed(_invalid_response(exc))
            return
        if response is not None:
            self._receive_response(response, parser.trailing)

    def receive_handshake_eof(self) -> None:
        """The server closed the connection before its response was complete."""
        # Without a parser, nothing came: a new one tells how that fails.
        parser = self._response_parser or ResponseParser()
        try:
            response = parser.feed_eof()
        except EOFError as exc:
            self._handshake_failed(_invalid_response(exc))
        else:
            self._receive_response(response, parser.trailing)

    def _receive_response(self, response: Response, trailing: bytes) -> None:
        try:
            self.process_response(response)
        except InvalidHandshake as exc:
            response._exception = exc
            self.queue_event(response)
            self._handshake_failed(exc)
            return
        if self.debug:
            self.logger.debug("< HTTP/1.1 101 %s", response.reason_phrase)
        self.queue_event(response)
        self._set_state(OPEN)
        # Frames may follow the response in the same packet.
        self.start_frames(trailing)

    def _handshake_failed(self, exc: InvalidHandshake) -> None:
        if self.debug:
            self.logger.debug("! invalid handshake response: %s", exc)
        self.handshake_exc = exc
        self.send_eof()
        self.discard()

    def process_response(self, response: Response) -> None:
        """Check the handshake response and record what was negotiated.

        Raises:
            InvalidHandshake: The response does not accept the connection, or
                breaks the protocol; the subclass tells how.
        """
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        check_upgrade(headers)
        accept = single_header(headers, "Sec-WebSocket-Accept")
        if accept != accept_key(self.key):
            raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)
        extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)
        self.extensions = extensions

    def process_extensions(self, headers: Headers) -> list[Extension]:
        """Activate the extensions the server accepted, in its order.

        "The server MUST NOT respond with a Sec-WebSocket-Extensions header
        containing an extension that was not offered by the client."

        Raises:
            InvalidHandshake: The header cannot be parsed, or names an
                extension or parameters that were not offered.
        """
        accepted: list[Extension] = []
        for name, params in parse_all(
            headers, "Sec-WebSocket-Extensions", parse_extension, MAX_EXTENSIONS
        ):
            for factory in self.available_extensions or ():
                if factory.name != name:
                    continue
                try:
                    extension = factory.process_response_params(params, accepted)
                except NegotiationError:
                    continue
                accepted.append(extension)
                break
            else:
                raise NegotiationError(f"unsupported extension: {name} {params}")
        return accepted

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """Check the subprotocol the server picked, if any.

        Raises:
            InvalidHandshake: The header cannot be parsed, lists several
                subprotocols, or one the client did not offer.
        """
        subprotocols = parse_all(
            headers, "Sec-WebSocket-Protocol", parse_subprotocol, MAX_SUBPROTOCOLS
        )
        if not subprotocols:
            return None
        if len(subprotocols) > 1:
            raise InvalidHeader("Sec-WebSocket-Protocol", "multiple values")
        subprotocol = subprotocols[0]
        if subprotocol not in (self.available_subprotocols or ()):
            raise NegotiationError(f"unsupported subprotocol: {subprotocol}")
        return subprotocol


class ClientConnection(ClientProtocol):
    """Deprecated name of :class:`ClientProtocol`, kept as websockets keeps it."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "ClientConnection was renamed to ClientProtocol", DeprecationWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)


def _invalid_response(exc: Exception) -> InvalidHandshake:
    """Report a response that couldn't be parsed, as websockets does.

    An overlong status line stays itself; any other failure, EOF included,
    is an :exc:`InvalidMessage` caused by what went wrong, so that
    ``except InvalidMessage`` catches it.
    """
    if isinstance(exc, StatusLineTooLong):
        return exc
    failure = InvalidMessage("did not receive a valid HTTP response")
    failure.__cause__ = exc
    return failure
