"""Subscriptions end to end: real clients on daphne and uvicorn.

``onMessage(room)`` is a ``channels_graphql_ws.Subscription``: the
``sendMessage`` mutation broadcasts to a room from a sync resolver on the
event loop, ``endRoom`` unsubscribes the room, so every subscriber of it gets
``complete``. ``countdown(start)`` is a plain Graphene async generator on the
same schema (see ``server_app.py``).

Nothing here relies on timing. Without ``confirm_subscriptions`` a client
cannot tell when its subscription is live, so the sender repeats a "ready"
message until the subscriber has seen one, and only then sends the numbered
messages (``js/common.mjs`` ``broadcastScenario``, and ``ready_handshake``
below). On ``/graphql-confirm/`` the confirmation says the subscription is
live, so raw clients send at once.

Every test uses rooms of its own: the servers live for the whole session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from .support import NODE_TEST_TIMEOUT, PYTHON_TEST_TIMEOUT, Server

pytestmark = pytest.mark.e2e

NODE = pytest.mark.timeout(NODE_TEST_TIMEOUT)
PYTHON = pytest.mark.timeout(PYTHON_TEST_TIMEOUT)

Runner = Callable[..., dict[str, Any]]

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws"
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # "graphql-ws"
SUBPROTOCOLS = pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])
#: Who sends the mutations in the npm scenarios: the subscriber's own
#: connection, or a second client.
SENDERS = pytest.mark.parametrize("sender", ["same", "other"])

#: Numbered messages per scenario.
COUNT = 20
#: Seconds any single wait on the network may take before the test fails.
STEP_TIMEOUT = 10.0
#: Seconds between two "ready" messages while the subscriber has seen none.
READY_EVERY = 0.05

# The same documents as js/common.mjs.
ON_MESSAGE = "subscription OnMessage($room: String) { onMessage(room: $room) { text seq } }"
SEND_MESSAGE = (
    "mutation Send($room: String!, $text: String!, $seq: Int!) "
    "{ sendMessage(room: $room, text: $text, seq: $seq) { ok } }"
)
END_ROOM = "mutation End($room: String!) { endRoom(room: $room) { ok } }"


def new_room() -> str:
    return f"room-{uuid.uuid4().hex}"


def numbered(count: int = COUNT) -> list[dict[str, Any]]:
    """The ``onMessage`` values of messages 1 to ``count``, in order."""
    return [{"text": f"message {seq}", "seq": seq} for seq in range(1, count + 1)]


# ------------------------------------------------------------ npm clients


def only_result(outcome: dict[str, Any]) -> dict[str, Any]:
    """The single result of an operation that completed normally."""
    assert outcome["error"] is None, outcome
    assert outcome["completed"], outcome
    assert not outcome["timedOut"], outcome
    assert len(outcome["results"]) == 1, outcome
    result: dict[str, Any] = outcome["results"][0]
    return result


def check_broadcast_scenario(out: dict[str, Any], sender: str) -> list[dict[str, Any]]:
    """Check what ``broadcastScenario`` reported; return the subscriber's results."""
    assert out["live"], out
    sub = out["subscription"]
    assert sub["error"] is None, sub
    assert sub["completed"], sub
    # `complete` came because of endRoom, and nothing after it.
    assert sub["endedBeforeEndSent"] is False, sub
    assert sub["resultsWhenEndSent"] == len(sub["results"]), sub

    for ready in out["readies"]:
        assert only_result(ready["outcome"]) == {"data": {"sendMessage": {"ok": True}}}
    for message in out["messages"]:
        assert only_result(message) == {"data": {"sendMessage": {"ok": True}}}
    assert len(out["messages"]) == COUNT
    assert only_result(out["end"]) == {"data": {"endRoom": {"ok": True}}}

    assert all(set(result) == {"data"} for result in sub["results"]), sub["results"]
    received = [result["data"]["onMessage"] for result in sub["results"]]
    # "ready" messages first (those sent once the subscription was live),
    # then every numbered message exactly once, in order.
    readies = [value for value in received if value["text"] == "ready"]
    assert received == readies + numbered(), received
    sent_seqs = [ready["seq"] for ready in out["readies"]]
    received_seqs = [value["seq"] for value in readies]
    assert 1 <= len(received_seqs) <= len(sent_seqs)
    assert received_seqs == sent_seqs[len(sent_seqs) - len(received_seqs) :], (sent_seqs, readies)
    if sender == "same":
        # Decision 6: a mutation sent after `subscribe` on the same socket
        # finds the subscription live, so even the first "ready" arrives.
        assert received_seqs == sent_seqs
    return list(sub["results"])


def subscription_frames(out: dict[str, Any], start_type: str) -> tuple[str, list[dict[str, Any]]]:
    """The id the client gave ``onMessage`` and the frames received for it."""
    [op_id] = [
        message["id"]
        for message in out["sent"]
        if message.get("type") == start_type and message["payload"]["query"] == ON_MESSAGE
    ]
    frames = [
        {key: value for key, value in frame.items() if key != "t"}
        for frame in out["frames"]
        if frame.get("id") == op_id
    ]
    return op_id, frames


@NODE
@SENDERS
def test_graphql_ws_client_gets_every_broadcast_in_order_then_complete_on_end_room(
    server: Server, run_graphql_ws: Runner, sender: str
) -> None:
    out = run_graphql_ws("broadcast", server.url(), room=new_room(), count=COUNT, sender=sender)
    results = check_broadcast_scenario(out, sender)
    # On the wire: one `next` per result, then exactly one `complete`.
    op_id, frames = subscription_frames(out, "subscribe")
    assert frames == [
        *({"type": "next", "id": op_id, "payload": result} for result in results),
        {"type": "complete", "id": op_id},
    ]
    assert out["events"]["closed"] == []
    assert out["senderEvents"]["closed"] == []


@NODE
@SENDERS
def test_legacy_client_gets_every_broadcast_in_order_then_complete_on_end_room(
    server: Server, run_legacy: Runner, sender: str
) -> None:
    out = run_legacy("broadcast", server.url(), room=new_room(), count=COUNT, sender=sender)
    assert [c["error"] for c in out["connection"]] == [None]
    results = check_broadcast_scenario(out, sender)
    op_id, frames = subscription_frames(out, "start")
    assert frames == [
        *({"type": "data", "id": op_id, "payload": result} for result in results),
        {"type": "complete", "id": op_id},
    ]
    # The client was told, so it never stopped the subscription itself.
    assert [m for m in out["sent"] if m.get("type") == "stop" and m.get("id") == op_id] == []
    assert out["events"]["disconnected"] == []
    assert out["closes"] == []
    if sender == "other":
        assert [c["error"] for c in out["senderConnection"]] == [None]
        assert out["senderEvents"]["disconnected"] == []


COUNTDOWN = {"query": "subscription Countdown($start: Int!) { countdown(start: $start) }"}


@NODE
def test_graphql_ws_client_streams_a_graphene_countdown_to_its_end(
    server: Server, run_graphql_ws: Runner
) -> None:
    out = run_graphql_ws(
        "execute",
        server.url(),
        operations=[{**COUNTDOWN, "variables": {"start": 5}}, {"query": "{ hello }"}],
    )
    countdown, after = out["operations"]
    assert countdown == {
        "results": [{"data": {"countdown": n}} for n in (5, 4, 3, 2, 1, 0)],
        "error": None,
        "completed": True,
        "timedOut": False,
    }
    assert only_result(after) == {"data": {"hello": "Hello, world!"}}
    assert out["events"]["closed"] == []


@NODE
def test_legacy_client_streams_a_graphene_countdown_to_its_end(
    server: Server, run_legacy: Runner
) -> None:
    out = run_legacy(
        "execute",
        server.url(),
        operations=[{**COUNTDOWN, "variables": {"start": 3}}, {"query": "{ hello }"}],
    )
    countdown, after = out["operations"]
    assert countdown == {
        "results": [{"data": {"countdown": n}} for n in (3, 2, 1, 0)],
        "error": None,
        "completed": True,
        "timedOut": False,
    }
    assert only_result(after) == {"data": {"hello": "Hello, world!"}}
    assert [(f["type"], f["id"]) for f in out["frames"] if f["type"] != "connection_ack"] == [
        *[("data", "1")] * 4,
        ("complete", "1"),
        ("data", "2"),
        ("complete", "2"),
    ]
    assert out["closes"] == []


# ------------------------------------------------------------------ gql


def transport(server: Server, subprotocol: str, path: str = "/graphql/") -> WebsocketsTransport:
    return WebsocketsTransport(
        url=server.url(path),
        subprotocols=[subprotocol],
        connect_timeout=STEP_TIMEOUT,
        ack_timeout=STEP_TIMEOUT,
        close_timeout=STEP_TIMEOUT,
    )


@contextlib.asynccontextmanager
async def session(server: Server, subprotocol: str) -> AsyncIterator[Any]:
    t = transport(server, subprotocol)
    async with Client(transport=t, fetch_schema_from_transport=False) as client_session:
        assert t.subprotocol == subprotocol
        yield client_session


async def send_message(sender: Any, room: str, text: str, seq: int) -> None:
    request = GraphQLRequest(SEND_MESSAGE, variable_values={"room": room, "text": text, "seq": seq})
    result = await asyncio.wait_for(sender.execute(request), STEP_TIMEOUT)
    assert result == {"sendMessage": {"ok": True}}


async def end_room(sender: Any, room: str) -> None:
    request = GraphQLRequest(END_ROOM, variable_values={"room": room})
    result = await asyncio.wait_for(sender.execute(request), STEP_TIMEOUT)
    assert result == {"endRoom": {"ok": True}}


async def ready_handshake(sender: Any, room: str, seen: asyncio.Event) -> list[int]:
    """Send "ready" (seq -1, -2, ...) every READY_EVERY s until ``seen``; the seqs sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    sent: list[int] = []
    while not seen.is_set():
        if loop.time() > deadline:
            pytest.fail(f"The subscriber saw none of {len(sent)} 'ready' messages.")
        seq = -(len(sent) + 1)
        await send_message(sender, room, "ready", seq)
        sent.append(seq)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(seen.wait(), READY_EVERY)
    return sent


@PYTHON
@SUBPROTOCOLS
async def test_gql_subscriber_gets_broadcasts_from_another_connection_until_end_room(
    server: Server, subprotocol: str
) -> None:
    room = new_room()
    received: list[dict[str, Any]] = []
    first_seen, all_seen = asyncio.Event(), asyncio.Event()

    async def listen(subscriber: Any) -> None:
        request = GraphQLRequest(ON_MESSAGE, variable_values={"room": room})
        async for result in subscriber.subscribe(request):
            received.append(result["onMessage"])
            first_seen.set()
            if sum(value["text"] != "ready" for value in received) >= COUNT:
                all_seen.set()

    async with session(server, subprotocol) as subscriber, session(server, subprotocol) as sender:
        listening = asyncio.create_task(listen(subscriber))
        try:
            readies_sent = await ready_handshake(sender, room, first_seen)
            for seq in range(1, COUNT + 1):
                await send_message(sender, room, f"message {seq}", seq)
            await asyncio.wait_for(all_seen.wait(), STEP_TIMEOUT)
            assert not listening.done()
            await end_room(sender, room)
            # `complete` ends the async-for: the task returns, it does not raise.
            await asyncio.wait_for(listening, STEP_TIMEOUT)
        finally:
            listening.cancel()
        # Both connections still serve.
        hello = GraphQLRequest("{ hello }")
        assert await asyncio.wait_for(subscriber.execute(hello), STEP_TIMEOUT) == {
            "hello": "Hello, world!"
        }

    readies = [value for value in received if value["text"] == "ready"]
    assert received == readies + numbered(), received
    received_seqs = [value["seq"] for value in readies]
    assert 1 <= len(received_seqs) <= len(readies_sent)
    assert received_seqs == readies_sent[len(readies_sent) - len(received_seqs) :]


@PYTHON
@SUBPROTOCOLS
async def test_gql_streams_a_graphene_countdown_to_its_end(
    server: Server, subprotocol: str
) -> None:
    async def count_down(client_session: Any, start: int) -> list[int]:
        request = GraphQLRequest(COUNTDOWN["query"], variable_values={"start": start})
        return [result["countdown"] async for result in client_session.subscribe(request)]

    async with session(server, subprotocol) as s:
        values = await asyncio.wait_for(count_down(s, 5), STEP_TIMEOUT)
        assert values == [5, 4, 3, 2, 1, 0]
        # Two at once on one connection, each to its own end.
        both = await asyncio.wait_for(
            asyncio.gather(count_down(s, 3), count_down(s, 2)), STEP_TIMEOUT
        )
        assert both == [[3, 2, 1, 0], [2, 1, 0]]


# -------------------------------------------------------- raw websockets


def kinds(subprotocol: str) -> tuple[str, str]:
    """The message types that start an operation and carry a result."""
    return ("subscribe", "next") if subprotocol == TRANSPORT_WS else ("start", "data")


async def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))
    return message


@contextlib.asynccontextmanager
async def confirmed_subscriber(
    server: Server, subprotocol: str, room: str, op_id: str = "sub"
) -> AsyncIterator[Any]:
    """A raw socket on ``/graphql-confirm/`` whose ``onMessage(room)`` is confirmed live."""
    start, result = kinds(subprotocol)
    async with websockets.connect(
        server.url("/graphql-confirm/"), subprotocols=[subprotocol]
    ) as ws:
        assert ws.subprotocol == subprotocol
        await ws.send(json.dumps({"type": "connection_init"}))
        assert await receive(ws) == {"type": "connection_ack"}
        payload = {"query": ON_MESSAGE, "variables": {"room": room}}
        await ws.send(json.dumps({"type": start, "id": op_id, "payload": payload}))
        # Decision 9: the confirmation means the subscription is live.
        assert await receive(ws) == {"type": result, "id": op_id, "payload": {"data": None}}
        yield ws


def on_message(subprotocol: str, op_id: str, value: dict[str, Any]) -> dict[str, Any]:
    _, result = kinds(subprotocol)
    return {"type": result, "id": op_id, "payload": {"data": {"onMessage": value}}}


async def assert_still_serves(ws: Any, subprotocol: str) -> None:
    """A query on the socket gets its result and ``complete``, and nothing else comes first."""
    start, result = kinds(subprotocol)
    await ws.send(json.dumps({"type": start, "id": "q", "payload": {"query": "{ hello }"}}))
    assert await receive(ws) == {
        "type": result,
        "id": "q",
        "payload": {"data": {"hello": "Hello, world!"}},
    }
    assert await receive(ws) == {"type": "complete", "id": "q"}


@PYTHON
@SUBPROTOCOLS
async def test_confirmed_raw_subscriber_gets_every_broadcast_in_order_then_complete(
    server: Server, subprotocol: str
) -> None:
    room = new_room()
    async with confirmed_subscriber(server, subprotocol, room) as ws:
        async with session(server, subprotocol) as sender:
            # No handshake: the subscription is known to be live.
            for seq in range(1, COUNT + 1):
                await send_message(sender, room, f"message {seq}", seq)
            for value in numbered():
                assert await receive(ws) == on_message(subprotocol, "sub", value)
            await end_room(sender, room)
        assert await receive(ws) == {"type": "complete", "id": "sub"}
        await assert_still_serves(ws, subprotocol)


@PYTHON
async def test_broadcast_reaches_every_subscriber_of_its_room_and_no_other(
    server: Server,
) -> None:
    """Two rooms, subscribers on both subprotocols; endRoom ends one room only."""
    red, blue = new_room(), new_room()
    async with contextlib.AsyncExitStack() as stack:
        red_new = await stack.enter_async_context(confirmed_subscriber(server, TRANSPORT_WS, red))
        red_old = await stack.enter_async_context(confirmed_subscriber(server, LEGACY_WS, red))
        blue_new = await stack.enter_async_context(confirmed_subscriber(server, TRANSPORT_WS, blue))
        sender = await stack.enter_async_context(session(server, TRANSPORT_WS))

        for seq in (1, 2, 3):
            await send_message(sender, red, f"red {seq}", seq)
        await send_message(sender, blue, "blue 1", 1)
        for ws, subprotocol in ((red_new, TRANSPORT_WS), (red_old, LEGACY_WS)):
            for seq in (1, 2, 3):
                expected = on_message(subprotocol, "sub", {"text": f"red {seq}", "seq": seq})
                assert await receive(ws) == expected
        # Blue's first message is the blue one: nothing of red's reached it.
        assert await receive(blue_new) == on_message(
            TRANSPORT_WS, "sub", {"text": "blue 1", "seq": 1}
        )

        await end_room(sender, red)
        assert await receive(red_new) == {"type": "complete", "id": "sub"}
        assert await receive(red_old) == {"type": "complete", "id": "sub"}
        # Blue lives on: a message sent after red's end still reaches it, and
        # red's former subscribers get nothing more (their next message is the
        # answer to a query).
        await send_message(sender, red, "red after the end", 4)
        await send_message(sender, blue, "blue 2", 2)
        assert await receive(blue_new) == on_message(
            TRANSPORT_WS, "sub", {"text": "blue 2", "seq": 2}
        )
        await assert_still_serves(red_new, TRANSPORT_WS)
        await assert_still_serves(red_old, LEGACY_WS)

        await end_room(sender, blue)
        assert await receive(blue_new) == {"type": "complete", "id": "sub"}
