"""Queries and mutations over graphql-transport-ws, and where their errors go."""

from __future__ import annotations

import asyncio

from graphql import parse, validate

from .support import SCHEMA, Increment, consumer_class


async def test_query_gets_next_then_complete(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    assert await client.execute("q1", "{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_mutation_gets_next_then_complete(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    before = Increment.COUNTER[0]
    payload = await client.execute("m1", "mutation { increment(by: 3) { value } }")
    assert payload == {"data": {"increment": {"value": before + 3}}}


async def test_variables_and_operation_name_are_used(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    query = "query A { hello } query B($n: String) { hello(name: $n) }"
    payload = await client.execute("v", query, variables={"n": "Ann"}, operationName="B")
    assert payload == {"data": {"hello": "Hello, Ann!"}}


async def test_resolver_error_goes_in_next_without_extensions(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    payload = await client.execute("e", "{ hello fail }")
    assert payload["data"] == {"hello": "Hello, world!", "fail": None}
    assert payload["errors"] == [
        {"message": "resolver failed", "locations": [{"line": 1, "column": 9}], "path": ["fail"]}
    ]


async def test_syntax_error_is_an_error_message_and_socket_stays_open(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("bad", "{ hello")
    message = await client.receive()
    assert message["type"] == "error" and message["id"] == "bad"
    [error] = message["payload"]
    assert error["message"].startswith("Syntax Error")
    assert error["locations"] == [{"line": 1, "column": 8}]
    await client.assert_no_messages()  # no `complete` after an `error`
    assert await client.execute("probe", "{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_every_validation_error_is_reported_in_order(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    query = "query A { nope } query A { hello(x: 1) } { missing }"
    await client.subscribe("inv", query, operationName="Z")
    message = await client.receive()
    assert message["type"] == "error"
    messages = [error["message"] for error in message["payload"]]
    expected = [error.message for error in validate(SCHEMA.graphql_schema, parse(query))]
    assert len(messages) == 5, messages
    assert messages == expected


async def test_unknown_operation_name_is_an_error_message(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("op", "query A { hello }", operationName="B")
    message = await client.receive()
    assert message == {
        "type": "error",
        "id": "op",
        "payload": [{"message": "Unknown operation named 'B'."}],
    }


async def test_bad_variables_are_reported_in_next(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    payload = await client.execute(
        "vars", "query ($s: Float!) { slow(seconds: $s) }", variables={"s": "x"}
    )
    assert payload["data"] is None
    assert "$s" in payload["errors"][0]["message"]


async def test_operations_of_one_connection_run_concurrently(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("slow", "{ slow(seconds: 2) }")
    await client.subscribe("fast", "{ hello }")
    first = await client.receive(timeout=1)
    assert first["id"] == "fast"


async def test_strict_ordering_runs_operations_one_after_another(make_client):
    client = make_client(consumer_class(strict_ordering=True))
    await client.connect_and_init()
    await client.subscribe("slow", "{ slow(seconds: 0.3) }")
    await client.subscribe("fast", "{ hello }")
    ids = [(await client.receive())["id"] for _ in range(4)]
    assert ids == ["slow", "slow", "fast", "fast"]


async def test_complete_for_a_running_query_drops_its_result(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("q", "{ slow(seconds: 0.5) }")
    await asyncio.sleep(0.05)
    await client.send({"type": "complete", "id": "q"})
    await client.send({"type": "complete", "id": "q"})
    assert await client.receive() == {"type": "complete", "id": "q"}
    await client.assert_no_messages(timeout=0.8)
    # The id is free again.
    assert await client.execute("q", "{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_complete_for_an_unknown_id_gets_nothing(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.send({"type": "complete", "id": "never-seen"})
    await client.assert_no_messages()


async def test_id_of_a_finished_query_can_be_reused(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    for _ in range(3):
        assert await client.execute("same", "{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_plain_graphene_subscription_streams_its_generator_then_completes(make_client):
    import graphene

    class Subscription(graphene.ObjectType):
        tick = graphene.Int()

        @staticmethod
        async def subscribe_tick(root, info):
            for value in (1, 2):
                yield value

    from .support import Query

    schema = graphene.Schema(query=Query, subscription=Subscription)
    client = make_client(consumer_class(schema=schema))
    await client.connect_and_init()
    await client.subscribe("s", "subscription { tick }")
    assert await client.receive() == {"type": "next", "id": "s", "payload": {"data": {"tick": 1}}}
    assert await client.receive() == {"type": "next", "id": "s", "payload": {"data": {"tick": 2}}}
    assert await client.receive() == {"type": "complete", "id": "s"}
    assert await client.execute("probe", "{ hello }") == {"data": {"hello": "Hello, world!"}}
