"""A wskit server that knows the users of a Django project (docs/howto/django.rst).

A browser logged in to the Django site sends its session cookie with the
WebSocket handshake, when both are on the same domain; from elsewhere, a page
passes a token from the site's ``/websocket-token/`` view in the URI:
``ws://.../?token=...``. Connections with neither get 401.

Run it with ``python examples/django_auth/server.py [PORT]`` (or
``PORT=...``), with the project's settings and database (see settings.py).
"""

from __future__ import annotations

import asyncio
import http
import http.cookies
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import django
from asgiref.sync import sync_to_async

# Set up Django before importing what needs its models: hence the imports
# below the setup (noqa: E402).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_auth.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib import auth  # noqa: E402
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser  # noqa: E402
from django.contrib.sessions.backends.base import SessionBase  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

from examples.django_auth.tokens import read_token  # noqa: E402
from examples.tutorial.part1.server import main  # noqa: E402
from wskit.asyncio.server import ServerConnection  # noqa: E402
from wskit.http11 import Request, Response  # noqa: E402


def user_from_session(cookie_header: str) -> AbstractBaseUser | AnonymousUser:
    """The user whose session the cookie names, as Django's middleware finds it."""
    cookies = http.cookies.SimpleCookie(cookie_header)
    session_key = cookies[settings.SESSION_COOKIE_NAME].value
    store: type[SessionBase] = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    # get_user() reads request.session only; it also checks that the
    # session's password hash still matches, as for any Django request.
    request: Any = SimpleNamespace(session=store(session_key))
    return auth.get_user(request)


def user_from_token(token: str) -> AbstractBaseUser | None:
    user_id = read_token(token)
    if user_id is None:
        return None
    return auth.get_user_model().objects.filter(pk=user_id, is_active=True).first()


def authenticate(request: Request) -> AbstractBaseUser | None:
    """The user a handshake request comes from, or None; runs database queries."""
    tokens = parse_qs(urlsplit(request.path).query).get("token")
    if tokens:
        return user_from_token(tokens[0])
    cookie_header = request.headers.get("Cookie", "")
    if settings.SESSION_COOKIE_NAME in http.cookies.SimpleCookie(cookie_header):
        user = user_from_session(cookie_header)
        return user if isinstance(user, AbstractBaseUser) else None
    return None


async def check_user(connection: ServerConnection, request: Request) -> Response | None:
    # Django's ORM blocks: run it in a thread, as Django's async views do.
    user = await sync_to_async(authenticate)(request)
    if user is None:
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Log in first.\n")
    connection.username = user.get_username()
    return None


async def greet(websocket: ServerConnection) -> None:
    await websocket.send(f"Hello {websocket.username}!")
    async for message in websocket:
        await websocket.send(f"{websocket.username} said: {message!s}")


if __name__ == "__main__":
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765"))
    asyncio.run(main(greet, port, process_request=check_user))
