"""Three ways to authenticate a WebSocket connection, each one a small function.

- A token in the URI's query string, checked before the handshake.
- A session cookie, checked before the handshake.
- A token in the first message, checked once the connection is open.

The first two are ``process_request`` hooks: a refused client gets an HTTP
401 and no connection. Browsers can't set headers on a WebSocket, which is
why tokens travel in the query string, a cookie or a message.
"""

from __future__ import annotations

import asyncio
import http
import http.cookies
import urllib.parse

from wskit.asyncio.server import ServerConnection
from wskit.frames import CloseCode
from wskit.http11 import Request, Response

# Stands for the application's store of sessions or tokens.
TOKENS = {"token-for-alice": "alice", "token-for-bob": "bob"}

# How long a client may take to send its token in the first message.
AUTH_TIMEOUT = 10


def token_in_query(connection: ServerConnection, request: Request) -> Response | None:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
    user = TOKENS.get(query.get("token", [""])[0])
    if user is None:
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Missing or invalid token\n")
    connection.username = user
    return None


def session_cookie(connection: ServerConnection, request: Request) -> Response | None:
    cookies = http.cookies.SimpleCookie()
    cookies.load(request.headers.get("Cookie", ""))
    session = cookies.get("session")
    user = TOKENS.get(session.value) if session is not None else None
    if user is None:
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Missing or invalid session\n")
    connection.username = user
    return None


async def greet(websocket: ServerConnection) -> None:
    """The handler behind either hook: the user is known already."""
    await websocket.send(f"Hello {websocket.username}!")


async def token_in_first_message(websocket: ServerConnection) -> None:
    """A handler that reads a token before anything else."""
    try:
        async with asyncio.timeout(AUTH_TIMEOUT):
            token = await websocket.recv(decode=True)
    except TimeoutError:
        await websocket.close(CloseCode.POLICY_VIOLATION, "authentication timed out")
        return
    user = TOKENS.get(str(token))
    if user is None:
        await websocket.close(CloseCode.POLICY_VIOLATION, "invalid token")
        return
    websocket.username = user
    await greet(websocket)
