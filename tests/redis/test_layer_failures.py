"""Layer failures the Redis layers really produce, reproduced on an in-memory layer.

No Redis needed: each layer here fails the way channels_redis does, exactly
when the test says so.

- A group joined while Redis is down must be joined once it answers, even on
  a layer whose ``receive`` never fails meanwhile (the pub/sub layer
  reconnects inside its own reader and raises nothing).
- A cancelled ``receive`` may not end: under Python 3.11 ``asyncio.wait_for``
  returns the result of an operation that finished as the cancellation
  arrived, and redis-py writes through ``wait_for``; the read then goes on and
  fails with a timeout seconds later. Whoever cancelled the read (a
  disconnect, the last listener leaving) still expects it to end then, not
  to be retried forever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import graphene
import pytest
from channels.layers import InMemoryChannelLayer

import channels_graphql_ws
from channels_graphql_ws import broadcast, serializer
from channels_graphql_ws.fanout import ProcessFanout
from channels_graphql_ws.testing import ClientFactory

from .support import default_layer

pytestmark = pytest.mark.timeout(20)


class LayerDown(ConnectionError):
    """What the layer raises while its server is unreachable."""


class LayerTimeout(Exception):
    """What redis-py raises when a read outlives its socket timeout."""


class FlakyLayer(InMemoryChannelLayer):
    """An in-memory layer that fails like channels_redis, when told to.

    ``down``: ``group_add`` fails (``receive`` keeps waiting, as on the pub/sub
    layer). ``lose_cancellations``: a cancelled ``receive`` raises
    ``LayerTimeout`` instead of ``CancelledError``. ``receiving`` counts the
    reads in progress.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.down = False
        self.lose_cancellations = False
        self.receiving = 0

    async def group_add(self, group: str, channel: str) -> None:
        if self.down:
            raise LayerDown("Error 111 connecting to the layer. Connection refused.")
        await super().group_add(group, channel)

    async def receive(self, channel: str) -> Any:
        self.receiving += 1
        try:
            return await super().receive(channel)
        except asyncio.CancelledError:
            if not self.lose_cancellations:
                raise
            raise LayerTimeout(f"Timeout reading {channel}") from None
        finally:
            self.receiving -= 1


class Listener:
    """A session as the fan-out sees it: records what it is given."""

    def __init__(self) -> None:
        self.payloads: list[Any] = []

    def deliver(self, group: str, notification: Any) -> None:
        payload = notification.take()
        self.payloads.append(payload)

    def end_group(self, group: str) -> None:
        raise AssertionError(f"Nobody unsubscribed {group}.")


async def until(condition: Callable[[], bool], within: float) -> bool:
    """Whether ``condition()`` becomes true within ``within`` seconds (polled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_a_group_joined_while_the_layer_is_down_is_joined_once_it_answers() -> None:
    layer = FlakyLayer()
    fanout = ProcessFanout(layer)
    listener = Listener()
    group = f"joined-during-outage-{uuid.uuid4().hex}"
    layer.down = True
    try:
        # The subscription is made: the join does not fail...
        await fanout.join(group, listener)
        layer.down = False
        # ...and once the layer answers, broadcasts reach it. The fan-out
        # retries failed layer operations every second; allow three.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        sent = 0
        while not listener.payloads and loop.time() < deadline:
            sent += 1
            message = broadcast.broadcast_message(group, serializer.pack({"n": sent}))
            await layer.group_send(group, message)
            await until(lambda: bool(listener.payloads), 0.1)
        assert listener.payloads, f"None of {sent} broadcasts after the outage arrived."
        assert listener.payloads == [{"n": sent}]
    finally:
        await fanout.leave(group, listener)


async def test_the_fanout_stops_reading_when_its_last_listener_leaves_despite_a_late_error() -> (
    None
):
    layer = FlakyLayer()
    fanout = ProcessFanout(layer)
    listener = Listener()
    group = f"left-{uuid.uuid4().hex}"
    await fanout.join(group, listener)
    try:
        assert await until(lambda: layer.receiving == 1, 1.0)
        layer.lose_cancellations = True
        await fanout.leave(group, listener)
        # The read that was cancelled fails, and nothing reads again.
        stopped = await until(lambda: layer.receiving == 0, 1.0)
        await asyncio.sleep(0.3)
        assert stopped and layer.receiving == 0, "The fan-out went on reading its channel."
    finally:
        # Let the loop's own cleanup end whatever still reads.
        layer.lose_cancellations = False


class Ping(channels_graphql_ws.Subscription):
    n = graphene.Int()

    @staticmethod
    def publish(payload: Any, info: graphene.ResolveInfo) -> Ping:
        return Ping(n=payload)


class Query(graphene.ObjectType):
    hello = graphene.String()


class Subscription(graphene.ObjectType):
    ping = Ping.Field()


schema = graphene.Schema(query=Query, subscription=Subscription)


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_consumer_ends_on_disconnect_even_if_its_cancelled_read_fails_late(
    subprotocol: str,
) -> None:
    config = {"BACKEND": f"{__name__}.FlakyLayer"}
    with default_layer(config) as layer:
        assert isinstance(layer, FlakyLayer)
        make = ClientFactory()
        client = await make(schema, subprotocol=subprotocol, confirm_subscriptions=True)
        try:
            await client.subscribe("subscription { ping { n } }")
            # The consumer's own channel and the fan-out's.
            assert await until(lambda: layer.receiving == 2, 1.0)
            layer.lose_cancellations = True
            disconnecting = asyncio.ensure_future(client.finalize())
            # Not wait_for: on a timeout it would wait for the cancelled disconnect too.
            done, _ = await asyncio.wait([disconnecting], timeout=2.0)
            assert done, "The consumer did not end after its client disconnected."
            assert await until(lambda: layer.receiving == 0, 1.0), "The layer is still read."
        finally:
            layer.lose_cancellations = False
