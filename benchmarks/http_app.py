"""The ASGI application of the HTTP benchmark's servers: one schema, four ways to serve it.

- ``POST /ours/``: ``GraphqlConsumer`` (the library) over HTTP, with
  ``benchmarks.schema.schema``;
- ``POST /bare/``: ``BareHttpConsumer``, a Channels ``AsyncHttpConsumer``
  answering pre-encoded JSON, with no GraphQL at all (the floor);
- ``POST /graphene/``: graphene-django's ``GraphQLView`` with the same
  Graphene schema, through Django's own ASGI handler (what users would
  otherwise mount);
- ``POST /strawberry/``: Strawberry's ``GraphQLHTTPConsumer`` with the same
  schema written for Strawberry, and the same data;
- ``GET /bench/stats``: the process's CPU seconds and memory, as in
  ``benchmarks.app``.

Each run starts a fresh server and drives one path only, so the CPU a run
measures is that path's alone.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.http_settings")

import django

django.setup()

import strawberry  # noqa: E402
from channels.generic.http import AsyncHttpConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from graphene_django.views import GraphQLView  # noqa: E402
from strawberry.channels import GraphQLHTTPConsumer  # noqa: E402

import channels_graphql_ws  # noqa: E402

from .app import http_app as stats_app  # noqa: E402
from .bare import LARGE_TEXT, SMALL_TEXT  # noqa: E402
from .common import ITEMS, VALUE  # noqa: E402
from .schema import schema  # noqa: E402

SMALL_BODY = SMALL_TEXT.encode()
LARGE_BODY = LARGE_TEXT.encode()


class OursHttpConsumer(channels_graphql_ws.GraphqlConsumer):
    """The library's consumer as users configure it, over HTTP."""

    schema = schema
    # The default (sync code in Django's thread); BENCH_SYNC_IN_THREAD=0
    # measures everything on the loop.
    sync_code_in_thread = os.environ.get("BENCH_SYNC_IN_THREAD", "1") != "0"


class BareHttpConsumer(AsyncHttpConsumer):  # type: ignore[misc]
    """What a Channels user writes by hand for the same answers: pre-encoded JSON."""

    async def handle(self, body: bytes) -> None:
        answer = LARGE_BODY if b"items" in body else SMALL_BODY
        await self.send_response(200, answer, headers=[(b"content-type", b"application/json")])


@strawberry.type
class Item:
    id: int | None
    name: str | None
    price: float | None
    active: bool | None
    tag: str | None


STRAWBERRY_ITEMS = [Item(**item) for item in ITEMS]


@strawberry.type
class Query:
    @strawberry.field
    def value(self) -> int | None:
        return VALUE

    @strawberry.field
    def items(self) -> list[Item] | None:
        return STRAWBERRY_ITEMS


strawberry_schema = strawberry.Schema(query=Query)

urlpatterns = [path("graphene/", csrf_exempt(GraphQLView.as_view(schema=schema)))]
django_app = get_asgi_application()


async def other_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"].startswith("/graphene/"):
        await django_app(scope, receive, send)
    else:
        await stats_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                path("ours/", OursHttpConsumer.as_asgi()),
                path("bare/", BareHttpConsumer.as_asgi()),
                path("strawberry/", GraphQLHTTPConsumer.as_asgi(schema=strawberry_schema)),
                path("graphene/", other_http),
                path("bench/stats", other_http),
            ]
        ),
    }
)
