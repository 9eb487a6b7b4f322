"""Subscriptions as suites written for 1.0.0rc7 test them (API.md 1.2, 2.5, 3.4, section 0).

Every test builds its own schema and a fresh consumer subclass configured with
``setattr``, ``group_name_prefix = "TEST"`` included, as those suites' fixtures do.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import hashlib
import inspect
import uuid

import graphene
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

import channels_graphql_ws
from channels_graphql_ws import GraphqlWsResponseError

from .support import TRANSPORT_WS, both_subprotocols

#: ``assert_no_messages`` arguments: short, the tests wait for real events first.
QUIET = {"attempts": 3, "interval": 0.05}


def result_type(subprotocol):
    return "next" if subprotocol == TRANSPORT_WS else "data"


def consumer_class(schema, **settings):
    """A new consumer subclass set up the way 1.0.0rc7 users' fixtures do it: by ``setattr``."""

    class ChannelsConsumer(channels_graphql_ws.GraphqlWsConsumer):
        """The consumer of one test."""

    for name, value in {"schema": schema, "group_name_prefix": "TEST", **settings}.items():
        setattr(ChannelsConsumer, name, value)
    return ChannelsConsumer


async def connected_client(make_client, consumer, subprotocol, **init):
    client = make_client(consumer, subprotocol)
    await client.connect_and_init(**init)
    return client


async def mutate_alone(client, query, variables=None):
    """Run a mutation; fail if anything for another id arrives before its result ends."""
    op_id = await client.start(query, variables=variables)
    result = await client.receive(assert_id=op_id)
    await client.receive(assert_id=op_id, assert_type="complete")
    return result


def remember_consumers(consumers):
    """An ``on_connect`` keeping each consumer instance, to look at its private state."""

    def on_connect(self, payload):
        consumers.append(self)

    return on_connect


def wrap_hook(hook):
    """``hook`` as an async function (it may be sync or async)."""

    async def wrapped(*args, **kwds):
        result = hook(*args, **kwds)
        if inspect.isawaitable(result):
            result = await result
        return result

    return wrapped


# ------------------------------------------------------------------ schemas


class Query(graphene.ObjectType):
    ping = graphene.String(resolver=lambda root, info: "pong")


def chat_schema(unsubscribed_calls=None):
    """The chat of the README: chatrooms as groups, senders skip their own messages.

    Who is who comes from ``on_connect``, which stores the ``connection_init``
    payload's ``user`` in the connection's scope (see ``chat_on_connect``).
    """

    class OnChatMessage(channels_graphql_ws.Subscription):
        """A message posted in a chatroom."""

        chatroom = graphene.String()
        text = graphene.String()
        sender = graphene.String()

        class Arguments:
            chatroom = graphene.String(required=True)

        @staticmethod
        def subscribe(root, info, chatroom):
            # What `publish` compares with the sender; the context is shared with it.
            info.context.chat_user = info.context.channels_scope.get("chat_user")
            return [chatroom]

        @staticmethod
        def publish(payload, info, chatroom):
            if payload["sender"] is not None and payload["sender"] == info.context.chat_user:
                return None  # the sender has seen their own message already
            return OnChatMessage(
                chatroom=payload["chatroom"], text=payload["text"], sender=payload["sender"]
            )

        @staticmethod
        def unsubscribed(root, info, chatroom):
            if unsubscribed_calls is not None:
                unsubscribed_calls.append((root, info.context.chat_user, chatroom))

    class SendChatMessage(graphene.Mutation):
        class Arguments:
            chatroom = graphene.String(required=True)
            text = graphene.String(required=True)

        ok = graphene.Boolean()

        @staticmethod
        def mutate(root, info, chatroom, text):
            # A sync resolver: runs on the event loop, so `broadcast` schedules a send.
            sender = info.context.channels_scope.get("chat_user")
            OnChatMessage.broadcast(
                group=chatroom, payload={"chatroom": chatroom, "text": text, "sender": sender}
            )
            return SendChatMessage(ok=True)

    class CloseChatroom(graphene.Mutation):
        class Arguments:
            chatroom = graphene.String(required=True)

        ok = graphene.Boolean()

        @staticmethod
        def mutate(root, info, chatroom):
            OnChatMessage.unsubscribe(group=chatroom)
            return CloseChatroom(ok=True)

    class Mutation(graphene.ObjectType):
        send_chat_message = SendChatMessage.Field()
        close_chatroom = CloseChatroom.Field()

    class Subscription(graphene.ObjectType):
        on_chat_message = OnChatMessage.Field()

    schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
    return schema, OnChatMessage


def chat_on_connect(self, payload):
    self.scope["chat_user"] = (payload or {}).get("user")


CHAT_SUBSCRIPTION = """
subscription OnChat($room: String!) {
    onChatMessage(chatroom: $room) { chatroom text sender }
}
"""

SEND_MESSAGE = """
mutation Send($room: String!, $text: String!) {
    sendChatMessage(chatroom: $room, text: $text) { ok }
}
"""

CLOSE_CHATROOM = "mutation Close($room: String!) { closeChatroom(chatroom: $room) { ok } }"


def chat_message(room, text, sender):
    return {"data": {"onChatMessage": {"chatroom": room, "text": text, "sender": sender}}}


def probe_schema(on_publish, *, on_subscribe=None, on_unsubscribed=None, queue_limit=None):
    """A schema with one ``onProbe(tag: String)`` subscription running the given hooks.

    ``on_publish(payload, info, **args)`` returns the string sent as
    ``value``, or None to skip the notification; hooks may be sync or async.
    """

    class OnProbe(channels_graphql_ws.Subscription):
        """Hands every hook to the test."""

        notification_queue_limit = queue_limit
        value = graphene.String()

        class Arguments:
            tag = graphene.String()

        subscribe = staticmethod(wrap_hook(on_subscribe)) if on_subscribe else None
        unsubscribed = staticmethod(wrap_hook(on_unsubscribed)) if on_unsubscribed else None

        @staticmethod
        async def publish(payload, info, **args):
            value = await wrap_hook(on_publish)(payload, info, **args)
            return None if value is None else OnProbe(value=value)

    class Subscription(graphene.ObjectType):
        on_probe = OnProbe.Field()

    return graphene.Schema(query=Query, subscription=Subscription), OnProbe


PROBE_SUBSCRIPTION = "subscription Probe($tag: String) { onProbe(tag: $tag) { value } }"


def probe_value(value):
    return {"data": {"onProbe": {"value": value}}}


async def probe_client(make_client, schema, subprotocol, **settings):
    """A connected client of a consumer with confirmations on (so subscribing waits)."""
    consumer = consumer_class(schema, confirm_subscriptions=True, **settings)
    return await connected_client(make_client, consumer, subprotocol)


# ------------------------------------------------------------- chatrooms


@both_subprotocols
async def test_clients_receive_only_their_chatrooms_messages(make_client, subprotocol):
    schema, _ = chat_schema()
    consumer = consumer_class(schema, on_connect=chat_on_connect)
    lobby_1 = await connected_client(make_client, consumer, subprotocol, payload={"user": "ann"})
    lobby_2 = await connected_client(make_client, consumer, subprotocol, payload={"user": "bob"})
    garden = await connected_client(make_client, consumer, subprotocol, payload={"user": "cid"})
    poster = await connected_client(make_client, consumer, subprotocol, payload={"user": "dan"})
    lobby_1_id = await lobby_1.subscribe(
        CHAT_SUBSCRIPTION, variables={"room": "lobby"}, wait_confirmation=False
    )
    lobby_2_id = await lobby_2.subscribe(
        CHAT_SUBSCRIPTION, variables={"room": "lobby"}, wait_confirmation=False
    )
    garden_id = await garden.subscribe(
        CHAT_SUBSCRIPTION, variables={"room": "garden"}, wait_confirmation=False
    )
    # A query answered after each `subscribe` means its setup is done (decision 6).
    for client in (lobby_1, lobby_2, garden):
        assert await client.execute("{ ping }") == {"data": {"ping": "pong"}}

    sent = await mutate_alone(poster, SEND_MESSAGE, {"room": "lobby", "text": "hi lobby"})
    assert sent == {"data": {"sendChatMessage": {"ok": True}}}
    expected = chat_message("lobby", "hi lobby", "dan")
    assert await lobby_1.receive_next(lobby_1_id) == expected
    assert await lobby_2.receive_next(lobby_2_id) == expected

    await mutate_alone(poster, SEND_MESSAGE, {"room": "garden", "text": "hi garden"})
    assert await garden.receive_next(garden_id) == chat_message("garden", "hi garden", "dan")
    # Each got its own room's message only.
    for client in (lobby_1, lobby_2, garden, poster):
        await client.assert_no_messages(**QUIET)


@both_subprotocols
async def test_publish_returning_none_skips_the_senders_own_message(make_client, subprotocol):
    schema, _ = chat_schema()
    consumer = consumer_class(schema, on_connect=chat_on_connect, confirm_subscriptions=True)
    alice = await connected_client(make_client, consumer, subprotocol, payload={"user": "alice"})
    bob = await connected_client(make_client, consumer, subprotocol, payload={"user": "bob"})
    alice_id = await alice.subscribe(CHAT_SUBSCRIPTION, variables={"room": "lobby"})
    bob_id = await bob.subscribe(CHAT_SUBSCRIPTION, variables={"room": "lobby"})

    await mutate_alone(alice, SEND_MESSAGE, {"room": "lobby", "text": "from alice"})
    assert await bob.receive_next(bob_id) == chat_message("lobby", "from alice", "alice")
    await alice.assert_no_messages("Alice got her own message!", **QUIET)

    await mutate_alone(bob, SEND_MESSAGE, {"room": "lobby", "text": "from bob"})
    assert await alice.receive_next(alice_id) == chat_message("lobby", "from bob", "bob")
    await bob.assert_no_messages("Bob got his own message!", **QUIET)


@both_subprotocols
async def test_broadcast_without_group_reaches_every_subscriber_of_the_class(
    make_client, subprotocol
):
    schema, on_chat_message = chat_schema()
    consumer = consumer_class(schema, confirm_subscriptions=True)
    lobby = await connected_client(make_client, consumer, subprotocol)
    garden = await connected_client(make_client, consumer, subprotocol)
    lobby_id = await lobby.subscribe(CHAT_SUBSCRIPTION, variables={"room": "lobby"})
    garden_id = await garden.subscribe(CHAT_SUBSCRIPTION, variables={"room": "garden"})
    payload = {"chatroom": "everywhere", "text": "closing soon", "sender": "admin"}
    await on_chat_message.broadcast(payload=payload)
    expected = chat_message("everywhere", "closing soon", "admin")
    assert await lobby.receive_next(lobby_id) == expected
    assert await garden.receive_next(garden_id) == expected


@both_subprotocols
async def test_client_complete_ends_the_subscription_once(make_client, subprotocol):
    calls = []
    schema, on_chat_message = chat_schema(unsubscribed_calls=calls)
    consumer = consumer_class(schema, on_connect=chat_on_connect, confirm_subscriptions=True)
    client = await connected_client(make_client, consumer, subprotocol, payload={"user": "ann"})
    sid = await client.subscribe(CHAT_SUBSCRIPTION, variables={"room": "lobby"})
    await client.complete(sid)
    await client.complete(sid)  # a repeated stop is ignored (decision 8)
    await client.receive(assert_id=sid, assert_type="complete")
    await on_chat_message.broadcast(
        group="lobby", payload={"chatroom": "lobby", "text": "late", "sender": "bob"}
    )
    await client.assert_no_messages(**QUIET)
    # `unsubscribed` got root None, the subscribe-time context and the arguments.
    assert calls == [(None, "ann", "lobby")]


@both_subprotocols
async def test_server_side_unsubscribe_from_a_mutation_completes_that_groups_subscriptions(
    make_client, subprotocol
):
    calls = []
    schema, on_chat_message = chat_schema(unsubscribed_calls=calls)
    consumer = consumer_class(schema, on_connect=chat_on_connect, confirm_subscriptions=True)
    lobby = await connected_client(make_client, consumer, subprotocol, payload={"user": "ann"})
    garden = await connected_client(make_client, consumer, subprotocol, payload={"user": "bob"})
    admin = await connected_client(make_client, consumer, subprotocol, payload={"user": "root"})
    lobby_id = await lobby.subscribe(CHAT_SUBSCRIPTION, variables={"room": "lobby"})
    garden_id = await garden.subscribe(CHAT_SUBSCRIPTION, variables={"room": "garden"})

    closed = await mutate_alone(admin, CLOSE_CHATROOM, {"room": "lobby"})
    assert closed == {"data": {"closeChatroom": {"ok": True}}}
    await lobby.receive(assert_id=lobby_id, assert_type="complete")
    assert calls == [(None, "ann", "lobby")]

    # The lobby subscriber gets nothing more; the garden one is untouched.
    await on_chat_message.broadcast(
        payload={"chatroom": "all", "text": "still here?", "sender": "x"}
    )
    assert await garden.receive_next(garden_id) == chat_message("all", "still here?", "x")
    await lobby.assert_no_messages(**QUIET)
    await garden.assert_no_messages(**QUIET)


@both_subprotocols
async def test_unsubscribe_from_a_mutation_on_the_same_connection_comes_after_its_result(
    make_client, subprotocol
):
    schema, _ = chat_schema()
    consumer = consumer_class(schema, confirm_subscriptions=True, strict_ordering=True)
    client = await connected_client(make_client, consumer, subprotocol)
    sid = await client.subscribe(CHAT_SUBSCRIPTION, variables={"room": "lobby"})
    # With strict ordering the mutation's own result and `complete` go first (decision 10).
    assert await mutate_alone(client, CLOSE_CHATROOM, {"room": "lobby"}) == {
        "data": {"closeChatroom": {"ok": True}}
    }
    await client.receive(assert_id=sid, assert_type="complete")
    await client.assert_no_messages(**QUIET)


# ----------------------------------------------------------- confirmation


@both_subprotocols
async def test_confirmation_payload_is_exactly_data_none(make_client, subprotocol):
    schema, _ = chat_schema()
    consumer = consumer_class(schema, on_connect=chat_on_connect)
    setattr(consumer, "confirm_subscriptions", True)  # noqa: B010 - as users' fixtures do
    client = await connected_client(make_client, consumer, subprotocol, payload={"user": "ann"})
    sid = await client.subscribe(
        CHAT_SUBSCRIPTION, variables={"room": "lobby"}, wait_confirmation=False
    )
    confirmation = await client.receive(assert_id=sid, raw_response=True)
    assert confirmation == {"type": result_type(subprotocol), "id": sid, "payload": {"data": None}}
    # `wait_confirmation=True` consumes it; the subscription is live right after.
    other_id = await client.subscribe(CHAT_SUBSCRIPTION, variables={"room": "garden"})
    poster = await connected_client(make_client, consumer, subprotocol, payload={"user": "bob"})
    await mutate_alone(poster, SEND_MESSAGE, {"room": "garden", "text": "welcome"})
    assert await client.receive_next(other_id) == chat_message("garden", "welcome", "bob")
    await client.assert_no_messages(**QUIET)


@both_subprotocols
async def test_without_confirm_subscriptions_nothing_is_sent_on_subscribe(make_client, subprotocol):
    schema, on_chat_message = chat_schema()
    consumer = consumer_class(schema)
    assert consumer.confirm_subscriptions is False
    client = await connected_client(make_client, consumer, subprotocol)
    sid = await client.subscribe(
        CHAT_SUBSCRIPTION, variables={"room": "lobby"}, wait_confirmation=False
    )
    await client.assert_no_messages(**QUIET)
    payload = {"chatroom": "lobby", "text": "first", "sender": "x"}
    await on_chat_message.broadcast(group="lobby", payload=payload)
    assert await client.receive_next(sid) == chat_message("lobby", "first", "x")


@both_subprotocols
async def test_custom_confirmation_message_carries_formatted_errors(make_client, subprotocol):
    text = str(uuid.uuid4())
    schema, on_chat_message = chat_schema()
    consumer = consumer_class(schema)
    settings = {
        "confirm_subscriptions": True,
        "subscription_confirmation_message": {"data": {"x": 1}, "errors": [RuntimeError(text)]},
    }
    for name, value in settings.items():
        setattr(consumer, name, value)
    client = await connected_client(make_client, consumer, subprotocol)
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.subscribe(CHAT_SUBSCRIPTION, variables={"room": "lobby"})
    response = raised.value.response
    sid = response["id"]
    assert response == {
        "type": result_type(subprotocol),
        "id": sid,
        "payload": {
            "data": {"x": 1},
            "errors": [
                {"message": f"RuntimeError: {text}", "extensions": {"code": "RuntimeError"}}
            ],
        },
    }
    # Errors in the confirmation do not end the subscription.
    await on_chat_message.broadcast(
        group="lobby", payload={"chatroom": "lobby", "text": "after", "sender": "x"}
    )
    assert await client.receive_next(sid) == chat_message("lobby", "after", "x")


# ---------------------------------------------------------------- payloads


@both_subprotocols
async def test_django_model_in_a_payload_arrives_as_a_model_instance(make_client, subprotocol):
    seen = []

    def on_publish(payload, info, **args):
        seen.append(payload["user"])
        user = payload["user"]
        return f"{type(user).__name__} {user.id} {user.username}"

    schema, on_probe = probe_schema(on_publish)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    # An unsaved instance: no table is ever touched, on either side.
    await on_probe.broadcast(payload={"user": User(id=7, username="alice")})
    assert await client.receive_next(sid) == probe_value("User 7 alice")
    [user] = seen
    assert isinstance(user, User)
    assert (user.id, user.pk, user.username) == (7, 7, "alice")


@both_subprotocols
async def test_datetime_date_and_time_payloads_keep_their_type_and_str(make_client, subprotocol):
    sent = {
        "aware": datetime.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=datetime.timezone.utc),
        "naive": datetime.datetime(1999, 12, 31, 8, 30),
        "date": datetime.date(2000, 1, 1),
        "time": datetime.time(7, 6, 5, 4321),
    }
    seen = []

    def on_publish(payload, info, **args):
        seen.append(payload)
        return "ok"

    schema, on_probe = probe_schema(on_publish)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    await on_probe.broadcast(payload=sent)
    assert await client.receive_next(sid) == probe_value("ok")
    [received] = seen
    assert {key: (type(value), str(value)) for key, value in received.items()} == {
        key: (type(value), str(value)) for key, value in sent.items()
    }


@both_subprotocols
async def test_uuid_and_decimal_payloads_now_travel(make_client, subprotocol):
    # The older release refused both at broadcast time with a `TypeError`.
    sent = {
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "decimal": decimal.Decimal("-12.3400"),
    }
    seen = []

    def on_publish(payload, info, **args):
        seen.append(payload)
        return f"{payload['uuid']} {payload['decimal']}"

    schema, on_probe = probe_schema(on_publish)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    await on_probe.broadcast(payload=sent)
    assert await client.receive_next(sid) == probe_value(
        "12345678-1234-5678-1234-567812345678 -12.3400"
    )
    [received] = seen
    assert type(received["uuid"]) is uuid.UUID and received["uuid"] == sent["uuid"]
    assert type(received["decimal"]) is decimal.Decimal
    assert str(received["decimal"]) == "-12.3400"


# ---------------------------------------------------- ordering and queue limit


@both_subprotocols
async def test_notifications_arrive_in_order_despite_decreasing_publish_delays(
    make_client, subprotocol
):
    async def on_publish(payload, info, **args):
        # The first event is the slowest to publish: order must still hold.
        await asyncio.sleep((10 - payload) * 0.005)
        return str(payload)

    schema, on_probe = probe_schema(on_publish)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    await asyncio.gather(*[on_probe.broadcast(payload=number) for number in range(10)])
    received = [(await client.receive_next(sid))["data"]["onProbe"]["value"] for _ in range(10)]
    assert received == [str(number) for number in range(10)]
    await client.assert_no_messages(**QUIET)


@both_subprotocols
async def test_queue_limit_of_one_delivers_the_first_and_the_last_of_a_burst(
    make_client, subprotocol
):
    async def on_publish(payload, info, **args):
        await asyncio.sleep(0.001)
        return str(payload)

    schema, on_probe = probe_schema(on_publish, queue_limit=1)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    await asyncio.gather(*[on_probe.broadcast(payload=number) for number in range(100)])
    received = []
    while not received or received[-1] != 99:
        received.append(int((await client.receive_next(sid))["data"]["onProbe"]["value"]))
    await client.assert_no_messages(**QUIET)
    assert received[0] == 0
    assert received == sorted(set(received))
    assert len(received) < 100


# --------------------------------------------------------------- subscribe()


@both_subprotocols
async def test_subscribe_raising_is_an_error_with_class_and_text(make_client, subprotocol):
    def on_subscribe(root, info, **args):
        raise PermissionError("You may not listen here!")

    schema, on_probe = probe_schema(lambda payload, info, **args: "leak", on_subscribe=on_subscribe)
    consumers = []
    client = await probe_client(
        make_client, schema, subprotocol, on_connect=remember_consumers(consumers)
    )
    sid = await client.subscribe(PROBE_SUBSCRIPTION, wait_confirmation=False)
    errors, data = await client.receive_error(sid)
    assert data is None
    assert errors == [
        {
            "message": "PermissionError: You may not listen here!",
            "extensions": {"code": "PermissionError"},
        }
    ]
    # No confirmation, no `complete`, nothing registered, no notification.
    await on_probe.broadcast(payload="anything")
    await client.assert_no_messages(**QUIET)
    assert dict(consumers[0]._subscriptions) == {}


@both_subprotocols
@pytest.mark.parametrize(
    ("returned", "type_text"),
    [
        ("lobby", "<class 'str'>"),
        ("", "<class 'str'>"),
        (42, "<class 'int'>"),
        ({"a": 1}, "<class 'dict'>"),
    ],
    ids=["str", "empty-str", "int", "dict"],
)
async def test_subscribe_returning_a_bad_type_is_an_assertion_error(
    make_client, subprotocol, returned, type_text
):
    schema, _ = probe_schema(
        lambda payload, info, **args: "x", on_subscribe=lambda root, info, **args: returned
    )
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION, wait_confirmation=False)
    errors, data = await client.receive_error(sid)
    assert data is None
    assert len(errors) == 1
    assert errors[0]["message"].startswith(
        f"AssertionError: Method 'subscribe' returned a value of an incorrect type {type_text}!"
    )
    assert errors[0]["extensions"] == {"code": "AssertionError"}
    await client.assert_no_messages(**QUIET)


@both_subprotocols
@pytest.mark.parametrize(
    "returned", [None, [], ("red", "blue")], ids=["none", "empty-list", "tuple"]
)
async def test_subscribe_returning_none_list_or_tuple_joins_those_groups(
    make_client, subprotocol, returned
):
    schema, on_probe = probe_schema(
        lambda payload, info, **args: payload, on_subscribe=lambda root, info, **args: returned
    )
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    for group in [None, "red", "blue", "green"]:
        await on_probe.broadcast(group=group, payload=f"to {group}")
    expected = ["to None"] + [f"to {group}" for group in returned or ()]
    received = [(await client.receive_next(sid))["data"]["onProbe"]["value"] for _ in expected]
    assert received == expected
    await client.assert_no_messages(**QUIET)


@both_subprotocols
async def test_hooks_may_be_classmethods_and_plain_methods_with_payload_as_self(
    make_client, subprotocol
):
    seen = []

    class OnPlainHooks(channels_graphql_ws.Subscription):
        value = graphene.String()

        class Arguments:
            tag = graphene.String(required=True)

        @classmethod
        def subscribe(cls, root, info, tag):
            seen.append(("subscribe", cls, root, tag))
            return [tag]

        def publish(self, info, tag):
            # A plain method: the broadcast payload arrives as `self`.
            return OnPlainHooks(value=f"{tag}: {self['text']}")

    class Subscription(graphene.ObjectType):
        on_plain_hooks = OnPlainHooks.Field()

    schema = graphene.Schema(query=Query, subscription=Subscription)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe('subscription { onPlainHooks(tag: "news") { value } }')
    assert seen == [("subscribe", OnPlainHooks, None, "news")]
    await OnPlainHooks.broadcast(group="news", payload={"text": "plain"})
    assert await client.receive_next(sid) == {"data": {"onPlainHooks": {"value": "news: plain"}}}


@both_subprotocols
async def test_output_type_on_a_subscription_works(make_client, subprotocol):
    # In the older release `Output` broke subscribing with an AttributeError.
    class ProbeResult(graphene.ObjectType):
        value = graphene.String()

    class OnOutput(channels_graphql_ws.Subscription):
        Output = ProbeResult

        @staticmethod
        def publish(payload, info):
            return ProbeResult(value=payload.upper())

    class Subscription(graphene.ObjectType):
        on_output = OnOutput.Field()

    schema = graphene.Schema(query=Query, subscription=Subscription)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe("subscription { onOutput { value } }")
    await OnOutput.broadcast(payload="shout")
    assert await client.receive_next(sid) == {"data": {"onOutput": {"value": "SHOUT"}}}


# ------------------------------------------------------- publish, broadcast


@both_subprotocols
async def test_publish_raising_sends_an_error_result_and_keeps_the_subscription(
    make_client, subprotocol
):
    def on_publish(payload, info, **args):
        if payload == "bad":
            raise ValueError("Cannot publish that!")
        return payload

    schema, on_probe = probe_schema(on_publish)
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    await on_probe.broadcast(payload="bad")
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.receive_next(sid)
    payload = raised.value.response["payload"]
    assert payload["data"] == {"onProbe": None}
    assert [(error["message"], error["path"]) for error in payload["errors"]] == [
        ("Cannot publish that!", ["onProbe"])
    ]
    assert "extensions" not in payload["errors"][0]
    await on_probe.broadcast(payload="good")
    assert await client.receive_next(sid) == probe_value("good")


@both_subprotocols
async def test_broadcast_sync_from_a_worker_thread_reaches_subscribers(make_client, subprotocol):
    schema, on_probe = probe_schema(lambda payload, info, **args: payload["text"])
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    await database_sync_to_async(on_probe.broadcast_sync)(payload={"text": "from a thread"})
    assert await client.receive_next(sid) == probe_value("from a thread")


# ---------------------------------------------------------- unsubscribed


@both_subprotocols
async def test_unsubscribed_gets_the_subscribe_time_context_and_arguments(make_client, subprotocol):
    calls = []

    def on_subscribe(root, info, **args):
        info.context.marker = f"set in subscribe for {args['tag']}"

    def on_unsubscribed(root, info, **args):
        calls.append((root, info.context.marker, args))

    def on_publish(payload, info, **args):
        return info.context.marker  # `publish` sees the same context

    schema, on_probe = probe_schema(
        on_publish, on_subscribe=on_subscribe, on_unsubscribed=on_unsubscribed
    )
    client = await probe_client(make_client, schema, subprotocol)
    sid = await client.subscribe(PROBE_SUBSCRIPTION, variables={"tag": "t1"})
    await on_probe.broadcast(payload=None)
    assert await client.receive_next(sid) == probe_value("set in subscribe for t1")
    await client.complete(sid)
    await client.receive(assert_id=sid, assert_type="complete")
    assert calls == [(None, "set in subscribe for t1", {"tag": "t1"})]


@both_subprotocols
async def test_unsubscribed_is_called_on_disconnect(make_client, subprotocol):
    calls = []
    schema, _ = probe_schema(
        lambda payload, info, **args: payload,
        on_unsubscribed=lambda root, info, **args: calls.append(args),
    )
    client = await probe_client(make_client, schema, subprotocol)
    await client.subscribe(PROBE_SUBSCRIPTION, variables={"tag": "a"})
    await client.subscribe(PROBE_SUBSCRIPTION, variables={"tag": "b"})
    assert calls == []
    await client.finalize()
    assert sorted(call["tag"] for call in calls) == ["a", "b"]


# ------------------------------------------- private state and group names


@both_subprotocols
async def test_private_subscriptions_maps_operation_ids_to_their_groups(make_client, subprotocol):
    schema, on_probe = probe_schema(
        lambda payload, info, **args: payload, on_subscribe=lambda root, info, **args: ["extra"]
    )
    consumers = []
    client = await probe_client(
        make_client, schema, subprotocol, on_connect=remember_consumers(consumers)
    )
    first_id = await client.subscribe(PROBE_SUBSCRIPTION, variables={"tag": "1"})
    second_id = await client.subscribe(PROBE_SUBSCRIPTION, variables={"tag": "2"})
    [consumer] = consumers
    subscriptions = consumer._subscriptions
    assert set(subscriptions) == {first_id, second_id}
    expected_groups = {on_probe._group_name(), on_probe._group_name("extra")}
    assert set(subscriptions[first_id].groups) == expected_groups
    assert set(subscriptions[second_id].groups) == expected_groups
    with pytest.raises(TypeError):
        subscriptions["forged"] = subscriptions[first_id]

    await client.complete(first_id)
    await client.receive(assert_id=first_id, assert_type="complete")
    assert set(consumer._subscriptions) == {second_id}


def expected_group_name(prefix, subscription_class, group):
    name = f"{subscription_class.__module__}.{subscription_class.__qualname__}-{group}"
    return f"{prefix}-{hashlib.sha256(name.encode()).hexdigest()}"


@both_subprotocols
async def test_group_name_prefix_set_on_a_consumer_subclass_still_gets_notifications(
    make_client, subprotocol
):
    schema, on_probe = probe_schema(
        lambda payload, info, **args: payload, on_subscribe=lambda root, info, **args: ["room"]
    )
    consumers = []
    client = await probe_client(
        make_client, schema, subprotocol, on_connect=remember_consumers(consumers)
    )
    assert type(consumers[0]).group_name_prefix == "TEST"
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    # The groups keep the base class's prefix, so broadcasters find them (decision 11).
    room_group = expected_group_name("GQLWS", on_probe, "room")
    assert len(room_group) == 70
    assert room_group in consumers[0]._subscriptions[sid].groups
    assert all(name.startswith("GQLWS-") for name in consumers[0]._subscriptions[sid].groups)
    await on_probe.broadcast(group="room", payload="to the room")
    assert await client.receive_next(sid) == probe_value("to the room")


@both_subprotocols
async def test_group_name_prefix_of_the_base_class_is_read_when_names_are_computed(
    make_client, monkeypatch, subprotocol
):
    monkeypatch.setattr(channels_graphql_ws.GraphqlWsConsumer, "group_name_prefix", "PROC")
    schema, on_probe = probe_schema(
        lambda payload, info, **args: payload, on_subscribe=lambda root, info, **args: ["room"]
    )
    consumers = []
    client = await probe_client(
        make_client, schema, subprotocol, on_connect=remember_consumers(consumers)
    )
    sid = await client.subscribe(PROBE_SUBSCRIPTION)
    assert expected_group_name("PROC", on_probe, "room") in consumers[0]._subscriptions[sid].groups
    assert on_probe._group_name("room") == expected_group_name("PROC", on_probe, "room")
    await on_probe.broadcast(group="room", payload="prefixed")
    assert await client.receive_next(sid) == probe_value("prefixed")
