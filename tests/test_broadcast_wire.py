"""The layer messages as a 1.0.0rc7 process sharing our groups sees them."""

from __future__ import annotations

import datetime
import hashlib

import graphene
import msgpack
from channels.layers import get_channel_layer

import channels_graphql_ws


class OnWire(channels_graphql_ws.Subscription):
    ok = graphene.Boolean()

    @staticmethod
    def publish(payload, info):
        return OnWire(ok=True)


def old_release_decode(data: bytes):
    """1.0.0rc7's object_hook for the types it knew (datetime shown here)."""

    def hook(obj):
        if "__datetime__" in obj:
            return datetime.datetime.fromisoformat(obj["as_str"])
        return obj

    return msgpack.unpackb(data, object_hook=hook, raw=False)


def old_release_group_name(cls, group):
    suffix = f"{cls.__module__}.{cls.__qualname__}-{group}"
    return "GQLWS-" + hashlib.sha256(suffix.encode()).hexdigest()


async def test_an_old_release_consumer_in_the_group_receives_our_broadcast():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = old_release_group_name(OnWire, "room")
    await layer.group_add(group, channel)
    when = datetime.datetime(2026, 11, 21, 8, 0, tzinfo=datetime.timezone.utc)
    await OnWire.broadcast_async(group="room", payload={"text": "hi", "when": when})
    message = await layer.receive(channel)
    assert message["type"] == "broadcast" and message["group"] == group
    assert old_release_decode(message["payload"]) == {"text": "hi", "when": when}
    await OnWire.unsubscribe_async(group="room")
    assert await layer.receive(channel) == {"type": "unsubscribe", "group": group}
    await layer.group_discard(group, channel)
