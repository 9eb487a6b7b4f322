"""SSE (distinct connections mode) and Apollo multipart through the consumer, in process.

Each stream is a session of the engine: hooks, groups through the fan-out,
``unsubscribed`` once, ``on_disconnect`` when it ends. Real servers and real
clients are in ``tests/e2e/test_streams.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channels_graphql_ws.protocol import multipart
from tests.internals import fanout_of

from .streams import (
    MULTIPART,
    ON_TICK,
    SEEN,
    OnTick,
    StreamConsumer,
    StreamRequest,
    reset_seen,
    sse_events,
)

pytestmark = pytest.mark.timeout(30)

STEP_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def _fresh() -> None:
    reset_seen()


async def subscribed(request: StreamRequest, room: str) -> None:
    """Wait until the subscription of ``room`` joined its group (``subscribe`` ran)."""
    for _ in range(200):
        if room in SEEN["subscribed"]:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the group join follows subscribe()


def consumer(**settings: Any) -> type:
    return type("Consumer", (StreamConsumer,), settings)


# ------------------------------------------------------------- SSE, distinct


async def test_sse_subscription_gets_each_broadcast_in_order_and_complete_on_unsubscribe() -> None:
    body = {"query": ON_TICK, "variables": {"room": "a"}}
    stream = await StreamRequest(StreamConsumer, "POST", body=body).start()
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.headers["cache-control"] == "no-cache, no-transform"
    assert stream.headers["x-accel-buffering"] == "no"
    assert await stream.chunk() == b":\n\n"
    await subscribed(stream, "a")
    for n in range(1, 6):
        await OnTick.broadcast_async(group="a", payload=n)
    await stream.until(b'"n": 5')
    await OnTick.unsubscribe_async(group="a")
    await stream.whole()
    assert sse_events(stream.received) == [
        *[("next", {"data": {"onTick": {"n": n}}}) for n in range(1, 6)],
        ("complete", ""),
    ]
    assert stream.received.endswith(b"event: complete\ndata:\n\n")
    await stream.disconnect()
    assert SEEN["unsubscribed"] == ["a"]
    assert SEEN["gone"] == [1000]
    assert SEEN["operations"] == [(None, body)]


async def test_sse_client_gone_mid_stream_ends_everything_of_its_operation() -> None:
    body = {"query": ON_TICK, "variables": {"room": "gone"}}
    stream = await StreamRequest(StreamConsumer, "POST", body=body).start()
    await stream.chunk()
    await subscribed(stream, "gone")
    from channels.layers import get_channel_layer

    fanout = fanout_of(get_channel_layer())
    assert len(fanout.groups()) == 2  # the class's group and the room's
    await stream.disconnect()
    assert SEEN["unsubscribed"] == ["gone"]
    assert SEEN["gone"] == [1001]
    assert fanout.groups() == []


async def test_sse_get_subscription_with_query_string() -> None:
    query = b"query=subscription%7Bcountdown(start%3A2)%7D"
    stream = await StreamRequest(StreamConsumer, "GET", query_string=query).start()
    await stream.whole()
    assert sse_events(stream.received) == [
        ("next", {"data": {"countdown": 2}}),
        ("next", {"data": {"countdown": 1}}),
        ("next", {"data": {"countdown": 0}}),
        ("complete", ""),
    ]
    await stream.disconnect()
    assert SEEN["gone"] == [1000]


async def test_sse_query_is_one_next_then_complete() -> None:
    stream = await StreamRequest(StreamConsumer, "POST", body={"query": "{ hello }"}).start()
    await stream.whole()
    assert sse_events(stream.received) == [("next", {"data": {"hello": "world"}}), ("complete", "")]
    await stream.disconnect()


async def test_sse_request_errors_go_on_the_stream_with_200() -> None:
    stream = await StreamRequest(StreamConsumer, "POST", body={"query": "{ nope }"}).start()
    assert stream.status == 200
    await stream.whole()
    ((event, data), complete) = sse_events(stream.received)
    assert event == "next" and "nope" in data["errors"][0]["message"]
    assert complete == ("complete", "")
    await stream.disconnect()


async def test_sse_refusal_by_on_operation_goes_on_the_stream() -> None:
    body = {"query": "{ hello }", "extensions": {"refuse": True}}
    stream = await StreamRequest(StreamConsumer, "POST", body=body).start()
    await stream.whole()
    ((event, data), complete) = sse_events(stream.received)
    assert (event, data["errors"][0]["message"]) == ("next", "PermissionError: refused")
    assert complete == ("complete", "")
    await stream.disconnect()


async def test_sse_http_problems_are_json_4xx() -> None:
    not_json = await StreamRequest(StreamConsumer, "POST", body=b"{").start()
    await not_json.whole()
    assert (not_json.status, not_json.headers["content-type"]) == (
        400,
        "application/json; charset=utf-8",
    )
    await not_json.disconnect()
    query = b"query=mutation%7Bbump%7Bok%7D%7D"
    over_get = await StreamRequest(StreamConsumer, "GET", query_string=query).start()
    await over_get.whole()
    assert (over_get.status, over_get.headers["allow"]) == (405, "POST")
    await over_get.disconnect()


async def test_keepalive_comments_while_idle_and_none_after_the_client_left() -> None:
    fast = consumer(send_ping_every=0.05)
    body = {"query": ON_TICK, "variables": {"room": "idle"}}
    stream = await StreamRequest(fast, "POST", body=body).start()
    for _ in range(4):
        assert await stream.chunk(1.0) == b":\n\n"
    await stream.disconnect()
    assert SEEN["gone"] == [1001]


async def test_a_query_with_json_ranked_first_is_plain_json_a_subscription_streams() -> None:
    accept = "application/json, text/event-stream"
    plain = await StreamRequest(
        StreamConsumer, "POST", body={"query": "{ hello }"}, accept=accept
    ).start()
    await plain.whole()
    assert plain.json() == {"data": {"hello": "world"}}
    await plain.disconnect()
    invalid = await StreamRequest(
        StreamConsumer, "POST", body={"query": "{ nope }"}, accept=accept
    ).start()
    await invalid.whole()
    assert invalid.headers["content-type"] == "application/json; charset=utf-8"
    assert "nope" in invalid.json()["errors"][0]["message"]
    await invalid.disconnect()
    body = {"query": "subscription { countdown(start: 0) }"}
    stream = await StreamRequest(StreamConsumer, "POST", body=body, accept=accept).start()
    await stream.whole()
    assert sse_events(stream.received)[-1] == ("complete", "")
    await stream.disconnect()


# ---------------------------------------------------------------- multipart


async def test_multipart_subscription_heartbeat_results_and_close_delimiter() -> None:
    body = {"query": ON_TICK, "variables": {"room": "m"}}
    stream = await StreamRequest(StreamConsumer, "POST", body=body, accept=MULTIPART).start()
    assert stream.status == 200
    assert stream.headers["content-type"] == (
        'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"'
    )
    assert await stream.chunk() == multipart.HEARTBEAT
    await subscribed(stream, "m")
    await OnTick.broadcast_async(group="m", payload=1)
    await OnTick.broadcast_async(group="m", payload=2)
    await stream.until(b'"n": 2')
    await OnTick.unsubscribe_async(group="m")
    await stream.whole()
    assert stream.received == (
        multipart.HEARTBEAT
        + multipart.result_part('{"data": {"onTick": {"n": 1}}}')
        + multipart.result_part('{"data": {"onTick": {"n": 2}}}')
        + multipart.CLOSE
    )
    await stream.disconnect()
    assert SEEN["unsubscribed"] == ["m"]
    assert SEEN["gone"] == [1000]


async def test_multipart_errors_before_the_subscription_starts_are_a_plain_response() -> None:
    body = {"query": "subscription { nope }"}
    stream = await StreamRequest(StreamConsumer, "POST", body=body, accept=MULTIPART).start()
    await stream.whole()
    assert stream.headers["content-type"] == "application/json; charset=utf-8"
    assert "nope" in stream.json()["errors"][0]["message"]
    await stream.disconnect()
    refused = {"query": ON_TICK, "variables": {"room": "r"}, "extensions": {"refuse": True}}
    stream = await StreamRequest(StreamConsumer, "POST", body=refused, accept=MULTIPART).start()
    await stream.whole()
    assert stream.json()["errors"][0]["message"] == "PermissionError: refused"
    await stream.disconnect()
    assert SEEN["subscribed"] == []
    assert SEEN["gone"] == []  # no stream, so no on_disconnect


async def test_multipart_heartbeats_while_idle() -> None:
    fast = consumer(send_ping_every=0.05)
    body = {"query": ON_TICK, "variables": {"room": "hb"}}
    stream = await StreamRequest(fast, "POST", body=body, accept=MULTIPART).start()
    for _ in range(3):
        assert await stream.chunk(1.0) == multipart.HEARTBEAT
    await stream.disconnect()
    assert SEEN["unsubscribed"] == ["hb"]


async def test_one_broadcast_reaches_a_socket_an_sse_and_a_multipart_subscriber_once() -> None:
    from channels.layers import get_channel_layer
    from channels.testing import WebsocketCommunicator

    layer = get_channel_layer()
    socket = WebsocketCommunicator(
        StreamConsumer.as_asgi(), "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    assert (await socket.connect(STEP_TIMEOUT))[0]
    await socket.send_json_to({"type": "connection_init"})
    await socket.receive_json_from(STEP_TIMEOUT)
    payload = {"query": ON_TICK, "variables": {"room": "mix"}}
    await socket.send_json_to({"type": "subscribe", "id": "1", "payload": payload})
    sse_stream = await StreamRequest(StreamConsumer, "POST", body=payload).start()
    parts = await StreamRequest(StreamConsumer, "POST", body=payload, accept=MULTIPART).start()
    for _ in range(300):
        if SEEN["subscribed"].count("mix") == 3:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    fanout = fanout_of(layer)
    dispatched = fanout.dispatched
    await OnTick.broadcast_async(group="mix", payload=7)
    message = await socket.receive_json_from(STEP_TIMEOUT)
    assert message["payload"] == {"data": {"onTick": {"n": 7}}}
    await sse_stream.until(b'"n": 7')
    await parts.until(b'"n": 7')
    await asyncio.sleep(0.1)
    assert await socket.receive_nothing(0.1)
    assert sse_stream.received.count(b'"n": 7') == 1
    assert parts.received.count(b'"n": 7') == 1
    # One layer message reached the process: the fan-out dispatched it once.
    assert fanout.dispatched == dispatched + 1
    await socket.disconnect()
    await sse_stream.disconnect()
    await parts.disconnect()
    assert sorted(SEEN["unsubscribed"]) == ["mix"] * 3
