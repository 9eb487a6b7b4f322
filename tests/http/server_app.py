"""The ASGI application of the HTTP end-to-end tests: one consumer per path, both transports.

    HTTP_E2E_DB=/tmp/db.sqlite3 DJANGO_SETTINGS_MODULE=tests.http.server_settings \
        uvicorn tests.http.server_app:application

Every path is served by one consumer class under ``"http"`` and ``"websocket"``
alike, behind ``AuthMiddlewareStack`` and the README's token middleware:

- ``/graphql/``: the defaults (no CORS, no GraphiQL);
- ``/graphql-cors/``: CORS for ``http://allowed.example`` with credentials;
- ``/graphql-small/``: ``max_message_size`` 1000 bytes.

The user ``alice`` (password ``wonderland``) exists; ``login`` logs the
request's session in (``channels.auth.login``), ``remember`` stores a value
in the session, ``me`` and ``remembered`` read them back.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.http.server_settings")

import django

django.setup()

import graphene  # noqa: E402
from channels.auth import AuthMiddlewareStack, login  # noqa: E402
from channels.db import database_sync_to_async  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.auth import authenticate, get_user_model  # noqa: E402
from django.core import signing  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.urls import path  # noqa: E402

import channels_graphql_ws  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
if not get_user_model().objects.filter(username="alice").exists():
    get_user_model().objects.create_user("alice", password="wonderland")

_counter = [0]


def user_name(info: graphene.ResolveInfo) -> str | None:
    user = info.context.channels_scope.get("user")
    return user.username if user is not None and user.is_authenticated else None


class Query(graphene.ObjectType):
    hello = graphene.String(name=graphene.String(default_value="world"))
    me = graphene.String()
    remembered = graphene.String()
    counter = graphene.Int()

    @staticmethod
    def resolve_hello(root: Any, info: graphene.ResolveInfo, name: str) -> str:
        return f"Hello, {name}!"

    @staticmethod
    def resolve_me(root: Any, info: graphene.ResolveInfo) -> str | None:
        return user_name(info)

    @staticmethod
    async def resolve_remembered(root: Any, info: graphene.ResolveInfo) -> Any:
        session = info.context.channels_scope["session"]
        return await database_sync_to_async(session.get)("remembered")

    @staticmethod
    def resolve_counter(root: Any, info: graphene.ResolveInfo) -> int:
        return _counter[0]


class Increment(graphene.Mutation):
    class Arguments:
        by = graphene.Int(default_value=1)

    value = graphene.Int()

    @staticmethod
    def mutate(root: Any, info: graphene.ResolveInfo, by: int) -> Increment:
        _counter[0] += by
        return Increment(value=_counter[0])


class Login(graphene.Mutation):
    """Log the request's session in; the response sets the session cookie."""

    class Arguments:
        username = graphene.String(required=True)
        password = graphene.String(required=True)

    ok = graphene.Boolean()
    token = graphene.String()

    @staticmethod
    async def mutate(root: Any, info: graphene.ResolveInfo, username: str, password: str) -> Login:
        user = await database_sync_to_async(authenticate)(username=username, password=password)
        if user is None:
            return Login(ok=False, token=None)
        scope = info.context.channels_scope
        await login(scope, user)
        return Login(ok=True, token=signing.dumps({"user": user.pk}, salt=TOKEN_SALT))


class Remember(graphene.Mutation):
    class Arguments:
        value = graphene.String(required=True)

    ok = graphene.Boolean()

    @staticmethod
    async def mutate(root: Any, info: graphene.ResolveInfo, value: str) -> Remember:
        session = info.context.channels_scope["session"]
        await database_sync_to_async(session.__setitem__)("remembered", value)
        return Remember(ok=True)


class Mutation(graphene.ObjectType):
    increment = Increment.Field()
    login = Login.Field()
    remember = Remember.Field()


class Subscription(graphene.ObjectType):
    countdown = graphene.Int(start=graphene.Int(required=True))

    @staticmethod
    async def subscribe_countdown(
        root: Any, info: graphene.ResolveInfo, start: int
    ) -> AsyncIterator[int]:
        for value in range(start, -1, -1):
            yield value


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)


# ------------------------------------------- the README's token middleware

TOKEN_SALT = "tests.http.tokens"


@database_sync_to_async
def user_for_token(token: str) -> Any:
    try:
        user_id = signing.loads(token, salt=TOKEN_SALT, max_age=3600)["user"]
        return get_user_model().objects.get(pk=user_id)
    except (signing.BadSignature, KeyError, TypeError, get_user_model().DoesNotExist):
        return None


class TokenAuthMiddleware:
    """``Authorization: Bearer <token>`` sets ``scope["user"]`` (HTTP requests only)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "http":
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            kind, _, token = authorization.partition(" ")
            if kind.lower() == "bearer" and token:
                user = await user_for_token(token)
                if user is not None:
                    scope = {**scope, "user": user}
        return await self.inner(scope, receive, send)


# ------------------------------------------------------------- consumers


class DefaultConsumer(channels_graphql_ws.GraphqlConsumer):
    schema = schema


class CorsConsumer(DefaultConsumer):
    cors_allowed_origins = ["http://allowed.example"]
    cors_allow_credentials = True


class SmallConsumer(DefaultConsumer):
    max_message_size = 1000


routes = URLRouter(
    [
        path("graphql/", DefaultConsumer.as_asgi()),
        path("graphql-cors/", CorsConsumer.as_asgi()),
        path("graphql-small/", SmallConsumer.as_asgi()),
    ]
)
urlpatterns: list[Any] = []

application = ProtocolTypeRouter(
    {
        "http": AuthMiddlewareStack(TokenAuthMiddleware(routes)),
        "websocket": AuthMiddlewareStack(routes),
    }
)
