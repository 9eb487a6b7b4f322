"""Django settings of the servers the ORM end-to-end tests start (daphne and uvicorn).

The database comes from the environment, so one test session can serve the
same schema from SQLite and from PostgreSQL:

- ``CGWS_TEST_DB``: ``sqlite`` or ``postgres``;
- ``CGWS_TEST_DB_NAME``: the SQLite file, or the PostgreSQL database (at
  127.0.0.1:5432, user ``postgres``, trust authentication) the test made.

``CONN_MAX_AGE = 0``, Django's default: a connection lives for one hop (one
request), and the connection-count test checks that none are left behind.
Server connections say ``application_name = cgws-orm-server`` so that the
tests can count them in ``pg_stat_activity``.
"""

from __future__ import annotations

import os

SECRET_KEY = "orm-e2e-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
    "graphene_django",
    "tests.orm",
]
APPLICATION_NAME = "cgws-orm-server"

if os.environ.get("CGWS_TEST_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["CGWS_TEST_DB_NAME"],
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": 0,
            "OPTIONS": {"application_name": APPLICATION_NAME},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("CGWS_TEST_DB_NAME", "orm-e2e.sqlite3"),
            "CONN_MAX_AGE": 0,
            "OPTIONS": {"timeout": 20},
        }
    }

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
ROOT_URLCONF = "tests.orm.server_app"
ASGI_APPLICATION = "tests.orm.server_app.application"
USE_TZ = True
