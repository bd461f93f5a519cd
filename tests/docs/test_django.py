"""The Django guide: "django_auth/server.py" lets in the users of a Django project,
by session cookie or by a token from the view of "django_auth/urls.py", signed
by "django_auth/tokens.py".

The test configures Django with the example's settings and a fresh SQLite
database, creates users and sessions as the Django site would, and runs the
wskit server in a subprocess on the same database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

django = pytest.importorskip("django")

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402

from examples.django_auth.tokens import issue_token  # noqa: E402
from examples.django_auth.urls import websocket_token  # noqa: E402
from tests.test_examples import running  # noqa: E402
from wskit.exceptions import InvalidStatus  # noqa: E402
from wskit.sync.client import connect  # noqa: E402

SERVER = "django_auth/server.py"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Django, set up once for this module, on a migrated SQLite database."""
    path = tmp_path_factory.mktemp("django") / "db.sqlite3"
    os.environ["WSKIT_EXAMPLE_DB"] = str(path)
    os.environ["DJANGO_SETTINGS_MODULE"] = "examples.django_auth.settings"
    try:
        django.setup()
        # Fast hashing for the test's users, as Django's own test suites do.
        django.conf.settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        call_command("migrate", verbosity=0)
        get_user_model().objects.create_user("alice", password="wonderland")
        yield path
    finally:
        del os.environ["WSKIT_EXAMPLE_DB"], os.environ["DJANGO_SETTINGS_MODULE"]


def session_cookie() -> str:
    """Log Alice in to the Django site; return her session cookie."""
    client = Client()
    assert client.login(username="alice", password="wonderland")
    return f"sessionid={client.cookies['sessionid'].value}"


def refusal(uri: str, **options: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(uri, **options)  # type: ignore[arg-type]
    return refused.value.response.status_code


def test_session_cookie_lets_the_user_in(database: Path) -> None:
    cookie = session_cookie()
    with running(SERVER, "ws", WSKIT_EXAMPLE_DB=str(database)) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        with connect(uri, additional_headers={"Cookie": cookie}) as websocket:
            assert websocket.recv(10) == "Hello alice!"
            websocket.send("hi")
            assert websocket.recv(10) == "alice said: hi"
        # No cookie, another cookie, a session that doesn't exist: 401.
        assert refusal(uri) == 401
        assert refusal(uri, additional_headers={"Cookie": "theme=dark"}) == 401
        assert refusal(uri, additional_headers={"Cookie": "sessionid=forged"}) == 401
        # A password change ends Alice's sessions, on the wskit server too.
        alice = get_user_model().objects.get(username="alice")
        alice.set_password("looking-glass")
        alice.save()
        assert refusal(uri, additional_headers={"Cookie": cookie}) == 401
        alice.set_password("wonderland")
        alice.save()


def test_token_from_the_django_view_lets_the_user_in(database: Path) -> None:
    # The view gives a token to a logged-in user, and to nobody else.
    request = RequestFactory().get("/websocket-token/")
    request.user = get_user_model().objects.get(username="alice")
    response = websocket_token(request)
    assert response.status_code == 200
    token = json.loads(response.content)["token"]
    request.user = django.contrib.auth.models.AnonymousUser()
    assert websocket_token(request).status_code == 401

    with running(SERVER, "ws", WSKIT_EXAMPLE_DB=str(database)) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        with connect(f"{uri}?token={token}") as websocket:
            assert websocket.recv(10) == "Hello alice!"
        assert refusal(f"{uri}?token={token[:-1]}x") == 401  # altered
        assert refusal(f"{uri}?token={issue_token(12345)}") == 401  # no such user
