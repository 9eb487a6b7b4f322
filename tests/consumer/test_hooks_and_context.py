"""on_operation, middleware, the context object and error formatting."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError
from graphql.execution import MiddlewareManager

from tests.internals import slow_log_budget

from .support import consumer_class

# --------------------------------------------------------- on_operation


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_on_operation_sees_id_and_payload_before_running(make_client, is_async):
    seen = []

    if is_async:

        async def on_operation(self, op_id, payload):
            seen.append((op_id, payload))
    else:

        def on_operation(self, op_id, payload):
            seen.append((op_id, payload))

    client = make_client(consumer_class(on_operation=on_operation))
    await client.connect_and_init()
    await client.execute("op", "{ hello }", operationName=None)
    assert seen == [("op", {"query": "{ hello }", "operationName": None})]


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_on_operation_raising_sends_error_and_keeps_socket(make_client, is_async):
    if is_async:

        async def on_operation(self, op_id, payload):
            if op_id == "denied":
                raise PermissionError("not allowed")
    else:

        def on_operation(self, op_id, payload):
            if op_id == "denied":
                raise PermissionError("not allowed")

    client = make_client(consumer_class(on_operation=on_operation))
    await client.connect_and_init()
    await client.subscribe("denied", "{ hello }")
    assert await client.receive() == {
        "type": "error",
        "id": "denied",
        "payload": [
            {"message": "PermissionError: not allowed", "extensions": {"code": "PermissionError"}}
        ],
    }
    await client.assert_no_messages()
    assert await client.execute("ok", "{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_on_operation_graphql_error_keeps_its_shape(make_client):
    def on_operation(self, op_id, payload):
        raise GraphQLError("Session expired", extensions={"reason": "expired"})

    client = make_client(consumer_class(on_operation=on_operation))
    await client.connect_and_init()
    await client.subscribe("x", "{ hello }")
    message = await client.receive()
    assert message["payload"] == [
        {"message": "Session expired", "extensions": {"reason": "expired"}}
    ]


# ------------------------------------------------------------ middleware


def _recording_middleware(name, calls):
    def middleware(next_, root, info, **args):
        calls.append((name, info.field_name))
        return next_(root, info, **args)

    return middleware


async def test_middleware_list_runs_last_first_for_every_field(make_client):
    calls = []
    middleware = [_recording_middleware("inner", calls), _recording_middleware("outer", calls)]
    client = make_client(consumer_class(middleware=middleware))
    await client.connect_and_init()
    await client.execute("m", "{ hello }")
    assert calls == [("outer", "hello"), ("inner", "hello")]


async def test_middleware_manager_and_async_middleware_are_accepted(make_client):
    calls = []

    async def async_middleware(next_, root, info, **args):
        calls.append(info.field_name)
        result = next_(root, info, **args)
        return (await result if hasattr(result, "__await__") else result).upper()

    client = make_client(consumer_class(middleware=MiddlewareManager(async_middleware)))
    await client.connect_and_init()
    assert await client.execute("m", "{ hello }") == {"data": {"hello": "HELLO, WORLD!"}}
    assert calls == ["hello"]


async def test_middleware_set_with_setattr_applies_to_new_connections(make_client):
    calls = []
    cls = consumer_class()
    cls.middleware = [_recording_middleware("late", calls)]
    client = make_client(cls)
    await client.connect_and_init()
    await client.execute("m", "{ hello }")
    assert calls == [("late", "hello")]


async def test_middleware_is_skipped_for_introspection_query(make_client):
    calls = []
    client = make_client(consumer_class(middleware=[_recording_middleware("m", calls)]))
    await client.connect_and_init()
    query = "query IntrospectionQuery { __schema { queryType { name } } }"
    payload = await client.execute("i", query, operationName="IntrospectionQuery")
    assert payload == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert calls == []


# --------------------------------------------------------------- context


async def test_context_carries_scope_channel_and_operation(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    payload = await client.execute("ctx", "query Named { contextKeys }", operationName="Named")
    assert payload["data"]["contextKeys"] == [
        "channel_name",
        "channels_scope",
        "graphql_operation_id",
        "graphql_operation_name",
    ]
    payload = await client.execute("ctx2", 'query N { contextValue(key: "graphql_operation_id") }')
    assert payload["data"]["contextValue"] == "'ctx2'"


async def test_context_is_fresh_per_operation_but_scope_is_shared(make_client):
    import graphene

    from .support import Query

    class Stateful(Query):
        remember = graphene.String()

        @staticmethod
        def resolve_remember(root, info):
            before = getattr(info.context, "note", None)
            info.context.note = "set"
            info.context.channels_scope["note"] = info.context.channels_scope.get("note", 0) + 1
            return f"{before}:{info.context.channels_scope['note']}"

    schema = graphene.Schema(query=Stateful)
    client = make_client(consumer_class(schema=schema))
    await client.connect_and_init()
    assert (await client.execute("a", "{ remember }"))["data"] == {"remember": "None:1"}
    assert (await client.execute("b", "{ remember }"))["data"] == {"remember": "None:2"}


# ------------------------------------------------------- error formatting


async def test_format_error_override_shapes_every_error(make_client):
    def format_error(error):
        return {"message": "custom", "extensions": {"kind": type(error).__name__}}

    client = make_client(consumer_class(_format_error=staticmethod(format_error)))
    await client.connect_and_init()
    await client.subscribe("bad", "{ nope }")
    message = await client.receive()
    assert message["payload"] == [{"message": "custom", "extensions": {"kind": "GraphQLError"}}]
    payload = await client.execute("r", "{ fail }")
    assert payload["errors"] == [{"message": "custom", "extensions": {"kind": "GraphQLError"}}]


async def test_resolver_exception_with_extensions_gets_a_code(make_client):
    import graphene

    class Coded(Exception):
        extensions = {"detail": 1}

    class Q(graphene.ObjectType):
        boom = graphene.String()

        @staticmethod
        def resolve_boom(root, info):
            raise Coded("boom")

    client = make_client(consumer_class(schema=graphene.Schema(query=Q)))
    await client.connect_and_init()
    [error] = (await client.execute("c", "{ boom }"))["errors"]
    assert error["extensions"] == {"detail": 1, "code": "Coded"}


async def test_resolver_error_is_logged_with_its_traceback(make_client, caplog):
    client = make_client(consumer_class())
    await client.connect_and_init()
    with caplog.at_level(logging.WARNING, logger="channels_graphql_ws"):
        await client.execute("e", "{ fail }")
    [record] = [r for r in caplog.records if "resolver failed" in r.getMessage()]
    assert record.exc_info is not None


async def test_slow_operation_is_warned_about(make_client, caplog):
    client = make_client(consumer_class(warn_operation_timeout=0.05))
    await client.connect_and_init()
    with caplog.at_level(logging.WARNING, logger="channels_graphql_ws"):
        await client.execute("slow", "{ slow(seconds: 0.1) }")
        await client.execute("fast", "{ hello }")
    warnings = [
        r.getMessage() for r in caplog.records if "warn_operation_timeout" in r.getMessage()
    ]
    assert len(warnings) == 1 and "'slow'" in warnings[0]


async def test_a_flood_of_slow_operations_is_logged_within_a_budget(
    make_client, caplog, monkeypatch
):
    # An overloaded server finds every operation of its backlog slow: logging
    # each one would add to the load. Past the budget they are counted.
    budget = slow_log_budget()
    monkeypatch.setattr(budget, "burst", 3)
    client = make_client(consumer_class(warn_operation_timeout=0))
    await client.connect_and_init()
    with caplog.at_level(logging.WARNING, logger="channels_graphql_ws"):
        for index in range(5):
            answer = await client.execute(f"q{index}", "{ hello }")
            assert answer == {"data": {"hello": "Hello, world!"}}
        monkeypatch.setattr(budget, "window", 0)  # the next window opens
        await client.execute("last", "{ hello }")
    messages = [r.getMessage() for r in caplog.records]
    slow = [m for m in messages if "warn_operation_timeout" in m]
    assert [m.split("'")[1] for m in slow] == ["q0", "q1", "q2", "last"]
    assert "2 more slow-operation warnings were not logged" in " ".join(messages)


# ------------------------------------------------- subscription confirmation


def test_default_confirmation_is_data_null_without_errors_key():
    consumer = consumer_class()()
    assert consumer._confirmation_payload() == {"data": None}


def test_custom_confirmation_data_goes_out_as_given_and_errors_are_formatted():
    message = {"data": ["any", {"json": 1}], "errors": [RuntimeError("abc")]}
    consumer = consumer_class(subscription_confirmation_message=message)()
    assert consumer._confirmation_payload() == {
        "data": ["any", {"json": 1}],
        "errors": [{"message": "RuntimeError: abc", "extensions": {"code": "RuntimeError"}}],
    }
