"""Settings and hooks changed with ``setattr`` on a module-level consumer (API.md 1.1)."""

from __future__ import annotations

import logging

import pytest

import channels_graphql_ws

from . import schema
from .support import LEGACY_WS, TRANSPORT_WS, both_subprotocols


class MyConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema.SCHEMA


def tagging_middleware(tag, calls):
    """A sync middleware that logs its call and appends ``tag`` to string results."""

    def middleware(next_, root, info, **args):
        calls.append(tag)
        result = next_(root, info, **args)
        return f"{result}<{tag}>" if isinstance(result, str) else result

    return middleware


def async_tagging_middleware(tag, calls):
    """The same as an async middleware."""

    async def middleware(next_, root, info, **args):
        calls.append(tag)
        result = next_(root, info, **args)
        if hasattr(result, "__await__"):
            result = await result
        return f"{result}<{tag}>" if isinstance(result, str) else result

    return middleware


@both_subprotocols
async def test_middleware_list_first_element_is_innermost(make_client, monkeypatch, subprotocol):
    calls = []
    middleware = [tagging_middleware("first", calls), tagging_middleware("second", calls)]
    monkeypatch.setattr(MyConsumer, "middleware", middleware)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!<first><second>"}}
    assert calls == ["second", "first"]  # the last one is called first


@both_subprotocols
async def test_async_middleware_runs_on_mutations_too(make_client, monkeypatch, subprotocol):
    calls = []
    monkeypatch.setattr(MyConsumer, "middleware", [async_tagging_middleware("async", calls)])
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    result = await client.execute('mutation { setGreeting(text: "hey") { greeting } }')
    assert result == {"data": {"setGreeting": {"greeting": "HEY<async>"}}}
    assert calls == ["async", "async"]  # setGreeting and greeting


async def test_middleware_is_skipped_for_introspection_query(make_client, monkeypatch):
    calls = []
    monkeypatch.setattr(MyConsumer, "middleware", [tagging_middleware("m", calls)])
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init()
    op_id = await client.start(
        "query IntrospectionQuery { __schema { queryType { name } } }",
        operation_name="IntrospectionQuery",
    )
    assert await client.receive_next(op_id) == {
        "data": {"__schema": {"queryType": {"name": "Query"}}}
    }
    await client.receive_complete(op_id)
    assert calls == []


async def test_middleware_set_after_a_connection_applies_to_the_next_one(make_client, monkeypatch):
    calls = []
    before = make_client(MyConsumer)
    await before.connect_and_init()
    monkeypatch.setattr(MyConsumer, "middleware", [tagging_middleware("late", calls)])
    after = make_client(MyConsumer)
    await after.connect_and_init()
    assert await after.execute("{ hello }") == {"data": {"hello": "Hello, world!<late>"}}
    assert calls == ["late"]


@both_subprotocols
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_on_connect_returning_a_dict_is_the_ack_payload(
    make_client, monkeypatch, subprotocol, is_async
):
    if is_async:

        async def on_connect(self, payload):
            return {"greeting": "welcome", "got": payload}
    else:

        def on_connect(self, payload):
            return {"greeting": "welcome", "got": payload}

    monkeypatch.setattr(MyConsumer, "on_connect", on_connect)
    client = make_client(MyConsumer, subprotocol)
    ack_payload = await client.connect_and_init(payload={"token": "abc"})
    assert ack_payload == {"greeting": "welcome", "got": {"token": "abc"}}


@both_subprotocols
@pytest.mark.parametrize("verdict", [None, True], ids=["none", "true"])
async def test_on_connect_returning_none_or_true_is_a_plain_ack(
    make_client, monkeypatch, subprotocol, verdict
):
    monkeypatch.setattr(MyConsumer, "on_connect", lambda self, payload: verdict)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init"})
    assert await client.receive(raw_response=True) == {"type": "connection_ack"}


@both_subprotocols
async def test_send_ping_every_set_with_setattr(make_client, monkeypatch, subprotocol):
    monkeypatch.setattr(MyConsumer, "send_ping_every", 0.05)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init"})
    keepalive = {"type": "ping"} if subprotocol == TRANSPORT_WS else {"type": "ka"}
    assert await client.transport.receive(timeout=2) == {"type": "connection_ack"}
    for _ in range(3):
        assert await client.transport.receive(timeout=2) == keepalive
    # Results still arrive between keep-alives.
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_legacy_sends_a_ka_at_once_after_the_ack(make_client, monkeypatch):
    monkeypatch.setattr(MyConsumer, "send_ping_every", 60)
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init"})
    assert await client.transport.receive(timeout=2) == {"type": "connection_ack"}
    assert await client.transport.receive(timeout=2) == {"type": "ka"}


@both_subprotocols
async def test_strict_ordering_set_with_setattr_serialises_operations(
    make_client, monkeypatch, subprotocol
):
    monkeypatch.setattr(MyConsumer, "strict_ordering", True)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    slow_id = await client.start("{ slow(seconds: 0.2) }")
    fast_id = await client.start("{ hello }")
    order = [(await client.receive(raw_response=True))["id"] for _ in range(4)]
    assert order == [slow_id, slow_id, fast_id, fast_id]


@both_subprotocols
async def test_without_strict_ordering_operations_run_concurrently(make_client, subprotocol):
    assert MyConsumer.strict_ordering is False
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    slow_id = await client.start("{ slow(seconds: 0.2) }")
    fast_id = await client.start("{ hello }")
    order = [(await client.receive(raw_response=True))["id"] for _ in range(4)]
    assert order == [fast_id, fast_id, slow_id, slow_id]


@pytest.mark.parametrize(
    ("limit", "warned"), [(0.05, True), (None, False), (5, False)], ids=["low", "none", "high"]
)
async def test_warn_operation_timeout_set_with_setattr(
    make_client, monkeypatch, caplog, limit, warned
):
    monkeypatch.setattr(MyConsumer, "warn_operation_timeout", limit)
    client = make_client(MyConsumer)
    await client.connect_and_init()
    with caplog.at_level(logging.WARNING, logger="channels_graphql_ws"):
        assert await client.execute("{ slow(seconds: 0.1) }") == {"data": {"slow": "Slept 0.1 s."}}
    warnings = [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and record.name.startswith("channels_graphql_ws")
    ]
    assert bool(warnings) is warned
