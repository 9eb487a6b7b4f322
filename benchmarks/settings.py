"""Django settings of the benchmark's servers and broadcaster.

The channel layer comes from the environment, so the servers and the
broadcaster of one run share one Redis and one key prefix:

- ``BENCH_LAYER``: ``memory`` (``InMemoryChannelLayer``) or ``redis``
  (``channels_redis.core.RedisChannelLayer``);
- ``BENCH_REDIS_URL``: where Redis listens (``redis://127.0.0.1:6379/0``);
- ``BENCH_REDIS_PREFIX``: the key prefix of this run alone (the shared Redis is
  never flushed: every key of a run expires on its own).

Capacities are far above any burst of the scenarios, so the layer never
drops a message; message expiry is long enough for the slowest drain.
"""

from __future__ import annotations

import os
from typing import Any

from .common import REDIS_POOL_SIZE

LAYER = os.environ.get("BENCH_LAYER", "memory")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = os.environ.get("BENCH_REDIS_PREFIX", "cgws-bench:")

#: Messages a channel may hold: no scenario's burst comes near it.
CAPACITY = 1_000_000
#: Redis connections a process may have in use at once.
POOL_SIZE = REDIS_POOL_SIZE
#: Seconds a Redis read may take (more than channels_redis's 5 s blocking pop).
SOCKET_TIMEOUT = 30
#: Seconds a queued message lives, and a Redis group key unrenewed.
EXPIRY = 600


def channel_layer() -> dict[str, Any]:
    if LAYER == "memory":
        return {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CAPACITY, "expiry": EXPIRY},
        }
    if LAYER == "redis":
        return {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py's pool refuses a 101st connection in use
                        # instead of waiting; the bare consumer's burst of
                        # `group_add` calls (one per connection) needs more.
                        "max_connections": POOL_SIZE,
                        # redis-py 8 reads with a 5 s timeout by default, which
                        # races channels_redis's 5 s BZPOPMIN in `receive`
                        # (django/channels_redis#422): keep reads longer.
                        "socket_timeout": SOCKET_TIMEOUT,
                    }
                ],
                "prefix": REDIS_PREFIX,
                "capacity": CAPACITY,
                "expiry": EXPIRY,
                "group_expiry": EXPIRY,
            },
        }
    raise ValueError(f"BENCH_LAYER must be `memory` or `redis`, not {LAYER!r}.")


SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "channels"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {"default": channel_layer()}
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
