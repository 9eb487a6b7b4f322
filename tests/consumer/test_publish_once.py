"""``Subscription.publish_once``: one execution per broadcast for equal subscribers.

Subscribers of one broadcast in a process with the same document and
variables share one run of ``publish`` and one encoded result, when the
class asks for it and the consumer has no middleware (decision 13: middleware
sees every subscriber's fields). Each still gets its own frame, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import graphene
import pytest
from channels.testing import WebsocketCommunicator
from graphene.types.generic import GenericScalar

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


# ------------------------------------------------- the fan-out's fast path


async def test_a_burst_reaches_every_subscriber_in_order_through_the_batches() -> None:
    # Broadcasts faster than their results are computed: a subscriber is in
    # several batches at once, and later ones wait for earlier ones.
    cls, sub, calls = setup(publish_once=True)
    clients = await subscribers(cls, ["a", "a", "b"])
    try:
        await asyncio.gather(*(sub.broadcast_async(payload=n) for n in range(30)))
        for client, room in zip(clients, ["a", "a", "b"], strict=True):
            got = [(await client.receive())["payload"]["data"]["onEvent"] for _ in range(30)]
            assert got == [{"n": n, "room": room} for n in range(30)]
        assert len(calls) == 60  # one execution per broadcast and room
    finally:
        for client in clients:
            await client.disconnect()


async def test_a_socket_that_makes_the_batch_wait_holds_up_only_its_own_subscriber() -> None:
    cls, sub, _ = setup(publish_once=True)
    made: list[Any] = []

    class Tracked(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    clients = await subscribers(Tracked, [None, None])
    stalled, (stalled_client, other) = made[0], clients
    released = asyncio.Event()
    real_send = stalled.base_send

    async def stalling_send(message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.send":
            await released.wait()  # a client that does not read
        await real_send(message)

    stalled.base_send = stalling_send
    try:
        for n in range(3):
            await sub.broadcast_async(payload=n)
        # The other subscriber has all three at once.
        got = [(await other.receive())["payload"]["data"]["onEvent"]["n"] for _ in range(3)]
        assert got == [0, 1, 2]
        await stalled_client.assert_no_messages(0.2)
        released.set()
        got = [
            (await stalled_client.receive())["payload"]["data"]["onEvent"]["n"] for _ in range(3)
        ]
        assert got == [0, 1, 2]
    finally:
        released.set()
        for client in clients:
            await client.disconnect()


async def test_a_result_that_cannot_be_encoded_ends_each_subscription_with_an_error() -> None:
    # The batch's one computation fails: every subscriber in it gets the
    # `error` its own notifier would have sent.
    class Unencodable(channels_graphql_ws.Subscription):
        value = GenericScalar()
        publish_once = True

        @staticmethod
        def publish(payload: Any, info: Any) -> Any:
            return {"value": math.nan}

    root = type("UnencodableRoot", (graphene.ObjectType,), {"on_event": Unencodable.Field()})
    cls = consumer_class(schema=graphene.Schema(query=Query, subscription=root))
    clients = []
    for _ in range(2):
        client = Client(
            WebsocketCommunicator(cls.as_asgi(), "/graphql/", subprotocols=["graphql-transport-ws"])
        )
        await client.connect_and_init()
        await client.subscribe("s", "subscription { onEvent { value } }")
        clients.append(client)
    await asyncio.sleep(0.1)
    try:
        await Unencodable.broadcast_async(payload=1)
        for client in clients:
            message = await client.receive()
            assert (message["type"], message["id"]) == ("error", "s")
    finally:
        for client in clients:
            await client.disconnect()


async def test_run_until_blocked_finishes_at_once_or_hands_over_the_rest() -> None:
    async def quick() -> None:
        done.append("quick")

    done: list[str] = []
    assert notifications.run_until_blocked(quick()) is None and done == ["quick"]

    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waiting() -> None:
        done.append(await gate)

    rest = notifications.run_until_blocked(waiting())
    assert rest is not None and done == ["quick"]
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    gate.set_result("late")
    await task
    assert done == ["quick", "late"]

    # What the awaited future raises reaches the coroutine; a cancel closes it.
    failing: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    rest = notifications.run_until_blocked(_await(failing))
    assert rest is not None
    task = asyncio.ensure_future(rest)
    failing.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        await task
    never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    closed: list[bool] = []
    rest = notifications.run_until_blocked(_await(never, closed))
    assert rest is not None
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]


async def _await(future: asyncio.Future[Any], closed: list[bool] | None = None) -> Any:
    try:
        return await future
    finally:
        if closed is not None:
            closed.append(True)


def test_equal_result_keys_are_one_object_and_the_table_stays_bounded(monkeypatch) -> None:
    # The batch of a broadcast is found by identity first: subscribers whose
    # results cannot differ must hold the very same key object.
    first = notifications.shared_key((1, "OnEvent", '{"a": 1}'))
    assert notifications.shared_key((1, "OnEvent", "".join(['{"a": ', "1}"]))) is first
    assert notifications.shared_key((1, "OnEvent", '{"a": 2}')) is not first
    monkeypatch.setattr(notifications, "MAX_INTERNED_KEYS", 3)
    for index in range(10):
        notifications.shared_key((index, "Many", ""))
    assert len(notifications._keys) <= 3


async def test_alternating_keys_within_one_broadcast_each_get_their_own_result() -> None:
    # Subscribers of two keys alternate within one delivery: the shortcut to
    # the previous subscriber's batch must fall back to the table each time.
    cls, sub, calls = setup(publish_once=True)
    rooms: list[str | None] = ["a", "b", "a", "b", "a"]
    clients = await subscribers(cls, rooms)
    try:
        for n in range(3):
            await sub.broadcast_async(payload=n)
            assert await receive_all(clients) == [{"n": n, "room": room} for room in rooms]
        assert sorted(calls) == sorted([(n, room) for n in range(3) for room in ("a", "b")])
    finally:
        for client in clients:
            await client.disconnect()
