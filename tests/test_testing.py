"""channels_graphql_ws.testing: the client, transport and fixture users test with."""

from __future__ import annotations

import asyncio

import graphene
import pytest

from channels_graphql_ws import GraphqlWsResponseError, testing, transport

from .consumer.support import SCHEMA

BOTH = pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])


@BOTH
async def test_execute_returns_the_result(graphql_ws_client, subprotocol):
    client = await graphql_ws_client(SCHEMA, subprotocol=subprotocol)
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
    assert client.connected


@BOTH
async def test_execute_raises_promptly_on_a_validation_error(graphql_ws_client, subprotocol):
    client = await graphql_ws_client(SCHEMA, subprotocol=subprotocol)
    with pytest.raises(GraphqlWsResponseError) as raised:
        await asyncio.wait_for(client.execute("{ nope }"), timeout=2)
    assert "Cannot query field 'nope'" in str(raised.value)
    await client.assert_no_messages()  # nothing left over, e.g. a stray `complete`
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}


@BOTH
async def test_execute_raises_on_resolver_errors(graphql_ws_client, subprotocol):
    client = await graphql_ws_client(SCHEMA, subprotocol=subprotocol)
    with pytest.raises(GraphqlWsResponseError) as raised:
        await client.execute("{ fail }")
    assert raised.value.response["payload"]["data"] == {"fail": None}
    await client.assert_no_messages()


async def test_receive_error_on_transport_ws_is_the_error_list(graphql_ws_client):
    client = await graphql_ws_client(SCHEMA)
    op_id = await client.start("{ nope }")
    errors, data = await client.receive_error(op_id)
    assert data is None and "nope" in errors[0]["message"]


async def test_receive_error_on_legacy_is_errors_and_data(graphql_ws_client):
    client = await graphql_ws_client(SCHEMA, subprotocol="graphql-ws")
    op_id = await client.start("{ nope }")
    errors, data = await client.receive_error(op_id)
    assert data is None and "nope" in errors[0]["message"]
    await client.receive_complete(op_id)


@BOTH
async def test_assert_no_messages_ignores_keepalives(graphql_ws_client, subprotocol):
    client = await graphql_ws_client(SCHEMA, subprotocol=subprotocol, send_ping_every=0.02)
    await client.assert_no_messages(attempts=5, interval=0.05)
    await client.start("{ hello }")
    with pytest.raises(AssertionError, match="nothing expected"):
        await client.assert_no_messages()


async def test_connect_only_then_raw_message(graphql_ws_client):
    client = await graphql_ws_client(SCHEMA, init=False)
    await client.connect_and_init(connect_only=True)
    assert client.connected
    await client.send_raw_message({"type": "subscribe", "id": "1", "payload": {}})
    await client.wait_disconnect(assert_code=4400)
    # A second disconnect after wait_disconnect is harmless, and so is a
    # receive: it says at once that nothing more will come.
    await client.finalize()
    started = asyncio.get_running_loop().time()
    with pytest.raises(asyncio.TimeoutError):
        await client.transport.receive(timeout=5)
    assert asyncio.get_running_loop().time() - started < 1


@BOTH
async def test_older_clients_empty_string_init_payload_is_accepted(graphql_ws_client, subprotocol):
    seen = []
    client = await graphql_ws_client(
        SCHEMA, subprotocol=subprotocol, init=False, on_connect=lambda self, p: seen.append(p)
    )
    await client.connect_and_init(payload="")
    assert seen == [""]


async def test_legacy_integer_ids_are_echoed(graphql_ws_client):
    client = await graphql_ws_client(SCHEMA, subprotocol="graphql-ws")
    assert await client.start("{ hello }", msg_id=7) == 7
    response = await client.receive(raw_response=True)
    assert response["id"] == 7 and response["type"] == "data"
    assert await client.receive_complete(7) is None


async def test_communicator_kwds_reach_the_scope_unchanged(graphql_ws_client):
    class Headers(graphene.ObjectType):
        headers = graphene.String()

        @staticmethod
        def resolve_headers(root, info):
            return repr(info.context.channels_scope["headers"])

    headers = [(b"origin", b"http://example.org"), (b"x-test", b"1")]
    client = await graphql_ws_client(
        graphene.Schema(query=Headers), communicator_kwds={"headers": headers}
    )
    result = await client.execute("{ headers }")
    assert result["data"]["headers"] == repr(headers)


@BOTH
async def test_wait_disconnect_reports_the_close_code(graphql_ws_client, subprotocol):
    client = await graphql_ws_client(
        SCHEMA,
        subprotocol=subprotocol,
        init=False,
        on_connect=lambda self, payload: False,
    )
    await client.connect_and_init(connect_only=True)
    await client.send_raw_message({"type": "connection_init"})
    if subprotocol == "graphql-ws":
        message = await client.receive(raw_response=True)
        assert message["type"] == "connection_error"
        await client.wait_disconnect(assert_code=4000)
    else:
        await client.wait_disconnect(assert_code=4403)


async def test_many_receives_at_once_lose_nothing(graphql_ws_client):
    client = await graphql_ws_client(SCHEMA, subprotocol="graphql-ws")
    waiter = asyncio.ensure_future(client.transport.receive(timeout=5))
    await asyncio.sleep(0.05)
    waiter.cancel()
    op_id = await client.start("{ hello }", msg_id="after-cancel")
    assert (await client.receive(raw_response=True))["id"] == op_id


def test_testing_transport_is_a_transport():
    assert issubclass(testing.GraphqlWsTransport, transport.GraphqlWsTransport)
    assert testing.GraphqlWsTransport.TIMEOUT == 30
    assert issubclass(testing.GraphqlWsClient, testing.client.GraphqlWsClient)


async def test_transport_interface_methods_are_abstract():
    base = transport.GraphqlWsTransport()
    for call in (base.connect(), base.send({}), base.receive(), base.disconnect()):
        with pytest.raises(NotImplementedError):
            await call
