"""What happens when running an operation fails after every check passed.

Any exception while running or sending an operation ends that operation
with an answer (``error``), never the socket: the other operations of the
connection go on, and when the client leaves every subscription still gets
its ``unsubscribed`` and the connection its ``on_disconnect``. A
notification that fails ends its subscription with an ``error`` and an
``unsubscribed`` (the ``Subscription`` docstring promises it for any reason).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import math
from typing import Any

import graphene
import pytest
from graphene.types.generic import GenericScalar

import channels_graphql_ws

from .support import Client, consumer_class

TRANSPORT_WS = "graphql-transport-ws"
LEGACY = "graphql-ws"

_numbers = itertools.count()


class Query(graphene.ObjectType):
    """Fields whose values the JSON encoder refuses, beside a plain one."""

    hello = graphene.String()
    when = GenericScalar()
    not_a_number = GenericScalar()
    slow_when = GenericScalar()

    @staticmethod
    def resolve_hello(root: Any, info: Any) -> str:
        return "world"

    @staticmethod
    def resolve_when(root: Any, info: Any) -> Any:
        return {"at": datetime.datetime(2026, 1, 1)}  # not JSON

    @staticmethod
    def resolve_not_a_number(root: Any, info: Any) -> Any:
        return {"value": math.nan, "big": math.inf}

    @staticmethod
    async def resolve_slow_when(root: Any, info: Any) -> Any:
        await asyncio.sleep(0)
        return {"at": datetime.datetime(2026, 1, 1)}


class Events:
    """What the Subscription hooks of one test saw."""

    def __init__(self) -> None:
        self.subscribed = 0
        self.unsubscribed = 0
        self.disconnects: list[int] = []


def make_subscription(events: Events, publish_value: Any) -> type[channels_graphql_ws.Subscription]:
    name = f"Failing{next(_numbers)}"

    def subscribe(root: Any, info: Any) -> None:
        events.subscribed += 1

    def publish(payload: Any, info: Any) -> Any:
        return {"value": publish_value if payload == "bad" else payload}

    def unsubscribed(root: Any, info: Any) -> None:
        events.unsubscribed += 1

    return type(
        name,
        (channels_graphql_ws.Subscription,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "value": GenericScalar(),
            "subscribe": staticmethod(subscribe),
            "publish": staticmethod(publish),
            "unsubscribed": staticmethod(unsubscribed),
        },
    )


def make_consumer(
    events: Events, publish_value: Any = None, **settings: Any
) -> tuple[type[channels_graphql_ws.GraphqlWsConsumer], type[channels_graphql_ws.Subscription]]:
    sub = make_subscription(events, publish_value)
    subscription_root = type(
        f"SubscriptionRoot{next(_numbers)}", (graphene.ObjectType,), {"on_event": sub.Field()}
    )
    schema = graphene.Schema(query=Query, subscription=subscription_root)

    async def on_disconnect(self: Any, code: int) -> None:
        events.disconnects.append(code)

    cls = consumer_class(schema=schema, confirm_subscriptions=True, **settings)
    cls.on_disconnect = on_disconnect  # type: ignore[method-assign]
    return cls, sub


async def subscribe_live(client: Client, subprotocol: str, op_id: str) -> None:
    """Subscribe and wait for the confirmation: the subscription is live."""
    await client.send(subscribe_message(subprotocol, op_id, "subscription { onEvent { value } }"))
    confirmation = await client.receive()
    assert confirmation["id"] == op_id and confirmation["payload"] == {"data": None}, confirmation


async def until(condition: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def subscribe_message(subprotocol: str, op_id: str, query: str) -> dict[str, Any]:
    kind = "subscribe" if subprotocol == TRANSPORT_WS else "start"
    return {"type": kind, "id": op_id, "payload": {"query": query}}


async def connect(make_client: Any, cls: type, subprotocol: str) -> Client:
    client = make_client(cls, [subprotocol])
    await client.connect_and_init()
    return client


async def run_query(client: Client, subprotocol: str, op_id: str, query: str) -> dict[str, Any]:
    """One query on either subprotocol: its result payload, ``complete`` checked."""
    await client.send(subscribe_message(subprotocol, op_id, query))
    result = await client.receive()
    assert result["type"] in ("next", "data") and result["id"] == op_id, result
    assert await client.receive() == {"type": "complete", "id": op_id}
    return result["payload"]  # type: ignore[no-any-return]


async def receive_error(client: Client, op_id: str) -> dict[str, Any]:
    message = await client.receive()
    assert message["type"] == "error" and message["id"] == op_id, message
    return message


def errors_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    payload = message["payload"]
    return payload if isinstance(payload, list) else payload["errors"]


SUBPROTOCOLS = pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY])


@SUBPROTOCOLS
@pytest.mark.parametrize("field", ["when", "notANumber", "slowWhen"])
async def test_a_query_result_that_cannot_be_encoded_is_an_error_not_a_crash(
    make_client: Any, subprotocol: str, field: str
) -> None:
    """The inline path (sync resolvers) and the task path answer alike."""
    events = Events()
    cls, sub = make_consumer(events)
    client = await connect(make_client, cls, subprotocol)
    await subscribe_live(client, subprotocol, "live")
    assert events.subscribed == 1

    await client.send(subscribe_message(subprotocol, "q", f"{{ {field} }}"))
    error = await receive_error(client, "q")
    assert errors_of(error)[0]["message"]

    # The socket and the live subscription go on.
    assert await run_query(client, subprotocol, "q2", "{ hello }") == {"data": {"hello": "world"}}
    await sub.broadcast_async(payload=1)
    message = await client.receive()
    assert message["id"] == "live" and message["payload"] == {"data": {"onEvent": {"value": 1}}}

    await client.disconnect()
    await until(lambda: events.disconnects == [1000])
    assert events.unsubscribed == 1


@SUBPROTOCOLS
async def test_a_format_error_override_that_raises_is_answered_masked(
    make_client: Any, subprotocol: str
) -> None:
    events = Events()
    cls, _ = make_consumer(events)

    def broken_format_error(error: Exception) -> dict[str, Any]:
        raise ValueError("formatter is broken")

    cls._format_error = staticmethod(broken_format_error)  # type: ignore[method-assign,assignment]
    client = await connect(make_client, cls, subprotocol)
    await client.send(subscribe_message(subprotocol, "bad", "{ nosuchfield }"))
    message = await client.receive()
    assert message["id"] == "bad"
    masked = {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    if subprotocol == LEGACY:
        assert message["type"] == "data"
        errors = message["payload"]["errors"]
        assert (await client.receive())["type"] == "complete"
    else:
        assert message["type"] == "error"
        errors = message["payload"]
    assert [{key: error[key] for key in masked} for error in errors] == [masked]
    assert await run_query(client, subprotocol, "ok", "{ hello }") == {"data": {"hello": "world"}}


@SUBPROTOCOLS
@pytest.mark.parametrize("bad_value", [datetime.date(2026, 1, 1), math.nan])
async def test_a_notification_that_cannot_be_encoded_ends_the_subscription_with_unsubscribed(
    make_client: Any, subprotocol: str, bad_value: Any
) -> None:
    events = Events()
    cls, sub = make_consumer(events, publish_value=bad_value)
    client = await connect(make_client, cls, subprotocol)
    await subscribe_live(client, subprotocol, "s")
    await sub.broadcast_async(payload=1)
    assert (await client.receive())["payload"] == {"data": {"onEvent": {"value": 1}}}

    await sub.broadcast_async(payload="bad")
    error = await receive_error(client, "s")
    assert errors_of(error)[0]["message"]
    assert events.unsubscribed == 1

    # Nothing more for that id; the socket goes on and the id is free again.
    await sub.broadcast_async(payload=2)
    await client.assert_no_messages(0.1)
    await subscribe_live(client, subprotocol, "s")
    await sub.broadcast_async(payload=3)
    assert (await client.receive())["payload"] == {"data": {"onEvent": {"value": 3}}}
    await client.disconnect()
    await until(lambda: events.unsubscribed == 2)
    assert events.subscribed == 2


async def test_no_nan_or_infinity_ever_reaches_the_wire(make_client: Any) -> None:
    """Issue 15 item 3: such a result is an ``error``, never a frame browsers refuse."""
    events = Events()
    cls, _ = make_consumer(events)
    client = await connect(make_client, cls, TRANSPORT_WS)
    await client.send(subscribe_message(TRANSPORT_WS, "n", "{ notANumber }"))
    output = await client.communicator.receive_output(5)
    assert "NaN" not in output["text"] and "Infinity" not in output["text"], output
    assert (await client.execute("h", "{ hello }")) == {"data": {"hello": "world"}}
