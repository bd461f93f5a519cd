"""What the asyncio and threading routers share: from a handshake request to a handler.

:class:`BaseRouter` matches the request's path against a URL map during the
opening handshake, in ``process_request``: a path that no rule matches gets
a 404, a path that a rule matches in another form (trailing slash, runs of
slashes) gets a redirect, and otherwise the router remembers which handler
serves the connection and with which arguments. The I/O layers add only
``handler()``, which calls it, with or without ``await``.

The URL map is a :class:`wskit.routing.Map` or a ``werkzeug.routing.Map``:
anything with ``bind(server_name=..., url_scheme=...)`` returning an object
whose ``match(path, query_args=...)`` returns ``(handler, arguments)`` or
raises an exception with a ``new_url`` (redirect) or a ``code`` (not found).
"""

from __future__ import annotations

import http
import inspect
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar, cast

from ..http11 import Request, Response
from ..typing import StatusLike

__all__ = ["BaseRouter", "URLMap", "routing_hook", "url_scheme"]


class _Adapter(Protocol):
    def match(self, path_info: str, *, query_args: str) -> tuple[Any, Mapping[str, Any]]: ...


class URLMap(Protocol):
    """What a router needs from a URL map; both wskit's and werkzeug's have it."""

    def bind(self, server_name: str, *, url_scheme: str = ...) -> _Adapter: ...

    def iter_rules(self) -> Iterable[Any]: ...


class _Responding(Protocol):
    def respond(self, status: StatusLike, text: str) -> Response: ...


Connection = TypeVar("Connection", bound=_Responding)
Handler = Callable[..., Any]


def url_scheme(ssl: object) -> str:
    """Scheme of redirect URLs for ``route(ssl=...)``: :obj:`True` means TLS upstream."""
    return "ws" if ssl is None else "wss"


class BaseRouter(Generic[Connection]):
    """Dispatch connections to handlers by path, during the opening handshake.

    Subclass the router of an I/O layer and pass it to ``route()`` as
    ``create_router`` to change what it answers.

    Args:
        url_map: Rules whose endpoints are handlers.
        server_name: Host name (with the port, if not the scheme's default)
            for host matching and redirect URLs; :obj:`None` takes the
            ``Host`` header of each request.
        url_scheme: Scheme of redirect URLs, ``ws`` or ``wss``.
    """

    def __init__(
        self,
        url_map: URLMap,
        server_name: str | None = None,
        url_scheme: str = "ws",
    ) -> None:
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        # A werkzeug map bound to a ws:// or wss:// scheme only matches rules
        # marked as WebSocket rules; wskit's map accepts the mark and ignores it.
        for rule in url_map.iter_rules():
            rule.websocket = True
        # The handler of each connection that was routed, until it runs. Weak:
        # a handshake may still fail after routing, and the handler never run.
        self.routes: weakref.WeakKeyDictionary[Connection, tuple[Handler, dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def get_server_name(self, connection: Connection, request: Request) -> str:
        """Return the host name that the URL map matches and redirects to.

        Raises:
            LookupError: The request has no ``Host`` header, or several.
        """
        if self.server_name is None:
            return request.headers["Host"]
        return self.server_name

    def redirect(self, connection: Connection, url: str) -> Response:
        """Return the response that redirects the client to ``url``: 302 Found."""
        response = connection.respond(http.HTTPStatus.FOUND, f"Redirecting to {url}\n")
        response.headers["Location"] = url
        return response

    def not_found(self, connection: Connection) -> Response:
        """Return the response for a path that no rule matches: 404 Not Found."""
        return connection.respond(
            http.HTTPStatus.NOT_FOUND, "Not Found: no WebSocket endpoint at this path.\n"
        )

    def route_request(self, connection: Connection, request: Request) -> Response | None:
        """Match the request's path; ``process_request`` for ``route()``.

        Returns:
            A redirect or a 404 to send instead of opening the connection,
            or :obj:`None` when a rule matched: the handshake goes on and
            :meth:`route_of` has the handler.
        """
        try:
            server_name = self.get_server_name(connection, request)
        except LookupError:
            # The handshake refuses a request without a single Host header.
            return None
        path, _, query = request.path.partition("?")
        # The map sees the decoded path, as werkzeug sees WSGI's PATH_INFO.
        path = urllib.parse.unquote(path)
        adapter = self.url_map.bind(server_name=server_name, url_scheme=self.url_scheme)
        try:
            handler, arguments = adapter.match(path, query_args=query)
        except Exception as exc:
            # wskit's and werkzeug's exceptions alike: RequestRedirect has a
            # new_url; NotFound, and whatever else a map raises for a path it
            # can't serve (werkzeug's MethodNotAllowed...), has an HTTP code.
            new_url = getattr(exc, "new_url", None)
            if isinstance(new_url, str):
                return self.redirect(connection, new_url)
            if isinstance(getattr(exc, "code", None), int):
                return self.not_found(connection)
            raise
        self.routes[connection] = (handler, dict(arguments))
        return None

    def route_of(self, connection: Connection) -> tuple[Handler, dict[str, Any]]:
        """Return the handler that :meth:`route_request` chose, and its keyword arguments.

        Raises:
            KeyError: The connection wasn't routed.
        """
        return self.routes.pop(connection)


def routing_hook(
    router: BaseRouter[Any], first: Callable[..., Any] | None
) -> Callable[[Any, Request], Awaitable[Response | None]]:
    """Return the ``process_request`` of ``route()`` on asyncio or trio.

    The application's own ``process_request``, ``first``, sync or async, runs
    before routing; routing happens only if it returns :obj:`None`.
    """

    async def process_request(connection: Any, request: Request) -> Response | None:
        if first is not None:
            response = first(connection, request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return cast(Response, response)
        return router.route_request(connection, request)

    return process_request
