"""HTTP/1.1 messages of the opening handshake and incremental parsers for them.

The parsers are plain state machines: feed them bytes as they arrive and
they hand back a :class:`Request` or :class:`Response` once it's complete.
They never look at a byte twice while waiting for the end of a line, so
feeding a message one byte at a time costs the same as feeding it at once.

Every size is bounded: :data:`MAX_LINE_LENGTH` per line (request line,
status line, header line, chunk-size line), :data:`MAX_NUM_HEADERS` headers
and :data:`MAX_BODY_SIZE` bytes of response body.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
import warnings

from .datastructures import Headers
from .exceptions import (
    HeaderLineTooLong,
    InvalidMessage,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from .speedups import split_request, split_response
from .version import __version__ as wskit_version

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "SERVER",
    "USER_AGENT",
    "Request",
    "RequestParser",
    "Response",
    "ResponseParser",
]

MAX_NUM_HEADERS = 128
"""Maximum number of headers (and, separately, of chunked-body trailers)."""

MAX_LINE_LENGTH = 8192
"""Maximum length of a request, status, header or chunk-size line, CRLF excluded."""

MAX_BODY_SIZE = 1_048_576
"""Maximum size of a response body, after removing the chunked framing."""

PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

USER_AGENT = f"Python/{PYTHON_VERSION} wskit/{wskit_version}"
"""Default value of the ``User-Agent`` header sent by clients."""

SERVER = f"Python/{PYTHON_VERSION} wskit/{wskit_version}"
"""Default value of the ``Server`` header sent by servers."""


# RFC 9110 5.6.2: token = 1*tchar.
_token_re = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 9110 5.5: field-value = *( VCHAR / obs-text / SP / HTAB ), once the
# surrounding whitespace is gone. No CR, LF, NUL or other control character.
_value_re = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

# The request line is ASCII without control characters; the split on SP
# and the checks of each part come after.
_request_line_re = re.compile(rb"[\x20-\x7e]*")

# RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
# A missing SP before an empty reason is tolerated.
_status_line_re = re.compile(rb"HTTP/1\.1 ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
# Proxies such as tinyproxy answer CONNECT in HTTP/1.0.
_tunnel_status_line_re = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")

_digits_re = re.compile(rb"[0-9]+")

# What serialize() checks: request line parts, reason phrases.
_request_part_re = re.compile(r"[\x21-\x7e]+")
_reason_re = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

# A request line that the checks of _check_request_line() accept, all at once.
_valid_request_line_re = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (/[\x21-\x7e]*) (HTTP/1\.[01])"
)

# Header lines that the general rules accept, many at once: see _at_once().
_valid_fields_re = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")

# RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF.
# Extensions carry nothing we use; they're only checked for stray controls.
_chunk_size_re = re.compile(rb"([0-9A-Fa-f]+)[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?")

_CR = 0x0D

# What split_request() returns: method, target, protocol, the header fields,
# the same by lower-case name, where the head ends.
_Head = tuple[str, str, str, list[tuple[str, str]], dict[str, str | list[str]], int]


def _excerpt(data: bytes, limit: int = 64) -> str:
    """Show a bounded, printable piece of peer data in an error message."""
    text = repr(data[:limit])
    return text + "..." if len(data) > limit else text


@dataclasses.dataclass
class Request:
    """An HTTP request of the opening handshake.

    ``method``, ``path`` and ``protocol`` are ASCII. Header values outside
    ASCII are carried as ISO-8859-1 (see :class:`~wskit.datastructures.Headers`).

    Attributes:
        path: Request target: path and optional query.
        headers: Request headers.
        method: Request method; the handshake uses GET.
        protocol: HTTP version; the handshake uses HTTP/1.1.
    """

    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"
    _exception: Exception | None = None

    @property
    def exception(self) -> Exception | None:
        """Deprecated: the error met while handling this request, if any.

        Read ``ServerProtocol.handshake_exc`` instead.
        """
        warnings.warn(
            "Request.exception is deprecated; read ServerProtocol.handshake_exc",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._exception

    def serialize(self) -> bytes:
        """Return the request as bytes, ready to send.

        Raises:
            ValueError: If the method, path or protocol contains whitespace,
                control characters or non-ASCII characters, which would
                corrupt the request line.
        """
        for part in (self.method, self.path, self.protocol):
            if _request_part_re.fullmatch(part) is None:
                raise ValueError(f"invalid request line component: {part!r}")
        request_line = f"{self.method} {self.path} {self.protocol}\r\n"
        return request_line.encode("ascii") + self.headers.serialize()


@dataclasses.dataclass
class Response:
    """An HTTP response of the opening handshake.

    The reason phrase and header values outside ASCII are carried as
    ISO-8859-1.

    Attributes:
        status_code: Status code.
        reason_phrase: Reason phrase; may be empty.
        headers: Response headers.
        body: Response body.
    """

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes | bytearray = b""
    _exception: Exception | None = None

    @property
    def exception(self) -> Exception | None:
        """Deprecated: the error met while handling this response, if any.

        Read ``ClientProtocol.handshake_exc`` instead.
        """
        warnings.warn(
            "Response.exception is deprecated; read ClientProtocol.handshake_exc",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._exception

    def serialize(self) -> bytes:
        """Return the response as bytes, ready to send.

        Raises:
            ValueError: If the status code isn't three digits or the reason
                phrase contains CR, LF or other control characters.
        """
        if not 100 <= self.status_code <= 999:
            raise ValueError(f"invalid status code: {self.status_code}")
        if _reason_re.fullmatch(self.reason_phrase) is None:
            raise ValueError(f"invalid reason phrase: {self.reason_phrase!r}")
        status_line = f"HTTP/1.1 {self.status_code:d} {self.reason_phrase}\r\n"
        return status_line.encode("iso-8859-1") + self.headers.serialize() + self.body


class _Parser:
    """Line reading and header parsing shared by both parsers.

    Bytes are kept in one buffer; ``_start`` is the first byte not consumed
    yet and ``_scan`` the first byte not searched for LF yet, so a line that
    arrives in many pieces is scanned once.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0
        self._scan = 0
        self._headers = Headers()
        self._num_headers = 0
        self._headers_done = False
        self._trailing = b""
        self._done = False
        self._error: Exception | None = None

    @property
    def trailing(self) -> bytes:
        """Bytes received after the end of the message.

        Empty until the message is complete. With a WebSocket handshake,
        these are the first frames, sent without waiting for the answer.
        """
        return self._trailing

    def _check_usable(self) -> None:
        if self._error is not None:
            raise RuntimeError("parser failed on invalid input; discard it") from self._error
        if self._done:
            raise RuntimeError("message is already complete; read trailing instead")

    def _fail(self, exc: Exception) -> None:
        """Remember the error and drop buffered data: the parser is dead."""
        self._error = exc
        self._buffer = bytearray()
        self._start = self._scan = 0

    def _compact(self) -> None:
        """Drop consumed bytes so the buffer holds only the unparsed tail."""
        if self._start:
            del self._buffer[: self._start]
            self._scan -= self._start
            self._start = 0

    def _consume(self, size: int) -> bytes:
        data = bytes(self._buffer[self._start : self._start + size])
        self._start += size
        self._scan = max(self._scan, self._start)
        return data

    def _complete(self) -> None:
        self._done = True
        self._trailing = bytes(self._buffer[self._start :])
        self._buffer = bytearray()
        self._start = self._scan = 0

    def _read_line(self, too_long: type[Exception], what: str) -> bytes | None:
        """Return the next line without its CRLF, or None if it's incomplete.

        Raises:
            too_long: As soon as more than :data:`MAX_LINE_LENGTH` bytes are
                buffered without a line ending.
            InvalidMessage: If the line ends with LF alone.
        """
        buffer, start = self._buffer, self._start
        # A valid line ends within MAX_LINE_LENGTH + 2 bytes; never look past.
        end = buffer.find(b"\n", self._scan, start + MAX_LINE_LENGTH + 2)
        if end == -1:
            pending = len(buffer) - start
            # One byte of slack for a CR whose LF hasn't arrived yet.
            if pending > MAX_LINE_LENGTH + 1 or (
                pending == MAX_LINE_LENGTH + 1 and buffer[-1] != _CR
            ):
                raise too_long(f"{what} longer than {MAX_LINE_LENGTH} bytes")
            self._scan = len(buffer)
            return None
        # RFC 9112 2.2: a line ends with CRLF. Accepting a bare LF is an
        # option for lenient parsers; a strict one avoids request smuggling.
        if end == start or buffer[end - 1] != _CR:
            raise InvalidMessage(f"{what} ends with a bare LF")
        line = bytes(buffer[start : end - 1])
        self._start = self._scan = end + 1
        return line

    def _read_first_line(self, too_long: type[Exception], what: str) -> bytes | None:
        """Return the request or status line, as :meth:`_read_line` does.

        From the first bytes received, read the header section at once if
        they hold it all (see :meth:`_at_once`).
        """
        line = None if self._scan else self._at_once()
        return self._read_line(too_long, what) if line is None else line

    def _at_once(self) -> bytes | None:
        """Read the first line and the header section in one go, if possible.

        A handshake's request or response usually arrives whole. When the
        buffer holds a first line, then header lines that the general rules
        accept, one :data:`MAX_LINE_LENGTH` of them at most, and the empty
        line, add the headers, consume the section and return the first line,
        as :meth:`_read_line` would. Otherwise return None: the general rules
        then read line by line and say what's wrong. They take whatever this
        leaves, and agree on what it takes (a test holds them equal).
        """
        buffer = self._buffer
        lf = buffer.find(b"\n", 0, MAX_LINE_LENGTH + 2)
        if lf == -1:
            # _read_line() won't search these bytes again.
            self._scan = min(len(buffer), MAX_LINE_LENGTH + 2)
            return None
        if lf == 0 or buffer[lf - 1] != _CR:
            return None
        # The first line's CRLF, then MAX_LINE_LENGTH + 2 bytes of header
        # lines at most: none of them is too long.
        end = buffer.find(b"\r\n\r\n", lf - 1, lf + MAX_LINE_LENGTH + 5)
        if end == -1:
            return None
        fields = buffer[lf + 1 : end + 2]
        if fields.count(b"\r\n") > MAX_NUM_HEADERS or _valid_fields_re.fullmatch(fields) is None:
            return None
        # Names are tokens, so ASCII; values are ISO-8859-1 (see _parse_field).
        lines = fields.decode("iso-8859-1").split("\r\n")
        del lines[-1]
        parts = [line.partition(":") for line in lines]
        self._headers._add_valid([(name, value.strip(" \t")) for name, _, value in parts])
        self._num_headers = len(lines)
        self._headers_done = True
        self._start = self._scan = end + 4
        return bytes(buffer[: lf - 1])

    def _parse_field(self, line: bytes, headers: Headers, count: int) -> None:
        """Parse ``name: value`` and add it to ``headers`` (``count`` already there)."""
        # RFC 9112 5.2: "A server that receives an obs-fold in a request
        # message [...] MUST either reject the message [...]". Whitespace
        # before the first field is rejected the same way (RFC 9112 2.2).
        if line[0] in b" \t":
            raise InvalidMessage("obsolete line folding in header")
        name, colon, value = line.partition(b":")
        # RFC 9112 5.1: "No whitespace is allowed between the field name and
        # colon." A name with whitespace is therefore not a token.
        if not colon or _token_re.fullmatch(name) is None:
            raise InvalidMessage(f"invalid header name: {_excerpt(name)}")
        value = value.strip(b" \t")
        if _value_re.fullmatch(value) is None:
            raise InvalidMessage(f"invalid value in {name.decode()} header: {_excerpt(value)}")
        if count >= MAX_NUM_HEADERS:
            raise TooManyHeaders(f"more than {MAX_NUM_HEADERS} headers")
        # Validated above, so the checks of headers[name] = value are redundant.
        headers.set_insecure(name.decode("ascii"), value.decode("iso-8859-1"))

    def _read_headers(self) -> bool:
        """Read header lines; return True once the empty line is reached."""
        while not self._headers_done:
            line = self._read_line(HeaderLineTooLong, "header line")
            if line is None:
                return False
            if not line:
                self._headers_done = True
                break
            self._parse_field(line, self._headers, self._num_headers)
            self._num_headers += 1
        return True


def request_at_once(data: bytes | bytearray | memoryview) -> tuple[Request, bytes] | None:
    """Read a request that ``data`` holds whole, as :class:`RequestParser` would.

    Returns:
        The request and the bytes after it, when ``data`` starts with a head
        that :func:`~wskit.speedups.split_request` takes as it is; else
        :obj:`None`, and a :class:`RequestParser` reads ``data``. Servers
        call this first: most requests arrive whole, and then need no parser.
    """
    head: _Head | None = split_request(data, MAX_LINE_LENGTH, MAX_NUM_HEADERS)
    if head is None:
        return None
    method, path, protocol, fields, lowered, end = head
    headers = Headers()
    # Checked by split_request() as the general rules would.
    headers._list, headers._dict = fields, lowered
    return Request(path, headers, method, protocol), bytes(data[end:])


def response_at_once(data: bytes | bytearray | memoryview) -> tuple[Response, bytes] | None:
    """Read a ``101`` response that ``data`` holds whole, as :class:`ResponseParser` would.

    Returns:
        The response and the bytes after it (frames), when ``data`` starts
        with a head that :func:`~wskit.speedups.split_response` takes as it
        is; else :obj:`None`, and a :class:`ResponseParser` reads ``data``.
        Clients call this first: most responses arrive whole, and then need
        no parser.
    """
    head = split_response(data, MAX_LINE_LENGTH, MAX_NUM_HEADERS)
    if head is None:
        return None
    reason, fields, lowered, end = head
    headers = Headers()
    # Checked by split_response() as the general rules would.
    headers._list, headers._dict = fields, lowered
    return Response(101, reason, headers), bytes(data[end:])


class RequestParser(_Parser):
    """Incremental parser for the handshake request, used by servers.

    Feed bytes with :meth:`feed` until it returns a :class:`Request`. Bytes
    after the header section (frames pipelined by an eager client) are then
    available in :attr:`trailing`.

    Once :meth:`feed` has raised, or has returned the request, the parser
    is finished: any further call to :meth:`feed` raises
    :exc:`RuntimeError` (chained to the original error, if any).
    """

    def __init__(self) -> None:
        super().__init__()
        self._request_line: tuple[str, str, str] | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> Request | None:
        """Parse more bytes of the request.

        Args:
            data: Bytes received from the client.

        Returns:
            The request once its header section is complete, else None.

        Raises:
            RequestLineTooLong: If the request line exceeds
                :data:`MAX_LINE_LENGTH` bytes (raised as soon as that many
                bytes are buffered without a line ending).
            HeaderLineTooLong: If a header line exceeds :data:`MAX_LINE_LENGTH`.
            TooManyHeaders: If there are more than :data:`MAX_NUM_HEADERS`.
            InvalidMessage: If the request is malformed (answer 400),
                including a request that announces a body. Another method
                than GET, or HTTP/1.0, is left to ``ServerProtocol.accept()``.
            RuntimeError: If the parser already raised or returned.
        """
        self._check_usable()
        if self._request_line is None and not self._buffer:
            # The first bytes: most often a whole head, split in one call.
            whole = request_at_once(data)
            if whole is not None:
                self._headers = whole[0].headers
                self._trailing = whole[1]
                self._done = True
                return whole[0]
        self._buffer += data
        try:
            request = self._parse()
        except Exception as exc:
            self._fail(exc)
            raise
        self._compact()
        return request

    def _parse(self) -> Request | None:
        if self._request_line is None:
            line = self._read_first_line(RequestLineTooLong, "request line")
            if line is None:
                return None
            self._request_line = self._parse_request_line(line)
        if not self._read_headers():
            return None
        # A handshake with a body is pointless and a classic smuggling
        # vector, so it's refused. Some clients send "Content-Length: 0",
        # which announces no body: that's tolerated, as websockets does.
        if "Transfer-Encoding" in self._headers or any(
            value != "0" for value in self._headers.get_all("Content-Length")
        ):
            raise InvalidMessage("unsupported request body")
        self._complete()
        method, path, protocol = self._request_line
        return Request(path, self._headers, method, protocol)

    @staticmethod
    def _parse_request_line(line: bytes) -> tuple[str, str, str]:
        # The common case at once; anything else is checked step by step,
        # which tells what's wrong (a test holds both equal).
        valid = _valid_request_line_re.fullmatch(line)
        if valid is None:
            return RequestParser._check_request_line(line)
        method, target, protocol = valid.groups()
        return method.decode("ascii"), target.decode("ascii"), protocol.decode("ascii")

    @staticmethod
    def _check_request_line(line: bytes) -> tuple[str, str, str]:
        # RFC 9112 3: request-line = method SP request-target SP HTTP-version
        if _request_line_re.fullmatch(line) is None:
            raise InvalidMessage(f"invalid character in request line: {_excerpt(line)}")
        parts = line.split(b" ")
        if len(parts) != 3:
            raise InvalidMessage(f"invalid request line: {_excerpt(line)}")
        method, target, protocol = parts
        # RFC 6455 4.1: "The method of the request MUST be GET, and the HTTP
        # version MUST be at least 1.1." Another method or HTTP/1.0 is still
        # HTTP that the server answers (405, 505) once it sees the request,
        # in ServerProtocol.accept(); anything else isn't HTTP/1.x at all.
        if protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise InvalidMessage(f"unsupported protocol in request line: {_excerpt(line)}")
        if _token_re.fullmatch(method) is None:
            raise InvalidMessage(f"invalid method in request line: {_excerpt(line)}")
        # RFC 6455 3 and RFC 9112 3.2.1: the target is origin-form, an
        # absolute path with an optional query.
        if not target.startswith(b"/"):
            raise InvalidMessage(f"invalid request target: {_excerpt(target)}")
        return method.decode("ascii"), target.decode("ascii"), protocol.decode("ascii")


class _ResponseState(enum.Enum):
    STATUS_LINE = enum.auto()
    HEADERS = enum.auto()
    BODY_LENGTH = enum.auto()
    CHUNK_SIZE = enum.auto()
    CHUNK_DATA = enum.auto()
    CHUNK_END = enum.auto()
    TRAILERS = enum.auto()
    BODY_EOF = enum.auto()


class ResponseParser(_Parser):
    """Incremental parser for the handshake response, used by clients.

    Feed bytes with :meth:`feed` until it returns a :class:`Response`. When
    the body is delimited by the end of the connection (no
    ``Content-Length``, not chunked), :meth:`feed` keeps returning None and
    :meth:`feed_eof` returns the response.

    A ``101 Switching Protocols`` response has no body: the bytes after its
    header section are frames and end up in :attr:`trailing`.

    With ``tunnel``, the response answers a ``CONNECT`` request to a proxy:
    it may be HTTP/1.0, and a 2xx response has no body either, whatever its
    headers say: the bytes after it belong to the tunnel.

    Once a method has raised, or :meth:`feed` has returned the response,
    further calls to :meth:`feed` raise :exc:`RuntimeError`.
    """

    def __init__(self, *, tunnel: bool = False) -> None:
        super().__init__()
        self._tunnel = tunnel
        self._state = _ResponseState.STATUS_LINE
        self._status_code = 0
        self._reason_phrase = ""
        self._body = bytearray()
        self._remaining = 0  # bytes left in the body or the current chunk
        self._trailers = Headers()
        self._num_trailers = 0
        self._response: Response | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> Response | None:
        """Parse more bytes of the response.

        Args:
            data: Bytes received from the server.

        Returns:
            The response once it's complete, else None.

        Raises:
            StatusLineTooLong: If the status line exceeds :data:`MAX_LINE_LENGTH`.
            HeaderLineTooLong: If a header or trailer line exceeds it.
            TooManyHeaders: If there are more than :data:`MAX_NUM_HEADERS`
                headers or trailers.
            SecurityError: If the body exceeds :data:`MAX_BODY_SIZE` bytes, or
                a chunk-size line exceeds :data:`MAX_LINE_LENGTH`.
            InvalidMessage: If the response is malformed.
            RuntimeError: If the parser already raised or returned.
        """
        self._check_usable()
        if self._state is _ResponseState.STATUS_LINE and not self._buffer and not self._tunnel:
            # The first bytes: most often a whole 101, split in one call.
            whole = response_at_once(data)
            if whole is not None:
                self._response, self._trailing = whole
                self._headers = self._response.headers
                self._done = True
                return self._response
        self._buffer += data
        try:
            response = self._parse()
        except Exception as exc:
            self._fail(exc)
            raise
        self._compact()
        return response

    def feed_eof(self) -> Response:
        """Signal that the server closed the connection.

        Returns:
            The response: either the one that :meth:`feed` already returned,
            or one whose body ran until the end of the connection.

        Raises:
            EOFError: If the response is incomplete.
            RuntimeError: If the parser already raised.
        """
        if self._error is not None:
            raise RuntimeError("parser failed on invalid input; discard it") from self._error
        if self._response is not None:
            return self._response
        if self._state is not _ResponseState.BODY_EOF:
            exc = EOFError("connection closed before the end of the HTTP response")
            self._fail(exc)
            raise exc
        self._body += self._consume(len(self._buffer) - self._start)
        return self._finish()

    def _finish(self) -> Response:
        self._complete()
        self._response = Response(
            self._status_code, self._reason_phrase, self._headers, bytes(self._body)
        )
        return self._response

    def _parse(self) -> Response | None:
        state = _ResponseState
        while True:
            if self._state is state.STATUS_LINE:
                line = self._read_first_line(StatusLineTooLong, "status line")
                if line is None:
                    return None
                self._parse_status_line(line)
                self._state = state.HEADERS
            elif self._state is state.HEADERS:
                if not self._read_headers():
                    return None
                if self._start_body():
                    return self._finish()
            elif self._state is state.BODY_LENGTH:
                if len(self._buffer) - self._start < self._remaining:
                    return None
                self._body += self._consume(self._remaining)
                return self._finish()
            elif self._state is state.CHUNK_SIZE:
                line = self._read_line(SecurityError, "chunk size line")
                if line is None:
                    return None
                self._parse_chunk_size(line)
            elif self._state is state.CHUNK_DATA:
                size = min(self._remaining, len(self._buffer) - self._start)
                self._body += self._consume(size)
                self._remaining -= size
                if self._remaining:
                    return None
                self._state = state.CHUNK_END
            elif self._state is state.CHUNK_END:
                if len(self._buffer) - self._start < 2:
                    return None
                if self._consume(2) != b"\r\n":
                    raise InvalidMessage("chunk data isn't followed by CRLF")
                self._state = state.CHUNK_SIZE
            elif self._state is state.TRAILERS:
                line = self._read_line(HeaderLineTooLong, "trailer line")
                if line is None:
                    return None
                if not line:
                    return self._finish()
                # Trailers are checked like headers, then dropped: nothing in
                # the handshake reads them.
                self._parse_field(line, self._trailers, self._num_trailers)
                self._num_trailers += 1
            else:  # BODY_EOF: wait for feed_eof(), but not forever.
                if len(self._buffer) - self._start > MAX_BODY_SIZE:
                    raise SecurityError("body too large")
                return None

    def _parse_status_line(self, line: bytes) -> None:
        match = (_tunnel_status_line_re if self._tunnel else _status_line_re).fullmatch(line)
        if match is None:
            if not line.startswith(b"HTTP/1.1 "):
                raise InvalidMessage(f"unsupported protocol in status line: {_excerpt(line)}")
            raise InvalidMessage(f"invalid status line: {_excerpt(line)}")
        status_code = int(match[1])
        if not 100 <= status_code < 600:
            raise InvalidMessage(f"unsupported status code: {status_code}")
        self._status_code = status_code
        self._reason_phrase = (match[2] or b"").decode("iso-8859-1")

    def _start_body(self) -> bool:
        """Pick how the body is delimited; return True if there's none."""
        # RFC 9112 6.3: 1xx, 204 and 304 responses end with the header
        # section, whatever Content-Length or Transfer-Encoding say.
        code = self._status_code
        if code < 200 or code in (204, 304):
            return True
        # RFC 9112 6.3: "Any 2xx (Successful) response to a CONNECT request
        # implies that the connection will become a tunnel immediately after
        # the empty line that concludes the header fields."
        if self._tunnel and code < 300:
            return True
        transfer_encoding = self._headers.get_all("Transfer-Encoding")
        content_length = self._headers.get_all("Content-Length")
        if transfer_encoding:
            # RFC 9112 6.3: both headers at once "ought to be handled as an
            # error" since it's a request smuggling pattern.
            if content_length:
                raise InvalidMessage("both Transfer-Encoding and Content-Length")
            codings = [
                coding.strip(" \t").lower()
                for value in transfer_encoding
                for coding in value.split(",")
            ]
            if codings != ["chunked"]:
                raise InvalidMessage(f"unsupported transfer coding: {', '.join(codings)}")
            self._state = _ResponseState.CHUNK_SIZE
        elif content_length:
            # RFC 9110 8.6: a list of identical values may be taken as one.
            values = {item.strip(" \t") for value in content_length for item in value.split(",")}
            if len(values) != 1:
                raise InvalidMessage("conflicting Content-Length values")
            value = values.pop().encode("iso-8859-1")
            if _digits_re.fullmatch(value) is None:
                raise InvalidMessage(f"invalid Content-Length: {_excerpt(value)}")
            self._remaining = self._check_size(value, 10)
            self._state = _ResponseState.BODY_LENGTH
        else:
            self._state = _ResponseState.BODY_EOF
        return False

    def _parse_chunk_size(self, line: bytes) -> None:
        match = _chunk_size_re.fullmatch(line)
        if match is None:
            raise InvalidMessage(f"invalid chunk size line: {_excerpt(line)}")
        size = self._check_size(match[1], 16)
        if size == 0:
            self._state = _ResponseState.TRAILERS
        else:
            self._remaining = size
            self._state = _ResponseState.CHUNK_DATA

    def _check_size(self, digits: bytes, base: int) -> int:
        """Convert a size; raise as soon as the body would exceed the limit."""
        significant = digits.lstrip(b"0")
        # Don't convert thousands of digits just to find the number is huge.
        if len(significant) > 8:
            raise SecurityError("body too large")
        size = int(significant or b"0", base)
        if len(self._body) + size > MAX_BODY_SIZE:
            raise SecurityError("body too large")
        return size
