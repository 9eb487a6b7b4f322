"""``Subscription.broadcast_on_commit``: sent when the transaction commits, never on rollback."""

from __future__ import annotations

import asyncio
import logging

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


# ------------------------------------------- a layer that is down at commit


@pytest.fixture
def unreachable_layer():
    """channels_redis pointed at a port where nothing listens."""
    from tests.e2e.support import free_port
    from tests.redis.layers import CORE, layer_config
    from tests.redis.support import default_layer

    config = layer_config(CORE, f"redis://127.0.0.1:{free_port()}/0", "cgws-down:")
    with default_layer(config) as layer:
        yield layer


def test_a_layer_down_at_commit_is_logged_not_raised(unreachable_layer, caplog):
    with caplog.at_level(logging.ERROR, logger="channels_graphql_ws.broadcast"):
        with transaction.atomic():
            OnCommitted.broadcast_on_commit(payload=1)
        # Outside a transaction the send happens at once, with the same care.
        OnCommitted.broadcast_on_commit(payload=2)
    failures = [r for r in caplog.records if "after its transaction committed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info and "Connect" in repr(r.exc_info[1]) for r in failures)


def test_failures_at_commit_are_logged_within_a_budget(unreachable_layer, caplog, monkeypatch):
    from channels_graphql_ws import broadcast

    budget = broadcast.LogBudget(burst=2, window=3600)
    monkeypatch.setattr(broadcast, "_send_failures", budget)
    with caplog.at_level(logging.ERROR, logger="channels_graphql_ws.broadcast"):
        for value in range(5):
            with transaction.atomic():
                OnCommitted.broadcast_on_commit(payload=value)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2
    assert budget.suppressed == 3


def test_a_missing_layer_still_raises_at_the_call():
    from channels.layers import channel_layers
    from django.test import override_settings

    from channels_graphql_ws.broadcast import ChannelLayerNotConfiguredError

    saved = dict(channel_layers.backends)
    channel_layers.backends.clear()
    try:
        with (
            override_settings(CHANNEL_LAYERS={}),
            pytest.raises(ChannelLayerNotConfiguredError),
            transaction.atomic(),
        ):
            OnCommitted.broadcast_on_commit(payload=1)
    finally:
        channel_layers.backends.clear()
        channel_layers.backends.update(saved)
