"""graphql-sse single connection mode on daphne and uvicorn: every row of the status table.

The stream is read with the raw client (each event as written); the other
requests go with ``aiohttp``. Across processes on Redis:
``tests/redis/test_sse_single_connection.py``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import pytest

from channels_graphql_ws.protocol.sse import TOKEN_HEADER
from tests.e2e.support import PYTHON_TEST_TIMEOUT, Server

from .rawhttp import RawStream, open_stream
from .support import EVENTS, ON_MESSAGE, end_room, send, sse_blocks, until_listening

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PYTHON_TEST_TIMEOUT)]


async def call(
    server: Server,
    method: str,
    *,
    token: str | None = None,
    body: Any = None,
    accept: str | None = None,
    query: str = "",
) -> tuple[int, bytes]:
    headers = {TOKEN_HEADER: token} if token is not None else {}
    if accept is not None:
        headers["accept"] = accept
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.request(method, server.http() + query, json=body, headers=headers) as response,
    ):
        return response.status, await response.read()


async def reserve(server: Server) -> str:
    status, body = await call(server, "PUT")
    assert status == 201
    return body.decode()


async def stream_of(server: Server, token: str) -> RawStream:
    return await open_stream(
        server.port, "GET", "/graphql/", headers={"accept": EVENTS, TOKEN_HEADER: token}
    )


def operation(op_id: str | None, query: str = "{ hello }", **variables: Any) -> dict[str, Any]:
    extensions = {"operationId": op_id} if op_id is not None else {}
    return {"query": query, "variables": variables, "extensions": extensions}


def events(raw: bytes) -> list[tuple[str, Any]]:
    found = []
    for block in sse_blocks(raw):
        if block[0].startswith(":"):
            continue
        data = block[1][len("data:") :].strip()
        found.append((block[0][len("event: ") :], json.loads(data) if data else None))
    return found


async def test_put_201_and_406(server: Server) -> None:
    assert len(await reserve(server)) >= 40
    assert (await call(server, "PUT", accept="application/json"))[0] == 406


async def test_get_200_then_409_and_404_for_an_unknown_token(server: Server) -> None:
    token = await reserve(server)
    stream = await stream_of(server, token)
    try:
        assert (stream.status, await stream.chunk()) == (200, b":\n\n")
        again = await stream_of(server, token)
        assert again.status == 409
        again.close()
    finally:
        stream.close()
    unknown = await stream_of(server, "unknown-token")
    assert unknown.status == 404
    unknown.close()


async def test_post_404_400_409_400_202(server: Server) -> None:
    assert (await call(server, "POST", token="unknown", body=operation("a")))[0] == 404
    token = await reserve(server)
    assert (await call(server, "POST", token=token, body=operation(None)))[0] == 400
    status, body = await call(server, "POST", token=token, body=operation("b", "{ nope }"))
    assert status == 400 and "nope" in json.loads(body)["errors"][0]["message"]
    room = f"sc-{uuid.uuid4().hex}"
    subscribe = operation("c", ON_MESSAGE, room=room)
    assert await call(server, "POST", token=token, body=subscribe) == (202, b"")
    assert (await call(server, "POST", token=token, body=subscribe))[0] == 409


async def test_delete_400_404_200(server: Server) -> None:
    token = await reserve(server)
    assert (await call(server, "DELETE", token=token))[0] == 400
    assert (await call(server, "DELETE", token="unknown", query="?operationId=x"))[0] == 404
    assert (await call(server, "DELETE", token=token, query="?operationId=never-ran"))[0] == 200


async def test_results_posted_before_the_get_arrive_once_it_connects_then_broadcasts_and_stop(
    server: Server,
) -> None:
    token = await reserve(server)
    room = f"sc-{uuid.uuid4().hex}"
    assert (await call(server, "POST", token=token, body=operation("early")))[0] == 202
    subscribe = operation("sub", ON_MESSAGE, room=room)
    assert (await call(server, "POST", token=token, body=subscribe))[0] == 202
    stream = await stream_of(server, token)
    try:
        await until_listening(server, room)
        await send(server, room, 1)
        await stream.until(b'"seq": 1')
        assert (await call(server, "DELETE", token=token, query="?operationId=sub"))[0] == 200
        await stream.until(b'{"id":"sub"}')
        # A second subscription ends on a server-side unsubscribe, the stream stays.
        again = operation("sub2", ON_MESSAGE, room=room)
        assert (await call(server, "POST", token=token, body=again))[0] == 202
        await until_listening(server, room, subscribers=2)
        await end_room(server, room)
        await stream.until(b'{"id":"sub2"}')
        assert not stream.ended
    finally:
        stream.close()
    assert events(stream.body) == [
        ("next", {"id": "early", "payload": {"data": {"hello": "world"}}}),
        ("complete", {"id": "early"}),
        (
            "next",
            {"id": "sub", "payload": {"data": {"onMessage": {"text": "message 1", "seq": 1}}}},
        ),
        ("complete", {"id": "sub"}),
        ("complete", {"id": "sub2"}),
    ]
