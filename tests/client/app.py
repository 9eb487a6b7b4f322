"""The ASGI application the ``GraphqlWsClient`` tests serve with daphne.

    DJANGO_SETTINGS_MODULE=tests.client.server_settings \
        daphne -b 127.0.0.1 -p 8000 tests.client.app:application

One schema behind three consumers that differ only in their settings, all
confirming subscriptions (so a client knows when one is live):

- ``/graphql/``: otherwise the defaults;
- ``/graphql-ping/``: a keep-alive every 0.1 s, and a close when a ``ping``
  gets no ``pong`` within 0.5 s;
- ``/graphql-init/``: 0.5 s to send ``connection_init`` (then close 4408).

The schema is in ``tests.client.schema``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.client.server_settings")

from django.core.asgi import get_asgi_application

# Sets Django up before anything that needs the app registry is imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import channels_graphql_ws  # noqa: E402

from .schema import schema  # noqa: E402


class DefaultConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema
    confirm_subscriptions = True

    async def close_socket(self, message: dict[str, Any]) -> None:
        """Layer message ``close.socket``: close with the given code."""
        await self.close(code=message["code"])


class PingConsumer(DefaultConsumer):
    send_ping_every = 0.1
    pong_timeout = 0.5


class InitTimeoutConsumer(DefaultConsumer):
    connection_init_wait_timeout = 0.5


# Django's URL resolver wants a `urlpatterns` in ROOT_URLCONF; HTTP serves nothing.
urlpatterns: list[Any] = []

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                path("graphql/", DefaultConsumer.as_asgi()),
                path("graphql-ping/", PingConsumer.as_asgi()),
                path("graphql-init/", InitTimeoutConsumer.as_asgi()),
            ]
        ),
    }
)
