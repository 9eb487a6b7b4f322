"""The testing client's API (API.md 1.6) as suites written for 1.0.0rc7 use it."""

from __future__ import annotations

import pytest

import channels_graphql_ws
import channels_graphql_ws.testing
from channels_graphql_ws import GraphqlWsResponseError

from . import schema
from .support import LEGACY_WS, TRANSPORT_WS, both_subprotocols


class MyConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema.SCHEMA


def result_type(subprotocol):
    return "next" if subprotocol == TRANSPORT_WS else "data"


@both_subprotocols
async def test_client_built_by_hand_runs_a_query_and_a_mutation(subprotocol):
    transport = channels_graphql_ws.testing.GraphqlWsTransport(
        application=MyConsumer.as_asgi(),
        path="graphql/",
        communicator_kwds={},
        subprotocol=subprotocol,
    )
    client = channels_graphql_ws.testing.GraphqlWsClient(transport, subprotocol)
    assert client.transport is transport
    assert not client.connected
    try:
        assert await client.connect_and_init() is None  # a plain ack has no payload
        assert client.connected
        assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
        mutation = "mutation($t: String!) { setGreeting(text: $t) { greeting } }"
        assert await client.execute(mutation, variables={"t": "hi"}) == {
            "data": {"setGreeting": {"greeting": "HI"}}
        }
    finally:
        await client.finalize()
    assert not client.connected


@both_subprotocols
@pytest.mark.parametrize(
    ("init_kwds", "expected"),
    [({"payload": ""}, ""), ({"payload": {"token": "t"}}, {"token": "t"}), ({}, None)],
    ids=["older-client-empty-string", "object", "no-payload"],
)
async def test_connect_and_init_payload_reaches_on_connect(
    make_client, monkeypatch, subprotocol, init_kwds, expected
):
    received = []

    def on_connect(self, payload):
        received.append(payload)

    monkeypatch.setattr(MyConsumer, "on_connect", on_connect)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init(**init_kwds)
    assert received == [expected]
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


@both_subprotocols
async def test_execute_returns_the_result_payload(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    result = await client.execute("query($n: String) { hello(name: $n) }", variables={"n": "Alice"})
    assert result == {"data": {"hello": "Hello, Alice!"}}


@both_subprotocols
async def test_start_then_receive_next_then_receive_complete(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start(
        """
        query Greet {
            hello(name: "Bob")
        }
        """,
        operation_name="Greet",
    )
    assert isinstance(op_id, str) and op_id
    assert await client.receive_next(op_id) == {"data": {"hello": "Hello, Bob!"}}
    assert await client.receive_complete(op_id) is None
    await client.assert_no_messages(attempts=2)


@both_subprotocols
async def test_start_uses_the_given_msg_id(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    assert await client.start("{ hello }", msg_id="my-own-id") == "my-own-id"
    message = await client.receive(raw_response=True)
    assert message["id"] == "my-own-id"
    await client.receive_complete("my-own-id")


@both_subprotocols
async def test_receive_checks_type_and_id(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start("{ hello }")
    payload = await client.receive(assert_type=result_type(subprotocol), assert_id=op_id)
    assert payload == {"data": {"hello": "Hello, world!"}}
    # The `complete` that follows fails both kinds of check.
    with pytest.raises(AssertionError):
        await client.receive(assert_type=result_type(subprotocol))
    other_id = await client.start("{ hello }")
    with pytest.raises(AssertionError):
        await client.receive(assert_id=op_id)
    await client.receive_complete(other_id)


@both_subprotocols
async def test_receive_raw_response_returns_the_whole_message(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start("{ hello }")
    assert await client.receive(raw_response=True) == {
        "type": result_type(subprotocol),
        "id": op_id,
        "payload": {"data": {"hello": "Hello, world!"}},
    }
    assert await client.receive(raw_response=True) == {"type": "complete", "id": op_id}


@both_subprotocols
async def test_receive_raises_response_error_for_a_result_with_errors(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start("{ fail }")
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.receive()
    error = raised.value
    assert error.response["type"] == result_type(subprotocol)
    assert error.response["id"] == op_id
    assert error.response["payload"]["data"] == {"fail": None}
    assert error.message is None
    assert str(error) == f"Error in GraphQL response: {error.response}!"
    await client.receive_complete(op_id)


async def test_receive_raises_response_error_for_an_error_message(make_client):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init()
    op_id = await client.start("{ nope }")
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.receive(assert_id=op_id)
    assert raised.value.response["type"] == "error"
    assert isinstance(raised.value.response["payload"], list)


@both_subprotocols
async def test_execute_raises_response_error_and_leaves_nothing_behind(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.execute("{ fail }")
    assert raised.value.response["payload"]["errors"][0]["message"] == "Resolver went wrong!"
    await client.assert_no_messages(attempts=2)
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


def test_response_error_attributes_and_str():
    response = {"type": "error", "id": "1", "payload": [{"message": "Boom"}]}
    error = GraphqlWsResponseError(response, "Custom text")
    assert isinstance(error, Exception)
    assert error.response is response
    assert error.message == "Custom text"
    assert str(error) == f"Custom text: {response}!"
    plain = GraphqlWsResponseError(response)
    assert plain.message is None
    assert str(plain) == f"Error in GraphQL response: {response}!"


async def test_receive_error_on_transport_ws_returns_the_error_list(make_client):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init()
    op_id = await client.start("{ nope }")
    errors, data = await client.receive_error(op_id)
    assert data is None
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0]["message"] == "Cannot query field 'nope' on type 'Query'."
    await client.assert_no_messages(attempts=2)  # an `error` ends the id: no `complete`


async def test_receive_error_on_legacy_returns_errors_and_data(make_client):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    op_id = await client.start("{ nope }")
    errors, data = await client.receive_error(op_id)
    assert data is None
    assert errors[0]["message"] == "Cannot query field 'nope' on type 'Query'."
    await client.receive_complete(op_id)
    # A resolver error travels the same way, with the partial data next to it.
    op_id = await client.start("{ hello fail }")
    errors, data = await client.receive_error(op_id)
    assert data == {"hello": "Hello, world!", "fail": None}
    assert [error["message"] for error in errors] == ["Resolver went wrong!"]
    await client.receive_complete(op_id)


@both_subprotocols
async def test_assert_no_messages_ignores_keepalives(make_client, monkeypatch, subprotocol):
    monkeypatch.setattr(MyConsumer, "send_ping_every", 0.05)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    # Keep-alives do flow...
    keepalive = await client.transport.receive(timeout=2)
    assert keepalive == {"type": "ping" if subprotocol == TRANSPORT_WS else "ka"}
    # ...and are not counted as messages.
    await client.assert_no_messages(attempts=4, interval=0.05)
    await client.start("{ hello }")
    with pytest.raises(AssertionError, match="Nothing, please!"):
        await client.assert_no_messages("Nothing, please!", attempts=4, interval=0.05)


@both_subprotocols
async def test_connect_only_sends_nothing_then_raw_messages_go_out(
    make_client, monkeypatch, subprotocol
):
    calls = []
    monkeypatch.setattr(MyConsumer, "on_connect", lambda self, payload: calls.append(payload))
    client = make_client(MyConsumer, subprotocol)
    assert await client.connect_and_init(connect_only=True) is None
    assert client.connected
    await client.assert_no_messages(attempts=2)
    assert calls == []  # no connection_init was sent
    assert await client.send_raw_message({"type": "connection_init", "payload": {"a": 1}}) is None
    assert await client.receive(raw_response=True) == {"type": "connection_ack"}
    assert calls == [{"a": 1}]
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_ping_is_answered_with_pong_even_before_init(make_client):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "ping", "payload": {"n": 1}})
    assert await client.transport.receive(timeout=2) == {"type": "pong", "payload": {"n": 1}}
    await client.send_raw_message({"type": "ping"})
    assert await client.transport.receive(timeout=2) == {"type": "pong"}


async def test_legacy_integer_ids_are_echoed_as_integers(make_client):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    assert await client.start("{ hello }", msg_id=42) == 42
    message = await client.receive(raw_response=True)
    assert message["id"] == 42 and message["type"] == "data"
    assert await client.receive(raw_response=True) == {"type": "complete", "id": 42}


@pytest.mark.parametrize(
    ("subprotocol", "init_type", "start_type", "stop_type"),
    [
        (TRANSPORT_WS, "CONNECTION_INIT", "Subscribe", "COMPLETE"),
        (LEGACY_WS, "Connection_Init", "START", "Stop"),
    ],
)
async def test_message_types_are_case_insensitive(
    make_client, subprotocol, init_type, start_type, stop_type
):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": init_type})
    await client.receive(assert_type="connection_ack")
    query = {"query": "{ hello }", "variables": {}, "operationName": None}
    await client.send_raw_message({"type": start_type, "id": "q", "payload": query})
    assert await client.receive_next("q") == {"data": {"hello": "Hello, world!"}}
    await client.receive_complete("q")
    # A stop of a running query drops its result and is answered with `complete`.
    slow = {"query": "{ slow(seconds: 5) }", "variables": {}, "operationName": None}
    await client.send_raw_message({"type": start_type, "id": "s", "payload": slow})
    await client.send_raw_message({"type": stop_type, "id": "s"})
    await client.receive_complete("s")
    await client.assert_no_messages(attempts=2)


@both_subprotocols
async def test_wait_response_skips_until_the_checker_accepts(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start("{ hello }")
    message = await client.wait_response(lambda response: response.get("type") == "complete")
    assert message == {"type": "complete", "id": op_id}
