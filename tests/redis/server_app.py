"""The ASGI application the Redis tests serve with daphne and uvicorn.

    CGWS_TEST_LAYER=core DJANGO_SETTINGS_MODULE=tests.redis.server_settings \
        uvicorn --port 8000 tests.redis.server_app:application

``/graphql/`` serves ``tests.redis.schema`` with ``confirm_subscriptions``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.redis.server_settings")

from django.core.asgi import get_asgi_application

# Sets Django up before anything that needs the app registry is imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from tests.redis.schema import Consumer  # noqa: E402

# Django's URL resolver wants a `urlpatterns` in ROOT_URLCONF; HTTP serves nothing.
urlpatterns: list[Any] = []

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("graphql/", Consumer.as_asgi())]),
    }
)
