"""The schema the client tests serve (``tests.client.app``) and use in-process.

Chat rooms are Channels groups: each test uses rooms of its own.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import graphene
from channels.layers import get_channel_layer

import channels_graphql_ws

#: How many subscriptions of each room have ended (``unsubscribed`` ran).
unsubscribed_by_room: collections.Counter[str] = collections.Counter()

#: Seconds ``closeSocket`` keeps its operation running after asking for the close.
CLOSE_SOCKET_LINGER = 5.0


class OnMessage(channels_graphql_ws.Subscription):
    """The messages posted to one room."""

    text = graphene.String()

    class Arguments:
        room = graphene.String(required=True)

    @staticmethod
    def subscribe(root: Any, info: graphene.ResolveInfo, room: str) -> list[str]:
        return [room]

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo, room: str) -> OnMessage:
        return OnMessage(text=payload["text"])

    @staticmethod
    def unsubscribed(root: Any, info: graphene.ResolveInfo, room: str) -> None:
        unsubscribed_by_room[room] += 1


class Query(graphene.ObjectType):
    hello = graphene.String(name=graphene.String(default_value="world"))
    fail = graphene.String()
    slow = graphene.Float(seconds=graphene.Float(required=True))
    offered_subprotocols = graphene.List(graphene.String)
    header = graphene.String(name=graphene.String(required=True))
    unsubscribed_count = graphene.Int(room=graphene.String(required=True))
    close_socket = graphene.Int(code=graphene.Int(required=True))

    @staticmethod
    def resolve_hello(root: Any, info: graphene.ResolveInfo, name: str) -> str:
        return f"Hello, {name}!"

    @staticmethod
    def resolve_fail(root: Any, info: graphene.ResolveInfo) -> str:
        raise RuntimeError("fail resolver says no")

    @staticmethod
    async def resolve_slow(root: Any, info: graphene.ResolveInfo, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @staticmethod
    def resolve_offered_subprotocols(root: Any, info: graphene.ResolveInfo) -> list[str]:
        """The subprotocols the client's handshake offered."""
        return list(info.context.channels_scope["subprotocols"])

    @staticmethod
    def resolve_header(root: Any, info: graphene.ResolveInfo, name: str) -> str | None:
        """A header of the client's handshake (the last one of that name)."""
        wanted = name.lower().encode()
        found = None
        for key, value in info.context.channels_scope["headers"]:
            if key.lower() == wanted:
                found = value.decode("latin-1")
        return found

    @staticmethod
    def resolve_unsubscribed_count(root: Any, info: graphene.ResolveInfo, room: str) -> int:
        return unsubscribed_by_room[room]

    @staticmethod
    async def resolve_close_socket(root: Any, info: graphene.ResolveInfo, code: int) -> int:
        """Have the consumer close the socket with ``code`` while this still runs."""
        layer = get_channel_layer()
        await layer.send(info.context.channel_name, {"type": "close.socket", "code": code})
        await asyncio.sleep(CLOSE_SOCKET_LINGER)
        return code


class SendMessage(graphene.Mutation):
    """Post ``text`` to ``room``: every subscriber of the room is notified."""

    class Arguments:
        room = graphene.String(required=True)
        text = graphene.String(required=True)

    ok = graphene.Boolean()

    @staticmethod
    async def mutate(root: Any, info: graphene.ResolveInfo, room: str, text: str) -> SendMessage:
        await OnMessage.broadcast_async(group=room, payload={"text": text})
        return SendMessage(ok=True)


class CloseRoom(graphene.Mutation):
    """End every subscription of ``room`` from the server side."""

    class Arguments:
        room = graphene.String(required=True)

    ok = graphene.Boolean()

    @staticmethod
    async def mutate(root: Any, info: graphene.ResolveInfo, room: str) -> CloseRoom:
        await OnMessage.unsubscribe_async(group=room)
        return CloseRoom(ok=True)


class Mutation(graphene.ObjectType):
    send_message = SendMessage.Field()
    close_room = CloseRoom.Field()


class Subscription(graphene.ObjectType):
    on_message = OnMessage.Field()


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
