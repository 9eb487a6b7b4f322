"""The ASGI application of the slow-reader test: big broadcasts and a view of the queues.

    uvicorn --ws websockets tests.e2e.slow_reader_app:application

Settings are configured here (no settings module): an in-memory channel
layer with room for every broadcast of the test, and log records of
``channels_graphql_ws`` written to stderr with their logger name and level,
so the test can count the dropped-notification warnings in the server log.

- ``subscription { onBlob { seq blob } }``: every broadcast of ``blast``;
- ``mutation { blast(start, count, size) }``: broadcasts ``count`` payloads,
  ``seq`` from ``start`` on, each with ``size`` random hexadecimal characters
  (they do not compress, so per-message deflate cannot hide their size);
- ``query { queues { operationId length limit dropped } }``: the notification
  queue of every live subscription of this process, as it is right now.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="slow-reader-tests-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "channels"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels.layers.InMemoryChannelLayer",
                "CONFIG": {"capacity": 100_000},
            }
        },
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"named": {"format": "%(levelname)s %(name)s %(message)s"}},
            "handlers": {
                "stderr": {"class": "logging.StreamHandler", "formatter": "named"},
            },
            "loggers": {
                "channels_graphql_ws": {"handlers": ["stderr"], "level": "INFO"},
            },
        },
    )

from django.core.asgi import get_asgi_application

# Sets Django up before anything that needs the app registry is imported.
django_asgi_app = get_asgi_application()

import graphene  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import channels_graphql_ws  # noqa: E402
from tests.internals import records_of  # noqa: E402

#: Notifications a subscription may have waiting in this server.
QUEUE_LIMIT = 50

#: Every consumer of this process that is still alive.
_consumers: weakref.WeakSet[Any] = weakref.WeakSet()


class QueueState(graphene.ObjectType):
    operation_id = graphene.String()
    length = graphene.Int()
    limit = graphene.Int()
    dropped = graphene.Int()


class Query(graphene.ObjectType):
    queues = graphene.List(graphene.NonNull(QueueState))

    @staticmethod
    def resolve_queues(root: object, info: graphene.ResolveInfo) -> list[QueueState]:
        states = []
        for consumer in list(_consumers):
            for op_id, record in list(records_of(consumer).items()):
                queue = record.queue
                if queue is not None:
                    states.append(
                        QueueState(
                            operation_id=str(op_id),
                            length=len(queue),
                            limit=queue.limit,
                            dropped=queue.dropped,
                        )
                    )
        return states


class OnBlob(channels_graphql_ws.Subscription):
    seq = graphene.Int()
    blob = graphene.String()

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo) -> OnBlob:
        return OnBlob(seq=payload["seq"], blob=payload["blob"])


class Blast(graphene.Mutation):
    """Broadcast ``count`` payloads of ``size`` random characters, in ``seq`` order."""

    class Arguments:
        start = graphene.Int(required=True)
        count = graphene.Int(required=True)
        size = graphene.Int(required=True)

    sent = graphene.Int()

    @staticmethod
    async def mutate(
        root: object, info: graphene.ResolveInfo, start: int, count: int, size: int
    ) -> Blast:
        for seq in range(start, start + count):
            blob = os.urandom((size + 1) // 2).hex()[:size]
            await OnBlob.broadcast_async(payload={"seq": seq, "blob": blob})
        return Blast(sent=count)


class Mutation(graphene.ObjectType):
    blast = Blast.Field()


class Subscription(graphene.ObjectType):
    on_blob = OnBlob.Field()


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)


class SlowReaderConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema
    confirm_subscriptions = True
    subscription_notification_queue_limit = QUEUE_LIMIT

    async def on_connect(self, payload: Any) -> None:
        _consumers.add(self)


# Django's URL resolver wants a `urlpatterns` in ROOT_URLCONF; HTTP serves nothing.
urlpatterns: list[Any] = []

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("graphql/", SlowReaderConsumer.as_asgi())]),
    }
)
