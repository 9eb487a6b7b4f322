"""Where errors go and what they look like (API.md 0.4, 2.5; PROTOCOL.md section 4)."""

from __future__ import annotations

import graphql
import pytest

import channels_graphql_ws
from channels_graphql_ws import GraphqlWsResponseError

from . import schema
from .support import LEGACY_WS, TRANSPORT_WS, both_subprotocols


class MyConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema.SCHEMA


#: Four operations with five validation errors between them: an unknown
#: field, an unknown argument, a repeated operation name, a value of the wrong
#: type and a missing required argument.
FIVE_ERRORS_DOCUMENT = """
query A { nope }
query B { hello(wrong: 1) }
query B { hello(name: 3) }
mutation M { setGreeting { greeting } }
"""


async def receive_raw_error(client):
    """The next message, which must be an ``error``; the client raises for those."""
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.receive(assert_type="error")
    return raised.value.response


@both_subprotocols
async def test_resolver_error_has_message_locations_path_and_no_extensions(
    make_client, subprotocol
):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start('{ hello fail(reason: "Denied, sorry.") }')
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.receive_next(op_id)
    payload = raised.value.response["payload"]
    assert payload["data"] == {"hello": "Hello, world!", "fail": None}
    assert payload["errors"] == [
        {
            "message": str(RuntimeError("Denied, sorry.")),
            "locations": [{"line": 1, "column": 9}],
            "path": ["fail"],
        }
    ]
    assert "extensions" not in payload["errors"][0]
    await client.receive_complete(op_id)


async def test_syntax_error_on_transport_ws_is_an_error_message(make_client):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init()
    op_id = await client.start("{ hello")
    errors, data = await client.receive_error(op_id)
    assert data is None
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Syntax Error")
    assert errors[0]["locations"] == [{"line": 1, "column": 8}]
    # The socket stays open and no `complete` follows the `error`.
    await client.assert_no_messages(attempts=2)
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_syntax_error_on_legacy_is_data_with_errors_then_complete(make_client):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    op_id = await client.start("{ hello")
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.receive_next(op_id)
    payload = raised.value.response["payload"]
    assert payload["data"] is None
    assert [error["locations"] for error in payload["errors"]] == [[{"line": 1, "column": 8}]]
    assert payload["errors"][0]["message"].startswith("Syntax Error")
    await client.receive_complete(op_id)
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


@both_subprotocols
async def test_every_validation_error_is_reported_in_graphql_core_order(make_client, subprotocol):
    expected = [
        error.formatted
        for error in graphql.validate(
            schema.SCHEMA.graphql_schema, graphql.parse(FIVE_ERRORS_DOCUMENT)
        )
    ]
    assert len(expected) == 5
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start(FIVE_ERRORS_DOCUMENT, operation_name="A")
    errors, data = await client.receive_error(op_id)
    assert data is None
    assert len(errors) == 5
    assert errors == expected
    if subprotocol == LEGACY_WS:
        await client.receive_complete(op_id)
    await client.assert_no_messages(attempts=2)


@both_subprotocols
async def test_unknown_operation_name_is_an_error_for_that_id(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    op_id = await client.start("query A { hello }", operation_name="Missing")
    errors, data = await client.receive_error(op_id)
    assert data is None
    assert errors[0]["message"] == "Unknown operation named 'Missing'."
    if subprotocol == LEGACY_WS:
        await client.receive_complete(op_id)


@pytest.mark.parametrize(
    ("sent_type", "shown_type"),
    [
        ("whatever", "WHATEVER"),
        ("subscribe", "SUBSCRIBE"),
        ("ping", "PING"),
        ("pong", "PONG"),
        ("complete", "COMPLETE"),
        ("Next", "NEXT"),
    ],
)
@pytest.mark.parametrize("before_init", [False, True], ids=["after-init", "before-init"])
async def test_legacy_unknown_type_gets_exactly_one_error(
    make_client, sent_type, shown_type, before_init
):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init(connect_only=before_init)
    await client.send_raw_message({"type": sent_type, "id": "x1"})
    assert await receive_raw_error(client) == {
        "type": "error",
        "id": "x1",
        "payload": {
            "errors": [
                {
                    "message": f"Exception: Wrong message type '{shown_type}'!",
                    "extensions": {"code": "Exception"},
                }
            ]
        },
    }
    await client.assert_no_messages(attempts=2)
    if before_init:
        await client.send_raw_message({"type": "connection_init"})
        await client.receive(assert_type="connection_ack")
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


@pytest.mark.parametrize(
    ("message", "echoed_id"),
    [({"type": "bogus"}, None), ({"type": "bogus", "id": 5}, 5)],
    ids=["no-id", "integer-id"],
)
async def test_legacy_unknown_type_echoes_the_id_or_null(make_client, message, echoed_id):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    await client.send_raw_message(message)
    response = await receive_raw_error(client)
    assert "id" in response and response["id"] == echoed_id
    assert response["payload"]["errors"][0]["message"] == "Exception: Wrong message type 'BOGUS'!"


@both_subprotocols
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_on_operation_raising_ends_only_that_operation_with_an_error(
    make_client, monkeypatch, subprotocol, is_async
):
    if is_async:

        async def on_operation(self, op_id, payload):
            if op_id == "denied":
                raise RuntimeError("Operation not allowed!")
    else:

        def on_operation(self, op_id, payload):
            if op_id == "denied":
                raise RuntimeError("Operation not allowed!")

    monkeypatch.setattr(MyConsumer, "on_operation", on_operation)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    await client.start("{ hello }", msg_id="denied")
    formatted = {
        "message": "RuntimeError: Operation not allowed!",
        "extensions": {"code": "RuntimeError"},
    }
    if subprotocol == TRANSPORT_WS:
        errors, data = await client.receive_error("denied")
        assert (errors, data) == ([formatted], None)
    else:
        assert await receive_raw_error(client) == {
            "type": "error",
            "id": "denied",
            "payload": {"errors": [formatted]},
        }
    await client.assert_no_messages(attempts=2)  # no result, no `complete`
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


@both_subprotocols
async def test_on_operation_gets_the_id_and_the_payload(make_client, monkeypatch, subprotocol):
    seen = []
    monkeypatch.setattr(
        MyConsumer, "on_operation", lambda self, op_id, payload: seen.append((op_id, payload))
    )
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    await client.start("query Q { hello }", operation_name="Q", msg_id="op-1")
    await client.receive_next("op-1")
    await client.receive_complete("op-1")
    assert seen == [("op-1", {"query": "query Q { hello }", "variables": {}, "operationName": "Q"})]


async def test_legacy_start_without_id_gets_an_error_with_null_id(make_client):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    await client.send_raw_message({"type": "start", "payload": {"query": "{ hello }"}})
    response = await receive_raw_error(client)
    assert response["id"] is None
    assert list(response["payload"]) == ["errors"]
    assert len(response["payload"]["errors"]) == 1
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_legacy_start_without_payload_gets_an_error_for_its_id(make_client):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    await client.send_raw_message({"type": "start", "id": "no-payload"})
    response = await receive_raw_error(client)
    assert response["id"] == "no-payload"
    assert isinstance(response["payload"]["errors"][0]["message"], str)
    await client.assert_no_messages(attempts=2)
