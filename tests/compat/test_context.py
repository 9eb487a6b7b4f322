"""``info.context`` (API.md 1.3) and ``DictAsObject`` (API.md 1.4)."""

from __future__ import annotations

import pytest

import channels_graphql_ws
from channels_graphql_ws.dict_as_object import DictAsObject

from . import schema
from .support import both_subprotocols


class MyConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema.SCHEMA


@both_subprotocols
async def test_channels_scope_is_the_connections_scope(make_client, subprotocol):
    headers = [(b"origin", b"http://compat.example"), (b"x-compat", b"yes")]
    client = make_client(MyConsumer, subprotocol, communicator_kwds={"headers": headers})
    await client.connect_and_init()
    result = await client.execute(
        '{ scopePath origin: scopeHeader(name: "origin") x: scopeHeader(name: "x-compat") }'
    )
    assert result == {
        "data": {"scopePath": "graphql/", "origin": "http://compat.example", "x": "yes"}
    }


@both_subprotocols
async def test_scope_writes_persist_across_operations_of_one_connection(make_client, subprotocol):
    first = make_client(MyConsumer, subprotocol)
    await first.connect_and_init()
    assert await first.execute("{ hits }") == {"data": {"hits": 1}}
    assert await first.execute("{ hits }") == {"data": {"hits": 2}}
    assert await first.execute("{ a: hits b: hits }") == {"data": {"a": 3, "b": 4}}
    # Another connection has a scope of its own.
    second = make_client(MyConsumer, subprotocol)
    await second.connect_and_init()
    assert await second.execute("{ hits }") == {"data": {"hits": 1}}
    assert await first.execute("{ hits }") == {"data": {"hits": 5}}


@both_subprotocols
async def test_context_is_not_shared_between_two_queries(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    # Each resolution writes `note` into the context and says if it was already there.
    assert await client.execute("{ noteSeenBefore }") == {"data": {"noteSeenBefore": False}}
    assert await client.execute("{ noteSeenBefore }") == {"data": {"noteSeenBefore": False}}
    # Within one operation the context is one object.
    assert await client.execute("{ a: noteSeenBefore b: noteSeenBefore }") == {
        "data": {"a": False, "b": True}
    }


@both_subprotocols
async def test_context_carries_operation_name_and_id(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start(
        "query Named { operationName operationId }", operation_name="Named", msg_id="id-17"
    )
    assert await client.receive_next(op_id) == {
        "data": {"operationName": "Named", "operationId": "id-17"}
    }
    await client.receive_complete(op_id)
    op_id = await client.start("{ operationName operationId }")
    assert await client.receive_next(op_id) == {
        "data": {"operationName": None, "operationId": op_id}
    }
    await client.receive_complete(op_id)


@both_subprotocols
async def test_context_carries_the_channel_name(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    result = await client.execute("{ channelName }")
    channel_name = result["data"]["channelName"]
    assert isinstance(channel_name, str) and channel_name


def test_dict_as_object_str_matches_the_wrapped_dict():
    scope = {"user": "alice", "n": 1}
    ctx = DictAsObject(scope)
    assert str(ctx) == str(scope)
    assert ctx._asdict() is scope


def test_dict_as_object_changes_propagate_both_ways():
    scope = {"initial": 0}
    ctx = DictAsObject(scope)
    # Wrapper to dict.
    ctx.by_attribute = 1
    ctx["by_item"] = 2
    assert scope == {"initial": 0, "by_attribute": 1, "by_item": 2}
    del ctx["by_item"]
    assert "by_item" not in scope
    # Dict to wrapper.
    scope["from_dict"] = 3
    assert ctx.from_dict == 3 and ctx["from_dict"] == 3 and "from_dict" in ctx
    del scope["from_dict"]
    assert "from_dict" not in ctx
    with pytest.raises(AttributeError):
        _ = ctx.from_dict
    with pytest.raises(KeyError):
        _ = ctx["from_dict"]
    assert str(ctx) == str(scope) == str({"initial": 0, "by_attribute": 1})


def test_dict_as_object_private_names_stay_out_of_the_dict():
    scope = {}
    ctx = DictAsObject(scope)
    with pytest.raises(AttributeError):
        _ = ctx._missing
    assert scope == {}  # the older release leaked a "_scope" key here
