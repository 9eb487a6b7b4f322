"""GraphQL schema of the example: a chat with rooms, history and logging in.

- `history(chatroom)`: the last messages of a room, kept in memory;
- `sendChatMessage(chatroom, text)`: store a message and broadcast it;
- `onNewChatMessage(chatroom)`: a `channels_graphql_ws.Subscription` that
  delivers the room's new messages, except the subscriber's own;
- `login(username, password)`: log the connection in (Channels' session
  login) and return a token for the `connection_init` payload;
- `me`: who this connection is logged in as.

The history lives in this process's memory, as does the in-memory channel
layer of `example/settings.py`: one server process, which is what the example
runs. Resolvers run on the event loop, one at a time, so the deques need no
lock; the database (users, sessions) is only touched from worker threads
through `database_sync_to_async`.
"""

from __future__ import annotations

import collections
from typing import Any

import channels.auth
import graphene
from channels.db import database_sync_to_async
from django.contrib.auth import authenticate

import channels_graphql_ws
from example import tokens

#: Messages kept per chat room for `history`.
HISTORY_LENGTH = 100

_history: collections.defaultdict[str, collections.deque[dict[str, str]]] = collections.defaultdict(
    lambda: collections.deque(maxlen=HISTORY_LENGTH)
)


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


class ChatMessage(graphene.ObjectType):
    """One message of a chat room."""

    chatroom = graphene.String(required=True)
    text = graphene.String(required=True)
    sender = graphene.String(required=True, description="User name, or 'anonymous'.")


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

        The session key is read now rather than remembered at subscribe time:
        `login` gives the session a new key, and messages sent after it are
        still this subscriber's own.
        """
        if payload["sender_session"] == _session_key(info.context.channels_scope):
            return None
        return OnNewChatMessage(
            chatroom=payload["chatroom"], text=payload["text"], sender=payload["sender"]
        )


class Query(graphene.ObjectType):
    """Read-only fields."""

    history = graphene.NonNull(
        graphene.List(graphene.NonNull(ChatMessage)),
        chatroom=graphene.String(required=True),
        description=f"The last {HISTORY_LENGTH} messages of a chat room, oldest first.",
    )
    me = graphene.String(description="The user this connection is logged in as, if any.")

    @staticmethod
    def resolve_history(root: None, info: graphene.ResolveInfo, chatroom: str) -> list[ChatMessage]:
        return [ChatMessage(**message) for message in _history.get(chatroom, ())]

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
    async def mutate(
        root: None, info: graphene.ResolveInfo, chatroom: str, text: str
    ) -> SendChatMessage:
        scope = info.context.channels_scope
        message = {"chatroom": chatroom, "text": text, "sender": _username(scope)}
        _history[chatroom].append(message)
        # The session key travels with the payload (server side only: clients
        # get the fields `publish` returns), so that `publish` can tell the
        # sender's own message.
        await OnNewChatMessage.broadcast_async(
            group=chatroom, payload={**message, "sender_session": _session_key(scope)}
        )
        return SendChatMessage(message=ChatMessage(**message))


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
