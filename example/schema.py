"""GraphQL schema of the example: a chat with rooms, history and logging in.

- `history(chatroom)`: the last messages of a room, from the database;
- `sendChatMessage(chatroom, text)`: save a message and broadcast it;
- `onNewChatMessage(chatroom)`: a `channels_graphql_ws.Subscription` that
  delivers the room's new messages, except the subscriber's own;
- `login(username, password)`: log the connection in (Channels' session
  login) and return a token for the `connection_init` payload;
- `me`: who this connection is logged in as.

The resolvers that read and write messages are plain sync functions using
the Django ORM: the consumer runs them in Django's sync thread (its
`sync_code_in_thread` setting, on by default), so they need no
`database_sync_to_async`. `login` stays async, to show that both kinds live
side by side.
"""

from __future__ import annotations

from typing import Any

import channels.auth
import graphene
from channels.db import database_sync_to_async
from django.contrib.auth import authenticate
from django.db import transaction
from graphene_django import DjangoObjectType

import channels_graphql_ws
from example import models, tokens

#: Messages `history` returns per chat room.
HISTORY_LENGTH = 100


def _username(scope: dict[str, Any]) -> str:
    """The name messages of this connection go out under."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return str(user.username)
    return "anonymous"


def _session_key(scope: dict[str, Any]) -> str | None:
    """The connection's session key: `GraphqlConsumer.on_connect` makes sure it has one."""
    session = scope.get("session")
    return None if session is None else session.session_key


class ChatMessage(DjangoObjectType):
    """One message of a chat room."""

    class Meta:
        model = models.ChatMessage
        fields = ("chatroom", "text", "sender")


class OnNewChatMessage(channels_graphql_ws.Subscription):
    """New messages of a chat room, except those this subscriber sent itself.

    "Itself" means the same Django session: each WebSocket connection without
    a session cookie gets a session of its own (see `on_connect`), so two
    anonymous clients see each other's messages; two tabs of one browser that
    share a session cookie (e.g. after logging into /admin/) do not.
    """

    chatroom = graphene.String(required=True)
    text = graphene.String(required=True)
    sender = graphene.String(required=True)

    class Arguments:
        chatroom = graphene.String(required=True)

    @staticmethod
    def subscribe(root: None, info: graphene.ResolveInfo, chatroom: str) -> list[str]:
        """Join the room's group, so that only this room's messages arrive."""
        return [chatroom]

    @staticmethod
    def publish(
        payload: dict[str, Any], info: graphene.ResolveInfo, chatroom: str
    ) -> OnNewChatMessage | None:
        """Turn a broadcast into a result, or None (send nothing) for our own message.

        `payload["message"]` is the saved `models.ChatMessage` (a model
        instance travels in a broadcast). The session key is read now rather
        than remembered at subscribe time: `login` gives the session a new
        key, and messages sent after it are still this subscriber's own.
        """
        if payload["sender_session"] == _session_key(info.context.channels_scope):
            return None
        message = payload["message"]
        return OnNewChatMessage(chatroom=message.chatroom, text=message.text, sender=message.sender)


class Query(graphene.ObjectType):
    """Read-only fields."""

    history = graphene.NonNull(
        graphene.List(graphene.NonNull(ChatMessage)),
        chatroom=graphene.String(required=True),
        description=f"The last {HISTORY_LENGTH} messages of a chat room, oldest first.",
    )
    me = graphene.String(description="The user this connection is logged in as, if any.")

    @staticmethod
    def resolve_history(
        root: None, info: graphene.ResolveInfo, chatroom: str
    ) -> list[models.ChatMessage]:
        # A plain ORM query in a sync resolver: it runs in Django's sync thread.
        latest = models.ChatMessage.objects.filter(chatroom=chatroom).order_by("-id")
        return list(reversed(latest[:HISTORY_LENGTH]))

    @staticmethod
    def resolve_me(root: None, info: graphene.ResolveInfo) -> str | None:
        user = info.context.channels_scope.get("user")
        return user.username if user is not None and user.is_authenticated else None


class SendChatMessage(graphene.Mutation):
    """Add a message to a chat room and notify the room's subscribers."""

    class Arguments:
        chatroom = graphene.String(required=True)
        text = graphene.String(required=True)

    message = graphene.Field(ChatMessage, required=True)

    @staticmethod
    def mutate(root: None, info: graphene.ResolveInfo, chatroom: str, text: str) -> SendChatMessage:
        scope = info.context.channels_scope
        with transaction.atomic():
            message = models.ChatMessage.objects.create(
                chatroom=chatroom, text=text, sender=_username(scope)
            )
            # Sent once the message is committed. The session key travels with
            # the payload (server side only: clients get the fields `publish`
            # returns), so that `publish` can tell the sender's own message.
            OnNewChatMessage.broadcast_on_commit(
                group=chatroom,
                payload={"message": message, "sender_session": _session_key(scope)},
            )
        return SendChatMessage(message=message)


class Login(graphene.Mutation):
    """Log this connection in with a user name and password.

    Uses Channels' `login`, which needs the session of `AuthMiddlewareStack`:
    the connection's `scope["user"]` becomes the user and the session is saved,
    so every later operation on this socket runs as that user. A WebSocket
    cannot set cookies, so the login lasts as long as the connection; the
    returned token carries it to the next one, through the `connection_init`
    payload `{"token": "..."}` (see `GraphqlConsumer.on_connect`).
    """

    class Arguments:
        username = graphene.String(required=True)
        password = graphene.String(required=True)

    ok = graphene.Boolean(required=True)
    user = graphene.String()
    token = graphene.String(description="For the connection_init payload: {token: ...}.")

    @staticmethod
    async def mutate(root: None, info: graphene.ResolveInfo, username: str, password: str) -> Login:
        scope = info.context.channels_scope
        user = await database_sync_to_async(authenticate)(username=username, password=password)
        if user is None:
            return Login(ok=False, user=None, token=None)
        await channels.auth.login(scope, user)
        await database_sync_to_async(scope["session"].save)()
        return Login(ok=True, user=user.username, token=tokens.make_token(user))


class Mutation(graphene.ObjectType):
    """Fields that change state."""

    send_chat_message = SendChatMessage.Field()
    login = Login.Field()


class Subscription(graphene.ObjectType):
    """Fields to subscribe to."""

    on_new_chat_message = OnNewChatMessage.Field()


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
