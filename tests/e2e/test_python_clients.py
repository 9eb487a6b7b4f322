"""Python clients against daphne and uvicorn: ``gql`` on both subprotocols, raw ``websockets``.

``gql``'s websockets transport speaks graphql-transport-ws
(``GRAPHQLWS_SUBPROTOCOL``) and the legacy graphql-ws (``APOLLO_SUBPROTOCOL``).
The raw ``websockets`` client (installed with gql) checks what no library
shows: a socket that never sends ``connection_init`` is closed with 4408,
and the legacy ``ka`` messages arrive right after the ack and then on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from gql import Client, gql
from gql.transport.exceptions import TransportError, TransportQueryError, TransportServerError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

from .support import PYTHON_TEST_TIMEOUT, Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PYTHON_TEST_TIMEOUT)]

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws"
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # "graphql-ws"
SUBPROTOCOLS = pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])

#: Seconds any single wait on the network may take before the test fails.
STEP_TIMEOUT = 10.0


class CountingTransport(WebsocketsTransport):
    """gql's transport, counting every message type it handles."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requested: list[str] = kwargs["subprotocols"]
        self.received: dict[str, int] = {}

    async def _handle_answer(self, answer_type: str, answer_id: Any, execution_result: Any) -> None:
        self.received[answer_type] = self.received.get(answer_type, 0) + 1
        await super()._handle_answer(answer_type, answer_id, execution_result)


def transport(
    server: Server, subprotocol: str, path: str = "/graphql/", **kwargs: Any
) -> CountingTransport:
    return CountingTransport(
        url=server.url(path),
        subprotocols=[subprotocol],
        connect_timeout=STEP_TIMEOUT,
        ack_timeout=STEP_TIMEOUT,
        close_timeout=STEP_TIMEOUT,
        **kwargs,
    )


@contextlib.asynccontextmanager
async def session(transport: CountingTransport) -> AsyncIterator[Any]:
    async with Client(transport=transport, fetch_schema_from_transport=False) as client_session:
        # The server chose the one subprotocol offered.
        assert transport.subprotocol == transport.requested[0]
        yield client_session


async def execute(client_session: Any, query: str) -> Any:
    return await asyncio.wait_for(client_session.execute(gql(query)), STEP_TIMEOUT)


def close_codes(error: BaseException) -> list[int]:
    """Every WebSocket close code received along an exception's chain of causes."""
    codes: list[int] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        received = getattr(current, "rcvd", None)
        if received is not None:
            codes.append(received.code)
        current = current.__cause__ or current.__context__
    return codes


# ------------------------------------------------------------------- gql


@SUBPROTOCOLS
async def test_gql_query_and_mutation(server: Server, subprotocol: str) -> None:
    t = transport(server, subprotocol, init_payload={"greet": True})
    async with session(t) as s:
        assert await execute(s, '{ hello(name: "gql") }') == {"hello": "Hello, gql!"}
        assert await execute(s, "{ hello }") == {"hello": "Hello, world!"}
        assert await execute(s, "{ slow(seconds: 0.05) }") == {"slow": 0.05}
        bumped = await execute(s, "mutation { increment(by: 2) { value } }")
        value = bumped["increment"]["value"]
        assert isinstance(value, int)
        again = await execute(s, "mutation { increment(by: 3) { value } }")
        assert again == {"increment": {"value": value + 3}}
    if subprotocol == TRANSPORT_WS:
        # gql keeps the ack payload only on graphql-transport-ws.
        assert t.payloads["connection_ack"] == {"welcome": True}


@SUBPROTOCOLS
async def test_gql_errors(server: Server, subprotocol: str) -> None:
    async with session(transport(server, subprotocol)) as s:
        # gql raises for any result with errors; the result travels with the exception.
        with pytest.raises(TransportQueryError) as resolver_error:
            await execute(s, "{ fail }")
        assert resolver_error.value.data == {"fail": None}
        assert resolver_error.value.errors == [
            {
                "message": "fail resolver says no",
                "locations": [{"line": 2, "column": 3}],
                "path": ["fail"],
            }
        ]

        with pytest.raises(TransportQueryError) as invalid:
            await execute(s, "{ nope }")
        assert invalid.value.errors == [
            {
                "message": "Cannot query field 'nope' on type 'Query'.",
                "locations": [{"line": 2, "column": 3}],
            }
        ]
        # The socket stays usable after both.
        assert await execute(s, "{ hello }") == {"hello": "Hello, world!"}


@SUBPROTOCOLS
async def test_gql_rejected_by_on_connect(server: Server, subprotocol: str) -> None:
    t = transport(server, subprotocol, init_payload={"reject": True})
    with pytest.raises(TransportError) as rejected:
        async with session(t):
            pass
    if subprotocol == TRANSPORT_WS:
        assert 4403 in close_codes(rejected.value), repr(rejected.value)
    else:
        assert isinstance(rejected.value, TransportServerError)
        assert "Connection rejected" in str(rejected.value)


async def test_gql_ping_pong(server: Server) -> None:
    """gql pings every 0.2 s and wants a pong within 1 s; the server pings every 0.2 s too."""
    t = transport(server, TRANSPORT_WS, "/graphql-ping/", ping_interval=0.2, pong_timeout=1)
    async with session(t) as s:
        assert await execute(s, "{ hello }") == {"hello": "Hello, world!"}
        await asyncio.sleep(1.2)
        # Without pongs gql would have closed the connection by now.
        assert await execute(s, '{ hello(name: "after") }') == {"hello": "Hello, after!"}
        assert t.ping_received.is_set()
        assert t.received.get("pong", 0) >= 3, t.received
        assert t.received.get("ping", 0) >= 3, t.received


async def test_gql_legacy_keepalive(server: Server) -> None:
    """On legacy, gql drops the connection if no `ka` comes within `keep_alive_timeout`."""
    t = transport(server, LEGACY_WS, "/graphql-ping/", keep_alive_timeout=0.6)
    async with session(t) as s:
        assert await execute(s, "{ hello }") == {"hello": "Hello, world!"}
        await asyncio.sleep(1.2)
        assert await execute(s, '{ hello(name: "after") }') == {"hello": "Hello, after!"}
        assert t.received.get("ka", 0) >= 5, t.received


# ------------------------------------------------------ raw websockets


@pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])
async def test_raw_client_silent_after_connect_gets_4408(server: Server, subprotocol: str) -> None:
    started = time.monotonic()
    async with websockets.connect(server.url("/graphql-init/"), subprotocols=[subprotocol]) as ws:
        assert ws.subprotocol == subprotocol
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    waited = time.monotonic() - started
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408
    # The endpoint's connection_init_wait_timeout is 0.5 s.
    assert 0.4 <= waited < 2.0, waited


async def test_raw_legacy_client_gets_ka_after_ack_and_periodically(server: Server) -> None:
    async with websockets.connect(server.url("/graphql-ping/"), subprotocols=[LEGACY_WS]) as ws:
        assert ws.subprotocol == LEGACY_WS
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))

        async def receive() -> tuple[float, dict[str, Any]]:
            text = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
            return time.monotonic(), json.loads(text)

        acked_at, ack = await receive()
        assert ack == {"type": "connection_ack"}
        first_at, first = await receive()
        assert first == {"type": "ka"}
        # "At once": well before the first periodic one, 0.2 s later.
        assert first_at - acked_at < 0.15, first_at - acked_at

        times = [first_at]
        while times[-1] - first_at < 1.0:
            at, message = await receive()
            assert message == {"type": "ka"}
            times.append(at)
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        assert len(gaps) >= 4, gaps
        median = gaps[len(gaps) // 2]
        assert 0.1 <= median <= 0.4, gaps
