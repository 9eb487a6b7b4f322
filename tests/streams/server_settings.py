"""Django settings of the servers the stream tests start (daphne and uvicorn).

The channel layer is in memory unless ``CGWS_TEST_LAYER`` names a Redis one
(``tests.redis.layers``: ``CGWS_TEST_REDIS_URL`` and ``CGWS_TEST_REDIS_PREFIX``
say where and under which prefix), so several processes can share it.
"""

from __future__ import annotations

import os

from tests.redis.layers import layer_config

SECRET_KEY = "stream-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
_LAYER = os.environ.get("CGWS_TEST_LAYER")
CHANNEL_LAYERS = {
    "default": (
        layer_config(
            _LAYER,
            os.environ.get("CGWS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            os.environ.get("CGWS_TEST_REDIS_PREFIX", "cgws-test:"),
        )
        if _LAYER
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
ROOT_URLCONF = "tests.streams.server_app"
ASGI_APPLICATION = "tests.streams.server_app.application"
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
