"""Django settings of the processes the Redis tests start: servers and broadcasters.

The channel layer comes from environment variables, so every process of a
test shares one Redis and one key prefix:

- ``CGWS_TEST_LAYER``: ``core`` (``channels_redis.core.RedisChannelLayer``) or
  ``pubsub`` (``channels_redis.pubsub.RedisPubSubChannelLayer``);
- ``CGWS_TEST_REDIS_URL``: where Redis listens, e.g. ``redis://127.0.0.1:6379/0``;
- ``CGWS_TEST_REDIS_PREFIX``: the key/channel prefix of this test session.

Log records go to stderr as ``LEVEL logger: message``, one per line (a
traceback adds lines of its own), so the tests can count the errors.
"""

from __future__ import annotations

import os

from tests.redis.layers import layer_config

SECRET_KEY = "redis-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {
    "default": layer_config(
        os.environ.get("CGWS_TEST_LAYER", "core"),
        os.environ.get("CGWS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        os.environ.get("CGWS_TEST_REDIS_PREFIX", "cgws-test:"),
    )
}
ROOT_URLCONF = "tests.redis.server_app"
ASGI_APPLICATION = "tests.redis.server_app.application"
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
