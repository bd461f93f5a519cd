"""The client side of a SOCKS5 handshake, Sans-I/O (RFC 1928, RFC 1929).

Only what a WebSocket client needs: the ``CONNECT`` command, without
authentication or with a user name and password.
"""

from __future__ import annotations

import enum
import ipaddress

from .exceptions import InvalidProxyMessage, ProxyError
from .tunnel import TunnelHandshake

__all__ = ["SOCKS5Handshake"]

SOCKS_VERSION = 5
AUTH_VERSION = 1  # RFC 1929, 2

NO_AUTHENTICATION = 0
USERNAME_PASSWORD = 2
NO_ACCEPTABLE_METHODS = 0xFF

CONNECT = 1

ATYP_IPV4 = 1
ATYP_DOMAIN = 3
ATYP_IPV6 = 4
ADDRESS_SIZES = {ATYP_IPV4: 4, ATYP_IPV6: 16}

# RFC 1928, 6: the meaning of the REP field. "X'01' general SOCKS server
# failure" is how many proxies report that the server can't be reached.
REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}
# Failures to reach the server: worth retrying, like the OSError a direct
# connection would get.
NETWORK_FAILURES = {1, 3, 4, 5, 6}


class _State(enum.Enum):
    METHOD = enum.auto()
    AUTH = enum.auto()
    REPLY = enum.auto()


class SOCKS5Handshake(TunnelHandshake):
    """Open a tunnel through a SOCKS5 proxy.

    The proxy is offered no authentication, and also user name and password
    authentication when ``user_info`` is given.

    Failures are :exc:`~wskit.exceptions.ProxyError`: when the proxy can't
    reach the server (a refused connection, an unreachable host), its
    ``__cause__`` is an :exc:`OSError`, as it would be without a proxy.
    A malformed answer is :exc:`~wskit.exceptions.InvalidProxyMessage`.

    Args:
        host: The server's host name or IP address. A name is sent to the
            proxy as is, for the proxy to resolve.
        port: The server's port.
        user_info: ``(username, password)`` for the proxy, if it needs them.

    Raises:
        ValueError: The host name, user name or password is longer than 255
            bytes.
    """

    def __init__(self, host: str, port: int, *, user_info: tuple[str, str] | None = None) -> None:
        super().__init__()
        self._request = bytes([SOCKS_VERSION, CONNECT, 0]) + _address(host)
        self._request += port.to_bytes(2, "big")
        self._auth = b""
        methods = [NO_AUTHENTICATION]
        if user_info is not None:
            username, password = (value.encode() for value in user_info)
            self._auth = bytes([AUTH_VERSION, len(username)]) + username
            self._auth += bytes([len(password)]) + password
            methods.append(USERNAME_PASSWORD)
        self._outgoing += bytes([SOCKS_VERSION, len(methods), *methods])
        self._state = _State.METHOD
        self._buffer = bytearray()

    def _parse(self, data: bytes) -> None:
        self._buffer += data
        if self._state is _State.METHOD:
            self._parse_method()
        if self._state is _State.AUTH:
            self._parse_auth()
        if self._state is _State.REPLY:
            self._parse_reply()

    def _parse_method(self) -> None:
        if len(self._buffer) < 2:
            return
        version, method = self._buffer[:2]
        del self._buffer[:2]
        if version != SOCKS_VERSION:
            self._abort(InvalidProxyMessage("proxy didn't answer as a SOCKS5 proxy"))
        elif method == NO_AUTHENTICATION:
            self._send_request()
        elif method == USERNAME_PASSWORD and self._auth:
            self._outgoing += self._auth
            self._state = _State.AUTH
        elif method == NO_ACCEPTABLE_METHODS:
            if self._auth:
                self._abort(ProxyError("SOCKS proxy accepts no offered authentication method"))
            else:
                self._abort(ProxyError("SOCKS proxy requires authentication"))
        else:
            self._abort(InvalidProxyMessage(f"SOCKS proxy chose a method not offered: {method}"))

    def _parse_auth(self) -> None:
        if len(self._buffer) < 2:
            return
        version, status = self._buffer[:2]
        del self._buffer[:2]
        if version != AUTH_VERSION:
            self._abort(InvalidProxyMessage("invalid answer to SOCKS5 authentication"))
        elif status != 0:
            self._abort(ProxyError("SOCKS proxy rejected the user name or password"))
        else:
            self._send_request()

    def _parse_reply(self) -> None:
        # VER REP RSV ATYP BND.ADDR BND.PORT: the reply code comes first, and
        # a proxy may hang up right after a failure.
        if len(self._buffer) < 2:
            return
        version, reply = self._buffer[:2]
        if version != SOCKS_VERSION:
            self._abort(InvalidProxyMessage("invalid SOCKS5 reply"))
            return
        if reply != 0:
            meaning = REPLIES.get(reply, f"unknown error {reply}")
            cause = OSError(meaning) if reply in NETWORK_FAILURES else None
            self._abort(ProxyError(f"SOCKS proxy failed to connect: {meaning}"), cause)
            return
        if len(self._buffer) < 5:
            return
        address_type = self._buffer[3]
        if address_type == ATYP_DOMAIN:
            address_size = 1 + self._buffer[4]
        elif address_type in ADDRESS_SIZES:
            address_size = ADDRESS_SIZES[address_type]
        else:
            self._abort(
                InvalidProxyMessage(f"invalid address type in SOCKS5 reply: {address_type}")
            )
            return
        size = 4 + address_size + 2
        if len(self._buffer) < size:
            return
        self.open(bytes(self._buffer[size:]))
        self._buffer.clear()

    def _send_request(self) -> None:
        self._outgoing += self._request
        self._state = _State.REPLY

    def _abort(self, exc: ProxyError, cause: BaseException | None = None) -> None:
        self.fail(exc, cause)
        self._buffer.clear()


def _address(host: str) -> bytes:
    """Encode DST.ADDR with its ATYP."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode()
        return bytes([ATYP_DOMAIN, len(name)]) + name
    if address.version == 4:
        return bytes([ATYP_IPV4]) + address.packed
    return bytes([ATYP_IPV6]) + address.packed
