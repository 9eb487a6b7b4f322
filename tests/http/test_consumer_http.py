"""GraphQL over HTTP through the consumer, in process (Channels' communicators).

The same consumer class serves both transports with the same engine: hooks,
middleware, limits, error masking and the context. Real servers and real
clients are in ``test_servers.py``; these tests reach the corners a client
does not (a disconnect during a slow query, a body cut short by its limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import graphene
import pytest
from channels.testing import ApplicationCommunicator, HttpCommunicator, WebsocketCommunicator

import channels_graphql_ws
from channels_graphql_ws import graphiql
from channels_graphql_ws.operations import Operations
from channels_graphql_ws.protocol.http import GRAPHQL_RESPONSE_JSON, SUBSCRIPTION_HINT

CALLS: dict[str, Any] = {}


class Query(graphene.ObjectType):
    hello = graphene.String(name=graphene.String(default_value="world"))
    fail = graphene.String()
    slow = graphene.String(seconds=graphene.Float(required=True))
    context = graphene.String()
    deep = graphene.Field(lambda: Query)

    @staticmethod
    def resolve_hello(root: Any, info: Any, name: str) -> str:
        return f"Hello, {name}!"

    @staticmethod
    def resolve_fail(root: Any, info: Any) -> str:
        raise RuntimeError("secret detail")

    @staticmethod
    async def resolve_slow(root: Any, info: Any, seconds: float) -> str:
        CALLS["slow"] = "started"
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            CALLS["slow"] = "cancelled"
            raise
        CALLS["slow"] = "finished"
        return f"slept {seconds}"

    @staticmethod
    def resolve_context(root: Any, info: Any) -> str:
        context = info.context
        scope = context.channels_scope
        return json.dumps(
            {
                "scope_type": scope["type"],
                "method": scope["method"],
                "path": scope["path"],
                "operation_id": context.graphql_operation_id,
                "operation_name": context.graphql_operation_name,
                "has_channel_name": bool(context.channel_name),
            }
        )

    @staticmethod
    def resolve_deep(root: Any, info: Any) -> Any:
        return {}


class Increment(graphene.Mutation):
    class Arguments:
        by = graphene.Int(default_value=1)

    value = graphene.Int()

    @staticmethod
    def mutate(root: Any, info: Any, by: int) -> Increment:
        CALLS["counter"] = CALLS.get("counter", 0) + by
        return Increment(value=CALLS["counter"])


class Mutation(graphene.ObjectType):
    increment = Increment.Field()


class Subscription(graphene.ObjectType):
    countdown = graphene.Int(start=graphene.Int(required=True))

    @staticmethod
    async def subscribe_countdown(root: Any, info: Any, start: int) -> AsyncIterator[int]:
        for value in range(start, -1, -1):
            yield value


SCHEMA = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
JSON = [(b"content-type", b"application/json")]
STRICT = [*JSON, (b"accept", GRAPHQL_RESPONSE_JSON.encode())]


def consumer_class(**settings: Any) -> type[channels_graphql_ws.GraphqlConsumer]:
    return type(
        "HttpTestConsumer", (channels_graphql_ws.GraphqlConsumer,), {"schema": SCHEMA, **settings}
    )


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()


async def exchange(
    consumer: type, method: str, path: str, body: Any = b"", headers: Any = None
) -> dict[str, Any]:
    """One request; the response, then the http.disconnect servers send after it."""
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    communicator = HttpCommunicator(consumer.as_asgi(), method, path, body, headers or [])
    response = await communicator.get_response(timeout=5)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=5)
    response["json"] = json.loads(response["body"]) if response["body"][:1] == b"{" else None
    response["header"] = {name.decode(): value.decode() for name, value in response["headers"]}
    return response


async def post(consumer: type, body: Any, headers: Any = JSON) -> dict[str, Any]:
    return await exchange(consumer, "POST", "/graphql/", body, headers)


# -------------------------------------------------------------- both ways


async def test_one_consumer_class_serves_http_and_websocket() -> None:
    consumer = consumer_class()
    over_http = await post(consumer, {"query": "{ hello }"})
    assert (over_http["status"], over_http["json"]) == (200, {"data": {"hello": "Hello, world!"}})
    over_get = await exchange(consumer, "GET", "/graphql/?query=%7B%20hello%20%7D")
    assert over_get["json"] == {"data": {"hello": "Hello, world!"}}

    socket = WebsocketCommunicator(
        consumer.as_asgi(), "/graphql/", subprotocols=["graphql-transport-ws"]
    )
    assert (await socket.connect(timeout=5))[0]
    await socket.send_json_to({"type": "connection_init"})
    assert (await socket.receive_json_from(timeout=5))["type"] == "connection_ack"
    await socket.send_json_to({"type": "subscribe", "id": "1", "payload": {"query": "{ hello }"}})
    message = await socket.receive_json_from(timeout=5)
    assert message["payload"] == over_http["json"]
    await socket.disconnect()


def test_graphql_consumer_is_the_same_class() -> None:
    assert channels_graphql_ws.GraphqlConsumer is channels_graphql_ws.GraphqlWsConsumer


# ------------------------------------------------------------ the engine


@pytest.mark.parametrize("is_async", [True, False], ids=["async", "sync"])
async def test_on_operation_runs_for_http_with_no_id_and_the_request_payload(
    is_async: bool,
) -> None:
    seen = []

    def record(self: Any, op_id: Any, payload: Any) -> None:
        seen.append((op_id, payload))

    async def record_async(self: Any, op_id: Any, payload: Any) -> None:
        record(self, op_id, payload)

    consumer = consumer_class(on_operation=record_async if is_async else record)
    body = {"query": "{ hello }", "operationName": None, "extensions": {"x": 1}}
    assert (await post(consumer, body))["status"] == 200
    assert seen == [(None, body)]


async def test_on_operation_raising_refuses_the_operation_as_a_request_error() -> None:
    def refuse(self: Any, op_id: Any, payload: Any) -> None:
        raise PermissionError("not you")

    consumer = consumer_class(on_operation=refuse)
    strict = await post(consumer, {"query": "mutation { increment { value } }"}, STRICT)
    assert strict["status"] == 400
    assert strict["json"] == {
        "errors": [
            {"message": "PermissionError: not you", "extensions": {"code": "PermissionError"}}
        ]
    }
    lenient = await post(consumer, {"query": "mutation { increment { value } }"})
    assert (lenient["status"], lenient["json"]) == (200, strict["json"])
    assert "counter" not in CALLS


async def test_middleware_runs_over_http() -> None:
    fields = []

    def middleware(next_: Any, root: Any, info: Any, **args: Any) -> Any:
        fields.append(info.field_name)
        return next_(root, info, **args)

    consumer = consumer_class(middleware=[middleware])
    assert (await post(consumer, {"query": "{ hello }"}))["status"] == 200
    assert fields == ["hello"]


async def test_document_limits_apply_over_http() -> None:
    consumer = consumer_class(max_document_depth=2)
    response = await post(consumer, {"query": "{ deep { deep { hello } } }"}, STRICT)
    assert response["status"] == 400
    assert response["json"]["errors"][0]["extensions"]["code"] == "MAX_DOCUMENT_DEPTH"
    assert "data" not in response["json"]


async def test_resolver_errors_are_200_with_data_and_masked_when_masking_is_on() -> None:
    plain = await post(consumer_class(), {"query": "{ fail hello }"}, STRICT)
    assert plain["status"] == 200
    assert plain["json"]["data"] == {"fail": None, "hello": "Hello, world!"}
    assert plain["json"]["errors"][0]["message"] == "secret detail"
    masked = await post(consumer_class(mask_internal_errors=True), {"query": "{ fail }"})
    assert masked["json"]["errors"][0]["message"] == "Internal server error"
    assert "secret" not in json.dumps(masked["json"])


async def test_the_context_holds_the_http_scope_and_no_operation_id() -> None:
    response = await post(consumer_class(), {"query": "query Who { context }"})
    assert json.loads(response["json"]["data"]["context"]) == {
        "scope_type": "http",
        "method": "POST",
        "path": "/graphql/",
        "operation_id": None,
        "operation_name": None,
        "has_channel_name": True,
    }


@pytest.mark.parametrize(
    ("headers", "status"), [(STRICT, 400), (JSON, 200)], ids=["graphql-response+json", "json"]
)
async def test_variable_coercion_failure_is_a_request_error_without_data(
    headers: Any, status: int
) -> None:
    body = {"query": "query Q($name: String!) { hello(name: $name) }", "variables": {"name": 7}}
    response = await post(consumer_class(), body, headers)
    assert response["status"] == status
    assert set(response["json"]) == {"errors"}
    assert "$name" in response["json"]["errors"][0]["message"]


@pytest.mark.parametrize(("query", "status"), [("{ hello", 400), ("{ nope }", 400)])
async def test_document_errors_are_request_errors_without_data(query: str, status: int) -> None:
    response = await post(consumer_class(), {"query": query}, STRICT)
    assert response["status"] == status
    assert set(response["json"]) == {"errors"}


async def test_unexpected_failure_is_500_with_the_error_policy(monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(Operations, "start_query", broken)
    shown = await post(consumer_class(), {"query": "{ hello }"})
    assert shown["status"] == 500
    assert shown["json"]["errors"][0]["message"] == "RuntimeError: engine exploded"
    masked = await post(consumer_class(mask_internal_errors=True), {"query": "{ hello }"})
    assert masked["json"]["errors"] == [
        {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    ]


# ---------------------------------------------------------------- T6 rules


async def test_mutation_over_get_is_405_and_runs_nothing() -> None:
    response = await exchange(
        consumer_class(),
        "GET",
        "/graphql/?query=mutation%20%7B%20increment%20%7B%20value%20%7D%20%7D",
    )
    assert (response["status"], response["header"]["allow"]) == (405, "POST")
    assert "counter" not in CALLS


async def test_subscription_over_plain_http_is_406_naming_the_ways_to_subscribe() -> None:
    response = await post(consumer_class(), {"query": "subscription { countdown(start: 1) }"})
    assert response["status"] == 406
    assert response["json"]["errors"][0]["message"] == SUBSCRIPTION_HINT


async def test_body_over_max_message_size_is_refused_before_the_rest_arrives() -> None:
    consumer = consumer_class(max_message_size=1000)
    communicator = ApplicationCommunicator(
        consumer.as_asgi(),
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql/",
            "headers": JSON,
            "query_string": b"",
        },
    )
    await communicator.send_input({"type": "http.request", "body": b" " * 600, "more_body": True})
    assert await communicator.receive_nothing(0.1)
    await communicator.send_input({"type": "http.request", "body": b" " * 600, "more_body": True})
    start = await communicator.receive_output(5)
    assert start["status"] == 413
    body = await communicator.receive_output(5)
    assert b"1000 bytes" in body["body"]
    # The consumer has stopped: the rest of the body is never read.
    await communicator.wait(5)


async def test_declared_length_over_max_message_size_is_413_at_once() -> None:
    headers = [*JSON, (b"content-length", b"5000")]
    response = await post(consumer_class(max_message_size=1000), b"{}", headers)
    assert response["status"] == 413


# -------------------------------------------------------- queries in tasks


async def test_a_query_that_awaits_is_answered_from_a_task() -> None:
    response = await post(consumer_class(), {"query": "{ slow(seconds: 0.05) }"})
    assert response["json"] == {"data": {"slow": "slept 0.05"}}
    assert CALLS["slow"] == "finished"


async def test_a_client_that_leaves_cancels_its_running_query() -> None:
    communicator = HttpCommunicator(
        consumer_class().as_asgi(), "POST", "/graphql/",
        json.dumps({"query": "{ slow(seconds: 30) }"}).encode(), JSON,
    )  # fmt: skip
    await communicator.send_input({"type": "http.request", "body": communicator.body})
    for _ in range(100):
        if CALLS.get("slow") == "started":
            break
        await asyncio.sleep(0.01)
    assert CALLS["slow"] == "started"
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(5)
    assert CALLS["slow"] == "cancelled"
    assert await communicator.receive_nothing(0.05)


# --------------------------------------------------------------- GraphiQL


async def test_graphiql_page_is_served_to_browsers_when_enabled() -> None:
    browser = [(b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8")]
    off = await exchange(consumer_class(), "GET", "/graphql/", headers=browser)
    assert off["status"] == 400  # no query: a plain GraphQL request error
    consumer = consumer_class(graphiql=True, graphiql_base_url="/static/cdn/")
    page = await exchange(consumer, "GET", "/graphql/", headers=browser)
    assert page["status"] == 200
    assert page["header"]["content-type"] == "text/html; charset=utf-8"
    text = page["body"].decode()
    for path in graphiql.asset_paths():
        assert f'"/static/cdn/{path}"' in text
    assert "graphql-transport-ws" in text


async def test_a_server_shutting_down_cancels_the_running_query() -> None:
    """The ASGI server cancels its applications: the query task ends with the consumer."""
    communicator = HttpCommunicator(
        consumer_class().as_asgi(), "POST", "/graphql/",
        json.dumps({"query": "{ slow(seconds: 30) }"}).encode(), JSON,
    )  # fmt: skip
    await communicator.send_input({"type": "http.request", "body": communicator.body})
    for _ in range(100):
        if CALLS.get("slow") == "started":
            break
        await asyncio.sleep(0.01)
    communicator.future.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await communicator.future
    assert CALLS["slow"] == "cancelled"


@pytest.mark.parametrize("sync_code_in_thread", [True, False])
async def test_a_request_and_its_disconnect_skip_channels_extra_hop(
    monkeypatch: pytest.MonkeyPatch, sync_code_in_thread: bool
) -> None:
    # Channels closes stale database connections in a thread hop before each
    # handler. With sync code in Django's thread, our own hops close them
    # (decision 23): neither the request nor its disconnect pays Channels' hop.
    # (The answer then comes from a task, so the consumer reads the
    # disconnect that servers send after it; on the loop the query is
    # answered inline and the consumer stops at once.)
    import channels.consumer

    hops: list[str] = []
    original = channels.consumer.aclose_old_connections

    async def counted() -> None:
        hops.append("aclose")
        await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    consumer = consumer_class(sync_code_in_thread=sync_code_in_thread)
    answer = await post(consumer, {"query": "{ hello }"})
    assert answer["json"] == {"data": {"hello": "Hello, world!"}}
    assert len(hops) == (0 if sync_code_in_thread else 1)
