"""``Subscription`` classes, plain Graphene subscriptions, broadcast and unsubscribe.

Every test builds its own schema and its own ``Subscription`` classes, so the
Channels groups (named after each class's module and qualname) never cross
between tests. Clients confirm every subscription (``confirm_subscriptions``):
the confirmation is the last step of the setup, so once it has arrived a
broadcast is sure to reach the subscriber.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import graphene
import pytest
from channels.layers import channel_layers
from django.test import override_settings
from graphql import GraphQLError, GraphQLNonNull

from channels_graphql_ws import GraphqlWsConsumer, Subscription
from channels_graphql_ws import broadcast as broadcast_module
from channels_graphql_ws.broadcast import ChannelLayerNotConfiguredError
from channels_graphql_ws.testing import GraphqlWsClient

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
SUBPROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
#: The type of a result message on each subprotocol.
RESULT_TYPE = {TRANSPORT_WS: "next", LEGACY_WS: "data"}
CONFIRMATION = {"data": None}

# ------------------------------------------------------------- helpers


class Query(graphene.ObjectType):
    hello = graphene.String()

    @staticmethod
    def resolve_hello(root: Any, info: Any) -> str:
        return "world"


def schema_for(
    subscriptions: dict[str, Any], mutations: dict[str, Any] | None = None
) -> graphene.Schema:
    """A schema whose root Subscription (and Mutation) type has exactly these members."""
    subscription_type = type("Subscription", (graphene.ObjectType,), dict(subscriptions))
    mutation_type = type("Mutation", (graphene.ObjectType,), dict(mutations)) if mutations else None
    return graphene.Schema(query=Query, mutation=mutation_type, subscription=subscription_type)


@pytest.fixture(params=SUBPROTOCOLS)
def subprotocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(graphql_ws_client: Any, subprotocol: str) -> Callable[..., Any]:
    """``await connect(schema, **settings)``: an initialised client that confirms subscriptions."""

    async def connect(schema: Any, **settings: Any) -> GraphqlWsClient:
        settings.setdefault("confirm_subscriptions", True)
        client = await graphql_ws_client(schema, subprotocol=subprotocol, **settings)
        client.transport.TIMEOUT = 5  # fail fast instead of at the test's timeout
        return client

    return connect


async def subscribe(client: GraphqlWsClient, query: str, **variables: Any) -> str:
    """Start a subscription, check its confirmation (it is live now), return its id."""
    op_id = await client.start(query, variables=variables or None)
    assert await client.receive_next(op_id) == CONFIRMATION
    return op_id


async def next_data(client: GraphqlWsClient, op_id: str) -> Any:
    """The ``data`` of the next result, which must be for ``op_id``."""
    payload = await client.receive_next(op_id)
    assert set(payload) == {"data"}, payload
    return payload["data"]


async def receive_raw(client: GraphqlWsClient, count: int) -> list[dict[str, Any]]:
    """The next ``count`` messages, exactly as the server sent them."""
    return [await client.transport.receive(5) for _ in range(count)]


async def nothing_more(client: GraphqlWsClient) -> None:
    await client.assert_no_messages(attempts=3, interval=0.1)


def errors_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The formatted errors of an ``error`` message on either subprotocol."""
    payload = message["payload"]
    return payload if isinstance(payload, list) else payload["errors"]


def as_hook(kind: str, is_async: bool, body: Callable[..., Any]) -> Any:
    """``body(cls, root, info, args)`` as a static, class or plain method, sync or async.

    ``cls`` is the class for a classmethod and None otherwise; for a plain
    method the root arrives as ``self``.
    """

    def sync_hook(*params: Any, **args: Any) -> Any:
        if kind == "classmethod":
            cls, root, info = params
        else:
            cls, (root, info) = None, params
        return body(cls, root, info, args)

    async def async_hook(*params: Any, **args: Any) -> Any:
        await asyncio.sleep(0)
        return sync_hook(*params, **args)

    hook = async_hook if is_async else sync_hook
    if kind == "staticmethod":
        return staticmethod(hook)
    if kind == "classmethod":
        return classmethod(hook)
    return hook


# ------------------------------------------------- defining a Subscription


async def test_output_fields_declared_on_the_class_are_published(connect):
    class OnEvent(Subscription):
        text = graphene.String()
        number = graphene.Int()

        @staticmethod
        def publish(payload, info):
            return OnEvent(text=payload["text"], number=payload["number"])

    client = await connect(schema_for({"on_event": OnEvent.Field()}))
    op_id = await subscribe(client, "subscription { onEvent { text number } }")
    await OnEvent.broadcast_async(payload={"text": "hi", "number": 7})
    assert await next_data(client, op_id) == {"onEvent": {"text": "hi", "number": 7}}


async def test_output_type_given_as_output_attribute_works(connect):
    class Point(graphene.ObjectType):
        x = graphene.Int()
        y = graphene.Int()

    class OnMove(Subscription):
        Output = Point

        @staticmethod
        def publish(payload, info):
            return Point(x=payload[0], y=payload[1])

    schema = schema_for({"on_move": OnMove.Field()})
    assert schema.graphql_schema.subscription_type.fields["onMove"].type.name == "Point"
    client = await connect(schema)
    op_id = await subscribe(client, "subscription { onMove { x y } }")
    await OnMove.broadcast_async(payload=[3, 4])
    assert await next_data(client, op_id) == {"onMove": {"x": 3, "y": 4}}
    await client.complete(op_id)
    await client.receive_complete(op_id)


async def test_arguments_reach_every_hook_as_graphene_coerces_them(connect):
    class Color(graphene.Enum):
        RED = 1
        BLUE = 2

    calls: list[tuple[str, dict[str, Any]]] = []

    class OnPaint(Subscription):
        text = graphene.String()

        class Arguments:
            color = Color(required=True)
            tag = graphene.String()  # no default: absent when omitted
            size = graphene.Int(default_value=3)

        @staticmethod
        def subscribe(root, info, **args):
            calls.append(("subscribe", args))

        @staticmethod
        def publish(payload, info, **args):
            calls.append(("publish", args))
            return OnPaint(text=f"{payload}: {args['color'].name} x{args['size']}")

        @staticmethod
        def unsubscribed(root, info, **args):
            calls.append(("unsubscribed", args))

    class Coerced(graphene.ObjectType):
        """What a query resolver gets for the same arguments, for comparison."""

        args = graphene.String(color=Color(required=True), tag=graphene.String())

        @staticmethod
        def resolve_args(root, info, **args):
            calls.append(("query", args))
            return "ok"

    schema = schema_for({"on_paint": OnPaint.Field()})
    graphene.Schema(query=Coerced).execute("{ args(color: BLUE) }")
    [(_, query_args)] = calls
    calls.clear()

    client = await connect(schema)
    op_id = await subscribe(client, "subscription { onPaint(color: BLUE) { text } }")
    await OnPaint.broadcast_async(payload="wall")
    assert await next_data(client, op_id) == {"onPaint": {"text": "wall: BLUE x3"}}
    await client.complete(op_id)
    await client.receive_complete(op_id)

    expected = {"color": Color.BLUE, "size": 3}
    assert query_args == {"color": Color.BLUE}
    assert calls == [("subscribe", expected), ("publish", expected), ("unsubscribed", expected)]
    assert all("tag" not in args for _, args in calls)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", ["staticmethod", "classmethod", "plain"])
async def test_hooks_may_be_static_class_or_plain_methods_sync_or_async(connect, kind, is_async):
    calls: list[tuple[str, Any, Any, dict[str, Any]]] = []

    def subscribe_body(cls, root, info, args):
        calls.append(("subscribe", cls, root, args))
        return ["extra"]

    def publish_body(cls, root, info, args):
        calls.append(("publish", cls, root, args))
        return OnHooks(text=f"{root['n']}-{args['tag']}")

    def unsubscribed_body(cls, root, info, args):
        calls.append(("unsubscribed", cls, root, args))

    class OnHooks(Subscription):
        text = graphene.String()

        class Arguments:
            tag = graphene.String(required=True)

        subscribe = as_hook(kind, is_async, subscribe_body)
        publish = as_hook(kind, is_async, publish_body)
        unsubscribed = as_hook(kind, is_async, unsubscribed_body)

    client = await connect(schema_for({"on_hooks": OnHooks.Field()}))
    op_id = await subscribe(client, 'subscription { onHooks(tag: "t") { text } }')
    await OnHooks.broadcast_async(group="extra", payload={"n": 1})
    assert await next_data(client, op_id) == {"onHooks": {"text": "1-t"}}
    await client.complete(op_id)
    await client.receive_complete(op_id)

    cls = OnHooks if kind == "classmethod" else None
    assert calls == [
        ("subscribe", cls, None, {"tag": "t"}),
        ("publish", cls, {"n": 1}, {"tag": "t"}),
        ("unsubscribed", cls, None, {"tag": "t"}),
    ]


async def test_publish_returning_none_skips_only_that_subscriber(connect):
    class OnLetter(Subscription):
        text = graphene.String()

        class Arguments:
            to = graphene.String(required=True)

        @staticmethod
        def publish(payload, info, to):
            return OnLetter(text=payload["text"]) if payload["to"] == to else None

    schema = schema_for({"on_letter": OnLetter.Field()})
    alice, bob = await connect(schema), await connect(schema)
    query = "subscription ($to: String!) { onLetter(to: $to) { text } }"
    alice_id = await subscribe(alice, query, to="alice")
    bob_id = await subscribe(bob, query, to="bob")

    await OnLetter.broadcast_async(payload={"to": "bob", "text": "for bob"})
    await OnLetter.broadcast_async(payload={"to": "alice", "text": "for alice"})
    # Alice's first notification is the second broadcast: the first was skipped.
    assert await next_data(alice, alice_id) == {"onLetter": {"text": "for alice"}}
    assert await next_data(bob, bob_id) == {"onLetter": {"text": "for bob"}}
    await nothing_more(alice)
    await nothing_more(bob)


async def test_default_group_is_always_joined(connect):
    class OnRoom(Subscription):
        text = graphene.String()

        @staticmethod
        def subscribe(root, info):
            return ["room"]

        @staticmethod
        def publish(payload, info):
            return OnRoom(text=payload)

    client = await connect(schema_for({"on_room": OnRoom.Field()}))
    op_id = await subscribe(client, "subscription { onRoom { text } }")
    await OnRoom.broadcast_async(group=None, payload="to everybody")
    assert await next_data(client, op_id) == {"onRoom": {"text": "to everybody"}}
    await OnRoom.broadcast_async(group="room", payload="to the room")
    assert await next_data(client, op_id) == {"onRoom": {"text": "to the room"}}
    await OnRoom.broadcast_async(group="other room", payload="elsewhere")
    await nothing_more(client)


async def test_field_takes_name_description_and_required(connect):
    class OnNamed(Subscription):
        text = graphene.String()

        @staticmethod
        def publish(payload, info):
            return OnNamed(text=payload)

    field = OnNamed.Field(name="renamed", description="Field description.", required=True)
    schema = schema_for({"attribute_name": field})
    fields = schema.graphql_schema.subscription_type.fields
    assert list(fields) == ["renamed"]
    assert fields["renamed"].description == "Field description."
    assert isinstance(fields["renamed"].type, GraphQLNonNull)
    assert fields["renamed"].type.of_type.name == "OnNamed"

    client = await connect(schema)
    op_id = await subscribe(client, "subscription { renamed { text } }")
    await OnNamed.broadcast_async(payload="hello")
    assert await next_data(client, op_id) == {"renamed": {"text": "hello"}}


async def test_one_context_object_for_subscribe_every_publish_and_unsubscribed(connect):
    contexts: list[Any] = []
    seen_markers: list[Any] = []

    class OnContext(Subscription):
        text = graphene.String()

        @staticmethod
        def subscribe(root, info):
            contexts.append(info.context)
            info.context.marker = f"set in subscribe of {info.context.graphql_operation_id}"

        @staticmethod
        async def publish(payload, info):
            contexts.append(info.context)
            return OnContext(text=f"{payload}: {info.context.marker}")

        @staticmethod
        def unsubscribed(root, info):
            contexts.append(info.context)
            seen_markers.append(info.context.marker)

    client = await connect(schema_for({"on_context": OnContext.Field()}))
    op_id = await subscribe(client, "subscription { onContext { text } }")
    for number in (1, 2):
        await OnContext.broadcast_async(payload=number)
        expected = f"{number}: set in subscribe of {op_id}"
        assert await next_data(client, op_id) == {"onContext": {"text": expected}}
    await client.complete(op_id)
    await client.receive_complete(op_id)

    assert len(contexts) == 4
    assert all(context is contexts[0] for context in contexts)
    assert seen_markers == [f"set in subscribe of {op_id}"]


async def test_async_resolve_methods_on_the_subscription_class_work(connect):
    class OnShout(Subscription):
        text = graphene.String()

        @staticmethod
        def publish(payload, info):
            return OnShout(text=payload)

        @staticmethod
        async def resolve_text(root, info):
            await asyncio.sleep(0)
            return root.text.upper() + "!"

    client = await connect(schema_for({"on_shout": OnShout.Field()}))
    op_id = await subscribe(client, "subscription { onShout { text } }")
    await OnShout.broadcast_async(payload="quiet")
    assert await next_data(client, op_id) == {"onShout": {"text": "QUIET!"}}


@pytest.mark.parametrize("bad_value", ["room", "", {"group": "room"}], ids=["str", "empty", "dict"])
async def test_subscribe_returning_a_wrong_type_is_rejected_and_frees_the_id(
    connect, subprotocol, bad_value
):
    class OnChecked(Subscription):
        text = graphene.String()

        class Arguments:
            bad = graphene.Boolean(required=True)

        @staticmethod
        def subscribe(root, info, bad):
            return bad_value if bad else None

        @staticmethod
        def publish(payload, info, bad):
            return OnChecked(text=payload)

    client = await connect(schema_for({"on_checked": OnChecked.Field()}))
    query = "subscription ($bad: Boolean!) { onChecked(bad: $bad) { text } }"
    await client.start(query, variables={"bad": True}, msg_id="op")
    [message] = await receive_raw(client, 1)
    assert message["id"] == "op"
    if subprotocol == TRANSPORT_WS:
        assert message["type"] == "error"
        errors = message["payload"]
    else:
        assert message["type"] == "data"
        assert message["payload"]["data"] is None
        errors = message["payload"]["errors"]
    [error] = errors
    assert error["message"].startswith(
        "AssertionError: Method 'subscribe' returned a value of an incorrect type"
    )
    assert repr(type(bad_value)) in error["message"]
    assert error["extensions"] == {"code": "AssertionError"}
    await nothing_more(client)  # no `complete` after the error, on either subprotocol

    # The id was never registered: it can be used again at once.
    await client.start(query, variables={"bad": False}, msg_id="op")
    assert await client.receive_next("op") == CONFIRMATION
    await OnChecked.broadcast_async(payload="live")
    assert await next_data(client, "op") == {"onChecked": {"text": "live"}}


async def test_subscribe_raising_is_reported_as_the_raw_exception(connect):
    class OnDenied(Subscription):
        text = graphene.String()

        @staticmethod
        async def subscribe(root, info):
            raise PermissionError("nope")

        @staticmethod
        def publish(payload, info):
            return OnDenied(text=payload)

    client = await connect(schema_for({"on_denied": OnDenied.Field()}))
    op_id = await client.start("subscription { onDenied { text } }")
    errors, data = await client.receive_error(op_id)
    assert errors == [
        {"message": "PermissionError: nope", "extensions": {"code": "PermissionError"}}
    ]
    assert data is None
    await nothing_more(client)
    assert await client.execute("{ hello }") == {"data": {"hello": "world"}}


async def test_subscribe_raising_graphql_error_keeps_its_message(connect):
    class OnRefused(Subscription):
        text = graphene.String()

        @staticmethod
        def subscribe(root, info):
            raise GraphQLError("denied")

        @staticmethod
        def publish(payload, info):
            return OnRefused(text=payload)

    client = await connect(schema_for({"on_refused": OnRefused.Field()}))
    op_id = await client.start("subscription { onRefused { text } }")
    errors, data = await client.receive_error(op_id)
    assert [error["message"] for error in errors] == ["denied"]
    assert data is None


def test_subscription_without_publish_fails_at_class_definition():
    with pytest.raises(AssertionError, match="publish"):

        class OnNothing(Subscription):
            text = graphene.String()

            @staticmethod
            def subscribe(root, info):
                return None


# --------------------------------------------- plain Graphene subscriptions


async def test_plain_graphene_subscription_lives_beside_a_subscription_class(connect):
    ticks: asyncio.Queue[int] = asyncio.Queue()

    class OnClass(Subscription):
        text = graphene.String()

        @staticmethod
        def publish(payload, info):
            return OnClass(text=payload)

    async def subscribe_ticks(root, info, step):
        while True:
            yield await ticks.get() * step

    schema = schema_for(
        {
            "on_class": OnClass.Field(),
            "ticks": graphene.Int(step=graphene.Int(required=True)),
            "subscribe_ticks": subscribe_ticks,
            "resolve_ticks": lambda root, info, step: root,
        }
    )
    client = await connect(schema)
    plain_id = await subscribe(client, "subscription { ticks(step: 10) }")
    class_id = await subscribe(client, "subscription { onClass { text } }")

    ticks.put_nowait(1)
    assert await next_data(client, plain_id) == {"ticks": 10}
    await OnClass.broadcast_async(payload="from the class")
    assert await next_data(client, class_id) == {"onClass": {"text": "from the class"}}
    ticks.put_nowait(2)
    assert await next_data(client, plain_id) == {"ticks": 20}

    await client.complete(plain_id)
    await client.receive_complete(plain_id)
    await OnClass.broadcast_async(payload="still live")
    assert await next_data(client, class_id) == {"onClass": {"text": "still live"}}
    await client.complete(class_id)
    await client.receive_complete(class_id)
    await nothing_more(client)


async def test_plain_stream_raising_midway_ends_with_an_error_and_socket_stays_usable(connect):
    async def subscribe_countdown(root, info):
        yield 2
        yield 1
        raise RuntimeError("stream broke")

    schema = schema_for(
        {
            "countdown": graphene.Int(),
            "subscribe_countdown": subscribe_countdown,
            "resolve_countdown": lambda root, info: root,
        }
    )
    client = await connect(schema)
    op_id = await subscribe(client, "subscription { countdown }")
    assert await next_data(client, op_id) == {"countdown": 2}
    assert await next_data(client, op_id) == {"countdown": 1}
    [message] = await receive_raw(client, 1)
    assert message["type"] == "error" and message["id"] == op_id
    assert [error["message"] for error in errors_of(message)] == ["RuntimeError: stream broke"]
    await nothing_more(client)
    assert await client.execute("{ hello }") == {"data": {"hello": "world"}}
    # The id is free again.
    await client.start("subscription { countdown }", msg_id=op_id)
    assert await client.receive_next(op_id) == CONFIRMATION
    assert await next_data(client, op_id) == {"countdown": 2}


# ------------------------------------------------- broadcast and unsubscribe


def echo_subscription() -> type[Subscription]:
    """A fresh Subscription class: ``onEcho(room)`` joins ``room``, publishes the payload."""

    class OnEcho(Subscription):
        value = graphene.String()

        class Arguments:
            room = graphene.String()

        unsubscribed_rooms: list[Any] = []

        @staticmethod
        def subscribe(root, info, room=None):
            return [room] if room else None

        @staticmethod
        def publish(payload, info, room=None):
            return OnEcho(value=str(payload))

        @staticmethod
        def unsubscribed(root, info, room=None):
            OnEcho.unsubscribed_rooms.append(room)

    return OnEcho


ECHO = "subscription ($room: String) { onEcho(room: $room) { value } }"


async def test_broadcast_and_unsubscribe_from_async_code(connect):
    OnEcho = echo_subscription()
    client = await connect(schema_for({"on_echo": OnEcho.Field()}))
    first = await subscribe(client, ECHO, room="first")
    second = await subscribe(client, ECHO, room="second")

    await OnEcho.broadcast_async(group="first", payload="via broadcast_async")
    assert await next_data(client, first) == {"onEcho": {"value": "via broadcast_async"}}
    task = OnEcho.broadcast(group="second", payload="via broadcast")
    assert isinstance(task, asyncio.Task)
    await task
    assert await next_data(client, second) == {"onEcho": {"value": "via broadcast"}}

    await OnEcho.unsubscribe_async(group="first")
    await client.receive_complete(first)
    task = OnEcho.unsubscribe(group="second")
    assert isinstance(task, asyncio.Task)
    await task
    await client.receive_complete(second)
    assert OnEcho.unsubscribed_rooms == ["first", "second"]
    await nothing_more(client)


@pytest.mark.parametrize("in_thread", [False, True], ids=["on-the-loop", "in-the-sync-thread"])
async def test_broadcast_and_unsubscribe_from_a_sync_resolver(connect, subprotocol, in_thread):
    """On the loop (``sync_code_in_thread`` off) they schedule the send and return
    its task; in the sync thread (the default) they send before returning."""
    OnEcho = echo_subscription()
    returned: list[Any] = []

    class Act(graphene.Mutation):
        class Arguments:
            action = graphene.String(required=True)

        ok = graphene.Boolean()

        @staticmethod
        def mutate(root, info, action):
            if in_thread:
                with pytest.raises(RuntimeError):
                    asyncio.get_running_loop()
            else:
                asyncio.get_running_loop()  # sync, yet on the event loop
            if action == "broadcast":
                returned.append(OnEcho.broadcast(payload="from a mutation"))
            else:
                returned.append(OnEcho.unsubscribe())
            return Act(ok=True)

    schema = schema_for({"on_echo": OnEcho.Field()}, {"act": Act.Field()})
    client = await connect(schema, sync_code_in_thread=in_thread)
    sub_id = await subscribe(client, ECHO)

    mutation_id = await client.start('mutation { act(action: "broadcast") { ok } }')
    messages = await receive_raw(client, 3)
    assert [m for m in messages if m["id"] == mutation_id] == [
        {
            "type": RESULT_TYPE[subprotocol],
            "id": mutation_id,
            "payload": {"data": {"act": {"ok": True}}},
        },
        {"type": "complete", "id": mutation_id},
    ]
    assert [m for m in messages if m["id"] == sub_id] == [
        {
            "type": RESULT_TYPE[subprotocol],
            "id": sub_id,
            "payload": {"data": {"onEcho": {"value": "from a mutation"}}},
        }
    ]

    mutation_id = await client.start('mutation { act(action: "unsubscribe") { ok } }')
    messages = await receive_raw(client, 3)
    assert [m for m in messages if m["id"] == sub_id] == [{"type": "complete", "id": sub_id}]
    assert [m["type"] for m in messages if m["id"] == mutation_id] == [
        RESULT_TYPE[subprotocol],
        "complete",
    ]
    if in_thread:
        assert returned == [None, None]
    else:
        assert all(isinstance(task, asyncio.Task) for task in returned) and len(returned) == 2
    assert OnEcho.unsubscribed_rooms == [None]


async def test_broadcast_and_unsubscribe_from_a_thread_without_loop(connect):
    OnEcho = echo_subscription()
    client = await connect(schema_for({"on_echo": OnEcho.Field()}))
    first = await subscribe(client, ECHO, room="first")
    second = await subscribe(client, ECHO, room="second")

    await asyncio.to_thread(OnEcho.broadcast_sync, group="first", payload="broadcast_sync")
    assert await next_data(client, first) == {"onEcho": {"value": "broadcast_sync"}}
    returned = await asyncio.to_thread(OnEcho.broadcast, group="second", payload="broadcast")
    assert returned is None  # no loop in that thread: sent before returning
    assert await next_data(client, second) == {"onEcho": {"value": "broadcast"}}

    await asyncio.to_thread(OnEcho.unsubscribe_sync, group="first")
    await client.receive_complete(first)
    assert await asyncio.to_thread(OnEcho.unsubscribe, group="second") is None
    await client.receive_complete(second)
    assert OnEcho.unsubscribed_rooms == ["first", "second"]


async def test_sync_variants_refuse_to_run_on_the_event_loop():
    OnEcho = echo_subscription()
    with pytest.raises(RuntimeError):
        OnEcho.broadcast_sync(payload="blocked")
    with pytest.raises(RuntimeError):
        OnEcho.unsubscribe_sync()


def test_group_name_is_prefix_and_sha256_of_module_qualname_and_group():
    OnEcho = echo_subscription()
    path = f"{OnEcho.__module__}.{OnEcho.__qualname__}"
    assert path.endswith("echo_subscription.<locals>.OnEcho")
    expected_default = "GQLWS-" + hashlib.sha256(path.encode()).hexdigest()
    expected_room = "GQLWS-" + hashlib.sha256(f"{path}-room 1".encode()).hexdigest()
    assert OnEcho._group_name() == expected_default
    assert OnEcho._group_name("room 1") == expected_room
    assert len(OnEcho._group_name("room 1")) == 70
    assert len(OnEcho._group_name("x" * 500)) == 70


async def test_prefix_set_on_a_consumer_subclass_does_not_change_group_names(
    graphql_ws_client, subprotocol
):
    OnEcho = echo_subscription()
    default_name = OnEcho._group_name()

    class TestConsumer(GraphqlWsConsumer):
        schema = schema_for({"on_echo": OnEcho.Field()})
        confirm_subscriptions = True

    TestConsumer.group_name_prefix = "TEST"
    client = await graphql_ws_client(TestConsumer, subprotocol=subprotocol)
    op_id = await subscribe(client, ECHO)
    assert OnEcho._group_name() == default_name
    await OnEcho.broadcast_async(payload="reached")
    assert await next_data(client, op_id) == {"onEcho": {"value": "reached"}}


async def test_prefix_set_on_the_base_consumer_changes_group_names(connect):
    OnEcho = echo_subscription()
    path = f"{OnEcho.__module__}.{OnEcho.__qualname__}"
    saved = GraphqlWsConsumer.__dict__["group_name_prefix"]
    try:
        GraphqlWsConsumer.group_name_prefix = "TEST"
        assert OnEcho._group_name() == "TEST-" + hashlib.sha256(path.encode()).hexdigest()
        client = await connect(schema_for({"on_echo": OnEcho.Field()}))
        op_id = await subscribe(client, ECHO)
        await OnEcho.broadcast_async(payload="same prefix on both sides")
        assert await next_data(client, op_id) == {"onEcho": {"value": "same prefix on both sides"}}
    finally:
        GraphqlWsConsumer.group_name_prefix = saved
    assert OnEcho._group_name().startswith("GQLWS-")


async def test_broadcasts_from_sync_code_in_a_resolver_keep_call_order(connect, subprotocol):
    OnEcho = echo_subscription()

    class Burst(graphene.Mutation):
        class Arguments:
            count = graphene.Int(required=True)

        ok = graphene.Boolean()

        @staticmethod
        def mutate(root, info, count):
            for number in range(count):
                OnEcho.broadcast(payload=number)
            return Burst(ok=True)

    schema = schema_for({"on_echo": OnEcho.Field()}, {"burst": Burst.Field()})
    client = await connect(schema)
    sub_id = await subscribe(client, ECHO)
    await client.start("mutation { burst(count: 50) { ok } }")
    messages = await receive_raw(client, 52)
    values = [m["payload"]["data"]["onEcho"]["value"] for m in messages if m["id"] == sub_id]
    assert values == [str(number) for number in range(50)]


async def test_broadcasts_from_async_code_without_awaiting_keep_call_order(connect):
    OnEcho = echo_subscription()
    client = await connect(schema_for({"on_echo": OnEcho.Field()}))
    op_id = await subscribe(client, ECHO)
    for number in range(50):
        OnEcho.broadcast(payload=number)  # not awaited: the library keeps the task
    values = [(await next_data(client, op_id))["onEcho"]["value"] for _ in range(50)]
    assert values == [str(number) for number in range(50)]


class Opaque:
    """A payload msgpack cannot carry."""


async def test_unpackable_payload_raises_type_error_at_the_call(connect):
    OnEcho = echo_subscription()
    client = await connect(schema_for({"on_echo": OnEcho.Field()}))
    op_id = await subscribe(client, ECHO)

    with pytest.raises(TypeError, match="Opaque"):
        OnEcho.broadcast(payload={"nested": [Opaque()]})
    with pytest.raises(TypeError, match="Opaque"):
        await OnEcho.broadcast_async(payload=Opaque())
    with pytest.raises(TypeError, match="Opaque"):
        await asyncio.to_thread(OnEcho.broadcast_sync, payload=Opaque())
    await nothing_more(client)
    # Nothing half-sent is stuck in the order of later broadcasts.
    await OnEcho.broadcast_async(payload="fine")
    assert await next_data(client, op_id) == {"onEcho": {"value": "fine"}}


async def test_server_unsubscribe_ends_only_that_group_with_one_complete_each(connect):
    OnEcho = echo_subscription()
    schema = schema_for({"on_echo": OnEcho.Field()})
    one, two = await connect(schema), await connect(schema)
    red_on_one = await subscribe(one, ECHO, room="red")
    blue_on_one = await subscribe(one, ECHO, room="blue")
    red_on_two = await subscribe(two, ECHO, room="red")

    await OnEcho.unsubscribe_async(group="red")
    await one.receive_complete(red_on_one)
    await two.receive_complete(red_on_two)
    assert OnEcho.unsubscribed_rooms == ["red", "red"]

    await OnEcho.broadcast_async(payload="after")
    assert await next_data(one, blue_on_one) == {"onEcho": {"value": "after"}}
    await nothing_more(one)
    await nothing_more(two)


async def test_repeated_server_unsubscribe_gives_one_complete(connect):
    OnEcho = echo_subscription()
    client = await connect(schema_for({"on_echo": OnEcho.Field()}))
    op_id = await subscribe(client, ECHO, room="red")
    for _ in range(3):
        await OnEcho.unsubscribe_async(group="red")
    await client.receive_complete(op_id)
    await nothing_more(client)
    assert OnEcho.unsubscribed_rooms == ["red"]


async def test_unsubscribed_is_called_on_disconnect_with_subscribe_info_and_arguments(connect):
    calls: list[tuple[str, Any, dict[str, Any]]] = []

    class OnLeave(Subscription):
        text = graphene.String()

        class Arguments:
            room = graphene.String(required=True)
            tag = graphene.String()

        @staticmethod
        def subscribe(root, info, **args):
            calls.append(("subscribe", info, args))

        @staticmethod
        def publish(payload, info, **args):
            return OnLeave(text=payload)

        @staticmethod
        async def unsubscribed(root, info, **args):
            calls.append(("unsubscribed", info, args))

    client = await connect(schema_for({"on_leave": OnLeave.Field()}))
    await subscribe(client, 'subscription { onLeave(room: "lobby") { text } }')
    await subscribe(client, 'subscription { onLeave(room: "hall", tag: "x") { text } }')
    assert [name for name, _, _ in calls] == ["subscribe", "subscribe"]
    await client.finalize()

    subscribed = {repr(args): info for name, info, args in calls if name == "subscribe"}
    unsubscribed = {repr(args): info for name, info, args in calls if name == "unsubscribed"}
    assert (
        set(unsubscribed)
        == set(subscribed)
        == {"{'room': 'lobby'}", "{'room': 'hall', 'tag': 'x'}"}
    )
    assert all(unsubscribed[key] is subscribed[key] for key in subscribed)


# ------------------------------------------------------- no channel layer


@pytest.fixture
def no_channel_layer() -> Any:
    """Django settings without CHANNEL_LAYERS, and no layer cached by Channels."""
    saved = channel_layers.backends
    try:
        with override_settings(CHANNEL_LAYERS={}):
            channel_layers.backends = {}
            yield
    finally:
        channel_layers.backends = saved


async def test_without_channel_layer_subscription_class_gets_a_clear_error(
    connect, no_channel_layer
):
    OnEcho = echo_subscription()
    client = await connect(schema_for({"on_echo": OnEcho.Field()}))
    op_id = await client.start(ECHO)
    [message] = await receive_raw(client, 1)
    assert message["id"] == op_id and message["type"] == "error"
    [error] = errors_of(message)
    assert "Channel layer is not configured" in error["message"]
    assert error["extensions"] == {"code": "ChannelLayerNotConfiguredError"}
    await nothing_more(client)
    assert await client.execute("{ hello }") == {"data": {"hello": "world"}}


async def test_without_channel_layer_broadcast_raises_at_the_call(no_channel_layer):
    OnEcho = echo_subscription()
    with pytest.raises(ChannelLayerNotConfiguredError, match="Channel layer is not configured"):
        OnEcho.broadcast(payload="nowhere")
    with pytest.raises(ChannelLayerNotConfiguredError):
        await OnEcho.broadcast_async(payload="nowhere")
    with pytest.raises(ChannelLayerNotConfiguredError):
        await asyncio.to_thread(OnEcho.broadcast_sync, payload="nowhere")
    with pytest.raises(ChannelLayerNotConfiguredError):
        OnEcho.unsubscribe()


async def test_without_channel_layer_plain_graphene_subscription_works(connect, no_channel_layer):
    async def subscribe_letters(root, info):
        for letter in "ab":
            yield letter

    schema = schema_for(
        {
            "letters": graphene.String(),
            "subscribe_letters": subscribe_letters,
            "resolve_letters": lambda root, info: root,
        }
    )
    client = await connect(schema)
    op_id = await subscribe(client, "subscription { letters }")
    assert await next_data(client, op_id) == {"letters": "a"}
    assert await next_data(client, op_id) == {"letters": "b"}
    await client.receive_complete(op_id)  # the generator ended by itself


# ------------------------------------- warning: in-memory layer, no consumer


async def test_broadcast_on_in_memory_layer_without_consumer_warns_once(
    graphql_ws_client, monkeypatch, caplog
):
    OnEcho = echo_subscription()
    monkeypatch.setattr(broadcast_module, "_consumer_created", False)
    monkeypatch.setattr(broadcast_module, "_warned_unreachable", False)
    caplog.set_level(logging.WARNING, logger="channels_graphql_ws.broadcast")

    await asyncio.to_thread(OnEcho.broadcast_sync, payload=1)
    await asyncio.to_thread(OnEcho.broadcast_sync, payload=2)
    warnings = [
        record
        for record in caplog.records
        if record.name == "channels_graphql_ws.broadcast" and record.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert "in-memory" in warnings[0].getMessage()

    # Once this process has a consumer, its broadcasts can reach subscribers.
    caplog.clear()
    monkeypatch.setattr(broadcast_module, "_warned_unreachable", False)
    await graphql_ws_client(schema_for({"on_echo": OnEcho.Field()}))
    await asyncio.to_thread(OnEcho.broadcast_sync, payload=3)
    await OnEcho.broadcast_async(payload=4)
    assert not [r for r in caplog.records if r.name == "channels_graphql_ws.broadcast"]
