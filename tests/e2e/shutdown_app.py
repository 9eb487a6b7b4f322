"""An ASGI app whose hooks print what the shutdown test looks for.

    DJANGO_SETTINGS_MODULE=tests.e2e.server_settings \\
        uvicorn tests.e2e.shutdown_app:application
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.e2e.server_settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

import graphene  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import channels_graphql_ws  # noqa: E402


class OnTick(channels_graphql_ws.Subscription):
    tick = graphene.Int()

    @staticmethod
    def publish(payload, info):
        return OnTick(tick=payload)

    @staticmethod
    def unsubscribed(root, info):
        print(f"UNSUBSCRIBED {info.context.graphql_operation_id}", flush=True)


class Query(graphene.ObjectType):
    hello = graphene.String()


class Subscription(graphene.ObjectType):
    on_tick = OnTick.Field()


class Consumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = graphene.Schema(query=Query, subscription=Subscription)
    confirm_subscriptions = True

    def on_disconnect(self, code):
        print(f"DISCONNECTED {code}", flush=True)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("graphql/", Consumer.as_asgi())]),
    }
)
