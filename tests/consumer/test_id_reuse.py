"""Reusing an id right after the client's own ``complete`` (issue 15 item 4).

PROTOCOL.md section 4: on graphql-transport-ws the id is free from the
client's ``complete`` on; the old operation's answering ``complete`` goes
out first, then the new operation runs. The npm ``graphql-ws`` client
reuses ids this way when a component re-subscribes.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import graphene

import channels_graphql_ws

from .support import Client, consumer_class

_numbers = itertools.count()


def slow_to_end_subscription(ended: list[int]) -> type[channels_graphql_ws.Subscription]:
    name = f"SlowToEnd{next(_numbers)}"

    async def unsubscribed(root: Any, info: Any) -> None:
        await asyncio.sleep(0.1)  # the stop is still being carried out meanwhile
        ended.append(1)

    return type(
        name,
        (channels_graphql_ws.Subscription,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "n": graphene.Int(),
            "publish": staticmethod(lambda payload, info: {"n": payload}),
            "unsubscribed": staticmethod(unsubscribed),
        },
    )


class Query(graphene.ObjectType):
    hello = graphene.String(default_value="world")


async def test_an_id_reused_right_after_complete_runs_after_the_old_complete(
    make_client: Any,
) -> None:
    ended: list[int] = []
    sub = slow_to_end_subscription(ended)
    root = type(f"{sub.__name__}Root", (graphene.ObjectType,), {"on_event": sub.Field()})
    cls = consumer_class(
        schema=graphene.Schema(query=Query, subscription=root), confirm_subscriptions=True
    )
    client: Client = make_client(cls)
    await client.connect_and_init()
    subscribe = {"query": "subscription { onEvent { n } }"}
    await client.send({"type": "subscribe", "id": "s", "payload": subscribe})
    assert (await client.receive())["payload"] == {"data": None}
    await client.send({"type": "complete", "id": "s"})
    await client.send({"type": "subscribe", "id": "s", "payload": subscribe})
    assert await client.receive() == {"type": "complete", "id": "s"}
    assert ended == [1]
    assert await client.receive() == {"type": "next", "id": "s", "payload": {"data": None}}
    await sub.broadcast_async(payload=7)
    assert await client.receive() == {
        "type": "next",
        "id": "s",
        "payload": {"data": {"onEvent": {"n": 7}}},
    }
    # A query may reuse the id the same way.
    await client.send({"type": "complete", "id": "s"})
    await client.send({"type": "subscribe", "id": "s", "payload": {"query": "{ hello }"}})
    assert await client.receive() == {"type": "complete", "id": "s"}
    assert await client.receive() == {
        "type": "next",
        "id": "s",
        "payload": {"data": {"hello": "world"}},
    }
    assert await client.receive() == {"type": "complete", "id": "s"}
    assert ended == [1, 1]
