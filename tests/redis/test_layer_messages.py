"""One layer message per broadcast and process, however many subscribers it has.

In-process: consumers served through ``channels_graphql_ws.testing`` clients on
a real channels_redis layer (core and pub/sub) and on the in-memory layer.
Counted for each broadcast:

- what the process's fan-out dispatched (``ProcessFanout.dispatched``);
- what the layer handed to any receiver in this process (its ``receive``);
- what the layer was asked to deliver: the in-memory layer's ``send`` per
  group member, the core layer's group members in Redis (each member costs
  one message per ``group_send``); pub/sub publishes once per ``group_send``
  whatever the membership, so its deliveries show at ``receive``.

1 subscriber, then 20 (on 20 connections, both subprotocols): every count
stays 1 per broadcast, and every subscriber gets every broadcast.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import graphene
import pytest
import redis.asyncio
from channels.layers import BaseChannelLayer

import channels_graphql_ws
from channels_graphql_ws.testing import ClientFactory, GraphqlWsClient
from tests.internals import fanout_of as fanout_for

from .layers import CORE, PUBSUB, layer_config
from .support import LEGACY_WS, TRANSPORT_WS, default_layer

pytestmark = pytest.mark.timeout(60)

MEMORY = "memory"
#: Broadcasts per phase.
BROADCASTS = 3
#: Seconds a consumer may take to end after its client disconnects: above the
#: 5 s a lost cancellation of a Redis read takes to surface as a timeout.
DISCONNECT_TIMEOUT = 8.0


class Tick(channels_graphql_ws.Subscription):
    n = graphene.Int()

    class Arguments:
        room = graphene.String(required=True)

    @staticmethod
    def subscribe(root: None, info: graphene.ResolveInfo, room: str) -> list[str]:
        return [room]

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo, room: str) -> Tick:
        return Tick(n=payload["n"])


class Query(graphene.ObjectType):
    hello = graphene.String()


class Subscription(graphene.ObjectType):
    tick = Tick.Field()


schema = graphene.Schema(query=Query, subscription=Subscription)

TICK = "subscription Tick($room: String!) { tick(room: $room) { n } }"


class Counts:
    """Broadcast messages the layer delivered, received, and the fan-out dispatched."""

    def __init__(self, layer: BaseChannelLayer, kind: str) -> None:
        self.layer = layer
        self.kind = kind
        self.received = 0
        self.sent = 0
        receive = layer.receive

        async def counting_receive(channel: str) -> Any:
            message = await receive(channel)
            if message.get("type") == "broadcast":
                self.received += 1
            return message

        # Set before any consumer connects: each binds `layer.receive` then.
        layer.receive = counting_receive  # type: ignore[method-assign]
        if kind == MEMORY:
            send = layer.send

            async def counting_send(channel: str, message: dict[str, Any]) -> None:
                if message.get("type") == "broadcast":
                    self.sent += 1
                await send(channel, message)

            layer.send = counting_send  # type: ignore[method-assign]

    async def group_members(self, group: str) -> list[str] | None:
        """The core layer's members of ``group`` in Redis: a ``group_send`` writes
        one message for each. None for the other layers (see the module docstring).
        """
        if self.kind != CORE:
            return None
        client = redis.asyncio.Redis.from_url(self.layer.hosts[0]["address"])
        try:
            members = await client.zrange(self.layer._group_key(group), 0, -1)
        finally:
            await client.aclose()
        return [member.decode() for member in members]


@pytest.fixture(params=[MEMORY, CORE, PUBSUB])
def layer_settings(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    kind = str(request.param)
    if kind == MEMORY:
        return kind, {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    return kind, layer_config(kind, url, prefix)


async def disconnect_all(clients: list[GraphqlWsClient]) -> int:
    """Disconnect every client; return how many consumers did not end in time.

    A consumer ends once its layer receive is cancelled. A layer may lose that
    cancellation (redis-py's socket writes under Python 3.11's ``wait_for``)
    and fail with a timeout some seconds later instead; the consumer must end
    then rather than read its channel again forever.
    """
    if not clients:
        return 0
    # Not wait_for: on a timeout it would wait for the cancelled disconnects too.
    disconnecting = [asyncio.ensure_future(client.finalize()) for client in clients]
    _, pending = await asyncio.wait(disconnecting, timeout=DISCONNECT_TIMEOUT)
    return len(pending)


async def close_layer(layer: BaseChannelLayer, kind: str) -> None:
    if kind == CORE:
        await layer.close_pools()
    elif kind == PUBSUB:
        await layer.flush()  # pub/sub's flush only unsubscribes and disconnects


async def test_a_broadcast_costs_one_layer_message_per_process_with_1_or_20_subscribers(
    layer_settings: tuple[str, dict[str, Any]],
) -> None:
    kind, config = layer_settings
    room = f"room-{uuid.uuid4().hex}"
    group = Tick._group_name(room)
    make = ClientFactory()
    clients: list[GraphqlWsClient] = []
    subscribers: list[tuple[GraphqlWsClient, str]] = []

    async def subscribe_more(total: int) -> None:
        while len(subscribers) < total:
            subprotocol = (TRANSPORT_WS, LEGACY_WS)[len(subscribers) % 2]
            client = await make(schema, subprotocol=subprotocol, confirm_subscriptions=True)
            clients.append(client)
            op_id = await client.subscribe(TICK, variables={"room": room})
            subscribers.append((client, op_id))

    with default_layer(config) as layer:
        counts = Counts(layer, kind)
        try:
            fanout = fanout_for(layer)
            sent_n = 0
            for total in (1, 20):
                await subscribe_more(total)
                assert len(fanout.listeners(group)) == total
                before = (fanout.dispatched, counts.received, counts.sent)
                for _ in range(BROADCASTS):
                    sent_n += 1
                    await Tick.broadcast_async(group=room, payload={"n": sent_n})
                    for client, op_id in subscribers:
                        payload = await client.receive_next(op_id)
                        assert payload == {"data": {"tick": {"n": sent_n}}}
                    members = await counts.group_members(group)
                    assert members in (None, [fanout.channel]), (total, members)
                # Anything sent twice would have arrived by now.
                await subscribers[0][0].assert_no_messages(attempts=2, interval=0.1)
                dispatched = fanout.dispatched - before[0]
                received = counts.received - before[1]
                sent = counts.sent - before[2]
                assert (dispatched, received) == (BROADCASTS, BROADCASTS), total
                if kind == MEMORY:
                    assert sent == BROADCASTS, total
                for client, _ in subscribers:
                    await client.assert_no_messages(attempts=1, interval=0.01)
        finally:
            not_ended = await disconnect_all(clients)
            if not not_ended:
                await close_layer(layer, kind)
    assert not_ended == 0, (
        f"{not_ended} of {len(clients)} consumers did not end within "
        f"{DISCONNECT_TIMEOUT} s of their client's disconnect."
    )
