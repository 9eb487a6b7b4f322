"""Keep-alives and pong_timeout (API.md decision 21)."""

from __future__ import annotations

import asyncio

import channels_graphql_ws

from .support import consumer_class


def test_liveness_is_off_by_default():
    assert channels_graphql_ws.GraphqlWsConsumer.pong_timeout is None
    assert channels_graphql_ws.GraphqlWsConsumer.send_ping_every is None


async def test_missing_pong_closes_1011(make_client):
    client = make_client(consumer_class(send_ping_every=0.05, pong_timeout=0.1))
    await client.connect_and_init()
    assert await client.receive(timeout=1) == {"type": "ping"}
    output = None
    for _ in range(10):  # more pings may come before the close
        output = await client.communicator.receive_output(2)
        if output["type"] == "websocket.close":
            break
    assert output is not None and output["type"] == "websocket.close"
    assert output["code"] == 1011


async def test_answered_pings_keep_the_socket_open(make_client):
    client = make_client(consumer_class(send_ping_every=0.05, pong_timeout=0.1))
    await client.connect_and_init()
    deadline = asyncio.get_running_loop().time() + 0.6
    pings = 0
    while asyncio.get_running_loop().time() < deadline:
        assert await client.receive(timeout=1) == {"type": "ping"}
        pings += 1
        await client.send({"type": "pong"})
    assert pings >= 5
    assert await client.execute("q", "{ hello }") == {"data": {"hello": "Hello, world!"}}


async def test_without_pong_timeout_unanswered_pings_never_close(make_client):
    client = make_client(consumer_class(send_ping_every=0.05))
    await client.connect_and_init()
    for _ in range(8):
        assert await client.receive(timeout=1) == {"type": "ping"}


async def test_legacy_never_closes_for_missing_pongs(make_client):
    cls = consumer_class(send_ping_every=0.05, pong_timeout=0.05)
    client = make_client(cls, ["graphql-ws"])
    await client.connect()
    await client.send({"type": "connection_init"})
    assert await client.receive() == {"type": "connection_ack"}
    assert await client.receive() == {"type": "ka"}  # at once, right after the ack
    for _ in range(6):
        assert await client.receive(timeout=1) == {"type": "ka"}
