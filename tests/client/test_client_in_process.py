"""``GraphqlWsClient`` behaviour checked in-process against the consumer (no server).

The liveness check closes silent clients here with the code the library
chooses, whatever a server would accept on the wire.
"""

from __future__ import annotations

import asyncio

import pytest

from . import schema

TRANSPORT_WS = "graphql-transport-ws"
BOTH = pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, "graphql-ws"])

LIVENESS = {"send_ping_every": 0.05, "pong_timeout": 0.2}


async def test_a_client_that_does_not_answer_pings_is_closed(graphql_ws_client):
    """The control for the next test: silence is punished."""
    # The close (0.1 s after the first ping) comes before a second ping (0.3 s).
    client = await graphql_ws_client(schema.schema, send_ping_every=0.3, pong_timeout=0.1)
    assert await client.transport.receive(timeout=2) == {"type": "ping"}
    close = await client.wait_disconnect(timeout=2)
    assert close["code"] not in (None, 1000)  # a close that means "no pong"


@BOTH
async def test_server_pings_are_answered_while_the_client_waits(graphql_ws_client, subprotocol):
    client = await graphql_ws_client(schema.schema, subprotocol=subprotocol, **LIVENESS)
    # 0.6 s: a dozen keep-alives, three times the pong timeout.
    result = await asyncio.wait_for(client.execute("{ slow(seconds: 0.6) }"), 2)
    assert result == {"data": {"slow": 0.6}}
    assert await client.execute("{ hello }") == {"data": {"hello": "Hello, world!"}}
