"""Proxies: parsing their address and picking one from the environment.

:func:`get_proxy` reads the usual environment variables, so that
``connect(uri)`` goes through the same proxy as other tools on the machine:

1. ``no_proxy``: hosts reached directly (see :func:`bypass_proxy`);
2. ``wss_proxy`` for ``wss://`` URIs, ``ws_proxy`` for ``ws://`` URIs;
3. ``socks_proxy``;
4. ``https_proxy``, for both;
5. ``http_proxy``, for ``ws://`` URIs only;
6. ``all_proxy``, for both.

Lower case wins over upper case when both are set. Any of them may name an
HTTP proxy (``http://``, ``https://``) or a SOCKS5 proxy (``socks5://``,
``socks5h://``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping

from .exceptions import InvalidProxy
from .http11 import USER_AGENT
from .socks import SOCKS5Handshake
from .tunnel import HTTPConnectHandshake, TunnelHandshake
from .uri import WebSocketURI, parse_authority

__all__ = ["Proxy", "bypass_proxy", "get_proxy", "parse_proxy", "proxy_handshake"]

DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}

# RFC 1929: user name and password are at most 255 bytes each.
MAX_SOCKS_CREDENTIAL = 255


@dataclasses.dataclass
class Proxy:
    """A parsed proxy address.

    Attributes:
        scheme: ``http``, ``https`` (an HTTP proxy reached over TLS),
            ``socks5`` (the client resolves host names) or ``socks5h`` (the
            proxy does).
        host: Host name in lower case, or IP address (IPv6 without brackets).
        port: Port, the scheme's default when the address has none.
        username: User name, if the address carries credentials.
        password: Password, if the address carries credentials.
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` when the address carries credentials."""
        if self.username is None or self.password is None:
            return None
        return self.username, self.password

    @property
    def tls(self) -> bool:
        """Whether the connection to the proxy itself runs over TLS."""
        return self.scheme == "https"

    def resolves_locally(self, host: str) -> bool:
        """Whether the client must resolve ``host`` before asking the proxy.

        Only ``socks5://`` proxies expect an IP address; HTTP and
        ``socks5h://`` proxies take host names.
        """
        return self.scheme == "socks5" and not _is_ip(host)


def parse_proxy(proxy: str) -> Proxy:
    """Parse and validate the address of a proxy.

    Args:
        proxy: Address such as ``http://user:pass@proxy:8080`` or
            ``socks5h://proxy:1080``.

    Raises:
        InvalidProxy: The address isn't valid or its scheme isn't supported.
    """
    try:
        parsed = urllib.parse.urlsplit(proxy)
        port = parsed.port
    except ValueError as exc:
        raise InvalidProxy(proxy, str(exc)) from None
    scheme = parsed.scheme.lower()
    if scheme in ("socks4", "socks4a"):
        raise InvalidProxy(proxy, "SOCKS4 isn't supported; use socks5h://")
    if scheme not in DEFAULT_PORTS:
        raise InvalidProxy(proxy, "scheme isn't http, https, socks5 or socks5h")
    # Without a host, parse_authority() says so first.
    if parsed.hostname and (parsed.path not in ("", "/") or parsed.query or parsed.fragment):
        raise InvalidProxy(proxy, "path, query and fragment aren't allowed")
    try:
        host, username, password = parse_authority(parsed)
    except ValueError as exc:
        raise InvalidProxy(proxy, str(exc)) from None
    if scheme.startswith("socks"):
        for credential in (username, password):
            if credential is not None and len(credential.encode()) > MAX_SOCKS_CREDENTIAL:
                raise InvalidProxy(proxy, "SOCKS credentials are limited to 255 bytes")
    return Proxy(
        scheme=scheme,
        host=host,
        port=DEFAULT_PORTS[scheme] if port is None else port,
        username=username,
        password=password,
    )


def proxy_handshake(
    proxy: Proxy, host: str, port: int, *, user_agent_header: str | None = USER_AGENT
) -> TunnelHandshake:
    """Start the handshake that asks ``proxy`` for a tunnel to ``host:port``.

    Args:
        proxy: The proxy.
        host: The server's host name or IP address; with a ``socks5://``
            proxy, resolve names first (see :meth:`Proxy.resolves_locally`).
        port: The server's port.
        user_agent_header: ``User-Agent`` of an HTTP ``CONNECT`` request;
            :obj:`None` omits it.
    """
    if proxy.scheme.startswith("socks"):
        return SOCKS5Handshake(host, port, user_info=proxy.user_info)
    return HTTPConnectHandshake(
        host, port, user_info=proxy.user_info, user_agent_header=user_agent_header
    )


def get_proxy(uri: WebSocketURI, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the proxy that the environment configures for ``uri``, if any.

    The order of the variables is in the module's documentation. A value
    without a scheme is an HTTP proxy, or a SOCKS5 one in ``socks_proxy``;
    ``socks://`` means ``socks5h://``.

    Args:
        uri: The server's URI.
        environ: Environment variables; :data:`os.environ` by default.

    Returns:
        The proxy's address, for :func:`parse_proxy`, or :obj:`None` to
        connect directly.
    """
    if environ is None:
        environ = os.environ
        if _none_set(environ):
            return None
    no_proxy = _variable(environ, "no_proxy")
    if no_proxy is not None and bypass_proxy(uri.host, uri.port, no_proxy):
        return None
    if uri.secure:
        names = ["wss_proxy", "socks_proxy", "https_proxy", "all_proxy"]
    else:
        names = ["ws_proxy", "socks_proxy", "https_proxy", "http_proxy", "all_proxy"]
    for name in names:
        value = _variable(environ, name)
        if value is None:
            continue
        if "://" not in value:
            value = ("socks5h://" if name == "socks_proxy" else "http://") + value
        elif value[:8].lower() == "socks://":
            value = "socks5h://" + value[8:]
        return value
    return None


def bypass_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Tell whether ``no_proxy`` says to reach ``host`` directly.

    ``no_proxy`` is a list separated by commas or spaces. Each entry is:

    * ``*``: every host;
    * a domain, with or without a leading ``.`` or ``*.``: that domain and
      its subdomains (``example.com`` matches ``ws.example.com``);
    * an IP address or a network in CIDR notation (``10.0.0.0/8``,
      ``fd00::/8``), for hosts given as IP addresses; names aren't resolved;
    * any of the above followed by ``:port`` (IPv6 in brackets): only for
      that port.

    Case doesn't matter. Unparsable entries are skipped.

    Args:
        host: The server's host name or IP address (IPv6 without brackets).
        port: The server's port.
        no_proxy: The value of the ``no_proxy`` variable.
    """
    host = host.rstrip(".").lower()
    address = _ip_address(host)
    for entry in re.split(r"[\s,]+", no_proxy.lower()):
        if entry == "*":
            return True
        parsed = _split_port(entry)
        if parsed is None:
            continue
        pattern, entry_port = parsed
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                network = ipaddress.ip_network(pattern, strict=False)
            except ValueError:
                continue
            if address in network:
                return True
        else:
            domain = pattern.removeprefix("*").lstrip(".").rstrip(".")
            if domain and (host == domain or host.endswith("." + domain)):
                return True
    return False


_VARIABLES = (
    "no_proxy",
    "wss_proxy",
    "ws_proxy",
    "socks_proxy",
    "https_proxy",
    "http_proxy",
    "all_proxy",
)
# Their keys in os.environ's own dict, as the platform stores them (bytes
# on POSIX, upper case on Windows).
_ENVIRON_KEYS = frozenset(
    map(getattr(os.environ, "encodekey", str), _VARIABLES + tuple(map(str.upper, _VARIABLES)))
)


def _none_set(environ: Mapping[str, str]) -> bool:
    """Tell whether :data:`os.environ` sets none of the proxy variables, for sure.

    Most environments set none: one check in C then, rather than a dozen
    lookups that each raise and catch :exc:`KeyError`. Where ``os.environ``
    keeps no dict of its own, this says :obj:`False` and they're all read.
    """
    data = getattr(environ, "_data", None)
    # A view's isdisjoint() looks up the smaller side's keys in the other.
    return data is not None and data.keys().isdisjoint(_ENVIRON_KEYS)


def _variable(environ: Mapping[str, str], name: str) -> str | None:
    """Read an environment variable in lower case, else in upper case."""
    value = environ.get(name)
    # httpoxy: under CGI, a request's "Proxy:" header becomes HTTP_PROXY.
    if not value and not (name == "http_proxy" and "REQUEST_METHOD" in environ):
        value = environ.get(name.upper())
    return value or None


def _split_port(entry: str) -> tuple[str, int | None] | None:
    """Split ``host:port``; return :obj:`None` for an empty or invalid entry."""
    if entry.startswith("["):
        address, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        entry, port = address, rest[1:] if rest else None
    elif entry.count(":") == 1:
        entry, port = entry.split(":")
    else:
        port = None  # no port, or an IPv6 address without brackets
    if not entry or (port is not None and not port.isdigit()):
        return None
    return entry, None if port is None else int(port)


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_ip(host: str) -> bool:
    return _ip_address(host) is not None
