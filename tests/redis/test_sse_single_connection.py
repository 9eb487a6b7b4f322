"""graphql-sse single connection mode across two uvicorn processes sharing Redis.

The reservation (PUT) and its stream (GET) are on one process, the
operations (POST) and the stop (DELETE) land on the other, as behind a load
balancer. The reservation and the operation ids live in Redis under the
session's prefix; operations travel to the stream over the reservation's
plain layer channel, which keeps what is posted before the GET arrives.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import redis

from channels_graphql_ws.protocol.sse import TOKEN_HEADER
from channels_graphql_ws.reservations import digest
from tests.e2e.support import Server, running_server
from tests.streams.rawhttp import open_stream
from tests.streams.support import EVENTS, ON_MESSAGE, send, sse_blocks, until_listening

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def two_servers(
    redis_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """Two uvicorn processes serving ``tests.streams.server_app`` on the Redis core layer."""
    env = {
        "CGWS_TEST_LAYER": "core",
        "CGWS_TEST_REDIS_URL": redis_url,
        "CGWS_TEST_REDIS_PREFIX": redis_prefix,
    }
    folder = tmp_path_factory.mktemp("sse-single")
    common = {
        "app": "tests.streams.server_app:application",
        "settings": "tests.streams.server_settings",
        "env": env,
    }
    with (
        running_server("uvicorn", folder / "first.log", **common) as first,
        running_server("uvicorn", folder / "second.log", **common) as second,
    ):
        yield first, second


async def call(
    server: Server, method: str, token: str, body: Any = None, query: str = ""
) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.request(
            method, server.http() + query, json=body, headers={TOKEN_HEADER: token}
        ) as response,
    ):
        return response.status, await response.read()


def operation(op_id: str, query: str, **variables: Any) -> dict[str, Any]:
    return {"query": query, "variables": variables, "extensions": {"operationId": op_id}}


def events(raw: bytes) -> list[tuple[str, Any]]:
    found = []
    for block in sse_blocks(raw):
        if not block[0].startswith(":"):
            data = block[1][len("data:") :].strip()
            found.append((block[0][len("event: ") :], json.loads(data) if data else None))
    return found


async def test_put_and_get_on_one_process_post_and_delete_on_the_other(
    two_servers: tuple[Server, Server], redis_url: str, redis_prefix: str
) -> None:
    first, second = two_servers
    room = f"cross-{uuid.uuid4().hex}"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.put(first.http()) as response,
    ):
        assert response.status == 201
        token = await response.text()

    # Posted on the second process before the stream exists anywhere.
    assert await call(second, "POST", token, operation("early", "{ hello }")) == (202, b"")
    subscribe = operation("sub", ON_MESSAGE, room=room)
    assert await call(second, "POST", token, subscribe) == (202, b"")
    # The operation id is taken for every process.
    assert (await call(first, "POST", token, subscribe))[0] == 409

    stream = await open_stream(
        first.port, "GET", "/graphql/", headers={"accept": EVENTS, TOKEN_HEADER: token}
    )
    try:
        assert stream.status == 200
        # The stream's process runs the subscription; a broadcast from either reaches it.
        await until_listening(first, room)
        await send(second, room, 1)
        await stream.until(b'"seq": 1')
        await send(first, room, 2)
        await stream.until(b'"seq": 2')
        # A second stream for the token, from the other process: refused.
        again = await open_stream(
            second.port, "GET", "/graphql/", headers={"accept": EVENTS, TOKEN_HEADER: token}
        )
        assert again.status == 409
        again.close()
        assert await call(second, "DELETE", token, query="?operationId=sub") == (200, b"")
        await stream.until(b'event: complete\ndata: {"id":"sub"}')
        # The id is free again, for every process.
        assert (await call(second, "POST", token, operation("sub", "{ hello }")))[0] == 202
        await stream.until(b'"id":"sub","payload":{"data": {"hello"')
    finally:
        stream.close()

    assert events(stream.body)[:5] == [
        ("next", {"id": "early", "payload": {"data": {"hello": "world"}}}),
        ("complete", {"id": "early"}),
        (
            "next",
            {"id": "sub", "payload": {"data": {"onMessage": {"text": "message 1", "seq": 1}}}},
        ),
        (
            "next",
            {"id": "sub", "payload": {"data": {"onMessage": {"text": "message 2", "seq": 2}}}},
        ),
        ("complete", {"id": "sub"}),
    ]

    # Once the stream is gone, so is the reservation: everywhere, and in Redis.
    for attempt in range(40):
        status, _ = await call(second, "POST", token, operation(f"late-{attempt}", "{ hello }"))
        if status == 404:
            break
        await asyncio.sleep(0.05)
    print(f"the reservation was gone after {attempt} attempts")
    assert status == 404
    client = redis.Redis.from_url(redis_url)
    try:
        key = f"{redis_prefix}graphql-sse:{digest(token)}"
        assert client.exists(key, key + ":operations") == 0
        assert token.encode() not in b"".join(client.keys(f"{redis_prefix}*"))
    finally:
        client.close()
