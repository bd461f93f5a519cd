"""Settings of the Django project that shares its users with the wskit server.

The smallest project that has users and sessions; the database is SQLite,
in the file that ``WSKIT_EXAMPLE_DB`` names (``db.sqlite3`` beside this file
by default). Create it with
``DJANGO_SETTINGS_MODULE=examples.django_auth.settings django-admin migrate``.
"""

from __future__ import annotations

import os
from pathlib import Path

# Django signs sessions and tokens with it: both sides must have the same
# secret, kept out of the code in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "only-for-trying-the-example")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "examples.django_auth.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("WSKIT_EXAMPLE_DB", Path(__file__).with_name("db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
