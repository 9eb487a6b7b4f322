"""The session's lifecycle rules, without a socket: a fake sink and a fake fan-out.

Decisions 6 to 10 and 17 of API.md, and the engine's promise that
``unsubscribed`` runs exactly once for every subscription whose
``subscribe`` ran, however it ends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import graphene
import pytest
from graphql import GraphQLSchema

import channels_graphql_ws
from channels_graphql_ws import execution, operations, serializer
from channels_graphql_ws.dict_as_object import DictAsObject
from channels_graphql_ws.notifications import Notification
from channels_graphql_ws.operations import Operations
from channels_graphql_ws.session import OperationSession

pytestmark = pytest.mark.timeout(10)

_numbers = itertools.count()
SUBSCRIPTION = "subscription { onEvent { n } }"


@dataclass(frozen=True)
class Request:
    id: Any
    query: str
    operation_name: str | None = None
    variables: dict[str, Any] | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return {"query": self.query}


class FakeSink:
    """Records every answer, and ends ids as the protocol layer would."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.active: set[Any] = set()

    def is_active(self, op_id: Any) -> bool:
        return op_id in self.active

    def of(self, op_id: Any) -> list[str]:
        return [entry[0] for entry in self.sent if entry[1] == op_id]

    async def send_result(self, op_id: Any, payload: dict[str, Any]) -> None:
        if op_id in self.active:
            self.sent.append(("result", op_id, payload))

    async def send_encoded_result(self, op_id: Any, payload_json: str) -> None:
        await self.send_result(op_id, json.loads(payload_json))

    async def send_confirmation(self, op_id: Any, payload: dict[str, Any]) -> None:
        self.sent.append(("confirmation", op_id, payload))

    async def _end(self, kind: str, op_id: Any, *rest: Any) -> None:
        if op_id in self.active:
            self.active.discard(op_id)
            self.sent.append((kind, op_id, *rest))

    async def complete(self, op_id: Any) -> None:
        await self._end("complete", op_id)

    async def send_error(self, op_id: Any, errors: list[dict[str, Any]]) -> None:
        await self._end("error", op_id, errors)

    async def send_document_errors(self, op_id: Any, errors: list[dict[str, Any]]) -> None:
        await self._end("document_errors", op_id, errors)

    async def send_setup_errors(self, op_id: Any, errors: list[dict[str, Any]]) -> None:
        await self._end("setup_errors", op_id, errors)


class FakeFanout:
    """Memberships by group; ``broadcast`` delivers to the listening sessions."""

    def __init__(self) -> None:
        self.listeners: dict[str, set[Any]] = {}
        self.joins: list[str] = []

    async def join(self, group: str, listener: Any, subscriber: Any = None) -> None:
        self.joins.append(group)
        await asyncio.sleep(0.001)  # a layer call takes time
        self.listeners.setdefault(group, set()).add(listener)

    def discard(self, group: str, subscriber: Any) -> None:
        pass  # `broadcast` delivers through the listening sessions

    async def leave(self, group: str, listener: Any) -> None:
        self.listeners.get(group, set()).discard(listener)
        if not self.listeners.get(group):
            self.listeners.pop(group, None)

    def broadcast(self, group: str, value: Any) -> None:
        for listener in list(self.listeners.get(group, ())):
            listener.deliver(group, Notification(serializer.pack(value), value))

    def unsubscribe(self, group: str) -> None:
        for listener in list(self.listeners.get(group, ())):
            listener.end_group(group)


@dataclass
class Hooks:
    """What one test's Subscription class does and saw."""

    subscribe_delay: float = 0.0
    subscribe_error: Exception | None = None
    subscribed: int = 0
    unsubscribed: int = 0
    seen_by_query: list[int] = field(default_factory=list)


class FakeHost:
    """The settings and hooks a consumer would give the engine."""

    mask_internal_errors = False
    max_document_length = None
    max_document_tokens = None
    max_document_depth = None
    max_document_fields = None
    introspection = True
    warn_operation_timeout = None
    sync_code_in_thread = False
    confirm_subscriptions = True
    subscription_notification_queue_limit = 1024
    _middleware = None

    def __init__(self, schema: graphene.Schema) -> None:
        self.schema = schema

    @property
    def _graphql_schema(self) -> GraphQLSchema:
        return self.schema.graphql_schema  # type: ignore[no-any-return]

    def _format_error(self, error: Exception) -> dict[str, Any]:
        return execution.format_error(error)

    def _confirmation_payload(self) -> dict[str, Any]:
        return {"data": None}

    def _operation_context(self, request: Any) -> Any:
        return DictAsObject({"graphql_operation_id": request.id})

    @operations.default_hook
    def on_operation(self, op_id: Any, payload: Any) -> None:
        pass


def build(
    hooks: Hooks, *, strict: bool = False, queue_limit: int | None = None
) -> tuple[OperationSession, FakeSink, FakeFanout, type[channels_graphql_ws.Subscription]]:
    name = f"OnEvent{next(_numbers)}"
    holder: dict[str, OperationSession] = {}

    async def subscribe(root: Any, info: Any) -> None:
        if hooks.subscribe_delay:
            await asyncio.sleep(hooks.subscribe_delay)
        if hooks.subscribe_error is not None:
            raise hooks.subscribe_error
        hooks.subscribed += 1

    def unsubscribed(root: Any, info: Any) -> None:
        hooks.unsubscribed += 1

    def publish(payload: Any, info: Any) -> Any:
        if payload == "unencodable":
            return {"n": object()}
        return {"n": payload}

    sub = type(
        name,
        (channels_graphql_ws.Subscription,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "n": graphene.Int(),
            "notification_queue_limit": queue_limit,
            "subscribe": staticmethod(subscribe),
            "publish": staticmethod(publish),
            "unsubscribed": staticmethod(unsubscribed),
        },
    )

    class Query(graphene.ObjectType):
        live = graphene.Int()

        @staticmethod
        def resolve_live(root: Any, info: Any) -> int:
            count = len(holder["session"].subscriptions)
            hooks.seen_by_query.append(count)
            return count

    root = type(f"{name}Root", (graphene.ObjectType,), {"on_event": sub.Field()})
    host = FakeHost(graphene.Schema(query=Query, subscription=root))
    sink, fanout = FakeSink(), FakeFanout()
    session = OperationSession(
        Operations(host),  # type: ignore[arg-type]
        sink,
        strict_ordering=strict,
        fanout=lambda: fanout,
    )
    holder["session"] = session
    return session, sink, fanout, sub


async def start(session: OperationSession, sink: FakeSink, op_id: Any, query: str) -> None:
    sink.active.add(op_id)
    await session.start(Request(op_id, query))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


async def test_setups_run_in_arrival_order_so_a_query_sent_next_finds_the_subscription_live():
    """Decision 6."""
    hooks = Hooks(subscribe_delay=0.05)
    session, sink, _, _ = build(hooks)
    await start(session, sink, "s", SUBSCRIPTION)
    await start(session, sink, "q", "{ live }")
    for _ in range(100):  # a new document is prepared in a worker thread
        if sink.of("q"):
            break
        await asyncio.sleep(0.01)
    assert hooks.seen_by_query == [1]
    kinds = [entry[:2] for entry in sink.sent]
    assert kinds.index(("confirmation", "s")) < kinds.index(("result", "q"))


async def test_a_stop_during_setup_waits_for_it_and_answers_one_complete():
    """Decision 7, setup succeeded."""
    hooks = Hooks(subscribe_delay=0.05)
    session, sink, _, _ = build(hooks)
    await start(session, sink, "s", SUBSCRIPTION)
    await session.stop("s")
    await session.stop("s")
    for _ in range(200):  # the setup may first prepare its document in a worker thread
        if len(sink.of("s")) >= 2 and hooks.unsubscribed:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # anything sent twice would have arrived by now
    assert sink.of("s") == ["confirmation", "complete"]
    assert (hooks.subscribed, hooks.unsubscribed) == (1, 1)


async def test_a_stop_for_a_setup_that_failed_answers_nothing_more():
    """Decision 7, setup failed: the error was the answer."""
    hooks = Hooks(subscribe_delay=0.02, subscribe_error=PermissionError("no"))
    session, sink, _, _ = build(hooks)
    await start(session, sink, "s", SUBSCRIPTION)
    await session.stop("s")
    await asyncio.sleep(0.1)
    assert sink.of("s") == ["setup_errors"]
    assert hooks.unsubscribed == 0  # `subscribe` did not succeed


async def test_every_way_of_stopping_at_once_gives_one_complete_and_nothing_after():
    """Decision 8: client stops and server unsubscribes, several of each."""
    hooks = Hooks()
    session, sink, fanout, sub = build(hooks)
    await start(session, sink, "s", SUBSCRIPTION)
    await settle()
    group = sub._group_name()
    fanout.broadcast(group, 1)
    await session.stop("s")
    fanout.unsubscribe(group)
    await session.stop("s")
    fanout.unsubscribe(group)
    fanout.broadcast(group, 2)
    await settle()
    events = sink.of("s")
    assert events.count("complete") == 1
    assert events[-1] == "complete"
    assert hooks.unsubscribed == 1


async def test_the_confirmation_comes_first_and_a_server_unsubscribe_during_setup_after_it():
    """Decision 9."""
    hooks = Hooks(subscribe_delay=0.05)
    session, sink, _fanout, sub = build(hooks)
    await start(session, sink, "s", SUBSCRIPTION)
    await asyncio.sleep(0.06)  # subscribe() has run; the groups are being joined
    session.end_group(sub._group_name())
    await settle()
    assert sink.of("s") == ["confirmation", "complete"]
    assert hooks.unsubscribed == 1


async def test_with_strict_ordering_notifications_wait_while_a_message_is_dispatched():
    """Decision 10, and issue 15 item 8: what waits is bounded by the queue limit."""
    hooks = Hooks()
    session, sink, fanout, sub = build(hooks, strict=True, queue_limit=5)
    await start(session, sink, "s", SUBSCRIPTION)
    await settle()  # the notifier waits for its first notification
    group = sub._group_name()
    with session.dispatching():
        for value in range(100):
            fanout.broadcast(group, value)
        await settle()
        assert sink.of("s") == ["confirmation"]
    await settle()
    results = [entry[2]["data"]["onEvent"]["n"] for entry in sink.sent if entry[0] == "result"]
    assert results == [0, 95, 96, 97, 98, 99]


async def test_close_runs_unsubscribed_for_every_subscription_whose_subscribe_ran():
    """Decision 17, also for a subscription whose stop was cut short by the close."""
    hooks = Hooks()
    session, sink, fanout, _sub = build(hooks)
    for op_id in ("a", "b", "c"):
        await start(session, sink, op_id, SUBSCRIPTION)
    await settle()
    await session.stop("c")  # a task; the close below cuts it short
    await session.close()
    assert (hooks.subscribed, hooks.unsubscribed) == (3, 3)
    assert fanout.listeners == {}
    assert not session.tasks


async def test_a_notification_that_fails_ends_with_an_error_and_unsubscribed():
    hooks = Hooks()
    session, sink, fanout, sub = build(hooks)

    async def failing_send(op_id: Any, payload: dict[str, Any]) -> None:
        raise ValueError("cannot be encoded")

    await start(session, sink, "s", SUBSCRIPTION)
    await settle()
    sink.send_result = failing_send  # type: ignore[method-assign]
    fanout.broadcast(sub._group_name(), 1)
    await settle()
    assert sink.of("s") == ["confirmation", "error"]
    assert hooks.unsubscribed == 1
    assert session.subscriptions == {}


async def test_a_query_that_fails_outside_its_resolvers_is_answered_with_an_error():
    hooks = Hooks()
    session, sink, _, _ = build(hooks)

    async def failing_send(op_id: Any, payload: dict[str, Any]) -> None:
        raise TypeError("not JSON")

    sink.send_result = failing_send  # type: ignore[method-assign]
    await start(session, sink, "q", "{ live }")
    for _ in range(100):  # a new document is prepared in a worker thread
        if sink.of("q"):
            break
        await asyncio.sleep(0.01)
    assert sink.of("q") == ["error"]
    assert not session.records
