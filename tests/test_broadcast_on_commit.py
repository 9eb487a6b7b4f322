"""``Subscription.broadcast_on_commit``: sent when the transaction commits, never on rollback."""

from __future__ import annotations

import asyncio

import graphene
import pytest
from django.db import transaction

import channels_graphql_ws
from channels_graphql_ws.testing import GraphqlWsClient, GraphqlWsTransport


class OnCommitted(channels_graphql_ws.Subscription):
    value = graphene.Int()

    @staticmethod
    def publish(payload, info):
        return OnCommitted(value=payload)


class Query(graphene.ObjectType):
    noop = graphene.Int()


class Subscription(graphene.ObjectType):
    on_committed = OnCommitted.Field()


class Consumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = graphene.Schema(query=Query, subscription=Subscription)
    confirm_subscriptions = True


@pytest.fixture
async def subscriber():
    client = GraphqlWsClient(GraphqlWsTransport(Consumer.as_asgi(), "/graphql/"))
    await client.connect_and_init()
    op_id = await client.subscribe("subscription { onCommitted { value } }")
    yield client, op_id
    await client.finalize()


async def next_value(client: GraphqlWsClient, op_id: str) -> int:
    payload = await client.receive(assert_id=op_id, assert_type="next")
    return payload["data"]["onCommitted"]["value"]


async def test_broadcast_waits_for_the_commit(subscriber):
    client, op_id = subscriber
    inside = asyncio.Event()
    commit = asyncio.Event()
    loop = asyncio.get_running_loop()

    def work() -> None:
        with transaction.atomic():
            OnCommitted.broadcast_on_commit(payload=1)
            loop.call_soon_threadsafe(inside.set)
            asyncio.run_coroutine_threadsafe(commit.wait(), loop).result(timeout=10)

    worker = asyncio.ensure_future(asyncio.to_thread(work))
    await inside.wait()
    await client.assert_no_messages(attempts=3, interval=0.05)  # not before the commit
    commit.set()
    await worker
    assert await next_value(client, op_id) == 1


async def test_a_rolled_back_broadcast_is_never_sent(subscriber):
    client, op_id = subscriber

    def work() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            OnCommitted.broadcast_on_commit(payload=1)
            raise RuntimeError("roll back")
        OnCommitted.broadcast_on_commit(payload=2)  # no transaction: sent at once

    await asyncio.to_thread(work)
    assert await next_value(client, op_id) == 2
    await client.assert_no_messages(attempts=3, interval=0.05)


async def test_an_unpackable_payload_raises_at_the_call_not_at_commit():
    def work() -> None:
        with transaction.atomic(), pytest.raises(TypeError, match="object"):
            OnCommitted.broadcast_on_commit(payload=object())

    await asyncio.to_thread(work)
