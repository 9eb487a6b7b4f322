"""Fuzzing through a real consumer (issue 6), both subprotocols.

Each Hypothesis example connects a ``GraphqlWsConsumer`` through Channels'
``WebsocketCommunicator``, initialises, sends one to five random or mutated
frames (queries, mutations that broadcast, subscriptions of a ``Subscription``
class with and without a group and of a plain Graphene async generator,
stops, pings, garbage), then a probe query ``{ hello }`` with an id no fuzzed
frame uses. Then:

* every frame the consumer sent is strict JSON (no ``Infinity``), an object,
  with a type its subprotocol's server side may send;
* if the consumer closed the socket, the code is one of the table's
  (PROTOCOL.md section 4) and nothing was sent after it; otherwise the probe
  got its result and ``complete``;
* after the disconnect, the asyncio tasks are back to those before the
  example, the in-memory layer holds no group membership the consumer made,
  the process fan-out has no listener left for the loop, and the library
  logged no error.

Hypothesis runs derandomized and without an example database. A companion
sweep (not Hypothesis) sends pings nested as deep as the decoder allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
from typing import Any

import graphene
import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import channels_graphql_ws
from tests.internals import fanouts_on_running_loop

from .support import consumer_class

TRANSPORT_WS = "graphql-transport-ws"
LEGACY = "graphql-ws"
SUBPROTOCOLS = (TRANSPORT_WS, LEGACY)

#: PROTOCOL.md section 4: every close code the consumer may send, per subprotocol.
CLOSE_CODES = {
    TRANSPORT_WS: frozenset({1000, 1009, 1011, 4400, 4401, 4403, 4406, 4408, 4409, 4429}),
    LEGACY: frozenset({1000, 1009, 4000, 4408}),
}
SERVER_TYPES = {
    TRANSPORT_WS: frozenset({"connection_ack", "next", "error", "complete", "ping", "pong"}),
    LEGACY: frozenset({"connection_ack", "connection_error", "ka", "data", "error", "complete"}),
}
#: Small, so that frames just over and under it are cheap to make.
MAX_MESSAGE_SIZE = 4096
PROBE_ID = "probe-never-fuzzed"
PROBE_RESULT = {"data": {"hello": "Hello, world!"}}
#: How long the consumer gets to answer the probe, or to let its tasks end.
PATIENCE = 3.0


# ------------------------------------------------------------------ schema


class FuzzEvents(channels_graphql_ws.Subscription):
    """A Subscription class; with ``group`` it joins that group as well."""

    value = graphene.Int()

    class Arguments:
        group = graphene.String()

    @staticmethod
    def subscribe(root: Any, info: Any, group: str | None = None) -> list[str] | None:
        if group == "refuse":
            raise PermissionError("refused")
        return [group] if group else None

    @staticmethod
    def publish(payload: Any, info: Any, group: str | None = None) -> FuzzEvents:
        return FuzzEvents(value=payload)


class FuzzQuery(graphene.ObjectType):
    hello = graphene.String(name=graphene.String(default_value="world"))
    fail = graphene.String()

    @staticmethod
    def resolve_hello(root: Any, info: Any, name: str) -> str:
        return f"Hello, {name}!"

    @staticmethod
    def resolve_fail(root: Any, info: Any) -> str:
        raise RuntimeError("resolver failed")


class FuzzMutation(graphene.ObjectType):
    trigger = graphene.Boolean(value=graphene.Int(required=True), group=graphene.String())

    @staticmethod
    async def resolve_trigger(root: Any, info: Any, value: int, group: str | None = None) -> bool:
        await FuzzEvents.broadcast_async(group=group, payload=value)
        return True


class FuzzSubscription(graphene.ObjectType):
    events = FuzzEvents.Field()
    ticks = graphene.Int()

    @staticmethod
    async def subscribe_ticks(root: Any, info: Any) -> Any:
        for tick in itertools.count():
            yield tick
            if tick >= 2:
                await asyncio.Event().wait()  # stays live until stopped

    @staticmethod
    def resolve_ticks(root: Any, info: Any) -> Any:
        return root


SCHEMA = graphene.Schema(query=FuzzQuery, mutation=FuzzMutation, subscription=FuzzSubscription)
QUERIES = (
    "{ hello }",
    'query Q { hello(name: "é") }',
    "{ fail }",
    "mutation { trigger(value: 1) }",
    'mutation { trigger(value: 2, group: "g1") }',
    "subscription { events { value } }",
    'subscription { events(group: "g1") { value } }',
    'subscription { events(group: "refuse") { value } }',
    "subscription { ticks }",
    "{ nope }",
    "{",
    "",
    "query A { hello } query B { hello }",
)


def fuzz_consumer() -> type[channels_graphql_ws.GraphqlWsConsumer]:
    return consumer_class(
        schema=SCHEMA, max_message_size=MAX_MESSAGE_SIZE, warn_operation_timeout=None
    )


# -------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
#: Ids each subprotocol accepts (graphql-transport-ws: strings only), a few so they collide.
GOOD_IDS = {TRANSPORT_WS: ("1", "2", "3"), LEGACY: ("1", "2", 1, 2)}
bad_ids = st.one_of(st.sampled_from(("", None, 1.5, True, [], {})), json_values)
SUBSCRIPTIONS = tuple(query for query in QUERIES if query.startswith("subscription"))
queries = st.one_of(st.sampled_from(SUBSCRIPTIONS), st.sampled_from(QUERIES))
CLIENT_TYPES = {
    TRANSPORT_WS: ("subscribe", "subscribe", "complete", "ping", "pong", "connection_init"),
    LEGACY: ("start", "start", "stop", "connection_init"),
}
OTHER_TYPES = ("connection_terminate", "next", "data", "error", "ka", "connection_ack", "start")


@st.composite
def messages(draw: st.DrawFn, subprotocol: str) -> dict[str, Any]:
    """A client message of ``subprotocol`` (now and then another type), sometimes mutated."""
    own = st.sampled_from(CLIENT_TYPES[subprotocol])
    kind = draw(st.one_of(own, own, own, own, st.sampled_from(OTHER_TYPES), st.text(max_size=8)))
    message: dict[str, Any] = {"type": kind}
    good_ids = st.sampled_from(GOOD_IDS[subprotocol])
    if kind in ("subscribe", "start", "complete", "stop") or draw(st.booleans()):
        message["id"] = draw(st.one_of(good_ids, good_ids, good_ids, bad_ids))
    if kind in ("subscribe", "start"):
        payload: dict[str, Any] = {"query": draw(queries)}
        if draw(st.booleans()):
            payload["variables"] = draw(st.none() | st.just({"x": 1}))
        if draw(st.booleans()):
            payload["operationName"] = draw(st.sampled_from((None, "Q", "A", "Nope")))
        message["payload"] = payload
    elif draw(st.booleans()):
        message["payload"] = draw(json_values)
    for _ in range(draw(st.sampled_from((0, 0, 0, 0, 1, 2)))):
        key = draw(st.sampled_from(("type", "id", "payload", "extra")))
        if draw(st.booleans()) and key in message:
            del message[key]
        else:
            message[key] = draw(json_values)
    return message


@st.composite
def frames(draw: st.DrawFn, subprotocol: str) -> str | bytes:
    """A frame: mostly a JSON message; else binary, text, damaged JSON, NaN or
    1e999, a non-object, a frame within two bytes of the size limit, deep nesting."""
    how = draw(
        st.sampled_from(
            ("message",) * 12
            + ("bytes", "text", "corrupted", "non-json-number", "value", "near-limit", "deep")
        )
    )
    text = json.dumps(draw(messages(subprotocol)), ensure_ascii=draw(st.booleans()))
    if how == "message":
        return text
    if how == "bytes":
        return draw(st.sampled_from((text.encode(), b"\xff\xfe", b"")))
    if how == "text":
        return draw(st.text(max_size=20))
    if how == "corrupted":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.sampled_from(('"', "{", "]", "", ",", "\\"))) + text[at + 1 :]
    if how == "non-json-number":
        number = draw(st.sampled_from(("NaN", "Infinity", "1e999", "-1e999")))
        kind = draw(st.sampled_from(CLIENT_TYPES[subprotocol]))
        return f'{{"type":"{kind}","id":"1","payload":{number}}}'
    if how == "value":
        return json.dumps(draw(json_values))
    if how == "near-limit":
        delta = draw(st.integers(-2, 2))
        char = draw(st.sampled_from(("a", "é", "\U0001d11e")))
        padded = text[:-1] + ',"pad":"' if text.endswith("}") else '{"pad":"'
        room = max(0, MAX_MESSAGE_SIZE + delta - len(padded.encode()) - 2)
        width = len(char.encode())
        return padded + char * (room // width) + "a" * (room % width) + '"}'
    # Hypothesis raises the recursion limit to about 2,000 frames over the
    # stack depth while it runs a test: reach past that, independently of it.
    depth = draw(st.integers(1, 2100))
    kind = draw(st.sampled_from(CLIENT_TYPES[subprotocol]))
    return f'{{"type":"{kind}","id":"1","payload":{"[" * depth}{"]" * depth}}}'


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, list[str | bytes]]:
    """(subprotocol, one to five frames)."""
    subprotocol = draw(st.sampled_from(SUBPROTOCOLS))
    return subprotocol, draw(st.lists(frames(subprotocol), min_size=1, max_size=5))


# ----------------------------------------------------------------- helpers


class ErrorLog(logging.Handler):
    """Keeps the library's log records of level ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def layer_memberships() -> dict[str, set[str]]:
    layer = get_channel_layer()
    return {group: set(channels) for group, channels in layer.groups.items()}


async def wait_for_tasks(baseline: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks not in ``baseline`` still there after ``PATIENCE`` seconds (none, hopefully)."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        extra = {task for task in asyncio.all_tasks() if task not in baseline and not task.done()}
        if not extra or asyncio.get_running_loop().time() > deadline:
            return extra
        await asyncio.sleep(0.005)


def start_frame(subprotocol: str, op_id: str, query: str) -> str:
    kind = "subscribe" if subprotocol == TRANSPORT_WS else "start"
    return json.dumps({"type": kind, "id": op_id, "payload": {"query": query}})


async def fuzz_one_connection(subprotocol: str, fuzzed: list[str | bytes]) -> str:
    """Run one example; return "closed <code>" or "probe answered".

    The communicator is disconnected even when a check fails, so that a
    failing example leaves no consumer running into the next one.
    """
    communicator = WebsocketCommunicator(
        fuzz_consumer().as_asgi(), "/graphql/", subprotocols=[subprotocol]
    )
    try:
        return await _fuzz(communicator, subprotocol, fuzzed)
    finally:
        with contextlib.suppress(Exception):  # the app's own exception was raised already
            await communicator.disconnect(timeout=PATIENCE)


async def _fuzz(
    communicator: WebsocketCommunicator, subprotocol: str, fuzzed: list[str | bytes]
) -> str:
    connected, chosen = await communicator.connect(timeout=PATIENCE)
    assert connected and chosen == subprotocol
    await communicator.send_to(text_data='{"type": "connection_init"}')
    ack = await communicator.receive_json_from(timeout=PATIENCE)
    assert ack == {"type": "connection_ack"}, ack

    for frame in fuzzed:  # send_input: send_to() refuses empty frames
        key = "bytes" if isinstance(frame, bytes) else "text"
        await communicator.send_input({"type": "websocket.receive", key: frame})
    await communicator.send_to(text_data=start_frame(subprotocol, PROBE_ID, "{ hello }"))

    result_type = "next" if subprotocol == TRANSPORT_WS else "data"
    probe: list[dict[str, Any]] = []
    while True:
        output = await communicator.receive_output(timeout=PATIENCE)
        if output["type"] == "websocket.close":
            code = output.get("code")
            assert code in CLOSE_CODES[subprotocol], f"close code {code}: {output}"
            reason = output.get("reason", "")
            assert len(reason.encode("utf-8")) <= 123, output  # strict UTF-8, fits a close frame
            assert probe == [], "the probe was answered, then the socket closed"
            assert await communicator.receive_nothing(0.02), "output after the close"
            return f"closed {code}"
        assert output["type"] == "websocket.send", output
        assert output.get("bytes") is None, output
        message = strict_json(output["text"])
        assert isinstance(message, dict), message
        assert message.get("type") in SERVER_TYPES[subprotocol], message
        if message.get("id") == PROBE_ID:
            probe.append(message)
            if message["type"] != result_type:
                break
    assert probe == [
        {"type": result_type, "id": PROBE_ID, "payload": PROBE_RESULT},
        {"type": "complete", "id": PROBE_ID},
    ], probe
    return "probe answered"


# ------------------------------------------------------------------- tests


async def check_one_example(subprotocol: str, fuzzed: list[str | bytes]) -> str:
    """``fuzz_one_connection``, then: no task, group membership, fan-out
    listener or logged error is left behind."""
    tasks_before = set(asyncio.all_tasks())
    groups_before = layer_memberships()
    errors = ErrorLog()
    library_log = logging.getLogger("channels_graphql_ws")
    library_log.addHandler(errors)
    try:
        outcome = await fuzz_one_connection(subprotocol, fuzzed)
    finally:
        library_log.removeHandler(errors)

    leaked = await wait_for_tasks(tasks_before)
    assert not leaked, f"tasks left after the disconnect: {leaked}"
    for group, members in layer_memberships().items():
        assert members <= groups_before.get(group, set()), f"still in group {group}"
    for fan in fanouts_on_running_loop():
        assert fan.groups() == [], f"fan-out listeners left: {fan.groups()}"
    assert not errors.records, [record.getMessage() for record in errors.records]
    return outcome


@settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
async def test_random_frames_get_table_answers_and_leave_nothing_behind(
    case: tuple[str, list[str | bytes]],
) -> None:
    """After one to five random or mutated frames, either the socket closed
    with a code of the table or a probe query still works; after the
    disconnect no task, group membership, fan-out listener or error is left."""
    await check_one_example(*case)


EDGE_CASES: dict[str, tuple[str, list[str | bytes]]] = {
    "ping payload past the float range": (TRANSPORT_WS, ['{"type":"ping","payload":1e999}']),
    "id with a lone surrogate reused while active": (
        TRANSPORT_WS,
        [start_frame(TRANSPORT_WS, "\ud800", "subscription { ticks }")] * 2,
    ),
    "legacy: subscriptions to a group, then a broadcast to it": (
        LEGACY,
        [
            start_frame(LEGACY, "1", 'subscription { events(group: "g1") { value } }'),
            start_frame(LEGACY, "2", "subscription { ticks }"),
            start_frame(LEGACY, "3", 'mutation { trigger(value: 5, group: "g1") }'),
            json.dumps({"type": "stop", "id": "2"}),
        ],
    ),
    "transport-ws: subscriptions, a refused one, a broadcast, a stop": (
        TRANSPORT_WS,
        [
            start_frame(TRANSPORT_WS, "1", "subscription { events { value } }"),
            start_frame(TRANSPORT_WS, "2", 'subscription { events(group: "refuse") { value } }'),
            start_frame(TRANSPORT_WS, "3", "mutation { trigger(value: 5) }"),
            json.dumps({"type": "complete", "id": "1"}),
        ],
    ),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
async def test_edge_frames_get_table_answers_and_leave_nothing_behind(name: str) -> None:
    """The Hypothesis test's checks on frames pinned by name (kept apart: a
    failing explicit example stops Hypothesis before it generates anything)."""
    await check_one_example(*EDGE_CASES[name])


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_a_ping_nested_as_deep_as_the_decoder_allows_never_crashes_the_consumer(
    subprotocol: str,
) -> None:
    """Decision 2, nothing crashes the consumer: a sweep of nesting depths up
    to past what ``json`` decodes, in a ping's payload (echoed in the pong on
    graphql-transport-ws; on legacy a `start`'s payload, answered with an
    error). Each frame is answered or the socket closes with a code of the
    table, the probe works when it stays open, and nothing is left behind."""
    limit = sys.getrecursionlimit()
    kind = "ping" if subprotocol == TRANSPORT_WS else "start"
    for depth in range(limit - 120, limit + 5):
        nested = "[" * depth + "]" * depth
        frame = f'{{"type":"{kind}","id":"1","payload":{nested}}}'
        await check_one_example(subprotocol, [frame])
