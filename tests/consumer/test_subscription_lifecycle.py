"""A subscription's life on both subprotocols: setup, confirmation, stopping,
delivery order and queue limits (API.md decisions 6 to 10, 13, 15, 17, 24
and section 3.4).

Every test defines its own ``Subscription`` classes (each with a unique
qualname, so a unique Channels group) and its own schema, so no two tests
share a group on the process-wide in-memory layer.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import graphene
import pytest
from channels.layers import get_channel_layer

import channels_graphql_ws

from .support import Client, Query, consumer_class

TRANSPORT_WS = "graphql-transport-ws"
LEGACY = "graphql-ws"

ON_TRIGGER = "subscription { onTrigger { ok value } }"
ON_SENTINEL = "subscription { onSentinel { ok value } }"
BROADCAST_LOGGER = "channels_graphql_ws.broadcast"

_class_numbers = itertools.count()


# ----------------------------------------------------------------- helpers


def default_publish(payload: Any, info: Any) -> dict[str, Any]:
    return {"ok": True, "value": payload}


def subscription_class(
    *,
    subscribe: Callable[..., Any] | None = None,
    publish: Callable[..., Any] = default_publish,
    unsubscribed: Callable[..., Any] | None = None,
    queue_limit: int | None = None,
) -> type[channels_graphql_ws.Subscription]:
    """A fresh Subscription class with fields ``ok`` and ``value`` and the given hooks.

    Its name (so its qualname, so its group) is unique in the process.
    """
    name = f"OnTrigger{next(_class_numbers)}"
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": name,
        "ok": graphene.Boolean(),
        "value": graphene.Int(),
        "publish": staticmethod(publish),
        "notification_queue_limit": queue_limit,
    }
    if subscribe is not None:
        attrs["subscribe"] = staticmethod(subscribe)
    if unsubscribed is not None:
        attrs["unsubscribed"] = staticmethod(unsubscribed)
    return type(name, (channels_graphql_ws.Subscription,), attrs)


def schema_for(
    on_trigger: type[channels_graphql_ws.Subscription],
    on_sentinel: type[channels_graphql_ws.Subscription] | None = None,
) -> graphene.Schema:
    """Query, a ``trigger(value)`` mutation broadcasting to ``on_trigger``, subscriptions."""

    class SubscriptionRoot(graphene.ObjectType):
        on_trigger_field = on_trigger.Field(name="onTrigger")
        if on_sentinel is not None:
            on_sentinel_field = on_sentinel.Field(name="onSentinel")

    class MutationRoot(graphene.ObjectType):
        trigger = graphene.Boolean(value=graphene.Int(required=True))

        @staticmethod
        async def resolve_trigger(root: Any, info: Any, value: int) -> bool:
            await on_trigger.broadcast_async(payload=value)
            return True

    return graphene.Schema(query=Query, mutation=MutationRoot, subscription=SubscriptionRoot)


def consumer_for(
    schema: graphene.Schema, instances: list[Any] | None = None, **settings: Any
) -> type[channels_graphql_ws.GraphqlWsConsumer]:
    """A consumer subclass; with ``instances``, every instance is appended to it."""
    if instances is not None:

        def on_connect(self: Any, payload: Any) -> None:
            instances.append(self)

        settings["on_connect"] = on_connect
    return consumer_class(schema=schema, **settings)


class Peer:
    """Raw frames of either subprotocol over the consumer tests' ``Client``."""

    def __init__(self, client: Client, subprotocol: str) -> None:
        self.client = client
        self.legacy = subprotocol == LEGACY
        self.result_type = "data" if self.legacy else "next"

    async def start(self, op_id: str, query: str) -> None:
        kind = "start" if self.legacy else "subscribe"
        await self.client.send({"type": kind, "id": op_id, "payload": {"query": query}})

    async def stop(self, op_id: str) -> None:
        await self.client.send({"type": "stop" if self.legacy else "complete", "id": op_id})

    async def receive(self) -> dict[str, Any]:
        return await self.client.receive(timeout=2)

    async def receive_many(self, count: int) -> list[dict[str, Any]]:
        return [await self.receive() for _ in range(count)]

    async def assert_no_messages(self, timeout: float = 0.2) -> None:
        await self.client.assert_no_messages(timeout)

    def result(self, op_id: str, payload: Any) -> dict[str, Any]:
        return {"type": self.result_type, "id": op_id, "payload": payload}

    def confirmation(self, op_id: str) -> dict[str, Any]:
        return self.result(op_id, {"data": None})

    def notification(self, op_id: str, value: int, field: str = "onTrigger") -> dict[str, Any]:
        return self.result(op_id, {"data": {field: {"ok": True, "value": value}}})

    def complete(self, op_id: str) -> dict[str, Any]:
        return {"type": "complete", "id": op_id}

    def setup_error(self, op_id: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
        if self.legacy:
            return self.result(op_id, {"data": None, "errors": errors})
        return {"type": "error", "id": op_id, "payload": errors}

    async def subscribe_live(self, op_id: str, query: str = ON_TRIGGER) -> None:
        """Start a subscription and wait for its confirmation (so it is live)."""
        await self.start(op_id, query)
        assert await self.receive() == self.confirmation(op_id)

    async def receive_value(self, op_id: str, field: str = "onTrigger") -> int:
        message = await self.receive()
        assert message["type"] == self.result_type and message["id"] == op_id, message
        assert message["payload"]["data"][field]["ok"] is True, message
        value: int = message["payload"]["data"][field]["value"]
        return value


@pytest.fixture(params=[TRANSPORT_WS, LEGACY])
def subprotocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_peer(
    make_client: Callable[..., Client], subprotocol: str
) -> Callable[[type], Awaitable[Peer]]:
    async def open_(consumer: type) -> Peer:
        client = make_client(consumer, subprotocols=[subprotocol])
        await client.connect_and_init()
        return Peer(client, subprotocol)

    return open_


def broadcast_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == BROADCAST_LOGGER and record.levelno >= logging.WARNING
    ]


async def stop_from_server(sub: type[channels_graphql_ws.Subscription]) -> None:
    await sub.unsubscribe_async()


# ---------------------------------------------------- setup (decision 6)


@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
@pytest.mark.parametrize("hook", ["no-hook", "slow-async-hook"])
async def test_setup_is_atomic_so_a_mutation_right_after_subscribe_reaches_it(
    open_peer, strict_ordering, hook
):
    subscribe = None
    if hook == "slow-async-hook":

        async def subscribe(root, info):
            await asyncio.sleep(0.1)

    sub = subscription_class(subscribe=subscribe)
    peer = await open_peer(consumer_for(schema_for(sub), strict_ordering=strict_ordering))
    # Nothing is awaited between the two: the mutation must find the subscription live.
    await peer.start("s", ON_TRIGGER)
    await peer.start("m", "mutation { trigger(value: 7) }")
    messages = await peer.receive_many(3)
    mutation_messages = [peer.result("m", {"data": {"trigger": True}}), peer.complete("m")]
    notification = peer.notification("s", 7)
    if strict_ordering:
        # Decision 10: the notification follows the mutation's own messages.
        assert messages == [*mutation_messages, notification]
    else:
        assert [m for m in messages if m["id"] == "m"] == mutation_messages
        assert [m for m in messages if m["id"] == "s"] == [notification]
    await peer.assert_no_messages()


# ---------------------------------------------- confirmation (decision 9)


@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
async def test_confirmation_is_the_first_message_of_its_id_and_is_data_null(
    open_peer, strict_ordering
):
    async def subscribe(root, info):
        await asyncio.sleep(0.1)

    sub = subscription_class(subscribe=subscribe)
    consumer = consumer_for(
        schema_for(sub), strict_ordering=strict_ordering, confirm_subscriptions=True
    )
    peer = await open_peer(consumer)
    await peer.start("s", ON_TRIGGER)
    await peer.start("m", "mutation { trigger(value: 3) }")
    messages = await peer.receive_many(4)
    assert [m for m in messages if m["id"] == "s"] == [
        peer.confirmation("s"),
        peer.notification("s", 3),
    ]
    assert messages[0] == {"type": peer.result_type, "id": "s", "payload": {"data": None}}
    await peer.assert_no_messages()


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_no_confirmation_when_subscribe_raises_only_the_error(open_peer, is_async):
    if is_async:

        async def subscribe(root, info):
            await asyncio.sleep(0)
            raise PermissionError("denied")
    else:

        def subscribe(root, info):
            raise PermissionError("denied")

    sub = subscription_class(subscribe=subscribe)
    peer = await open_peer(consumer_for(schema_for(sub), confirm_subscriptions=True))
    await peer.start("s", ON_TRIGGER)
    error = {"message": "PermissionError: denied", "extensions": {"code": "PermissionError"}}
    assert await peer.receive() == peer.setup_error("s", [error])
    await peer.assert_no_messages()
    # The id was never registered: a broadcast reaches nobody.
    await sub.broadcast_async(payload=1)
    await peer.assert_no_messages()


@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
@pytest.mark.parametrize("slow_layer", [False, True], ids=["fast-layer", "slow-group-add"])
async def test_server_unsubscribe_issued_during_setup_completes_after_the_confirmation(
    open_peer, monkeypatch, strict_ordering, slow_layer
):
    layer = get_channel_layer()
    if slow_layer:
        # Like a networked layer: the membership exists before `group_add` returns,
        # so an `unsubscribe` can arrive while the setup is still going on.
        real_group_add = layer.group_add

        async def group_add(group, channel):
            await real_group_add(group, channel)
            await asyncio.sleep(0.05)

        monkeypatch.setattr(layer, "group_add", group_add)

    helpers: list[asyncio.Task[Any]] = []

    async def unsubscribe_once_joined():
        # Issued as soon as the group has a member at the layer (the group is
        # this test's alone), so the subscription's setup may still be going on.
        group = sub._group_name()
        while not layer.groups.get(group):
            await asyncio.sleep(0)
        await sub.unsubscribe_async()

    async def subscribe(root, info):
        helper = asyncio.wait_for(unsubscribe_once_joined(), timeout=3)
        helpers.append(asyncio.ensure_future(helper))
        await asyncio.sleep(0.1)

    unsubscribed = []
    sub = subscription_class(
        subscribe=subscribe,
        unsubscribed=lambda root, info: unsubscribed.append(info.context.graphql_operation_id),
    )
    consumer = consumer_for(
        schema_for(sub), strict_ordering=strict_ordering, confirm_subscriptions=True
    )
    peer = await open_peer(consumer)
    await peer.start("s", ON_TRIGGER)
    assert await peer.receive_many(2) == [peer.confirmation("s"), peer.complete("s")]
    await asyncio.gather(*helpers)
    await peer.assert_no_messages()
    assert unsubscribed == ["s"]


# ----------------------------------------- stops during setup (decision 7)


@pytest.mark.parametrize("confirm", [False, True], ids=["no-confirmation", "confirmation"])
@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
async def test_stops_spammed_during_a_slow_setup_give_exactly_one_complete(
    open_peer, confirm, strict_ordering
):
    entered = asyncio.Event()
    unsubscribed = []

    async def subscribe(root, info):
        entered.set()
        await asyncio.sleep(0.1)

    sub = subscription_class(
        subscribe=subscribe,
        unsubscribed=lambda root, info: unsubscribed.append(info.context.graphql_operation_id),
    )
    consumer = consumer_for(
        schema_for(sub), strict_ordering=strict_ordering, confirm_subscriptions=confirm
    )
    peer = await open_peer(consumer)
    await peer.start("s", ON_TRIGGER)
    await entered.wait()  # the hook is sleeping now
    for _ in range(10):
        await peer.stop("s")
    expected = [peer.confirmation("s")] if confirm else []
    expected.append(peer.complete("s"))
    assert await peer.receive_many(len(expected)) == expected
    await peer.assert_no_messages()
    assert unsubscribed == ["s"]
    await sub.broadcast_async(payload=1)
    await peer.assert_no_messages()


@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
async def test_stops_spammed_during_a_failing_setup_are_ignored(open_peer, strict_ordering):
    entered = asyncio.Event()
    unsubscribed = []

    async def subscribe(root, info):
        entered.set()
        await asyncio.sleep(0.1)
        raise PermissionError("denied")

    sub = subscription_class(
        subscribe=subscribe, unsubscribed=lambda root, info: unsubscribed.append(1)
    )
    consumer = consumer_for(
        schema_for(sub), strict_ordering=strict_ordering, confirm_subscriptions=True
    )
    peer = await open_peer(consumer)
    await peer.start("s", ON_TRIGGER)
    await entered.wait()  # the hook is sleeping now
    for _ in range(10):
        await peer.stop("s")
    error = {"message": "PermissionError: denied", "extensions": {"code": "PermissionError"}}
    assert await peer.receive() == peer.setup_error("s", [error])
    await peer.assert_no_messages()
    assert unsubscribed == []


# ------------------------------------ exactly one complete (decision 8)


@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
@pytest.mark.parametrize(
    "stopper", ["client-complete-repeated", "unsubscribe-repeated", "every-group-and-client"]
)
async def test_exactly_one_complete_whatever_stops_the_subscription(
    open_peer, strict_ordering, stopper
):
    unsubscribed = []
    sub = subscription_class(
        subscribe=lambda root, info: ["custom"],
        unsubscribed=lambda root, info: unsubscribed.append(info.context.graphql_operation_id),
    )
    consumer = consumer_for(
        schema_for(sub), strict_ordering=strict_ordering, confirm_subscriptions=True
    )
    peer = await open_peer(consumer)
    await peer.subscribe_live("s")
    if stopper == "client-complete-repeated":
        for _ in range(5):
            await peer.stop("s")
    elif stopper == "unsubscribe-repeated":
        await asyncio.gather(*(sub.unsubscribe_async() for _ in range(5)))
    else:
        default_group = sub.unsubscribe()
        custom_group = sub.unsubscribe(group="custom")
        await peer.stop("s")
        await asyncio.gather(default_group, custom_group)
    assert await peer.receive() == peer.complete("s")
    await peer.assert_no_messages()
    assert unsubscribed == ["s"]
    # Neither group reaches the subscription any more, and later stops are ignored.
    await sub.broadcast_async(payload=1)
    await sub.broadcast_async(group="custom", payload=2)
    await sub.unsubscribe_async(group="custom")
    await peer.stop("s")
    await peer.assert_no_messages()
    assert unsubscribed == ["s"]


@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
@pytest.mark.parametrize("stopper", ["client", "server"])
async def test_notification_being_published_when_stopped_is_never_sent(
    open_peer, strict_ordering, stopper
):
    publishing = asyncio.Event()
    release = asyncio.Event()
    outcome = []

    async def publish(payload, info):
        publishing.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")
        return {"ok": True, "value": payload}

    sub = subscription_class(publish=publish)
    consumer = consumer_for(
        schema_for(sub), strict_ordering=strict_ordering, confirm_subscriptions=True
    )
    peer = await open_peer(consumer)
    await peer.subscribe_live("s")
    await sub.broadcast_async(payload=1)
    await publishing.wait()
    if stopper == "client":
        await peer.stop("s")
    else:
        await stop_from_server(sub)
    assert await peer.receive() == peer.complete("s")
    # The notifier was cancelled and awaited before `complete` went out.
    assert outcome == ["cancelled"]
    release.set()
    await peer.assert_no_messages()


async def test_legacy_stop_of_a_running_query_drops_its_result_and_completes(make_client):
    started = asyncio.Event()
    release = asyncio.Event()

    class BlockingQuery(Query):
        blocked = graphene.String()

        @staticmethod
        async def resolve_blocked(root, info):
            started.set()
            await release.wait()
            return "too late"

    schema = graphene.Schema(query=BlockingQuery)
    client = make_client(consumer_for(schema), subprotocols=[LEGACY])
    await client.connect_and_init()
    await client.send({"type": "start", "id": "q", "payload": {"query": "{ blocked }"}})
    await started.wait()
    await client.send({"type": "stop", "id": "q"})
    await client.send({"type": "stop", "id": "q"})
    assert await client.receive() == {"type": "complete", "id": "q"}
    release.set()
    await client.assert_no_messages()


# ------------------------------------------------- delivery order (3.4)


@pytest.mark.parametrize("strict_ordering", [True, False], ids=["strict", "concurrent"])
async def test_notifications_keep_broadcast_order_even_when_publish_is_slow(
    open_peer, strict_ordering
):
    async def publish(payload, info):
        await asyncio.sleep((10 - payload) * 0.01)
        return {"ok": True, "value": payload}

    sub = subscription_class(publish=publish)
    consumer = consumer_for(
        schema_for(sub), strict_ordering=strict_ordering, confirm_subscriptions=True
    )
    peer = await open_peer(consumer)
    await peer.subscribe_live("s")
    await asyncio.gather(*(sub.broadcast(payload=i) for i in range(10)))
    assert [await peer.receive_value("s") for _ in range(10)] == list(range(10))
    await peer.assert_no_messages()


async def test_two_subscriptions_on_one_connection_each_get_every_event_in_order(open_peer):
    sub = subscription_class()
    peer = await open_peer(consumer_for(schema_for(sub), confirm_subscriptions=True))
    await peer.subscribe_live("a")
    await peer.subscribe_live("b")
    await asyncio.gather(*(sub.broadcast(payload=i) for i in range(5)))
    messages = await peer.receive_many(10)
    for op_id in ("a", "b"):
        mine = [m for m in messages if m["id"] == op_id]
        assert mine == [peer.notification(op_id, i) for i in range(5)]
    await peer.assert_no_messages()


# ------------------------------------------------ queue limits (decision 15)


async def test_queue_limit_one_delivers_first_and_last_of_a_burst_silently(open_peer, caplog):
    async def publish(payload, info):
        await asyncio.sleep(0.001)
        return {"ok": True, "value": payload}

    sub = subscription_class(publish=publish, queue_limit=1)
    peer = await open_peer(consumer_for(schema_for(sub), confirm_subscriptions=True))
    await peer.subscribe_live("s")
    with caplog.at_level(logging.DEBUG, logger="channels_graphql_ws"):
        await asyncio.gather(*(sub.broadcast(payload=i) for i in range(100)))
        values = [await peer.receive_value("s")]
        while values[-1] != 99:
            values.append(await peer.receive_value("s"))
        await peer.assert_no_messages()
    assert values[0] == 0
    assert len(values) < 100
    assert values == sorted(set(values))
    assert broadcast_warnings(caplog) == []


async def burst_behind_a_blocked_notification(
    peer: Peer,
    sub: type[channels_graphql_ws.Subscription],
    sentinel: type[channels_graphql_ws.Subscription],
    taken: asyncio.Event,
    release: asyncio.Event,
    last: int,
) -> list[int]:
    """Broadcast 0..last while the notification for 0 is being published.

    Once the sentinel's notification arrives, every event of the burst has
    been queued (one channel, one order); then publishing is released and
    the values subscription ``s`` receives are returned.
    """
    await peer.subscribe_live("s")
    await peer.subscribe_live("t", ON_SENTINEL)
    await sub.broadcast_async(payload=0)
    await taken.wait()
    await asyncio.gather(*(sub.broadcast(payload=i) for i in range(1, last + 1)))
    await sentinel.broadcast_async(payload=-1)
    assert await peer.receive_value("t", field="onSentinel") == -1
    release.set()
    values = [await peer.receive_value("s")]
    while values[-1] != last:
        values.append(await peer.receive_value("s"))
    await peer.assert_no_messages()
    return values


def blocking_first_publish() -> tuple[Callable[..., Any], asyncio.Event, asyncio.Event]:
    taken = asyncio.Event()
    release = asyncio.Event()

    async def publish(payload, info):
        if payload == 0:
            taken.set()
            await release.wait()
        return {"ok": True, "value": payload}

    return publish, taken, release


async def test_queue_limit_above_one_drops_the_oldest_with_a_warning_per_drop(open_peer, caplog):
    publish, taken, release = blocking_first_publish()
    sub = subscription_class(publish=publish, queue_limit=5)
    sentinel = subscription_class()
    consumer = consumer_for(schema_for(sub, sentinel), confirm_subscriptions=True)
    peer = await open_peer(consumer)
    with caplog.at_level(logging.WARNING, logger=BROADCAST_LOGGER):
        values = await burst_behind_a_blocked_notification(
            peer, sub, sentinel, taken, release, last=30
        )
    # The one being published is kept; of the 30 waiting, the newest 5 survive.
    assert values == [0, 26, 27, 28, 29, 30]
    not_delivered = 31 - len(values)
    assert len(broadcast_warnings(caplog)) == not_delivered == 25


@pytest.mark.parametrize("class_limit", [None, 0, -1])
async def test_queue_limit_none_or_not_positive_falls_back_to_the_consumer_limit(
    open_peer, caplog, class_limit
):
    publish, taken, release = blocking_first_publish()
    sub = subscription_class(publish=publish, queue_limit=class_limit)
    sentinel = subscription_class()
    consumer = consumer_for(
        schema_for(sub, sentinel),
        confirm_subscriptions=True,
        subscription_notification_queue_limit=2,
    )
    peer = await open_peer(consumer)
    with caplog.at_level(logging.WARNING, logger=BROADCAST_LOGGER):
        values = await burst_behind_a_blocked_notification(
            peer, sub, sentinel, taken, release, last=9
        )
    assert values == [0, 8, 9]
    assert len(broadcast_warnings(caplog)) == 10 - len(values) == 7


# ------------------------------------------------- middleware (decision 13)


async def test_middleware_runs_only_for_notifications_twice_per_notification(open_peer):
    calls: list[str] = []
    calls_seen_by_subscribe: list[int] = []

    def counting(next_, root, info, **args):
        calls.append(info.field_name)
        return next_(root, info, **args)

    def subscribe(root, info):
        calls_seen_by_subscribe.append(len(calls))

    sub = subscription_class(subscribe=subscribe)
    consumer = consumer_for(schema_for(sub), middleware=[counting], confirm_subscriptions=True)
    peer = await open_peer(consumer)
    await peer.subscribe_live("s", "subscription { onTrigger { ok } }")
    assert calls_seen_by_subscribe == [0]
    assert calls == []
    for number in range(1, 4):
        await sub.broadcast_async(payload=number)
        message = await peer.receive()
        assert message == peer.result("s", {"data": {"onTrigger": {"ok": True}}})
        assert len(calls) == 2 * number
    assert calls == ["onTrigger", "ok"] * 3


async def test_a_list_of_sync_and_async_middlewares_wraps_notifications(open_peer):
    calls: list[tuple[str, str]] = []

    def sync_middleware(next_, root, info, **args):
        calls.append(("sync", info.field_name))
        return next_(root, info, **args)

    async def async_middleware(next_, root, info, **args):
        calls.append(("async", info.field_name))
        result = next_(root, info, **args)
        if inspect.isawaitable(result):
            result = await result
        return result

    sub = subscription_class()
    consumer = consumer_for(
        schema_for(sub),
        middleware=[sync_middleware, async_middleware],
        confirm_subscriptions=True,
    )
    peer = await open_peer(consumer)
    await peer.subscribe_live("s", "subscription { onTrigger { ok } }")
    assert calls == []
    await sub.broadcast_async(payload=1)
    assert await peer.receive() == peer.result("s", {"data": {"onTrigger": {"ok": True}}})
    # The last middleware of the list is the outermost.
    assert calls == [
        ("async", "onTrigger"),
        ("sync", "onTrigger"),
        ("async", "ok"),
        ("sync", "ok"),
    ]


# ----------------------------------------------- disconnect (decision 17)


async def test_disconnect_calls_unsubscribed_once_per_live_subscription_and_leaves_groups(
    open_peer,
):
    unsubscribed = []
    sub = subscription_class(
        subscribe=lambda root, info: ["custom"],
        unsubscribed=lambda root, info: unsubscribed.append(info.context.graphql_operation_id),
    )
    instances: list[Any] = []
    peer = await open_peer(consumer_for(schema_for(sub), instances, confirm_subscriptions=True))
    [consumer] = instances
    await peer.subscribe_live("a")
    await peer.subscribe_live("b")
    await peer.subscribe_live("stopped")
    await peer.stop("stopped")
    assert await peer.receive() == peer.complete("stopped")
    assert unsubscribed == ["stopped"]

    # The groups are this test's alone: whatever channel joins them for this
    # connection (its own or the process's fan-out), it must be gone after.
    layer = get_channel_layer()
    groups = [sub._group_name(), sub._group_name("custom")]
    for group in groups:
        assert layer.groups.get(group), group

    await peer.client.disconnect()
    assert unsubscribed[0] == "stopped"
    assert sorted(unsubscribed[1:]) == ["a", "b"]
    for group in groups:
        assert not layer.groups.get(group), group
        assert consumer.channel_name not in layer.groups.get(group, {})


# --------------------------------------------- _subscriptions (decision 24)


@pytest.mark.parametrize("stopper", ["client", "server"])
async def test_private_subscriptions_mapping_is_read_only_and_holds_live_ones(open_peer, stopper):
    sub = subscription_class(subscribe=lambda root, info: ["custom"])
    instances: list[Any] = []
    peer = await open_peer(consumer_for(schema_for(sub), instances, confirm_subscriptions=True))
    [consumer] = instances
    assert dict(consumer._subscriptions) == {}
    await peer.subscribe_live("s")
    assert list(consumer._subscriptions) == ["s"]
    assert consumer._subscriptions["s"].groups == [sub._group_name(), sub._group_name("custom")]
    with pytest.raises(TypeError):
        consumer._subscriptions["other"] = consumer._subscriptions["s"]
    with pytest.raises(TypeError):
        del consumer._subscriptions["s"]
    if stopper == "client":
        await peer.stop("s")
    else:
        await stop_from_server(sub)
    assert await peer.receive() == peer.complete("s")
    assert dict(consumer._subscriptions) == {}


# ------------------------------------------------------------------- ids


@pytest.mark.parametrize("stopper", ["client", "server"])
async def test_id_of_a_stopped_subscription_can_be_reused(open_peer, stopper):
    sub = subscription_class()
    peer = await open_peer(consumer_for(schema_for(sub), confirm_subscriptions=True))
    await peer.subscribe_live("s")
    if stopper == "client":
        await peer.stop("s")
    else:
        await stop_from_server(sub)
    assert await peer.receive() == peer.complete("s")
    await peer.subscribe_live("s")
    await sub.broadcast_async(payload=5)
    assert await peer.receive() == peer.notification("s", 5)
    await peer.assert_no_messages()
    await peer.stop("s")
    assert await peer.receive() == peer.complete("s")


async def test_subscribe_with_the_id_of_a_live_subscription_closes_4409(make_client):
    sub = subscription_class()
    client = make_client(consumer_for(schema_for(sub), confirm_subscriptions=True))
    await client.connect_and_init()
    peer = Peer(client, TRANSPORT_WS)
    await peer.subscribe_live("s")
    await peer.start("s", ON_TRIGGER)
    await client.assert_closed(4409)


async def test_legacy_start_with_the_id_of_a_live_subscription_errors_and_keeps_it(
    make_client,
):
    sub = subscription_class()
    client = make_client(
        consumer_for(schema_for(sub), confirm_subscriptions=True), subprotocols=[LEGACY]
    )
    await client.connect_and_init()
    peer = Peer(client, LEGACY)
    await peer.subscribe_live("s")
    await peer.start("s", ON_TRIGGER)
    message = await peer.receive()
    assert message["type"] == "error" and message["id"] == "s", message
    [error] = message["payload"]["errors"]
    assert "already exists" in error["message"]
    await sub.broadcast_async(payload=4)
    assert await peer.receive() == peer.notification("s", 4)
    await peer.assert_no_messages()
