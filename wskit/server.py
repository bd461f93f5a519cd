"""The server side of a WebSocket connection, Sans-I/O (RFC 6455, section 4.2)."""

from __future__ import annotations

import email.utils
import http
import re
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .datastructures import Headers
from .exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidState,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
    TooManyHeaders,
)
from .extensions.base import Extension, ServerExtensionFactory
from .handshake import check_upgrade, parse_all, single_header
from .headers import (
    MAX_EXTENSIONS,
    MAX_SUBPROTOCOLS,
    build_extension,
    parse_extension,
    parse_subprotocol,
)
from .http11 import Request, RequestParser, Response, request_at_once
from .protocol import CONNECTING, OPEN, SERVER, Protocol, State
from .typing import BytesLike, LoggerLike, Origin, StatusLike, Subprotocol
from .utils import accept_key

if TYPE_CHECKING:
    SelectSubprotocol = Callable[["ServerProtocol", Sequence[Subprotocol]], Subprotocol | None]

__all__ = ["ServerProtocol"]

# HTTP answers to requests too malformed for accept() to see them.
_MALFORMED_REQUEST_STATUS: tuple[tuple[type[InvalidHandshake], http.HTTPStatus], ...] = (
    (RequestLineTooLong, http.HTTPStatus.REQUEST_URI_TOO_LONG),
    (HeaderLineTooLong, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE),
    (TooManyHeaders, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE),
)

# 16 bytes in base64, what base64.b64decode(key, validate=True) accepts as
# such, without decoding: the 4 bits the last character adds are ignored
# there too (a test holds both equal).
_valid_key_re = re.compile(r"[A-Za-z0-9+/]{22}==")

_BROWSER_HINT = (
    "\nThis URL is a WebSocket endpoint. A browser cannot open it as a page: "
    "connect to it with a WebSocket client.\n"
)


def _http_date() -> str:
    """The current time as an HTTP ``Date``, formatted once per second."""
    global _date  # a cache, replaced in one assignment: safe across threads
    now = int(time.time())
    date = _date
    if date[0] != now:
        date = _date = (now, email.utils.formatdate(now, usegmt=True))
    return date[1]


_date = (0, "")


class ServerProtocol(Protocol):
    """Sans-I/O implementation of the server side of a WebSocket connection.

    Args:
        origins: Acceptable ``Origin`` values: strings for exact matches,
            compiled regular expressions for patterns, :obj:`None` to accept
            requests without an ``Origin`` header. Guards against Cross-Site
            WebSocket Hijacking. :obj:`None` (the default) accepts any origin.
        extensions: Supported extensions, in the order they are tried.
        subprotocols: Supported subprotocols, most preferred first.
        select_subprotocol: Replaces :meth:`select_subprotocol`; called with
            this protocol and the client's subprotocols.
        state: Initial state.
        max_size: Largest incoming message in bytes, :obj:`None` for no
            limit, or a ``(max_message_size, max_fragment_size)`` tuple.
        logger: Logger; defaults to ``logging.getLogger("wskit.server")``.
    """

    # The opening handshake's state: out of the instance dict (see Protocol).
    __slots__ = (
        "_request_parser",
        "available_extensions",
        "available_subprotocols",
        "handshake_exc",
        "origin",
        "origins",
        "status",
        "subprotocol",
    )

    def __init__(
        self,
        *,
        origins: Sequence[Origin | re.Pattern[str] | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        state: State = CONNECTING,
        max_size: tuple[int | None, int | None] | int | None = 2**20,
        logger: LoggerLike | None = None,
    ) -> None:
        super().__init__(SERVER, state=state, max_size=max_size, logger=logger)
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        if select_subprotocol is not None:
            # Bind the callable like a method, so that it gets this protocol.
            self.select_subprotocol = select_subprotocol.__get__(  # type: ignore[method-assign]
                self, self.__class__
            )
        self.origin: Origin | None = None
        """Origin of the handshake request, if it had one."""
        self.subprotocol: Subprotocol | None = None
        """Subprotocol negotiated in the handshake, if any."""
        self.handshake_exc: Exception | None = None
        """Why the opening handshake failed, if it did."""
        self.status: int | None = None
        """HTTP status of the handshake response, once sent."""
        # Made when a request doesn't arrive whole (see receive_handshake_data).
        self._request_parser: RequestParser | None = None

    # Receiving the request.

    @property
    def awaiting_request(self) -> bool:
        """Whether no byte of the handshake request has arrived yet.

        A server that closes drops such connections at once: there is no
        request to answer. It's :obj:`False` as soon as a byte arrives, and
        once the connection is closed.
        """
        # Read when a server closes, never on the handshake's path: a
        # property rather than a flag that receiving would have to set.
        return self.state is CONNECTING and self.bytes_received == 0

    def receive_handshake_data(self, data: BytesLike) -> None:
        """Parse the handshake request; queue it as an event once complete."""
        parser = self._request_parser
        try:
            if parser is None:
                # Most requests arrive whole, in the first read: no parser then.
                whole = request_at_once(data)
                if whole is not None:
                    self._receive_request(*whole)
                    return
                parser = self._request_parser = RequestParser()
            request = parser.feed(data)
        except InvalidHandshake as exc:
            status = next(
                (status for kind, status in _MALFORMED_REQUEST_STATUS if isinstance(exc, kind)),
                http.HTTPStatus.BAD_REQUEST,
            )
            response = self._reject_with(exc, status)
            if status is http.HTTPStatus.BAD_REQUEST:
                # Reported as websockets does, with the details in the cause.
                failure = InvalidMessage("did not receive a valid HTTP request")
                failure.__cause__ = exc
                response._exception = failure
            # send_response() records the exception as the handshake failure.
            self.send_response(response)
            return
        if request is not None:
            self._receive_request(request, parser.trailing)

    def _receive_request(self, request: Request, trailing: bytes) -> None:
        if self.debug:
            self.logger.debug("< %s %s %s", request.method, request.path, request.protocol)
        self.queue_event(request)
        # Frames may follow the request at once; they wait for the answer.
        self.hold(trailing)

    def receive_handshake_eof(self) -> None:
        """The client went away before its request was complete."""
        # websockets reports this as a malformed request caused by EOFError,
        # so that "except InvalidMessage" catches it.
        exc = InvalidMessage("did not receive a valid HTTP request")
        exc.__cause__ = EOFError("connection closed before the end of the HTTP request")
        self.handshake_exc = exc

    # Answering it.

    def accept(self, request: Request) -> Response:
        """Build the response to a handshake request.

        A valid request gets a 101 response that accepts the connection; an
        invalid one gets an error response (400, 403, 405, 426, 505 or 500),
        and :attr:`handshake_exc` says why. Either way, send it
        with :meth:`send_response`; headers may be added before that.

        Args:
            request: The handshake request received from the client.
        """
        try:
            accept_header, extensions_header, protocol_header = self.process_request(request)
        except InvalidOrigin as exc:
            return self._reject_with(exc, http.HTTPStatus.FORBIDDEN)
        except InvalidMethod as exc:
            response = self._reject_with(exc, http.HTTPStatus.METHOD_NOT_ALLOWED)
            response.headers["Allow"] = "GET"
            return response
        except InvalidProtocol as exc:
            return self._reject_with(exc, http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
        except InvalidUpgrade as exc:
            # A browser that opens the URL as a page sends no Upgrade header.
            hint = "" if exc.name == "Sec-WebSocket-Version" else _BROWSER_HINT
            response = self._reject_with(exc, http.HTTPStatus.UPGRADE_REQUIRED, hint)
            response.headers["Upgrade"] = "websocket"
            response.headers["Sec-WebSocket-Version"] = "13"
            return response
        except InvalidHandshake as exc:
            return self._reject_with(exc, http.HTTPStatus.BAD_REQUEST)
        except Exception as exc:
            self.logger.error("opening handshake failed", exc_info=True)
            response = self.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\nSee the server log for details.\n",
            )
            response._exception = self.handshake_exc = exc
            return response

        headers = Headers()
        # The accept key is base64: valid by construction, as the rest. Both
        # halves written out, as _add_valid() would fill them in a loop.
        date = _http_date()
        headers._list = [
            ("Date", date),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_header),
        ]
        headers._dict = {
            "date": date,
            "upgrade": "websocket",
            "connection": "Upgrade",
            "sec-websocket-accept": accept_header,
        }
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = protocol_header
        return Response(101, "Switching Protocols", headers)

    def _reject_with(self, exc: InvalidHandshake, status: StatusLike, hint: str = "") -> Response:
        if self.debug:
            self.logger.debug("! invalid handshake request: %s", exc)
        response = self.reject(status, f"Failed to open a WebSocket connection: {exc}.\n{hint}")
        response._exception = self.handshake_exc = exc
        return response

    def process_request(self, request: Request) -> tuple[str, str | None, str | None]:
        """Check the handshake request and negotiate extensions and subprotocol.

        Returns:
            The values of ``Sec-WebSocket-Accept``, ``Sec-WebSocket-Extensions``
            and ``Sec-WebSocket-Protocol`` for the response; the last two are
            :obj:`None` when nothing was negotiated.

        Raises:
            InvalidMethod: The method isn't GET (answer 405).
            InvalidProtocol: The protocol isn't HTTP/1.1 (answer 505).
            InvalidHandshake: The request is not an acceptable WebSocket
                handshake; the subclass tells which HTTP status fits.
        """
        # RFC 6455 4.1: "The method of the request MUST be GET, and the HTTP
        # version MUST be at least 1.1."
        if request.method != "GET":
            raise InvalidMethod(request.method)
        if request.protocol != "HTTP/1.1":
            raise InvalidProtocol(request.protocol)
        headers = request.headers
        check_upgrade(headers)
        # Lowercase names to values, a list for a repeated one: read
        # directly, as most requests give each header once (see Headers).
        fields = headers._dict

        # "A |Host| header field containing the server's authority."
        host = fields.get("host")
        if host is None or isinstance(host, list):
            single_header(headers, "Host")  # raises

        # "A |Sec-WebSocket-Version| header field, with a value of 13." Any
        # other version gets a 426 that lists the supported one.
        if fields.get("sec-websocket-version") != "13":
            versions = headers.get_all("Sec-WebSocket-Version")
            raise InvalidUpgrade("Sec-WebSocket-Version", ", ".join(versions) or None)

        # "a randomly selected 16-byte value that has been base64-encoded".
        key = fields.get("sec-websocket-key")
        if key is None or isinstance(key, list):
            key = single_header(headers, "Sec-WebSocket-Key")  # raises
        if _valid_key_re.fullmatch(key) is None:
            raise InvalidHeaderValue("Sec-WebSocket-Key", key)

        self.origin = self.process_origin(headers)
        extensions_header, self.extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)
        return accept_key(key), extensions_header, self.subprotocol

    def process_origin(self, headers: Headers) -> Origin | None:
        """Check the ``Origin`` header against :attr:`origins`.

        Returns:
            The origin, or :obj:`None` if the request has none.

        Raises:
            InvalidOrigin: The origin is not allowed.
            InvalidHeader: The request has several ``Origin`` headers.
        """
        # Read from the dict of lowercase names, as process_request() reads.
        origin = headers._dict.get("origin")
        if isinstance(origin, list):
            raise InvalidHeader("Origin", "multiple values") from None
        if self.origins is not None and not any(
            origin is None
            if allowed is None
            else (
                origin is not None
                and (
                    allowed.fullmatch(origin) is not None
                    if isinstance(allowed, re.Pattern)
                    else origin == allowed
                )
            )
            for allowed in self.origins
        ):
            raise InvalidOrigin(origin)
        return None if origin is None else Origin(origin)

    def process_extensions(self, headers: Headers) -> tuple[str | None, list[Extension]]:
        """Accept the client's extension offers that a factory supports.

        Offers are considered in the client's order; for each, the server's
        factories of that name are tried in order, and the first one that
        accepts the parameters wins. Offers that no factory accepts are
        declined (RFC 6455, section 9.1).

        Returns:
            The ``Sec-WebSocket-Extensions`` response header (:obj:`None` when
            nothing was accepted) and the accepted extensions, in order.

        Raises:
            InvalidHandshake: The header cannot be parsed.
        """
        accepted: list[Extension] = []
        response_params = []
        if self.available_extensions:
            offers = parse_all(headers, "Sec-WebSocket-Extensions", parse_extension, MAX_EXTENSIONS)
            for name, params in offers:
                for factory in self.available_extensions:
                    if factory.name != name:
                        continue
                    try:
                        params_out, extension = factory.process_request_params(params, accepted)
                    except NegotiationError:
                        continue
                    accepted.append(extension)
                    response_params.append((name, params_out))
                    break
        header = build_extension(response_params) if response_params else None
        return header, accepted

    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """Pick the subprotocol from the ``Sec-WebSocket-Protocol`` headers.

        Raises:
            InvalidHandshake: The header cannot be parsed, or no acceptable
                subprotocol was offered.
        """
        # Most clients offer none: then there is nothing to parse.
        offered: list[Subprotocol] = (
            parse_all(headers, "Sec-WebSocket-Protocol", parse_subprotocol, MAX_SUBPROTOCOLS)
            if "sec-websocket-protocol" in headers._dict
            else []
        )
        return self.select_subprotocol(offered)

    def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        """Pick a subprotocol among those the client offers.

        The server's order of preference wins. A server without subprotocols
        goes on without one, whatever the client offers; a server with some
        refuses a client that offers none of them (HTTP 400). Replace this
        logic with the ``select_subprotocol`` argument.

        Args:
            subprotocols: Subprotocols offered by the client.

        Returns:
            The chosen subprotocol, or :obj:`None` to go on without one.

        Raises:
            NegotiationError: No acceptable subprotocol was offered.
        """
        if not self.available_subprotocols:
            return None
        if not subprotocols:
            raise NegotiationError("missing subprotocol")
        for subprotocol in self.available_subprotocols:
            if subprotocol in subprotocols:
                return subprotocol
        raise NegotiationError(
            f"invalid subprotocol; expected one of {', '.join(self.available_subprotocols)}"
        )

    def reject(self, status: StatusLike, text: str) -> Response:
        """Build a plain-text HTTP response that refuses the connection.

        Send it with :meth:`send_response`; headers may be changed before.

        Args:
            status: HTTP status code.
            text: Body of the response, encoded to UTF-8.
        """
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers()
        headers._add_valid(
            [
                ("Date", _http_date()),
                ("Connection", "close"),
                ("Content-Length", str(len(body))),
                ("Content-Type", "text/plain; charset=utf-8"),
            ]
        )
        return Response(status.value, status.phrase, headers, body)

    def send_response(self, response: Response) -> None:
        """Send the handshake response; a 101 opens the connection.

        Any other status ends it: the server closes the connection after the
        response.

        Raises:
            InvalidState: The handshake is already over.
        """
        if self.state is not CONNECTING:
            raise InvalidState(f"cannot send a handshake response: connection is {self.state.name}")
        if self.debug:
            self.logger.debug("> HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
        self.send_handshake(response.serialize())
        self.status = response.status_code
        if response.status_code == 101:
            self._set_state(OPEN)
            self.start_frames(b"")
        else:
            self.handshake_exc = response._exception or InvalidHandshake(
                f"connection rejected with HTTP {response.status_code}"
            )
            self.send_eof()
            self.discard()


class ServerConnection(ServerProtocol):
    """Deprecated name of :class:`ServerProtocol`, kept as websockets keeps it."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "ServerConnection was renamed to ServerProtocol", DeprecationWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)
