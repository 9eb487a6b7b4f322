"""The schema the Redis tests serve, and the ``Subscription`` they broadcast to.

Kept apart from the ASGI application so that a broadcaster process imports
the very class the servers subscribe to (group names come from the class's
module and qualified name) without building an application.
"""

from __future__ import annotations

from typing import Any

import graphene

import channels_graphql_ws


class OnEvent(channels_graphql_ws.Subscription):
    """Events of ``room``; ``username`` is that of a model instance sent along, if any."""

    seq = graphene.Int()
    text = graphene.String()
    username = graphene.String()
    user_model = graphene.String()

    class Arguments:
        room = graphene.String(required=True)

    @staticmethod
    def subscribe(root: None, info: graphene.ResolveInfo, room: str) -> list[str]:
        return [room]

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo, room: str) -> OnEvent:
        user = payload.get("user")
        return OnEvent(
            seq=payload["seq"],
            text=payload["text"],
            # Attribute access: a dict or a string would fail here.
            username=None if user is None else user.username,
            user_model=None if user is None else user._meta.label,
        )


class Query(graphene.ObjectType):
    hello = graphene.String()

    @staticmethod
    def resolve_hello(root: object, info: graphene.ResolveInfo) -> str:
        return "world"


class Subscription(graphene.ObjectType):
    on_event = OnEvent.Field()


schema = graphene.Schema(query=Query, subscription=Subscription)


class Consumer(channels_graphql_ws.GraphqlWsConsumer):
    """Confirms each subscription (``{"data": null}``) once it is live."""

    schema = schema
    confirm_subscriptions = True
