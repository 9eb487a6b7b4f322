"""The ASGI application the end-to-end tests serve with daphne and uvicorn.

    DJANGO_SETTINGS_MODULE=tests.e2e.server_settings \
        daphne -b 127.0.0.1 -p 8000 tests.e2e.server_app:application

One schema behind three consumers that differ only in their settings:

- ``/graphql/``: the defaults;
- ``/graphql-ping/``: a keep-alive (``ping``, legacy ``ka``) every 0.2 s;
- ``/graphql-init/``: 0.5 s to send ``connection_init`` (then close 4408).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.e2e.server_settings")

from django.core.asgi import get_asgi_application

# Sets Django up before anything that needs the app registry is imported.
django_asgi_app = get_asgi_application()

import graphene  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import channels_graphql_ws  # noqa: E402

_counter_lock = threading.Lock()
_counter = 0


class Query(graphene.ObjectType):
    hello = graphene.String(name=graphene.String(default_value="world"))
    fail = graphene.String()
    slow = graphene.Float(seconds=graphene.Float(required=True))

    @staticmethod
    def resolve_hello(root: object, info: graphene.ResolveInfo, name: str) -> str:
        return f"Hello, {name}!"

    @staticmethod
    def resolve_fail(root: object, info: graphene.ResolveInfo) -> str:
        raise RuntimeError("fail resolver says no")

    @staticmethod
    async def resolve_slow(root: object, info: graphene.ResolveInfo, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds


class Increment(graphene.Mutation):
    """Add ``by`` to a process-wide counter and return the new value."""

    class Arguments:
        by = graphene.Int(default_value=1)

    value = graphene.Int()

    @staticmethod
    def mutate(root: object, info: graphene.ResolveInfo, by: int) -> Increment:
        global _counter
        with _counter_lock:
            _counter += by
            return Increment(value=_counter)


class Mutation(graphene.ObjectType):
    increment = Increment.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)


class DefaultConsumer(channels_graphql_ws.GraphqlWsConsumer):
    """Rejects ``{"reject": true}``; greets ``{"greet": true}`` in the ack payload."""

    schema = schema

    async def on_connect(self, payload: Any) -> Any:
        if isinstance(payload, dict) and payload.get("reject") is True:
            return False
        if isinstance(payload, dict) and payload.get("greet") is True:
            return {"welcome": True}
        return None


class PingConsumer(DefaultConsumer):
    send_ping_every = 0.2


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
