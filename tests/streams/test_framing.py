"""The bytes of SSE and multipart streams as daphne and uvicorn send them.

Read with a raw HTTP/1.1 client (``rawhttp``): every chunk is one body
message of the consumer, so "the first chunk is a comment" is checked as
written, and so are the event names, the ``data:`` lines, CRLF line ends,
heartbeats and the close delimiter.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from channels_graphql_ws.protocol import multipart, sse
from tests.e2e.support import PYTHON_TEST_TIMEOUT, Server

from .rawhttp import open_stream
from .support import EVENTS, MULTIPART, ON_MESSAGE, end_room, send, sse_blocks, until_listening

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PYTHON_TEST_TIMEOUT)]

COUNT = 5


def subscription(room: str) -> dict[str, object]:
    return {"query": ON_MESSAGE, "variables": {"room": room}}


async def test_sse_first_chunk_is_a_comment_and_the_head_forbids_buffering(
    server: Server,
) -> None:
    room = f"head-{uuid.uuid4().hex}"
    stream = await open_stream(
        server.port, "POST", "/graphql/", body=subscription(room), headers={"accept": EVENTS}
    )
    try:
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert stream.headers["cache-control"] == "no-cache, no-transform"
        assert stream.headers["x-accel-buffering"] == "no"
        assert await stream.chunk() == sse.COMMENT
    finally:
        stream.close()


async def test_sse_events_are_next_then_complete_with_a_data_line_and_nothing_else(
    server: Server,
) -> None:
    room = f"sse-{uuid.uuid4().hex}"
    stream = await open_stream(
        server.port, "POST", "/graphql/", body=subscription(room), headers={"accept": EVENTS}
    )
    try:
        await until_listening(server, room)
        for seq in range(1, COUNT + 1):
            await send(server, room, seq)
        await stream.until(f'"seq": {COUNT}'.encode())
        await end_room(server, room)
        raw = await stream.whole()
    finally:
        stream.close()
    assert stream.chunks[0] == b":\n\n"
    events = [block for block in sse_blocks(raw) if not block[0].startswith(":")]
    assert [block[0] for block in events] == ["event: next"] * COUNT + ["event: complete"]
    for block in events:
        assert len(block) == 2 and block[1].startswith("data:"), block
    assert [json.loads(block[1][5:]) for block in events[:-1]] == [
        {"data": {"onMessage": {"text": f"message {seq}", "seq": seq}}}
        for seq in range(1, COUNT + 1)
    ]
    assert events[-1] == ["event: complete", "data:"]
    assert raw.endswith(b"event: complete\ndata:\n\n")


async def test_sse_keepalives_are_comments_at_the_interval(server: Server) -> None:
    room = f"ping-{uuid.uuid4().hex}"
    stream = await open_stream(
        server.port, "POST", "/graphql-ping/", body=subscription(room), headers={"accept": EVENTS}
    )
    try:
        chunks = [await stream.chunk(2.0) for _ in range(4)]
    finally:
        stream.close()
    assert chunks == [sse.COMMENT] * 4


async def test_multipart_is_crlf_heartbeats_first_results_then_the_close_delimiter(
    server: Server,
) -> None:
    room = f"mp-{uuid.uuid4().hex}"
    stream = await open_stream(
        server.port, "POST", "/graphql/", body=subscription(room), headers={"accept": MULTIPART}
    )
    try:
        assert stream.status == 200
        assert stream.headers["content-type"] == (
            'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"'
        )
        assert stream.headers["x-accel-buffering"] == "no"
        assert await stream.chunk() == multipart.HEARTBEAT
        await until_listening(server, room)
        for seq in range(1, COUNT + 1):
            await send(server, room, seq)
        await stream.until(f'"seq": {COUNT}'.encode())
        await end_room(server, room)
        raw = await stream.whole()
    finally:
        stream.close()
    assert re.search(rb"(?<!\r)\n", raw) is None, "every line end is CRLF"
    assert raw.startswith(b"\r\n--graphql\r\nContent-Type: application/json\r\n\r\n{}")
    assert raw.endswith(b"\r\n--graphql--\r\n")
    parts = raw[: -len(multipart.CLOSE)].split(b"\r\n--graphql\r\n")[1:]
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in parts]
    results = [body for body in bodies if body != {}]
    assert results == [
        {"payload": {"data": {"onMessage": {"text": f"message {seq}", "seq": seq}}}}
        for seq in range(1, COUNT + 1)
    ]


async def test_multipart_heartbeats_while_idle(server: Server) -> None:
    room = f"hb-{uuid.uuid4().hex}"
    stream = await open_stream(
        server.port,
        "POST",
        "/graphql-ping/",
        body=subscription(room),
        headers={"accept": MULTIPART},
    )
    try:
        chunks = [await stream.chunk(2.0) for _ in range(3)]
    finally:
        stream.close()
    assert chunks == [multipart.HEARTBEAT] * 3


async def test_multipart_refusal_is_a_plain_graphql_response(server: Server) -> None:
    stream = await open_stream(
        server.port,
        "POST",
        "/graphql/",
        body={"query": "subscription { nothing }"},
        headers={"accept": MULTIPART},
    )
    try:
        body = json.loads(await stream.whole())
    finally:
        stream.close()
    assert stream.status == 400
    assert stream.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert "nothing" in body["errors"][0]["message"]
