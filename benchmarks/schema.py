"""Our side of the benchmark: a schema served by ``GraphqlWsConsumer``.

- ``subscription { onEvent { seq sent } }``: ``OnEvent.publish`` returns the
  broadcast payload as it is;
- ``mutation { fire(seq, sent) }``: broadcasts one event to ``OnEvent`` and
  answers once the layer took it;
- ``{ value }`` and ``{ items { id name price active tag } }`` (100 objects).

The broadcaster process imports this module too: group names come from the
``Subscription`` class's module and qualified name.
"""

from __future__ import annotations

import os
from typing import Any

import graphene

import channels_graphql_ws

from .common import ITEMS, VALUE


class OnEvent(channels_graphql_ws.Subscription):
    """Every subscriber gets every event, exactly as broadcast.

    ``publish`` depends on the payload alone, so it runs once per broadcast
    for all subscribers (``publish_once``); ``BENCH_PUBLISH_ONCE=0`` in the
    environment measures the per-subscriber path instead.
    """

    publish_once = os.environ.get("BENCH_PUBLISH_ONCE", "1") != "0"

    seq = graphene.Int()
    sent = graphene.Float()

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo) -> Any:
        return payload


class Item(graphene.ObjectType):
    id = graphene.Int()
    name = graphene.String()
    price = graphene.Float()
    active = graphene.Boolean()
    tag = graphene.String()


class Query(graphene.ObjectType):
    value = graphene.Int()
    items = graphene.List(Item)

    @staticmethod
    def resolve_value(root: None, info: graphene.ResolveInfo) -> int:
        return VALUE

    @staticmethod
    def resolve_items(root: None, info: graphene.ResolveInfo) -> list[dict[str, Any]]:
        return ITEMS


class Fire(graphene.Mutation):
    class Arguments:
        seq = graphene.Int(required=True)
        sent = graphene.Float(required=True)

    Output = graphene.Boolean

    @staticmethod
    async def mutate(root: None, info: graphene.ResolveInfo, seq: int, sent: float) -> bool:
        await OnEvent.broadcast_async(payload={"seq": seq, "sent": sent})
        return True


class Mutation(graphene.ObjectType):
    fire = Fire.Field()


class Subscription(graphene.ObjectType):
    on_event = OnEvent.Field()


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)


class OursConsumer(channels_graphql_ws.GraphqlWsConsumer):
    """The library's consumer as users configure it; the confirmation says "live"."""

    schema = schema
    confirm_subscriptions = True
    # The default 3 s counts from the accept, while `connection_init` may
    # still wait in line: the scale scenarios open thousands of connections
    # at once on a small shared machine, and the bare and floor consumers
    # have no such deadline at all. The timer itself is kept.
    connection_init_wait_timeout = 60
    # The default (sync code in Django's thread); BENCH_SYNC_IN_THREAD=0
    # measures everything on the loop.
    sync_code_in_thread = os.environ.get("BENCH_SYNC_IN_THREAD", "1") != "0"
