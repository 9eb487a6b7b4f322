"""Limits, error masking and ``on_disconnect`` (the reliability settings)."""

from __future__ import annotations

import asyncio
import logging

import graphene
import pytest
from graphql import get_introspection_query

from .support import SCHEMA, consumer_class

LEGACY = ["graphql-ws"]


def nested_query(depth: int) -> str:
    """``{ a { a { ... { hello } } } }`` where the schema allows it: use __type."""
    inner = "name"
    for _ in range(depth - 2):
        inner = f"ofType {{ {inner} }}"
    return f'{{ __type(name: "Query") {{ {inner} }} }}'


async def test_graphiql_introspection_passes_the_default_limits(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    payload = await client.execute("i", get_introspection_query(descriptions=True))
    assert payload["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_a_document_over_the_depth_limit_gets_an_error_naming_it(make_client):
    client = make_client(consumer_class(max_document_depth=5))
    await client.connect_and_init()
    await client.subscribe("deep", nested_query(6))
    message = await client.receive()
    assert message["type"] == "error" and message["id"] == "deep"
    assert message["payload"][0]["extensions"] == {"code": "MAX_DOCUMENT_DEPTH"}
    # The limit counts exactly: one level less passes, and the socket is fine.
    payload = await client.execute("ok", nested_query(5))
    assert "errors" not in payload


async def test_depth_follows_fragments(make_client):
    client = make_client(consumer_class(max_document_depth=3))
    await client.connect_and_init()
    query = """
        query { __type(name: "Query") { ...T } }
        fragment T on __Type { ofType { ofType { name } } }
    """
    await client.subscribe("deep", query)
    message = await client.receive()
    assert message["payload"][0]["extensions"] == {"code": "MAX_DOCUMENT_DEPTH"}


async def test_fields_count_with_fragments_expanded_and_aliases(make_client):
    client = make_client(consumer_class(max_document_fields=6))
    await client.connect_and_init()
    spread = "query { ...F ...F2 } fragment F on Query { a: hello b: hello c: hello } "
    spread += "fragment F2 on Query { ...F d: hello }"
    await client.subscribe("many", spread)  # 3 + (3 + 1) = 7 fields
    message = await client.receive()
    assert message["payload"][0]["extensions"] == {"code": "MAX_DOCUMENT_FIELDS"}
    payload = await client.execute(
        "ok", "{ a: hello b: hello c: hello d: hello e: hello f: hello }"
    )
    assert len(payload["data"]) == 6


async def test_a_long_document_is_refused_before_it_is_parsed(make_client):
    client = make_client(consumer_class(max_document_length=50))
    await client.connect_and_init()
    long_query = "{ hello" + " " * 60 + "}"
    await client.subscribe("long", long_query)
    message = await client.receive()
    assert message["payload"][0]["extensions"] == {"code": "MAX_DOCUMENT_LENGTH"}
    # Not even parsed: a syntax error or a validation error does not show.
    for op_id, broken in (("bad", "{ nope"), ("syntax", "{ {")):
        await client.subscribe(op_id, broken + " " * 60 + "}")
        message = await client.receive()
        assert message["payload"][0]["extensions"] == {"code": "MAX_DOCUMENT_LENGTH"}
    # The depth limit still comes after validation errors.
    deep = make_client(consumer_class(max_document_depth=1))
    await deep.connect_and_init()
    await deep.subscribe("nope", "{ __schema { nope { name } } }")
    message = await deep.receive()
    assert "Cannot query field 'nope'" in message["payload"][0]["message"]


async def test_a_document_with_too_many_tokens_is_refused_before_it_is_parsed(make_client):
    client = make_client(consumer_class(max_document_tokens=5))
    await client.connect_and_init()
    await client.subscribe("many", "{ hello hello hello hello }")  # 6 tokens
    message = await client.receive()
    assert message["type"] == "error" and message["id"] == "many"
    assert message["payload"][0]["extensions"] == {"code": "MAX_DOCUMENT_TOKENS"}
    await client.subscribe("broken", "{ { { { { {")
    message = await client.receive()
    assert message["payload"][0]["extensions"] == {"code": "MAX_DOCUMENT_TOKENS"}
    payload = await client.execute("ok", "{ hello }")
    assert payload == {"data": {"hello": "Hello, world!"}}


async def test_the_defaults_refuse_a_document_too_costly_to_validate(make_client):
    """6 KB of repeated fields: seconds of graphql-core validation, refused in milliseconds."""
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("nasty", "{" + " hello" * 1000 + "}")
    message = await client.receive()
    assert message["type"] == "error" and message["id"] == "nasty"
    assert message["payload"][0]["extensions"] == {"code": "MAX_VALIDATION_COST"}
    # 100 repeats are fine.
    payload = await client.execute("fine", "{" + " hello" * 100 + "}")
    assert payload == {"data": {"hello": "Hello, world!"}}


async def test_a_long_fragment_chain_gets_a_limit_error_not_a_recursion_error(make_client):
    """graphql-core before 3.2.9 validates 900 chained fragments; measuring them recursed.

    Newer ones abort such a validation themselves, so only the oldest
    graphql-core we allow (tox env graphqlcore320) shows the recursion.
    """
    count = 900
    chain = "".join(f"fragment C{i} on Query {{ ...C{i + 1} }}\n" for i in range(count))
    query = "{ ...C0 }\n" + chain + f"fragment C{count} on Query {{ hello }}"
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("chain", query)
    message = await client.receive()
    assert message["type"] == "error" and message["id"] == "chain"
    assert message["payload"][0]["extensions"] == {"code": "MAX_VALIDATION_COST"}
    # A short chain is fine on every graphql-core.
    short = "{ ...C0 }\n" + chain.split("fragment C5 ")[0] + "fragment C5 on Query { hello }"
    assert await client.execute("short", short) == {"data": {"hello": "Hello, world!"}}


async def test_a_deeply_nested_document_is_an_error_and_the_socket_lives(make_client):
    client = make_client(consumer_class(max_document_depth=None))
    await client.connect_and_init()
    await client.subscribe("deep", "{ __typename " + "{ a " * 3000 + "}" * 3001)
    message = await client.receive()
    assert message["type"] == "error" and message["id"] == "deep"
    assert "nested too deeply" in message["payload"][0]["message"].lower()
    assert await client.execute("ok", "{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_legacy_reports_a_limit_like_a_validation_error(make_client):
    client = make_client(consumer_class(max_document_depth=2), subprotocols=LEGACY)
    await client.connect_and_init()
    await client.send({"type": "start", "id": "1", "payload": {"query": nested_query(3)}})
    data = await client.receive()
    assert data["type"] == "data" and data["payload"]["data"] is None
    assert data["payload"]["errors"][0]["extensions"] == {"code": "MAX_DOCUMENT_DEPTH"}
    assert await client.receive() == {"type": "complete", "id": "1"}


async def test_introspection_can_be_switched_off_but_typename_still_works(make_client):
    client = make_client(consumer_class(introspection=False))
    await client.connect_and_init()
    await client.subscribe("i", "{ __schema { queryType { name } } }")
    message = await client.receive()
    assert message["payload"][0]["extensions"] == {"code": "INTROSPECTION_DISABLED"}
    payload = await client.execute("t", "{ __typename hello }")
    assert payload == {"data": {"__typename": "Query", "hello": "Hello, world!"}}


@pytest.mark.parametrize("subprotocols", [None, LEGACY], ids=["transport-ws", "legacy"])
async def test_operations_over_the_limit_get_an_error_and_the_others_go_on(
    make_client, subprotocols
):
    client = make_client(consumer_class(max_operations=2), subprotocols=subprotocols)
    await client.connect_and_init()
    start = "subscribe" if subprotocols is None else "start"
    slow = {"query": "{ slow(seconds: 0.3) }"}
    for op_id in ("1", "2", "3"):
        await client.send({"type": start, "id": op_id, "payload": slow})
    refused = await client.receive()
    assert refused["type"] == "error" and refused["id"] == "3"
    errors = refused["payload"] if subprotocols is None else refused["payload"]["errors"]
    assert errors[0]["extensions"] == {"code": "MAX_OPERATIONS"}
    finished = [await client.receive() for _ in range(4)]
    assert sorted(m["id"] for m in finished if m["type"] == "complete") == ["1", "2"]
    # The limit counts operations at the same time, not in a lifetime.
    await client.send({"type": start, "id": "4", "payload": {"query": "{ hello }"}})
    assert (await client.receive())["id"] == "4"


class Broken(graphene.ObjectType):
    boom = graphene.String()

    @staticmethod
    def resolve_boom(root, info):
        raise KeyError("secret database password")


BROKEN_SCHEMA = graphene.Schema(query=Broken)


async def test_masking_hides_internal_exception_text_and_logs_it(make_client, caplog):
    client = make_client(consumer_class(schema=BROKEN_SCHEMA, mask_internal_errors=True))
    await client.connect_and_init()
    with caplog.at_level(logging.WARNING):
        payload = await client.execute("b", "{ boom }")
    assert payload["errors"] == [
        {
            "message": "Internal server error",
            "locations": [{"line": 1, "column": 3}],
            "path": ["boom"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert "secret database password" not in str(payload)
    assert any("secret database password" in r.getMessage() or r.exc_info for r in caplog.records)


async def test_masking_keeps_graphql_errors_and_is_off_by_default(make_client):
    client = make_client(consumer_class(schema=BROKEN_SCHEMA, mask_internal_errors=True))
    await client.connect_and_init()
    await client.subscribe("v", "{ nope }")
    message = await client.receive()
    assert "Cannot query field 'nope'" in message["payload"][0]["message"]
    plain = make_client(consumer_class(schema=BROKEN_SCHEMA))
    await plain.connect_and_init()
    payload = await plain.execute("b", "{ boom }")
    assert "secret database password" in payload["errors"][0]["message"]


@pytest.mark.parametrize("hook_kind", ["sync", "async"])
async def test_on_disconnect_runs_once_with_the_close_code(make_client, hook_kind):
    codes: list[int] = []
    done = asyncio.Event()

    def record(self, code):
        codes.append(code)
        done.set()

    async def record_async(self, code):
        record(self, code)

    hook = record if hook_kind == "sync" else record_async
    client = make_client(consumer_class(on_disconnect=hook))
    await client.connect_and_init()
    await client.communicator.send_input({"type": "websocket.disconnect", "code": 4321})
    await asyncio.wait_for(done.wait(), 5)
    assert codes == [4321]


async def test_a_failing_on_disconnect_is_logged_not_raised(make_client, caplog):
    def fail(self, code):
        raise RuntimeError("presence store down")

    client = make_client(consumer_class(on_disconnect=fail))
    await client.connect_and_init()
    with caplog.at_level(logging.ERROR):
        await client.disconnect()
    assert any("on_disconnect" in record.getMessage() for record in caplog.records)


def test_support_schema_is_the_one_the_limits_tests_assume():
    assert SCHEMA.graphql_schema.query_type.fields.keys() >= {"hello", "slow"}


async def test_one_client_repeating_a_failing_query_cannot_flood_the_log(make_client, caplog):
    from tests.internals import log_budget

    client = make_client(consumer_class(schema=BROKEN_SCHEMA))
    await client.connect_and_init()
    with caplog.at_level(logging.WARNING, logger="channels_graphql_ws"):
        for index in range(50):
            await client.execute(f"b{index}", "{ boom }")
    logged = [r for r in caplog.records if "Resolver error" in r.getMessage()]
    budget = log_budget()
    assert len(logged) == budget.burst
    assert budget.suppressed == 50 - budget.burst


async def test_a_cancelled_consumer_closes_1001_and_ends_its_subscriptions():
    """What an ASGI server that cancels its applications at shutdown sees."""
    from channels.testing import WebsocketCommunicator

    from .test_subscription_lifecycle import (
        ON_TRIGGER,
        consumer_for,
        schema_for,
        subscription_class,
    )

    ended: list[str] = []
    sub = subscription_class(
        unsubscribed=lambda root, info: ended.append(info.context.graphql_operation_id)
    )
    consumer = consumer_for(schema_for(sub), confirm_subscriptions=True)
    communicator = WebsocketCommunicator(
        consumer.as_asgi(), "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    await communicator.connect()
    await communicator.send_json_to({"type": "connection_init"})
    assert (await communicator.receive_json_from())["type"] == "connection_ack"
    payload = {"query": ON_TRIGGER}
    await communicator.send_json_to({"type": "subscribe", "id": "s", "payload": payload})
    assert (await communicator.receive_json_from())["id"] == "s"  # the confirmation
    communicator.future.cancel()
    close = await communicator.receive_output()
    assert close == {"type": "websocket.close", "code": 1001, "reason": "Server shutting down"}
    await asyncio.wait([communicator.future])
    assert ended == ["s"]
