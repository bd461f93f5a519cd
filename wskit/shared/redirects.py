"""Following redirects of the opening handshake, for the asyncio and threading clients.

A server may answer the handshake with a redirect (300, 301, 302, 303, 307
or 308 and a ``Location`` header). The client follows it, with rules that
keep that safe:

* never from ``wss://`` to ``ws://``;
* credentials go only where they were meant to: user information of the
  URI is kept across redirects within its origin (scheme, host and port)
  and dropped at the first redirect to another origin, together with the
  ``Authorization``, ``Proxy-Authorization`` and ``Cookie`` headers of
  ``additional_headers``;
* at most ``WSKIT_MAX_REDIRECTS`` redirects (10 unless the environment
  variable says otherwise) per connection attempt, which stops loops.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping

from ..datastructures import Headers, HeadersLike
from ..exceptions import SecurityError
from ..headers import build_host
from ..http11 import Response
from ..settings import setting
from ..uri import WebSocketURI, parse_uri

__all__ = ["REDIRECT_STATUSES", "Redirects", "display_uri"]

REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})

DEFAULT_MAX_REDIRECTS = 10

# Headers that carry credentials for the server they were written for. A
# Proxy-Authorization in additional_headers goes in the handshake request, to
# whoever answers it: after a redirect, that's another server.
CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")


def display_uri(uri: WebSocketURI) -> str:
    """Write ``uri`` without its credentials, for messages and logs."""
    scheme = "wss" if uri.secure else "ws"
    return f"{scheme}://{build_host(uri.host, uri.port, uri.secure)}{uri.resource_name}"


class Redirects:
    """The redirects followed during one connection attempt.

    Args:
        uri: The URI the attempt starts from.
        max_redirects: Most redirects to follow; :obj:`None` reads
            ``WSKIT_MAX_REDIRECTS`` from ``environ``, 10 if it isn't set.
        environ: Environment variables; :data:`os.environ` by default.

    Attributes:
        uri: The URI to connect to now.
        cross_origin: Whether a redirect left the first URI's origin.

    Raises:
        ValueError: ``WSKIT_MAX_REDIRECTS`` isn't a valid number.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        max_redirects: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if max_redirects is None:
            max_redirects = int(setting("MAX_REDIRECTS", DEFAULT_MAX_REDIRECTS, environ))
        self.max_redirects = max_redirects
        self.uri = uri
        self.cross_origin = False
        self.visited = [display_uri(uri)]

    def follow(
        self, response: Response, *, sock: bool = False, fixed_address: bool = False
    ) -> bool:
        """Move to the location of a redirect.

        Args:
            response: The server's answer to the handshake.
            sock: The connection used a socket given by the application,
                which can't serve another connection.
            fixed_address: The connection went to an address given by the
                application (a Unix socket path, a host and port), which
                stands for the current origin only.

        Returns:
            :obj:`True` if ``uri`` moved; :obj:`False` if ``response``
            isn't a redirect.

        Raises:
            InvalidURI: ``Location`` isn't a valid WebSocket URI.
            SecurityError: The redirect goes from ``wss://`` to ``ws://``,
                or there were too many.
            ValueError: The redirect can't be followed with ``sock`` or
                ``fixed_address``.
        """
        location = response.headers.get("Location")
        if response.status_code not in REDIRECT_STATUSES or location is None:
            return False
        current = self.uri
        # Resolve against the URI without credentials: they're carried over
        # below, when the target is within the same origin.
        target = parse_uri(urllib.parse.urljoin(display_uri(current), location))
        shown = display_uri(target)
        if sock:
            raise ValueError(f"cannot follow redirect to {shown} with a preexisting socket")
        if current.secure and not target.secure:
            raise SecurityError(f"cannot follow redirect to non-secure URI {shown}")
        if _origin(target) != _origin(current):
            if fixed_address:
                raise ValueError(
                    f"cannot follow redirect to {shown}: the address to connect to is fixed"
                )
            self.cross_origin = True
        elif target.user_info is None:
            target = dataclasses.replace(
                target, username=current.username, password=current.password
            )
        if len(self.visited) > self.max_redirects:
            loop = " (redirect loop)" if shown in self.visited else ""
            raise SecurityError(f"more than {self.max_redirects} redirects{loop}")
        self.visited.append(shown)
        self.uri = target
        return True

    def headers(self, additional_headers: HeadersLike | None) -> HeadersLike | None:
        """Return the additional headers for a request to ``uri``.

        After a redirect to another origin, they lose their credentials.
        """
        if not self.cross_origin or additional_headers is None:
            return additional_headers
        headers = Headers(additional_headers)
        for name in CREDENTIAL_HEADERS:
            if name in headers:
                del headers[name]
        return headers


def _origin(uri: WebSocketURI) -> tuple[bool, str, int]:
    return uri.secure, uri.host, uri.port
