"""``GraphqlWsClient`` over ``GraphqlWsTransportAiohttp`` against a real daphne.

Both subprotocols: queries and mutations, errors, subscriptions (``subscribe``
and ``async for`` over ``iterate``), server pings, the subprotocol asked
for, server closes, and the transport's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest

from channels_graphql_ws import GraphqlWsClient, GraphqlWsResponseError
from channels_graphql_ws.transport import GraphqlWsConnectionClosed, GraphqlWsTransportAiohttp

from .conftest import TEST_TIMEOUT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(TEST_TIMEOUT)]

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
BOTH = pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])

#: Seconds within which an answer counts as prompt (every wait here is far shorter).
PROMPT = 3.0

HELLO = {"data": {"hello": "Hello, world!"}}
ON_MESSAGE = "subscription($room: String!) { onMessage(room: $room) { text } }"
SEND = "mutation($room: String!, $text: String!) { sendMessage(room: $room, text: $text) { ok } }"
SENT = {"data": {"sendMessage": {"ok": True}}}
CLOSE_ROOM = "mutation($room: String!) { closeRoom(room: $room) { ok } }"
UNSUBSCRIBED = "query($room: String!) { unsubscribedCount(room: $room) }"
CONFIRMATION = {"data": None}


def new_room() -> str:
    """A room (Channels group) no other test uses."""
    return f"room-{uuid.uuid4().hex}"


def message(text: str) -> dict[str, Any]:
    return {"data": {"onMessage": {"text": text}}}


def result_type(subprotocol: str) -> str:
    return "next" if subprotocol == TRANSPORT_WS else "data"


async def nothing_arrives(client: GraphqlWsClient, seconds: float = 0.3) -> None:
    """Fail if the client receives anything but a keep-alive within ``seconds``."""
    try:
        received = await asyncio.wait_for(client.receive(raw_response=True), seconds)
    except asyncio.TimeoutError:
        return
    pytest.fail(f"Nothing expected, got {received}")


async def until_unsubscribed(client: GraphqlWsClient, room: str, count: int) -> None:
    """Wait until the server has run ``unsubscribed`` ``count`` times for ``room``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROMPT
    while True:
        result = await client.execute(UNSUBSCRIBED, {"room": room})
        if result["data"]["unsubscribedCount"] == count:
            return
        assert loop.time() < deadline, f"unsubscribed ran {result} times, {count} expected"
        await asyncio.sleep(0.02)


# ----------------------------------------------------- queries and mutations


@BOTH
async def test_execute_returns_query_and_mutation_results(connect, subprotocol):
    client = await connect(subprotocol)
    assert client.connected
    assert await client.execute("{ hello }") == HELLO
    query = "query($name: String) { hello(name: $name) }"
    assert await client.execute(query, {"name": "Ann"}) == {"data": {"hello": "Hello, Ann!"}}
    assert await client.execute(SEND, {"room": new_room(), "text": "hi"}) == SENT


@BOTH
async def test_concurrent_executes_on_one_client_each_get_their_own_result(connect, subprotocol):
    client = await connect(subprotocol)
    names = [f"n{index}" for index in range(20)]
    query = "query($name: String, $wait: Float!) { slow(seconds: $wait) hello(name: $name) }"
    # Later operations finish first: answers arrive in an order unlike the calls'.
    results = await asyncio.gather(
        *(
            client.execute(query, {"name": name, "wait": 0.01 * (len(names) - index)})
            for index, name in enumerate(names)
        )
    )
    assert [result["data"]["hello"] for result in results] == [f"Hello, {name}!" for name in names]
    await nothing_arrives(client)


@BOTH
async def test_execute_raises_promptly_on_a_validation_error(connect, subprotocol):
    client = await connect(subprotocol)
    with pytest.raises(GraphqlWsResponseError) as raised:
        await asyncio.wait_for(client.execute("{ nope }"), PROMPT)
    response = raised.value.response
    if subprotocol == TRANSPORT_WS:
        assert response["type"] == "error"
        errors = response["payload"]
    else:
        assert response["type"] == "data" and response["payload"]["data"] is None
        errors = response["payload"]["errors"]
    assert [error["message"] for error in errors] == ["Cannot query field 'nope' on type 'Query'."]
    await nothing_arrives(client)  # e.g. the legacy `complete` was consumed
    assert await client.execute("{ hello }") == HELLO


@BOTH
async def test_execute_raises_on_a_resolver_error_with_the_partial_data(connect, subprotocol):
    client = await connect(subprotocol)
    with pytest.raises(GraphqlWsResponseError) as raised:
        await asyncio.wait_for(client.execute("{ hello fail }"), PROMPT)
    response = raised.value.response
    assert response["type"] == result_type(subprotocol)
    assert response["payload"]["data"] == {"hello": "Hello, world!", "fail": None}
    [error] = response["payload"]["errors"]
    assert "fail resolver says no" in error["message"]
    assert error["path"] == ["fail"]
    await nothing_arrives(client)
    assert await client.execute("{ hello }") == HELLO


@BOTH
async def test_an_execute_cancelled_by_a_timeout_leaves_nothing_behind(connect, subprotocol):
    client = await connect(subprotocol)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.execute("{ slow(seconds: 0.3) }"), 0.05)
    # The operation was stopped; whatever the server still sends for it is dropped.
    await nothing_arrives(client, 0.6)
    assert await client.execute("{ hello }") == HELLO


# ------------------------------------------------------------ subscriptions


@BOTH
async def test_subscribe_receives_broadcasts_while_the_same_client_executes(connect, subprotocol):
    client = await connect(subprotocol)
    room = new_room()
    op_id = await client.subscribe(ON_MESSAGE, variables={"room": room})
    # The notifications may arrive before the mutations' own answers: none is lost.
    assert await client.execute(SEND, {"room": room, "text": "one"}) == SENT
    assert await client.execute(SEND, {"room": room, "text": "two"}) == SENT
    assert await client.receive_next(op_id) == message("one")
    assert await client.receive_next(op_id) == message("two")
    await client.complete(op_id)
    await client.receive_complete(op_id)
    await until_unsubscribed(client, room, 1)
    assert await client.execute(SEND, {"room": room, "text": "late"}) == SENT
    await nothing_arrives(client)


@BOTH
async def test_iterate_yields_each_broadcast_and_ends_when_the_server_completes(
    connect, subprotocol
):
    client = await connect(subprotocol)
    room = new_room()

    async def consume() -> list[Any]:
        received = []
        async for payload in client.iterate(ON_MESSAGE, variables={"room": room}):
            received.append(payload)
            if payload == CONFIRMATION:  # the subscription is live
                assert await client.execute(SEND, {"room": room, "text": "one"}) == SENT
                assert await client.execute(SEND, {"room": room, "text": "two"}) == SENT
            elif len(received) == 3:
                assert await client.execute(CLOSE_ROOM, {"room": room}) == {
                    "data": {"closeRoom": {"ok": True}}
                }
        return received

    received = await asyncio.wait_for(consume(), PROMPT)
    assert received == [CONFIRMATION, message("one"), message("two")]
    await nothing_arrives(client)


@BOTH
async def test_iterate_in_one_task_while_other_tasks_execute(connect, subprotocol):
    client = await connect(subprotocol)
    room = new_room()
    live = asyncio.Event()

    async def listen() -> list[str]:
        texts: list[str] = []
        results = client.iterate(ON_MESSAGE, variables={"room": room})
        async with contextlib.aclosing(results):
            async for payload in results:
                if payload == CONFIRMATION:
                    live.set()
                    continue
                texts.append(payload["data"]["onMessage"]["text"])
                if len(texts) == 3:
                    break
        return texts

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(live.wait(), PROMPT)
    answers = await asyncio.gather(
        *(client.execute(SEND, {"room": room, "text": text}) for text in "abc"),
        client.execute("{ hello }"),
    )
    assert answers == [SENT, SENT, SENT, HELLO]
    assert sorted(await asyncio.wait_for(listener, PROMPT)) == ["a", "b", "c"]
    await until_unsubscribed(client, room, 1)


@BOTH
async def test_leaving_iterate_early_sends_complete(connect, subprotocol):
    client = await connect(subprotocol)
    room = new_room()
    results = client.iterate(ON_MESSAGE, variables={"room": room})
    async with contextlib.aclosing(results):
        async for payload in results:
            assert payload == CONFIRMATION
            break
    # The server got `complete` (legacy `stop`): it ended the subscription.
    await until_unsubscribed(client, room, 1)
    assert await client.execute(SEND, {"room": room, "text": "late"}) == SENT
    # Nothing more for it reaches the client (the server's `complete` is dropped).
    await nothing_arrives(client)


@BOTH
async def test_break_out_of_iterate_sends_complete(connect, subprotocol):
    client = await connect(subprotocol)
    room = new_room()
    async for payload in client.iterate(ON_MESSAGE, variables={"room": room}, msg_id="mine"):
        assert payload == CONFIRMATION
        break
    # asyncio closes the abandoned generator soon after the loop: it sends `complete`.
    await until_unsubscribed(client, room, 1)
    await nothing_arrives(client)
    # The id can be used again at once.
    op_id = await client.start(ON_MESSAGE, variables={"room": room}, msg_id="mine")
    assert await client.receive_next(op_id) == CONFIRMATION


@BOTH
async def test_iterate_raises_promptly_on_an_invalid_subscription(connect, subprotocol):
    client = await connect(subprotocol)

    async def consume() -> None:
        async for _ in client.iterate('subscription { onMessage(room: "r") { nope } }'):
            pytest.fail("No result expected")

    with pytest.raises(GraphqlWsResponseError) as raised:
        await asyncio.wait_for(consume(), PROMPT)
    assert "Cannot query field 'nope'" in str(raised.value)
    await nothing_arrives(client)  # e.g. the legacy `complete` after the errors
    assert await client.execute("{ hello }") == HELLO


# ------------------------------------------------- subprotocol and handshake


@BOTH
async def test_the_server_speaks_the_subprotocol_the_client_asks_for(connect, subprotocol):
    client = await connect(subprotocol)
    assert client.transport.subprotocol == subprotocol
    # The handshake offered that one alone, and the server speaks it: a legacy
    # `start` on graphql-transport-ws (or `subscribe` on legacy) would fail.
    assert await client.execute("{ offeredSubprotocols }") == {
        "data": {"offeredSubprotocols": [subprotocol]}
    }


async def test_a_transport_asks_for_graphql_transport_ws_unless_told(daphne):
    transport = GraphqlWsTransportAiohttp(daphne.url())
    await transport.connect(timeout=PROMPT)
    try:
        assert transport.subprotocol == TRANSPORT_WS
    finally:
        await transport.disconnect()
    await transport.connect(timeout=PROMPT, subprotocol=LEGACY_WS)  # reconnects
    try:
        assert transport.subprotocol == LEGACY_WS
    finally:
        await transport.disconnect()


async def test_connect_fails_clearly_when_the_server_picks_another_subprotocol(daphne):
    transport = GraphqlWsTransportAiohttp(daphne.url())
    with pytest.raises(ConnectionError, match="picked the subprotocol None, not 'nope'"):
        await transport.connect(timeout=PROMPT, subprotocol="nope")
    assert transport.subprotocol is None
    await transport.disconnect()  # harmless


async def test_cookies_and_headers_go_with_the_handshake(connect):
    client = await connect(TRANSPORT_WS, cookies={"sessionid": "abc"}, headers={"X-Token": "t-1"})
    query = '{ token: header(name: "x-token") cookie: header(name: "cookie") }'
    assert await client.execute(query) == {"data": {"token": "t-1", "cookie": "sessionid=abc"}}


# ------------------------------------------------------------------- pings


async def test_a_client_that_does_not_answer_pings_is_closed(daphne):
    """The control for the next test: the server does close silent clients."""
    transport = GraphqlWsTransportAiohttp(daphne.url("/graphql-ping/"))
    await transport.connect(timeout=PROMPT)
    try:
        await transport.send({"type": "connection_init"})
        assert await transport.receive(timeout=PROMPT) == {"type": "connection_ack"}
        assert await transport.receive(timeout=PROMPT) == {"type": "ping"}
        close = await transport.wait_disconnect(timeout=PROMPT)
        # A close that means "no pong": neither normal nor the connection lost.
        assert close["code"] not in (1000, 1006)
    finally:
        await transport.disconnect()


@BOTH
async def test_server_pings_are_answered_while_the_client_waits(connect, subprotocol):
    client = await connect(subprotocol, path="/graphql-ping/")
    # 1.5 s: some fifteen keep-alives, three times the server's pong timeout.
    assert await client.execute("{ slow(seconds: 1.5) }") == {"data": {"slow": 1.5}}
    assert await client.execute("{ hello }") == HELLO


# ------------------------------------------------------------------ closes


@BOTH
async def test_a_server_close_ends_a_pending_execute_promptly(connect, subprotocol):
    client = await connect(subprotocol)
    # The operation runs for seconds after asking its consumer to close.
    with pytest.raises(GraphqlWsConnectionClosed) as raised:
        await asyncio.wait_for(client.execute("{ closeSocket(code: 4321) }"), PROMPT)
    assert raised.value.code == 4321
    close = await client.wait_disconnect(timeout=PROMPT)
    assert close["code"] == 4321
    assert not client.connected
    with pytest.raises(GraphqlWsConnectionClosed):
        await asyncio.wait_for(client.execute("{ hello }"), PROMPT)


@BOTH
async def test_a_server_close_ends_a_pending_receive_promptly(daphne, subprotocol):
    transport = GraphqlWsTransportAiohttp(daphne.url("/graphql-init/"))
    await transport.connect(timeout=PROMPT, subprotocol=subprotocol)
    try:
        # No connection_init: the server closes 4408 after 0.5 s.
        with pytest.raises(GraphqlWsConnectionClosed) as raised:
            await asyncio.wait_for(transport.receive(timeout=60), PROMPT)
        assert raised.value.code == 4408
        close = await transport.wait_disconnect(timeout=PROMPT)
        assert close["code"] == 4408
        with pytest.raises(GraphqlWsConnectionClosed):
            await transport.receive(timeout=60)  # at once, again
    finally:
        await transport.disconnect()


@BOTH
async def test_finalize_ends_pending_receives_and_is_harmless_twice(connect, subprotocol):
    client = await connect(subprotocol)
    pending = asyncio.create_task(client.transport.receive(timeout=60))
    await asyncio.sleep(0)  # the receive is waiting
    await client.finalize()
    assert not client.connected
    with pytest.raises(GraphqlWsConnectionClosed) as raised:
        await asyncio.wait_for(pending, PROMPT)
    assert raised.value.code == 1000
    await client.finalize()


# --------------------------------------------------------- transport queue


async def test_receive_timing_out_again_and_again_loses_no_message(connect):
    client = await connect(TRANSPORT_WS)
    transport = client.transport
    ids = [await client.start(f"{{ slow(seconds: {0.02 * n}) }}") for n in range(1, 6)]
    received = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROMPT
    while len(received) < 2 * len(ids) and loop.time() < deadline:
        with contextlib.suppress(asyncio.TimeoutError):
            received.append(await asyncio.wait_for(transport.receive(), 0.001))
    assert sorted((m["id"], m["type"]) for m in received) == sorted(
        (op_id, kind) for op_id in ids for kind in ("next", "complete")
    )
    with pytest.raises(asyncio.TimeoutError):
        await transport.receive(timeout=0.05)


async def test_many_pending_receives_each_get_a_different_message(connect):
    client = await connect(TRANSPORT_WS)
    transport = client.transport
    waiting = [asyncio.create_task(transport.receive(timeout=PROMPT)) for _ in range(200)]
    ids = [await client.start("{ hello }") for _ in range(3)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROMPT
    while sum(task.done() for task in waiting) < 6 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    done = [task for task in waiting if task.done()]
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert sorted((task.result()["id"], task.result()["type"]) for task in done) == sorted(
        (op_id, kind) for op_id in ids for kind in ("next", "complete")
    )
    # The cancelled receives took nothing with them.
    assert await client.execute("{ hello }") == HELLO
