"""The ASGI application the stream tests serve with daphne and uvicorn.

    DJANGO_SETTINGS_MODULE=tests.streams.server_settings \
        uvicorn tests.streams.server_app:application

One consumer class per path, mounted under ``"http"`` and ``"websocket"``
alike (one ``as_asgi()`` each):

- ``/graphql/``: the defaults (keep-alive every 12 s on SSE, 5 s on multipart);
- ``/graphql-ping/``: ``send_ping_every`` 0.2 s.

``onMessage(room)`` is fed by ``sendMessage`` and ended by ``endRoom``
(the names ``tests/e2e/js/common.mjs`` uses). ``probe(room)`` tells what
the server holds for a room: subscriptions made and ended, whether the
process listens to the room's group, the ``on_disconnect`` codes and the
number of asyncio tasks of the process.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.streams.server_settings")

import django

django.setup()

import graphene  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import channels_graphql_ws  # noqa: E402
from channels_graphql_ws.fanout import fanout_for  # noqa: E402

STATS: dict[str, Any] = {
    "subscribed": collections.Counter(),
    "unsubscribed": collections.Counter(),
    "disconnects": [],
}


class OnMessage(channels_graphql_ws.Subscription):
    text = graphene.String()
    seq = graphene.Int()

    class Arguments:
        room = graphene.String()

    @staticmethod
    def subscribe(root: None, info: graphene.ResolveInfo, room: str | None = None) -> Any:
        STATS["subscribed"][room] += 1
        return [room] if room is not None else None

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo, room: str | None = None) -> OnMessage:
        return OnMessage(text=payload["text"], seq=payload["seq"])

    @staticmethod
    def unsubscribed(root: None, info: graphene.ResolveInfo, room: str | None = None) -> None:
        STATS["unsubscribed"][room] += 1


class SendMessage(graphene.Mutation):
    class Arguments:
        room = graphene.String(required=True)
        text = graphene.String(required=True)
        seq = graphene.Int(required=True)

    ok = graphene.Boolean()

    @staticmethod
    def mutate(root: None, info: graphene.ResolveInfo, room: str, text: str, seq: int) -> Any:
        OnMessage.broadcast(group=room, payload={"text": text, "seq": seq})
        return SendMessage(ok=True)


class EndRoom(graphene.Mutation):
    class Arguments:
        room = graphene.String(required=True)

    ok = graphene.Boolean()

    @staticmethod
    def mutate(root: None, info: graphene.ResolveInfo, room: str) -> Any:
        OnMessage.unsubscribe(group=room)
        return EndRoom(ok=True)


class Query(graphene.ObjectType):
    hello = graphene.String()
    probe = graphene.String(room=graphene.String(required=True))

    @staticmethod
    def resolve_hello(root: None, info: graphene.ResolveInfo) -> str:
        return "world"

    @staticmethod
    async def resolve_probe(root: None, info: graphene.ResolveInfo, room: str) -> str:
        fanout = fanout_for(get_channel_layer())
        return json.dumps(
            {
                "subscribed": STATS["subscribed"][room],
                "unsubscribed": STATS["unsubscribed"][room],
                "listening": OnMessage._group_name(room) in fanout.groups(),
                "dispatched": fanout.dispatched,
                "disconnects": STATS["disconnects"],
                "tasks": len(asyncio.all_tasks()),
            }
        )


class Mutation(graphene.ObjectType):
    send_message = SendMessage.Field()
    end_room = EndRoom.Field()


class Subscription(graphene.ObjectType):
    on_message = OnMessage.Field()


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)


class StreamsConsumer(channels_graphql_ws.GraphqlConsumer):
    schema = schema
    # The queries run on the loop, so `probe` sees the loop's tasks.
    sync_code_in_thread = False

    async def on_disconnect(self, code: int) -> None:
        if self.scope["type"] == "http":
            STATS["disconnects"].append(code)


class PingConsumer(StreamsConsumer):
    send_ping_every = 0.2


urlpatterns: list[Any] = []

_routes = [
    path("graphql/", StreamsConsumer.as_asgi()),
    path("graphql-ping/", PingConsumer.as_asgi()),
]
application = ProtocolTypeRouter({"http": URLRouter(_routes), "websocket": URLRouter(_routes)})
