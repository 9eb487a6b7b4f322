"""Lifecycle races on a real Redis layer, where every layer call takes real time.

Each race runs in a loop (50 times): a test that passes once proves little
about an interleaving.

- A client that sends ``complete`` and closes at once (the npm
  ``graphql-ws`` client does when a page unsubscribes and leaves) still gets
  ``unsubscribed`` run, exactly once.
- A second subscriber of a group in this process is confirmed only once
  the process's membership of that group exists at the layer
  (confirmation means live: decisions 6 and 9), so a broadcast sent right
  after the confirmation reaches it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import graphene
import pytest
from channels.testing import WebsocketCommunicator

import channels_graphql_ws
from tests.consumer.support import Client

from .layers import CORE, PUBSUB, layer_config
from .support import default_layer

pytestmark = pytest.mark.timeout(240)

ROUNDS = 50
TRANSPORT_WS = "graphql-transport-ws"
_numbers = itertools.count()


class Query(graphene.ObjectType):
    hello = graphene.String()


class Counter:
    def __init__(self) -> None:
        self.subscribed = 0
        self.unsubscribed = 0


def consumer_for(counter: Counter) -> tuple[type, type[channels_graphql_ws.Subscription]]:
    """A consumer and a Subscription class with a group of its own."""
    name = f"Race{next(_numbers)}"

    def subscribe(root: Any, info: Any) -> None:
        counter.subscribed += 1

    def unsubscribed(root: Any, info: Any) -> None:
        counter.unsubscribed += 1

    sub = type(
        name,
        (channels_graphql_ws.Subscription,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "n": graphene.Int(),
            "subscribe": staticmethod(subscribe),
            "publish": staticmethod(lambda payload, info: {"n": payload}),
            "unsubscribed": staticmethod(unsubscribed),
        },
    )
    root = type(f"{name}Root", (graphene.ObjectType,), {"on_event": sub.Field()})
    consumer = type(
        f"{name}Consumer",
        (channels_graphql_ws.GraphqlWsConsumer,),
        {
            "schema": graphene.Schema(query=Query, subscription=root),
            "confirm_subscriptions": True,
        },
    )
    return consumer, sub


def client_of(consumer: type) -> Client:
    return Client(
        WebsocketCommunicator(consumer.as_asgi(), "/graphql/", subprotocols=[TRANSPORT_WS])
    )


async def subscribe(client: Client, op_id: str) -> None:
    await client.send(
        {"type": "subscribe", "id": op_id, "payload": {"query": "subscription { onEvent { n } }"}}
    )


@pytest.fixture(params=[CORE, PUBSUB])
def redis_layer(request: pytest.FixtureRequest, redis_url: str, redis_prefix: str) -> Any:
    with default_layer(layer_config(str(request.param), redis_url, redis_prefix)) as layer:
        yield layer


async def test_unsubscribed_runs_once_when_the_socket_closes_during_a_complete(
    redis_layer: Any,
) -> None:
    missed = []
    for round_number in range(ROUNDS):
        counter = Counter()
        consumer, _ = consumer_for(counter)
        client = client_of(consumer)
        await client.connect_and_init()
        await subscribe(client, "s")
        assert await client.receive() == {"type": "next", "id": "s", "payload": {"data": None}}
        # The client unsubscribes and leaves at once, as a page does.
        await client.send({"type": "complete", "id": "s"})
        await client.disconnect()
        if counter.unsubscribed != 1:
            missed.append((round_number, counter.unsubscribed))
        assert counter.subscribed == 1
    assert missed == [], f"rounds where `unsubscribed` did not run exactly once: {missed}"


async def test_a_confirmed_second_subscriber_of_a_group_receives_the_next_broadcast(
    redis_layer: Any,
) -> None:
    lost = []
    for round_number in range(ROUNDS):
        counter = Counter()
        consumer, sub = consumer_for(counter)
        first, second = client_of(consumer), client_of(consumer)
        await first.connect_and_init()
        await second.connect_and_init()
        # The first subscriber's membership is still being made when the
        # second one asks.
        await subscribe(first, "a")
        await subscribe(second, "b")
        assert await second.receive() == {"type": "next", "id": "b", "payload": {"data": None}}
        await sub.broadcast_async(payload=round_number)
        try:
            message = await second.receive(timeout=2)
        except asyncio.TimeoutError:
            lost.append(round_number)
        else:
            assert message == {
                "type": "next",
                "id": "b",
                "payload": {"data": {"onEvent": {"n": round_number}}},
            }, json.dumps(message)
        await first.disconnect()
        await second.disconnect()
    assert lost == [], f"rounds whose broadcast the confirmed subscriber missed: {lost}"
