"""The fan-out renews its group membership before the Redis layer expires it.

channels_redis's core layer forgets a group member ``group_expiry`` seconds
after it joined, unless it joins again. A subscription lives as long as its
connection, so the process's fan-out must join again in time: here a layer
with a 3 s expiry, a subscription of 8 s, and a broadcast at its end.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio
from channels_redis.core import RedisChannelLayer

from channels_graphql_ws import broadcast, serializer
from channels_graphql_ws.fanout import ProcessFanout

pytestmark = pytest.mark.timeout(20)

GROUP_EXPIRY = 3
#: How long the subscription lives: well past two expiries.
LIFETIME = 8.0


class Listener:
    """A session as the fan-out sees it: records what it is given."""

    def __init__(self) -> None:
        self.payloads: list[Any] = []
        self.arrived = asyncio.Event()

    def deliver(self, group: str, notification: Any) -> None:
        payload = notification.take()
        self.payloads.append(payload)
        self.arrived.set()

    def end_group(self, group: str) -> None:
        raise AssertionError(f"Nobody unsubscribed {group}.")

    async def next_payload(self) -> Any:
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()
        return self.payloads[-1]


async def group_members(layer: RedisChannelLayer, group: str) -> list[str]:
    client = redis.asyncio.Redis.from_url(layer.hosts[0]["address"])
    try:
        members = await client.zrange(layer._group_key(group), 0, -1)
    finally:
        await client.aclose()
    return [member.decode() for member in members]


async def test_a_subscription_outliving_the_group_expiry_still_gets_broadcasts(
    redis_url: str, redis_prefix: str
) -> None:
    # No client-side read timeout: redis-py 8 defaults to 5 s, the length of
    # the layer's blocking read, and each such timeout is a layer error after
    # which the fan-out joins again anyway. Here only the renewal may join.
    host = {"address": redis_url, "socket_timeout": None}
    layer = RedisChannelLayer(hosts=[host], prefix=redis_prefix, group_expiry=GROUP_EXPIRY)
    group = f"renewal-{uuid.uuid4().hex}"

    async def send(n: int) -> None:
        message = broadcast.broadcast_message(group, serializer.pack({"n": n}))
        await layer.group_send(group, message)

    fanout = ProcessFanout(layer)
    listener = Listener()
    # A member that joins once and never again: the layer must forget it.
    unrenewed = await layer.new_channel()
    await layer.group_add(group, unrenewed)
    try:
        await fanout.join(group, listener)
        await send(1)
        assert await listener.next_payload() == {"n": 1}
        assert (await layer.receive(unrenewed))["type"] == broadcast.BROADCAST

        await asyncio.sleep(LIFETIME)

        await send(2)
        assert await listener.next_payload() == {"n": 2}
        assert (fanout.dispatched, fanout.layer_errors) == (2, 0)
        # The expiry is real: the member nobody renewed is gone.
        assert await group_members(layer, group) == [fanout.channel]
    finally:
        await fanout.leave(group, listener)
        await layer.close_pools()
