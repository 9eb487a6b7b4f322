"""``Subscription.publish_once``: one execution per broadcast for equal subscribers.

Subscribers of one broadcast in a process with the same document and
variables share one run of ``publish`` and one encoded result, when the
class asks for it and the consumer has no middleware (decision 13: middleware
sees every subscriber's fields). Each still gets its own frame, in order.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import graphene
import pytest
from channels.testing import WebsocketCommunicator

import channels_graphql_ws
from channels_graphql_ws import notifications, serializer

from .support import Client, consumer_class

pytestmark = pytest.mark.timeout(20)
_numbers = itertools.count()


def counting_subscription(calls: list[Any], publish_once: bool) -> type[Any]:
    name = f"Counted{next(_numbers)}"

    class Arguments:
        room = graphene.String()

    def publish(payload: Any, info: Any, room: str | None = None) -> dict[str, Any]:
        calls.append((payload, room))
        return {"n": payload, "room": room}

    return type(
        name,
        (channels_graphql_ws.Subscription,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "n": graphene.Int(),
            "room": graphene.String(),
            "Arguments": Arguments,
            "publish": staticmethod(publish),
            "publish_once": publish_once,
        },
    )


class Query(graphene.ObjectType):
    hello = graphene.String()


async def subscribers(cls: type, rooms: list[str | None]) -> list[Client]:
    clients = []
    for room in rooms:
        client = Client(
            WebsocketCommunicator(cls.as_asgi(), "/graphql/", subprotocols=["graphql-transport-ws"])
        )
        await client.connect_and_init()
        arguments = "" if room is None else f'(room: "{room}")'
        await client.subscribe("s", f"subscription {{ onEvent{arguments} {{ n room }} }}")
        clients.append(client)
    await asyncio.sleep(0.1)
    return clients


def setup(publish_once: bool, **settings: Any) -> tuple[type, type[Any], list[Any]]:
    calls: list[Any] = []
    sub = counting_subscription(calls, publish_once)
    root = type(f"{sub.__name__}Root", (graphene.ObjectType,), {"on_event": sub.Field()})
    cls = consumer_class(schema=graphene.Schema(query=Query, subscription=root), **settings)
    return cls, sub, calls


async def receive_all(clients: list[Client]) -> list[Any]:
    return [(await client.receive())["payload"]["data"]["onEvent"] for client in clients]


async def test_equal_subscribers_share_one_publish_per_broadcast() -> None:
    cls, sub, calls = setup(publish_once=True)
    clients = await subscribers(cls, ["a", "a", "a", "b"])
    try:
        for n in range(3):
            await sub.broadcast_async(payload=n)
            results = await receive_all(clients)
            assert results == [{"n": n, "room": "a"}] * 3 + [{"n": n, "room": "b"}]
        # One execution per broadcast and distinct variables: rooms "a" and "b".
        assert sorted(calls) == sorted([(n, room) for n in range(3) for room in ("a", "b")])
    finally:
        for client in clients:
            await client.disconnect()


async def test_without_the_opt_in_every_subscriber_runs_publish() -> None:
    cls, sub, calls = setup(publish_once=False)
    clients = await subscribers(cls, [None, None, None])
    try:
        await sub.broadcast_async(payload=1)
        assert await receive_all(clients) == [{"n": 1, "room": None}] * 3
        assert len(calls) == 3
    finally:
        for client in clients:
            await client.disconnect()


async def test_with_middleware_publish_runs_per_subscriber_despite_the_opt_in() -> None:
    seen: list[str] = []

    def middleware(next_: Any, root: Any, info: Any, **args: Any) -> Any:
        seen.append(info.field_name)
        return next_(root, info, **args)

    cls, sub, calls = setup(publish_once=True, middleware=[middleware])
    clients = await subscribers(cls, [None, None])
    try:
        await sub.broadcast_async(payload=1)
        assert await receive_all(clients) == [{"n": 1, "room": None}] * 2
        assert len(calls) == 2
        assert seen.count("onEvent") == 2
    finally:
        for client in clients:
            await client.disconnect()


async def test_a_shared_result_whose_computer_is_cancelled_is_computed_by_the_next() -> None:
    notification = notifications.Notification(serializer.pack({"n": 1}), {"n": 1})
    started = asyncio.Event()
    computed: list[str] = []

    async def slow(payload: Any) -> str:
        started.set()
        await asyncio.sleep(10)
        return "never"

    async def quick(payload: Any) -> str:
        computed.append("quick")
        return f"n={payload['n']}"

    first = asyncio.ensure_future(notification.shared_result("k", slow))
    await started.wait()
    second = asyncio.ensure_future(notification.shared_result("k", quick))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "n=1"
    assert computed == ["quick"]
    assert await notification.shared_result("k", quick) == "n=1"  # cached
    assert computed == ["quick"]
