"""Tunnels through proxies, Sans-I/O: HTTP ``CONNECT`` here, SOCKS5 in :mod:`wskit.socks`.

A handshake object turns the proxy's bytes into the next bytes to send,
until the tunnel is open or the proxy said no. The I/O layer only moves
bytes::

    handshake = proxy_handshake(proxy, host, port)
    send(handshake.data_to_send())
    while not handshake.established:
        if handshake.exc is not None:
            raise handshake.exc
        data = receive()
        if data:
            handshake.receive_data(data)
        else:
            handshake.receive_eof()
        send(handshake.data_to_send())

Once ``established``, the connection carries bytes to
and from the server: the WebSocket handshake (after TLS with ``wss://``).
"""

from __future__ import annotations

from .datastructures import Headers
from .exceptions import InvalidHandshake, InvalidProxyMessage, InvalidProxyStatus, ProxyError
from .headers import build_authorization_basic, build_host
from .http11 import USER_AGENT, ResponseParser
from .typing import BytesLike

__all__ = ["HTTPConnectHandshake", "TunnelHandshake", "connect_request"]


class TunnelHandshake:
    """What every proxy handshake has: outgoing bytes, an outcome.

    Attributes:
        established: The tunnel is open.
        exc: Why the tunnel couldn't be opened, once that's known.
    """

    def __init__(self) -> None:
        self.established = False
        self.exc: ProxyError | None = None
        self._outgoing = bytearray()

    def data_to_send(self) -> bytes:
        """Return the bytes to send to the proxy now, possibly none."""
        data, self._outgoing = bytes(self._outgoing), bytearray()
        return data

    def receive_data(self, data: BytesLike) -> None:
        """Take bytes received from the proxy.

        After a failure, input changes nothing: the I/O layer may still get
        some before it closes the connection.

        Raises:
            RuntimeError: The tunnel is open: its bytes aren't the
                handshake's business.
        """
        if self._running():
            self._parse(bytes(data))

    def receive_eof(self) -> None:
        """Take the end of the connection to the proxy.

        Raises:
            RuntimeError: The tunnel is open.
        """
        if self._running():
            self._parse_eof()

    def _running(self) -> bool:
        if self.established:
            raise RuntimeError("the tunnel is open")
        return self.exc is None

    def _parse(self, data: bytes) -> None:
        raise NotImplementedError

    def _parse_eof(self) -> None:
        self.fail(
            InvalidProxyMessage("proxy closed the connection during the handshake"), EOFError()
        )

    def fail(self, exc: ProxyError, cause: BaseException | None = None) -> None:
        """Record why the tunnel couldn't be opened."""
        exc.__cause__ = cause
        self.exc = exc

    def open(self, trailing: bytes) -> None:
        """Record that the tunnel is open; ``trailing`` came in after the answer.

        The client speaks first, in a WebSocket handshake as in TLS: bytes
        from the other end before that are a broken or hostile proxy.
        """
        if trailing:
            self.fail(InvalidProxyMessage("proxy sent data before the tunnel was used"))
        else:
            self.established = True


def connect_request(
    host: str,
    port: int,
    *,
    user_info: tuple[str, str] | None = None,
    user_agent_header: str | None = USER_AGENT,
) -> bytes:
    """Build the ``CONNECT`` request that asks an HTTP proxy for a tunnel.

    Args:
        host: The server's host name or IP address.
        port: The server's port.
        user_info: ``(username, password)`` for ``Proxy-Authorization``.
        user_agent_header: Value of ``User-Agent``; :obj:`None` omits it.
    """
    # RFC 9110 9.3.6: the target is in authority form, port included.
    authority = build_host(host, port, False, always_include_port=True)
    headers = Headers()
    headers["Host"] = authority
    if user_agent_header:
        headers["User-Agent"] = user_agent_header
    if user_info is not None:
        headers["Proxy-Authorization"] = build_authorization_basic(*user_info)
    return f"CONNECT {authority} HTTP/1.1\r\n".encode() + headers.serialize()


class HTTPConnectHandshake(TunnelHandshake):
    """Open a tunnel through an HTTP proxy with ``CONNECT`` (RFC 9110, 9.3.6).

    Any 2xx answer opens the tunnel. Another status fails with
    :exc:`~wskit.exceptions.InvalidProxyStatus` (``407 Proxy Authentication
    Required`` when credentials are missing or wrong), a malformed answer
    with :exc:`~wskit.exceptions.InvalidProxyMessage`.

    Args:
        host: The server's host name or IP address.
        port: The server's port.
        user_info: ``(username, password)`` for the proxy, if it needs them.
        user_agent_header: Value of ``User-Agent``; :obj:`None` omits it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user_info: tuple[str, str] | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> None:
        super().__init__()
        self._parser = ResponseParser(tunnel=True)
        self._outgoing += connect_request(
            host, port, user_info=user_info, user_agent_header=user_agent_header
        )

    def _parse(self, data: bytes) -> None:
        try:
            response = self._parser.feed(data)
        except InvalidHandshake as exc:
            self.fail(InvalidProxyMessage("invalid HTTP response from proxy"), exc)
            return
        if response is None:
            return
        if 200 <= response.status_code < 300:
            self.open(self._parser.trailing)
        else:
            self.fail(InvalidProxyStatus(response))

    def _parse_eof(self) -> None:
        try:
            # A refusal may have a body that runs until the end of the connection.
            response = self._parser.feed_eof()
        except EOFError:
            super()._parse_eof()
        else:
            self.fail(InvalidProxyStatus(response))
