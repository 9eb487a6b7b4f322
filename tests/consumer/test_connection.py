"""Connecting: subprotocols, connection_init and on_connect, timers, close codes."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

import channels_graphql_ws
from tests.internals import records_of, tasks_of

from .support import SCHEMA, consumer_class

# ------------------------------------------------------------ subprotocols


async def test_transport_ws_is_preferred_when_both_are_offered(make_client):
    client = make_client(consumer_class(), ["graphql-ws", "graphql-transport-ws"])
    connected, subprotocol = await client.connect()
    assert connected and subprotocol == "graphql-transport-ws"


async def test_neither_subprotocol_is_accepted_bare_then_closed_4406(make_client):
    client = make_client(consumer_class(), ["something-else"])
    connected, subprotocol = await client.connect()
    assert connected and subprotocol is None
    await client.assert_closed(4406)


async def test_no_subprotocol_offered_is_closed_4406(make_client):
    client = make_client(consumer_class(), [])
    connected, _ = await client.connect()
    assert connected
    await client.assert_closed(4406)


def test_schema_is_required():
    class NoSchema(channels_graphql_ws.GraphqlWsConsumer):
        pass

    with pytest.raises(AssertionError, match="schema"):
        NoSchema()


# --------------------------------------------------------- on_connect


@pytest.mark.parametrize(
    "payload",
    [{"token": "t"}, None, "", 42, [1, 2]],
    ids=["object", "null", "empty-string", "number", "list"],
)
@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_on_connect_gets_the_payload_unchanged(make_client, payload, is_async):
    received = []

    if is_async:

        async def on_connect(self, payload):
            received.append(payload)
    else:

        def on_connect(self, payload):
            received.append(payload)

    client = make_client(consumer_class(on_connect=on_connect))
    await client.connect()
    await client.send({"type": "connection_init", "payload": payload})
    assert await client.receive() == {"type": "connection_ack"}
    assert received == [payload]


async def test_on_connect_gets_none_when_payload_is_absent(make_client):
    received = []

    def on_connect(self, payload):
        received.append(payload)

    client = make_client(consumer_class(on_connect=on_connect))
    await client.connect_and_init()
    assert received == [None]


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_on_connect_dict_becomes_the_ack_payload(make_client, is_async):
    if is_async:

        async def on_connect(self, payload):
            return {"user": "ann"}
    else:

        def on_connect(self, payload):
            return {"user": "ann"}

    client = make_client(consumer_class(on_connect=on_connect))
    ack = await client.connect_and_init()
    assert ack == {"type": "connection_ack", "payload": {"user": "ann"}}


async def test_on_connect_true_is_a_plain_ack(make_client):
    client = make_client(consumer_class(on_connect=lambda self, payload: True))
    assert await client.connect_and_init() == {"type": "connection_ack"}


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_on_connect_false_closes_4403(make_client, is_async):
    if is_async:

        async def on_connect(self, payload):
            return False
    else:

        def on_connect(self, payload):
            return False

    client = make_client(consumer_class(on_connect=on_connect))
    await client.connect()
    await client.send({"type": "connection_init"})
    await client.assert_closed(4403)


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_on_connect_raising_closes_4403(make_client, is_async):
    if is_async:

        async def on_connect(self, payload):
            raise RuntimeError("nope")
    else:

        def on_connect(self, payload):
            raise RuntimeError("nope")

    client = make_client(consumer_class(on_connect=on_connect))
    await client.connect()
    await client.send({"type": "connection_init"})
    await client.assert_closed(4403)


async def test_on_connect_returning_another_type_is_logged_and_rejected(make_client, caplog):
    client = make_client(consumer_class(on_connect=lambda self, payload: "yes"))
    await client.connect()
    with caplog.at_level(logging.ERROR, logger="channels_graphql_ws"):
        await client.send({"type": "connection_init"})
        await client.assert_closed(4403)
    assert any(
        "TypeError" in record.getMessage() or "must return" in record.getMessage()
        for record in caplog.records
    )


async def test_setting_changed_with_setattr_after_definition_is_used(make_client):
    cls = consumer_class()
    cls.on_connect = lambda self, payload: {"set": "later"}
    client = make_client(cls)
    assert (await client.connect_and_init())["payload"] == {"set": "later"}


async def test_subscribe_while_on_connect_runs_closes_4401(make_client):
    async def on_connect(self, payload):
        await asyncio.sleep(1)

    client = make_client(consumer_class(on_connect=on_connect))
    await client.connect()
    await client.send({"type": "connection_init"})
    await client.subscribe("early", "{ hello }")
    await client.assert_closed(4401)


# -------------------------------------------------------- init timeout


def test_connection_init_wait_timeout_defaults_to_3_seconds():
    assert channels_graphql_ws.GraphqlWsConsumer.connection_init_wait_timeout == 3


async def test_no_connection_init_in_time_closes_4408(make_client):
    client = make_client(consumer_class(connection_init_wait_timeout=0.2))
    await client.connect()
    await client.assert_closed(4408, timeout=2)


async def test_init_timeout_zero_never_closes(make_client):
    client = make_client(consumer_class(connection_init_wait_timeout=0))
    await client.connect()
    await client.assert_no_messages(timeout=0.5)
    await client.send({"type": "connection_init"})
    assert await client.receive() == {"type": "connection_ack"}


async def test_init_received_stops_the_timer_even_while_on_connect_runs(make_client):
    async def on_connect(self, payload):
        await asyncio.sleep(0.5)

    client = make_client(consumer_class(connection_init_wait_timeout=0.2, on_connect=on_connect))
    await client.connect()
    await client.send({"type": "connection_init"})
    assert await client.receive(timeout=2) == {"type": "connection_ack"}
    await client.assert_no_messages(timeout=0.3)


# ----------------------------------------------------------- ping/pong


async def test_ping_before_init_gets_pong_echoing_payload(make_client):
    client = make_client(consumer_class())
    await client.connect()
    await client.send({"type": "ping", "payload": {"t": 1}})
    assert await client.receive() == {"type": "pong", "payload": {"t": 1}}
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}


async def test_pong_gets_nothing(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.send({"type": "pong"})
    await client.assert_no_messages()


async def test_send_ping_every_sends_pings_after_the_ack(make_client):
    client = make_client(consumer_class(send_ping_every=0.1))
    await client.connect()
    await client.assert_no_messages(timeout=0.3)  # nothing before the ack
    await client.send({"type": "connection_init"})
    assert await client.receive() == {"type": "connection_ack"}
    assert await client.receive(timeout=1) == {"type": "ping"}
    assert await client.receive(timeout=1) == {"type": "ping"}


# ---------------------------------------------------------- close codes


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '"text"',
        "null",
        "[" * 100_000,
        json.dumps({"payload": {}}),
        json.dumps({"type": 7}),
        json.dumps({"type": "unknown"}),
        json.dumps({"type": "start", "id": "1", "payload": {"query": "{ hello }"}}),
        json.dumps({"type": "next", "id": "1", "payload": {}}),
        json.dumps({"type": "subscribe", "payload": {"query": "{ hello }"}}),
        json.dumps({"type": "subscribe", "id": 1, "payload": {"query": "{ hello }"}}),
        json.dumps({"type": "subscribe", "id": "1"}),
        json.dumps({"type": "subscribe", "id": "1", "payload": {"query": 5}}),
        json.dumps(
            {"type": "subscribe", "id": "1", "payload": {"query": "{ hello }", "variables": []}}
        ),
    ],
    ids=[
        "not-json",
        "array",
        "string",
        "null",
        "deep-nesting",
        "no-type",
        "type-not-string",
        "unknown-type",
        "legacy-start",
        "server-next",
        "no-id",
        "int-id",
        "no-payload",
        "query-not-string",
        "variables-not-object",
    ],
)
async def test_malformed_frames_close_4400(make_client, frame):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.send_raw(text=frame)
    await client.assert_closed(4400)


async def test_binary_frame_closes_4400(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.send_raw(data=b'{"type": "ping"}')
    await client.assert_closed(4400)


async def test_message_types_match_case_insensitively(make_client):
    client = make_client(consumer_class())
    await client.connect()
    await client.send({"type": "CONNECTION_INIT"})
    assert await client.receive() == {"type": "connection_ack"}
    await client.send({"type": "Subscribe", "id": "x", "payload": {"query": "{ hello }"}})
    assert (await client.receive())["type"] == "next"


async def test_subscribe_before_init_closes_4401(make_client):
    client = make_client(consumer_class())
    await client.connect()
    await client.subscribe("1", "{ hello }")
    await client.assert_closed(4401)


async def test_second_connection_init_closes_4429(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.send({"type": "connection_init", "payload": {"other": True}})
    await client.assert_closed(4429)


async def test_subscribe_with_the_id_of_a_running_query_closes_4409(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("dup", "{ slow(seconds: 1) }")
    await client.subscribe("dup", "{ hello }")
    closed = await client.assert_closed(4409)
    assert "dup" in closed.get("reason", "")


async def test_frame_over_max_message_size_closes_1009(make_client):
    client = make_client(consumer_class(max_message_size=1000))
    await client.connect_and_init()
    await client.subscribe("big", "{ hello }" + " " * 1000)
    await client.assert_closed(1009)


async def test_frame_at_max_message_size_is_accepted(make_client):
    client = make_client(consumer_class(max_message_size=200))
    await client.connect_and_init()
    head = json.dumps({"type": "subscribe", "id": "ok", "payload": {"query": "{ hello }"}})
    frame = head[:-2] + " " * (200 - len(head)) + head[-2:]
    assert len(frame.encode()) == 200
    await client.send_raw(text=frame)
    assert (await client.receive())["type"] == "next"


async def test_connection_terminate_closes_1000(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.send({"type": "connection_terminate"})
    await client.assert_closed(1000)


async def test_nothing_is_sent_after_a_protocol_close(make_client):
    client = make_client(consumer_class())
    await client.connect_and_init()
    await client.subscribe("slow", "{ slow(seconds: 0.3) }")
    await client.send({"type": "bogus"})
    await client.assert_closed(4400)
    assert await client.communicator.receive_nothing(0.6)


# ------------------------------------------------------------- cleanup


class Recorded(channels_graphql_ws.GraphqlWsConsumer):
    """Keeps its instances so a test can look at their tasks."""

    schema = SCHEMA
    instances: list[Recorded] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        Recorded.instances.append(self)


async def test_disconnect_ends_every_task_and_timer(make_client):
    Recorded.instances.clear()
    slow_connect = make_client(Recorded)  # its init timer is running
    await slow_connect.connect()
    cls = type("Pinging", (Recorded,), {"send_ping_every": 0.05})
    busy = make_client(cls)
    await busy.connect_and_init()
    await busy.subscribe("a", "{ slow(seconds: 30) }")
    await busy.subscribe("b", "{ slow(seconds: 30) }")
    await asyncio.sleep(0.1)
    consumers = list(Recorded.instances)
    tasks = [task for consumer in consumers for task in tasks_of(consumer)]
    assert len(tasks) >= 4  # init timer, keep-alive, two operations
    await slow_connect.disconnect()
    await busy.disconnect()
    assert all(task.done() for task in tasks)
    assert all(not tasks_of(consumer) for consumer in consumers)
    assert all(not records_of(consumer) for consumer in consumers)


async def test_a_bad_connection_does_not_disturb_another(make_client):
    good = make_client(consumer_class())
    bad = make_client(consumer_class())
    await good.connect_and_init()
    await bad.connect_and_init()
    await good.subscribe("g", "{ slow(seconds: 0.3) }")
    await bad.send_raw(text="{{{")
    await bad.assert_closed(4400)
    assert (await good.receive())["payload"] == {"data": {"slow": "slept 0.3"}}
