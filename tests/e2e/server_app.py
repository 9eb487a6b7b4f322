"""The ASGI application the end-to-end tests serve with daphne and uvicorn.

    DJANGO_SETTINGS_MODULE=tests.e2e.server_settings \
        daphne -b 127.0.0.1 -p 8000 tests.e2e.server_app:application

One schema behind four consumers that differ only in their settings:

- ``/graphql/``: the defaults;
- ``/graphql-ping/``: a keep-alive (``ping``, legacy ``ka``) every 0.2 s;
- ``/graphql-init/``: 0.5 s to send ``connection_init`` (then close 4408);
- ``/graphql-confirm/``: ``confirm_subscriptions`` on (``{"data": null}`` once
  a subscription is live).

Subscriptions of both kinds live side by side: ``onMessage(room)`` is a
``channels_graphql_ws.Subscription`` fed by the ``sendMessage`` mutation
(a broadcast to the room) and ended by ``endRoom`` (an unsubscribe of the
room); ``countdown(start)`` is a plain Graphene async generator that yields
``start`` down to 0, then ends.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
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


class OnMessage(channels_graphql_ws.Subscription):
    """Messages sent to ``room`` (without a room: broadcasts to no room in particular)."""

    text = graphene.String()
    seq = graphene.Int()

    class Arguments:
        room = graphene.String()

    @staticmethod
    def subscribe(root: None, info: graphene.ResolveInfo, room: str | None = None) -> Any:
        return [room] if room is not None else None

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo, room: str | None = None) -> OnMessage:
        return OnMessage(text=payload["text"], seq=payload["seq"])


class SendMessage(graphene.Mutation):
    """Broadcast ``text`` and ``seq`` to the subscribers of ``room``."""

    class Arguments:
        room = graphene.String(required=True)
        text = graphene.String(required=True)
        seq = graphene.Int(required=True)

    ok = graphene.Boolean()

    @staticmethod
    def mutate(
        root: object, info: graphene.ResolveInfo, room: str, text: str, seq: int
    ) -> SendMessage:
        # A sync resolver on the event loop, as users write them: `broadcast`
        # schedules the send and returns at once.
        OnMessage.broadcast(group=room, payload={"room": room, "text": text, "seq": seq})
        return SendMessage(ok=True)


class EndRoom(graphene.Mutation):
    """End every ``onMessage`` subscription of ``room``: each client gets ``complete``."""

    class Arguments:
        room = graphene.String(required=True)

    ok = graphene.Boolean()

    @staticmethod
    def mutate(root: object, info: graphene.ResolveInfo, room: str) -> EndRoom:
        OnMessage.unsubscribe(group=room)
        return EndRoom(ok=True)


class Mutation(graphene.ObjectType):
    increment = Increment.Field()
    send_message = SendMessage.Field()
    end_room = EndRoom.Field()


class Subscription(graphene.ObjectType):
    on_message = OnMessage.Field()
    countdown = graphene.Int(start=graphene.Int(required=True))

    @staticmethod
    async def subscribe_countdown(
        root: object, info: graphene.ResolveInfo, start: int
    ) -> AsyncIterator[int]:
        for value in range(start, -1, -1):
            yield value
            await asyncio.sleep(0.01)


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)


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


class ConfirmConsumer(DefaultConsumer):
    confirm_subscriptions = True


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
                path("graphql-confirm/", ConfirmConsumer.as_asgi()),
            ]
        ),
    }
)
