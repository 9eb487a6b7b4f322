"""graphql-sse single connection mode through the consumer, in process: every row of the table.

The four requests are four consumer instances, as they are on a server;
they share only the channel layer (the in-memory one here; Redis across
processes in ``tests/redis/test_sse_single_connection.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channels_graphql_ws import reservations
from channels_graphql_ws.protocol.sse import TOKEN_HEADER

from .streams import (
    ON_TICK,
    SEEN,
    OnTick,
    StreamConsumer,
    StreamRequest,
    reset_seen,
    sse_events,
)

pytestmark = pytest.mark.timeout(30)


class Session:
    """What Channels' SessionMiddleware puts in the scope, as far as we read it."""

    def __init__(self, key: str | None) -> None:
        self.session_key = key


def as_owner(key: str | None) -> dict[str, Any]:
    return {"session": Session(key)}


@pytest.fixture(autouse=True)
def _fresh() -> None:
    reset_seen()


async def answer(
    method: str,
    *,
    token: str | None = None,
    body: Any = b"",
    accept: str | None = None,
    query_string: bytes = b"",
    owner: str | None = "s1",
) -> StreamRequest:
    """One whole (non-stream) request and its response."""
    headers = [(TOKEN_HEADER.encode(), token.encode())] if token is not None else []
    request = StreamRequest(
        StreamConsumer,
        method,
        body=body,
        accept=accept,
        headers=headers,
        query_string=query_string,
        scope=as_owner(owner),
    )
    await request.start()
    await request.whole()
    await request.disconnect()
    return request


async def reserve(owner: str | None = "s1") -> str:
    put = await answer("PUT", owner=owner)
    assert put.status == 201
    assert put.headers["content-type"] == "text/plain; charset=utf-8"
    return put.received.decode()


async def open_stream(token: str, owner: str | None = "s1") -> StreamRequest:
    stream = StreamRequest(
        StreamConsumer,
        "GET",
        headers=[(TOKEN_HEADER.encode(), token.encode())],
        scope=as_owner(owner),
    )
    await stream.start()
    return stream


def execute(token: str, op_id: str | None, query: str = ON_TICK, **extra: Any) -> Any:
    extensions = {} if op_id is None else {"operationId": op_id}
    body = {"query": query, "variables": {"room": "r1"}, "extensions": extensions, **extra}
    return answer("POST", token=token, body=body)


# ------------------------------------------------------------- the table


async def test_put_makes_a_reservation_with_a_fresh_token() -> None:
    first, second = await reserve(), await reserve()
    assert first != second and len(first) >= 40


async def test_put_with_an_accept_other_than_text_is_406() -> None:
    put = await answer("PUT", accept="application/json")
    assert put.status == 406
    assert (await answer("PUT", accept="text/plain")).status == 201
    assert (await answer("PUT", accept="*/*")).status == 201


async def test_get_opens_the_stream_once_then_409() -> None:
    token = await reserve()
    stream = await open_stream(token)
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert await stream.chunk() == b":\n\n"
    again = await open_stream(token)
    await again.whole()
    assert again.status == 409
    await again.disconnect()
    await stream.disconnect()


async def test_get_with_an_unknown_token_is_404() -> None:
    stream = await open_stream("no-such-token")
    await stream.whole()
    assert stream.status == 404
    await stream.disconnect()


async def test_post_to_an_unknown_token_is_404() -> None:
    assert (await execute("no-such-token", "op")).status == 404


async def test_post_without_operation_id_is_400() -> None:
    token = await reserve()
    assert (await execute(token, None)).status == 400


async def test_post_with_an_invalid_document_is_400_with_graphql_errors() -> None:
    token = await reserve()
    found = await execute(token, "op", query="{ nope }")
    assert found.status == 400
    assert "nope" in found.json()["errors"][0]["message"]


async def test_post_accepted_is_202_and_results_arrive_on_the_stream_with_the_id() -> None:
    token = await reserve()
    stream = await open_stream(token)
    await stream.chunk()
    accepted = await execute(token, "op-1", query="{ hello }")
    assert (accepted.status, accepted.received) == (202, b"")
    await stream.until(b"complete")
    assert sse_events(stream.received) == [
        ("next", {"id": "op-1", "payload": {"data": {"hello": "world"}}}),
        ("complete", {"id": "op-1"}),
    ]
    assert SEEN["operations"][-1][0] == "op-1"
    await stream.disconnect()
    assert SEEN["gone"] == [1001]


async def test_post_of_a_running_operation_id_is_409() -> None:
    token = await reserve()
    stream = await open_stream(token)
    await stream.chunk()
    assert (await execute(token, "same")).status == 202
    assert (await execute(token, "same")).status == 409
    await stream.disconnect()


async def test_delete_without_operation_id_is_400_and_with_an_unknown_token_404() -> None:
    token = await reserve()
    assert (await answer("DELETE", token=token)).status == 400
    unknown = await answer("DELETE", token="no-such", query_string=b"operationId=x")
    assert unknown.status == 404


async def test_delete_stops_the_operation_and_is_200_also_for_an_unknown_one() -> None:
    token = await reserve()
    stream = await open_stream(token)
    await stream.chunk()
    assert (await execute(token, "sub")).status == 202
    while "r1" not in SEEN["subscribed"]:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    await OnTick.broadcast_async(group="r1", payload=1)
    await stream.until(b'"n": 1')
    stopped = await answer("DELETE", token=token, query_string=b"operationId=sub")
    assert stopped.status == 200
    await stream.until(b"event: complete")
    assert sse_events(stream.received)[-1] == ("complete", {"id": "sub"})
    assert SEEN["unsubscribed"] == ["r1"]
    assert (await answer("DELETE", token=token, query_string=b"operationId=zzz")).status == 200
    # The id is free again once the operation ended.
    assert (await execute(token, "sub", query="{ hello }")).status == 202
    await stream.until(b'"world"')
    await stream.disconnect()


# -------------------------------------------------------------- the rules


async def test_results_posted_before_the_stream_opens_arrive_once_it_does() -> None:
    token = await reserve()
    assert (await execute(token, "early", query="{ hello }")).status == 202
    stream = await open_stream(token)
    await stream.until(b"complete")
    assert sse_events(stream.received) == [
        ("next", {"id": "early", "payload": {"data": {"hello": "world"}}}),
        ("complete", {"id": "early"}),
    ]
    await stream.disconnect()


async def test_the_token_is_bound_to_whoever_reserved_it() -> None:
    token = await reserve(owner="alice-session")
    stranger = await open_stream(token, owner="mallory-session")
    await stranger.whole()
    assert stranger.status == 404
    await stranger.disconnect()
    assert (await answer("POST", token=token, body={"query": "{ hello }"}, owner="x")).status == 404
    stream = await open_stream(token, owner="alice-session")
    assert stream.status == 200
    await stream.disconnect()


async def test_the_stream_ending_ends_its_operations_and_its_reservation() -> None:
    token = await reserve()
    stream = await open_stream(token)
    await stream.chunk()
    assert (await execute(token, "a")).status == 202
    while "r1" not in SEEN["subscribed"]:
        await asyncio.sleep(0.01)
    await stream.disconnect()
    assert SEEN["unsubscribed"] == ["r1"]
    assert SEEN["gone"] == [1001]
    assert (await execute(token, "b")).status == 404
    assert not await reservations._memory.exists(token, "session:s1")


async def test_server_unsubscribe_completes_the_operation_and_the_stream_goes_on() -> None:
    token = await reserve()
    stream = await open_stream(token)
    await stream.chunk()
    assert (await execute(token, "s")).status == 202
    while "r1" not in SEEN["subscribed"]:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    await OnTick.unsubscribe_async(group="r1")
    await stream.until(b"event: complete")
    assert not stream.ended
    assert (await execute(token, "q", query="{ hello }")).status == 202
    await stream.until(b'"world"')
    await stream.disconnect()


async def test_operation_ids_reach_on_operation() -> None:
    token = await reserve()
    stream = await open_stream(token)
    await stream.chunk()
    await execute(token, "hooked", query="{ hello }")
    await stream.until(b"complete")
    assert [op_id for op_id, _ in SEEN["operations"]] == ["hooked"]
    await stream.disconnect()


async def test_anonymous_without_a_session_is_bound_to_the_token_alone() -> None:
    token = await reserve(owner=None)
    stream = await open_stream(token, owner=None)
    assert stream.status == 200
    await stream.disconnect()


def test_reservations_hold_the_token_only_as_a_digest() -> None:
    assert reservations.route_channel("secret") == "graphql-sse." + reservations.digest("secret")
    assert "secret" not in reservations.route_channel("secret")


async def test_single_connection_mode_off_answers_put_with_405() -> None:
    off = type("Off", (StreamConsumer,), {"sse_single_connection": False})
    request = StreamRequest(off, "PUT", accept=None)
    await request.start()
    await request.whole()
    assert (request.status, request.headers["allow"]) == (405, "GET, POST")
    await request.disconnect()
    on = await answer("PATCH")
    assert on.headers["allow"] == "GET, POST, PUT, DELETE"
