"""Every close code the server produces, seen through ``wait_disconnect(assert_code=...)``.

``wait_disconnect`` fails unless the very next thing from the server is the
close, so each test also checks that nothing was sent before it (API.md
decision 3), except where the legacy ``connection_error`` must come first.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.testing import WebsocketCommunicator

import channels_graphql_ws
import channels_graphql_ws.testing
from channels_graphql_ws import GraphqlWsResponseError

from . import schema
from .support import LEGACY_WS, TRANSPORT_WS, both_subprotocols

QUERY = {"query": "{ hello }", "variables": {}, "operationName": None}


class MyConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema.SCHEMA


@pytest.mark.parametrize(
    "message",
    [
        {"type": "no_such_type"},
        {"id": "1", "payload": QUERY},
        {"type": 7},
        {"type": "start", "id": "1", "payload": QUERY},
        {"type": "stop", "id": "1"},
        {"type": "ka"},
        {"type": "subscribe", "payload": QUERY},
        {"type": "subscribe", "id": 1, "payload": QUERY},
        {"type": "subscribe", "id": "1"},
        {"type": "subscribe", "id": "1", "payload": {"query": 1}},
        [1, 2],
        "connection_init",
    ],
    ids=[
        "unknown-type",
        "no-type",
        "type-not-string",
        "legacy-start",
        "legacy-stop",
        "legacy-ka",
        "subscribe-without-id",
        "subscribe-integer-id",
        "subscribe-without-payload",
        "subscribe-query-not-string",
        "array",
        "string",
    ],
)
async def test_4400_for_a_malformed_message_on_transport_ws(make_client, message):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init()
    await client.send_raw_message(message)
    closed = await client.wait_disconnect(timeout=2, assert_code=4400)
    assert closed["type"] == "websocket.close"
    assert not client.connected


async def test_4401_for_subscribe_before_init(make_client):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init(connect_only=True)
    await client.start("{ hello }")
    await client.wait_disconnect(timeout=2, assert_code=4401)


async def test_4403_when_a_sync_on_connect_set_with_setattr_raises(make_client, monkeypatch):
    def on_connect(self, payload):
        raise RuntimeError("Connection rejected!")

    monkeypatch.setattr(MyConsumer, "on_connect", on_connect)
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init", "payload": ""})
    await client.wait_disconnect(timeout=2, assert_code=4403)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_4403_when_on_connect_returns_false(make_client, monkeypatch, is_async):
    if is_async:

        async def on_connect(self, payload):
            return False
    else:

        def on_connect(self, payload):
            return False

    monkeypatch.setattr(MyConsumer, "on_connect", on_connect)
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init"})
    await client.wait_disconnect(timeout=2, assert_code=4403)


async def test_4406_when_the_testing_transport_offers_another_subprotocol(make_client):
    # The testing transport passes any subprotocol name on; the client itself
    # only knows the two real ones, so it is told to speak graphql-transport-ws.
    transport = channels_graphql_ws.testing.GraphqlWsTransport(
        application=MyConsumer.as_asgi(), path="graphql/", subprotocol="other"
    )
    client = channels_graphql_ws.testing.GraphqlWsClient(transport, TRANSPORT_WS)
    try:
        await client.connect_and_init(connect_only=True)
        await client.wait_disconnect(timeout=2, assert_code=4406)
    finally:
        await client.finalize()


@pytest.mark.parametrize("subprotocols", [["other"], None], ids=["other", "none"])
async def test_4406_accepts_without_a_subprotocol_then_closes(subprotocols):
    communicator = WebsocketCommunicator(
        MyConsumer.as_asgi(), "graphql/", subprotocols=subprotocols
    )
    connected, chosen = await communicator.connect(timeout=2)
    assert connected
    assert chosen is None  # never a subprotocol the client did not offer
    output = await communicator.receive_output(timeout=2)
    assert output["type"] == "websocket.close"
    assert output["code"] == 4406
    await communicator.disconnect(timeout=2)


@both_subprotocols
async def test_4408_when_no_init_arrives_in_time(make_client, monkeypatch, subprotocol):
    monkeypatch.setattr(MyConsumer, "connection_init_wait_timeout", 0.2)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init(connect_only=True)
    await client.wait_disconnect(timeout=2, assert_code=4408)


@both_subprotocols
async def test_no_4408_once_init_arrived(make_client, monkeypatch, subprotocol):
    monkeypatch.setattr(MyConsumer, "connection_init_wait_timeout", 0.1)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    await client.assert_no_messages(attempts=3, interval=0.1)
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_no_4408_once_a_legacy_start_arrived(make_client, monkeypatch):
    monkeypatch.setattr(MyConsumer, "connection_init_wait_timeout", 0.1)
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init(connect_only=True)
    op_id = await client.start("{ hello }")
    assert await client.receive(wait_id=op_id, assert_type="data") == {
        "data": {"hello": "Hello, world!"}
    }
    await client.receive_complete(op_id)
    await client.assert_no_messages(attempts=3, interval=0.1)


async def test_4409_for_the_id_of_a_running_slow_query(make_client):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init()
    await client.start("{ slow(seconds: 5) }", msg_id="dup")
    await client.start("{ hello }", msg_id="dup")
    await client.wait_disconnect(timeout=2, assert_code=4409)


async def test_legacy_duplicate_id_gets_an_error_and_the_first_keeps_running(make_client):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    await client.start("{ slow(seconds: 0.2) }", msg_id="dup")
    await client.start("{ hello }", msg_id="dup")
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.receive(raw_response=True)
    refusal = raised.value.response
    assert refusal["type"] == "error" and refusal["id"] == "dup"
    assert list(refusal["payload"]) == ["errors"]
    assert "already exists" in refusal["payload"]["errors"][0]["message"]
    assert await client.receive_next("dup") == {"data": {"slow": "Slept 0.2 s."}}
    await client.receive_complete("dup")


async def test_4429_for_a_second_init(make_client):
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init()
    await client.send_raw_message({"type": "connection_init"})
    await client.wait_disconnect(timeout=2, assert_code=4429)


async def test_4429_for_a_second_init_while_the_first_is_pending(make_client, monkeypatch):
    async def on_connect(self, payload):
        await asyncio.sleep(0.5)

    monkeypatch.setattr(MyConsumer, "on_connect", on_connect)
    client = make_client(MyConsumer, TRANSPORT_WS)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init", "payload": ""})
    await client.send_raw_message({"type": "connection_init", "payload": {"other": 1}})
    await client.wait_disconnect(timeout=2, assert_code=4429)  # and no ack before it


async def test_legacy_second_init_gets_connection_error_and_stays_open(make_client, monkeypatch):
    calls = []
    monkeypatch.setattr(MyConsumer, "on_connect", lambda self, payload: calls.append(payload))
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    await client.send_raw_message({"type": "connection_init"})
    message = await client.receive(raw_response=True)
    assert message["type"] == "connection_error"
    assert calls == [None]  # on_connect ran once
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


@both_subprotocols
async def test_1000_for_connection_terminate(make_client, subprotocol):
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    await client.send_raw_message({"type": "connection_terminate"})
    await client.wait_disconnect(timeout=2, assert_code=1000)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_legacy_4000_after_connection_error_when_on_connect_raises(
    make_client, monkeypatch, is_async
):
    if is_async:

        async def on_connect(self, payload):
            raise RuntimeError("Connection rejected!")
    else:

        def on_connect(self, payload):
            raise RuntimeError("Connection rejected!")

    monkeypatch.setattr(MyConsumer, "on_connect", on_connect)
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init", "payload": ""})
    assert await client.receive(raw_response=True) == {
        "type": "connection_error",
        "payload": {
            "message": "RuntimeError: Connection rejected!",
            "extensions": {"code": "RuntimeError"},
        },
    }
    await client.wait_disconnect(timeout=2, assert_code=4000)


async def test_legacy_4000_when_on_connect_returns_false(make_client, monkeypatch):
    monkeypatch.setattr(MyConsumer, "on_connect", lambda self, payload: False)
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init"})
    assert (await client.receive(raw_response=True))["type"] == "connection_error"
    await client.wait_disconnect(timeout=2, assert_code=4000)


async def test_legacy_start_before_init_runs_on_connect_and_4000_on_rejection(
    make_client, monkeypatch
):
    calls = []

    def on_connect(self, payload):
        calls.append(payload)
        raise RuntimeError("No init, no entry!")

    monkeypatch.setattr(MyConsumer, "on_connect", on_connect)
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init(connect_only=True)
    await client.start("{ hello }")
    message = await client.receive(raw_response=True)
    assert message["type"] == "connection_error"
    assert message["payload"]["message"] == "RuntimeError: No init, no entry!"
    await client.wait_disconnect(timeout=2, assert_code=4000)
    assert calls == [None]


@both_subprotocols
async def test_1009_for_a_message_over_max_message_size(make_client, monkeypatch, subprotocol):
    monkeypatch.setattr(MyConsumer, "max_message_size", 200)
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init()
    # Under the limit: served as usual.
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
    long_name = "x" * 300
    await client.start(f'{{ hello(name: "{long_name}") }}')
    await client.wait_disconnect(timeout=2, assert_code=1009)


async def test_legacy_never_closes_for_a_malformed_message(make_client):
    client = make_client(MyConsumer, LEGACY_WS)
    await client.connect_and_init()
    await client.send_raw_message([1, 2])
    message = await client.receive(raw_response=True)
    assert message["type"] == "connection_error"
    assert isinstance(message["payload"]["message"], str)
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


@both_subprotocols
async def test_on_connect_returning_another_type_rejects_and_logs_a_type_error(
    make_client, monkeypatch, caplog, subprotocol
):
    monkeypatch.setattr(MyConsumer, "on_connect", lambda self, payload: "yes")
    client = make_client(MyConsumer, subprotocol)
    await client.connect_and_init(connect_only=True)
    with caplog.at_level(logging.ERROR, logger="channels_graphql_ws"):
        await client.send_raw_message({"type": "connection_init"})
        if subprotocol == LEGACY_WS:
            message = await client.receive(raw_response=True)
            assert message["type"] == "connection_error"
            await client.wait_disconnect(timeout=2, assert_code=4000)
        else:
            await client.wait_disconnect(timeout=2, assert_code=4403)
    assert any("TypeError" in record.getMessage() for record in caplog.records)
