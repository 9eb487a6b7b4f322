"""How an operation of a session lives and ends: records, tasks, groups, notifiers.

``OperationOwner`` is the half of a session that owns things: one record
per operation id, every task, every group membership, and the one path by
which a subscription ends (``_end_subscription``), so that ``unsubscribed``
runs exactly once for every subscription whose ``subscribe`` ran. The
other half, ``session.OperationSession``, carries out what the client asks.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from graphql import GraphQLResolveInfo

from . import notifications, subscription
from .direct_delivery import DirectDelivery, fail_batch, send_batch
from .operations import Operations, Plan, Refusal, error_log_budget, log_failure
from .protocol import OperationId, encode_message

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where a session's answers go: the transport's side of the protocol.

    Each call may do nothing when the protocol says the id has ended (a
    stopped query's result, anything after a close); a call raises only
    when the message cannot be sent as given (it cannot be encoded).
    """

    def is_active(self, op_id: OperationId) -> bool: ...
    async def send_result(self, op_id: OperationId, payload: dict[str, Any]) -> None: ...
    async def send_encoded_result(self, op_id: OperationId, payload_json: str) -> None: ...
    async def send_confirmation(self, op_id: OperationId, payload: dict[str, Any]) -> None: ...
    async def complete(self, op_id: OperationId) -> None: ...
    async def send_error(self, op_id: OperationId, errors: list[dict[str, Any]]) -> None: ...
    async def send_document_errors(
        self, op_id: OperationId, errors: list[dict[str, Any]]
    ) -> None: ...
    async def send_setup_errors(self, op_id: OperationId, errors: list[dict[str, Any]]) -> None: ...


class Fanout(Protocol):
    """The per-process fan-out as a session uses it (``fanout.ProcessFanout``)."""

    async def join(self, group: str, listener: Any, subscriber: Any = None) -> None: ...
    def discard(self, group: str, subscriber: Any) -> None: ...
    async def leave(self, group: str, listener: Any) -> None: ...


@dataclass(eq=False)
class OperationRecord:
    """One operation of a session, from its request to its last message.

    ``groups`` is what ``_subscriptions`` users read; ``setup`` is None for
    queries and for plain Graphene subscriptions (an async-generator
    ``subscribe_<field>``).
    """

    id: OperationId
    request: Any
    setup_finished: bool = False
    # Made only when someone must wait for the setup: most operations are
    # queries whose setup is over before anyone could ask.
    _setup_event: asyncio.Event | None = None
    task: asyncio.Task[Any] | None = None
    is_subscription: bool = False
    groups: list[str] = field(default_factory=list)
    setup: subscription.SubscriptionSetup | None = None
    queue: notifications.NotificationQueue[Any] | None = None
    stream: AsyncIterable[Any] | None = None
    notifier: asyncio.Task[Any] | None = None
    live: bool = False
    ending: bool = False
    # The fan-out's fast path (``notifications.deliver``): what makes
    # this subscriber's results shareable, and a notification it carries.
    shared_key: Any = None
    shared_compute: Callable[[Any], Awaitable[str | None]] | None = None
    #: Set while this subscriber may take the fast path: what its batch calls
    #: (``notifications.deliver``), the session it sends for, and its sink's
    #: ``start_encoded_result``.
    direct_batch: notifications.BatchCalls | None = None
    direct_owner: DirectDelivery | None = None
    direct_start: Callable[[OperationId, str], Awaitable[Any] | None] | None = None
    #: Notifications taken by the fast path and not yet sent.
    direct_pending: int = 0
    #: Made when the notifier must wait for those (a later item arrived).
    direct_waiter: asyncio.Future[None] | None = None
    #: A fast-path send that had to wait for the socket.
    direct_send: asyncio.Task[None] | None = None

    def finish_setup(self) -> None:
        self.setup_finished = True
        if self._setup_event is not None:
            self._setup_event.set()

    async def setup_over(self) -> None:
        """Return once the setup is done (decision 7: stops wait for it)."""
        if self.setup_finished:
            return
        if self._setup_event is None:
            self._setup_event = asyncio.Event()
        await self._setup_event.wait()


Answer = Callable[[], Awaitable[None]] | None


class OperationOwner(DirectDelivery):
    """Records, tasks and group memberships of one session, and how each ends."""

    def __init__(self, operations: Operations, sink: Sink, fanout: Callable[[], Fanout]) -> None:
        self._ops = operations
        self._sink = sink
        self._fanout_source = fanout
        self._fanout: Fanout | None = None
        self._records: dict[OperationId, OperationRecord] = {}
        # Subscriptions whose `subscribe` ran and whose `unsubscribed` has not.
        self._owed: set[OperationRecord] = set()
        # Dicts used as ordered sets: iterating one is cheaper than a set's
        # sparse table, and `deliver` walks one per broadcast.
        self._members: dict[str, dict[OperationRecord, None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # `unsubscribed` calls in progress: never cancelled, waited for by `close`.
        self._unsubscribing: set[asyncio.Task[None]] = set()
        # Open unless the transport is dispatching a message (strict ordering).
        self._gate = asyncio.Event()
        self._gate.set()
        self._closed = False

    @property
    def subscriptions(self) -> Mapping[OperationId, OperationRecord]:
        """Live subscriptions by id, read-only (the older ``_subscriptions``)."""
        return MappingProxyType({op_id: r for op_id, r in self._records.items() if r.live})

    @property
    def records(self) -> Mapping[OperationId, OperationRecord]:
        return MappingProxyType(self._records)

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        return frozenset(self._tasks)

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        """Start a task this session owns: kept until done, ended by ``close``."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def cancel_tasks(self) -> None:
        """Cancel every task (the connection is closing); ``close`` waits for them."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _forget(self, record: OperationRecord) -> None:
        if self._records.get(record.id) is record:
            del self._records[record.id]

    def _error_answer(
        self, op_id: OperationId, errors: list[dict[str, Any]]
    ) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            try:
                await self._sink.send_error(op_id, errors)
            except Exception:
                # The errors themselves cannot be sent (a formatter returned
                # something unencodable): say only that it failed.
                log_failure("The error of operation %r could not be sent.", op_id)
                await self._sink.send_error(op_id, [{"message": "Internal server error"}])

        return send

    # --------------------------------------------------- subscriptions

    async def _set_up_subscription(self, record: OperationRecord, plan: Plan) -> None:
        """Set a subscription up in one step (decision 6), then start its notifier.

        ``subscribe()``, joining the groups, registering the id as live and
        the confirmation all happen before the setup counts as done, so a
        stop, an ``unsubscribe`` or a notification always comes after them.
        """
        record.is_subscription = True
        stream = await self._ops.create_stream(plan, functools.partial(self._subscribe, record))
        if isinstance(stream, Refusal):
            await self._end_subscription(record, None)
            self._forget(record)
            await self._sink.send_setup_errors(record.id, stream.errors)
            return
        record.stream = stream
        await self._join_groups(record)
        if self._closed or not self._sink.is_active(record.id):
            await self._end_subscription(record, None)  # the connection closed meanwhile
            return
        record.live = True
        host = self._ops.host
        if host.confirm_subscriptions:
            await self._sink.send_confirmation(record.id, host._confirmation_payload())
        record.notifier = self.spawn(self._notify(record, plan))

    async def _subscribe(
        self, record: OperationRecord, root: Any, info: GraphQLResolveInfo, **arguments: Any
    ) -> notifications.NotificationQueue[Any]:
        """graphql-core's resolver for a root field that has no ``subscribe_<field>``."""
        subscription_class = subscription.subscription_class_of(info)
        if subscription_class is None:
            raise TypeError(
                f"Subscription field '{info.field_name}' has neither a "
                f"`subscribe_{info.field_name}` resolver nor a `Subscription` class."
            )
        in_thread = self._ops.host.sync_code_in_thread
        record.setup = await subscription.run_subscribe(
            subscription_class, info, arguments, sync_thread=in_thread
        )
        self._owed.add(record)
        record.groups = record.setup.groups
        limit = subscription_class.notification_queue_limit
        if limit is None or limit <= 0:
            limit = self._ops.host.subscription_notification_queue_limit
        record.queue = notifications.NotificationQueue(limit, name=repr(record.id))
        return record.queue

    async def _notify(self, record: OperationRecord, plan: Plan) -> None:
        """Run the subscriber's document once per event, in order, and send each result."""
        stream = record.stream
        assert stream is not None
        is_class = record.setup is not None
        shared_key = self._shared_result_key(record, plan)
        encoded_payload = functools.partial(self._encoded_event_payload, plan)
        record.shared_key, record.shared_compute = shared_key, encoded_payload
        # Only sinks that can start a send at once (the socket's) take the fast
        # path, and only where notifications need not wait for client messages.
        start = getattr(self._sink, "start_encoded_result", None)
        if start is not None and shared_key is not None and not self._strict:
            record.direct_owner, record.direct_start = self, start
            record.direct_batch = (send_batch, fail_batch)
        try:
            async for event in stream:
                while record.direct_pending:
                    # The fast path still carries earlier notifications.
                    record.direct_waiter = asyncio.get_running_loop().create_future()
                    await record.direct_waiter
                if not self._gate.is_set():
                    await self._gate.wait()
                if shared_key is not None:
                    text = event.ready_result(shared_key)
                    if text is notifications.NOT_READY:
                        text = await event.shared_result(shared_key, encoded_payload)
                    if text is not None:
                        await self._sink.send_encoded_result(record.id, text)
                    continue
                if is_class:
                    event = event.take()
                payload = await self._ops.event_payload(plan, event, skip_empty=is_class)
                if payload is not None:
                    await self._sink.send_result(record.id, payload)
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            errors = self._ops.failure(record.id, failure)
            await self._end_subscription(record, self._error_answer(record.id, errors))
            return
        finally:
            if not is_class:
                await _close_stream(stream)
        # A plain Graphene stream ended by itself.
        await self._end_subscription(record, functools.partial(self._sink.complete, record.id))

    def _shared_result_key(self, record: OperationRecord, plan: Plan) -> Any:
        """What makes two subscribers' results equal, if this one may share; else None."""
        setup = record.setup
        if setup is None or not setup.subscription_class.publish_once:
            return None
        if self._ops.host._middleware is not None:
            return None  # middleware sees every subscriber's fields (decision 13)
        request = plan.request
        variables = request.variables
        frozen = json.dumps(variables, sort_keys=True, default=repr) if variables else ""
        return notifications.shared_key((id(plan.document), request.operation_name, frozen))

    async def _encoded_event_payload(self, plan: Plan, event: Any) -> str | None:
        payload = await self._ops.event_payload(plan, event, skip_empty=True)
        return None if payload is None else encode_message(payload)

    async def _end_by_server(self, record: OperationRecord) -> None:
        await record.setup_over()
        if record.live:
            await self._end_subscription(record, functools.partial(self._sink.complete, record.id))

    async def _end_subscription(self, record: OperationRecord, answer: Answer) -> None:
        """The one way a subscription ends; the first caller sends the one ``answer``.

        The notifier is cancelled and awaited first, so nothing for this id
        follows the answer. If this is cancelled half-way (the client left),
        ``close`` finishes the job: ``unsubscribed`` is owed until it runs.
        """
        if record.ending:
            return
        record.ending = True
        record.live = False
        notifier = record.notifier
        if notifier is not None and notifier is not asyncio.current_task():
            notifier.cancel()
            await asyncio.wait([notifier])
        sending = record.direct_send
        if sending is not None and not sending.done():
            await asyncio.wait([sending])  # a frame half-written goes out before the end
        await self._leave_groups(record)
        await self._run_unsubscribed(record)
        self._forget(record)
        if answer is not None:
            await answer()

    async def _run_unsubscribed(self, record: OperationRecord) -> None:
        """Call ``unsubscribed`` once; a cancellation of the caller does not stop it.

        The call runs in a task of its own (a sync hook waits for its hop to
        Django's thread): a client leaving meanwhile cancels whoever waits,
        and ``close`` waits for the call instead of losing it.
        """
        if record not in self._owed:
            return
        self._owed.discard(record)
        call = asyncio.ensure_future(self._call_unsubscribed(record))
        self._unsubscribing.add(call)
        call.add_done_callback(self._unsubscribing.discard)
        await asyncio.shield(call)

    async def _call_unsubscribed(self, record: OperationRecord) -> None:
        assert record.setup is not None
        try:
            await subscription.run_unsubscribed(
                record.setup, sync_thread=self._ops.host.sync_code_in_thread
            )
        except Exception:
            log.exception("`unsubscribed` of subscription %r failed.", record.id)

    # ---------------------------------------------------------- groups

    async def _join_groups(self, record: OperationRecord) -> None:
        """Join through the fan-out; returns once each membership exists at the layer."""
        if not record.groups:
            return
        fanout = self._fanout = self._fanout or self._fanout_source()
        for group in record.groups:
            self._members.setdefault(group, {})[record] = None
            # The fan-out delivers to the record itself, in one loop for the
            # whole process; the session listens for the group's `unsubscribe`.
            await fanout.join(group, self, record)

    async def _leave_groups(self, record: OperationRecord) -> None:
        for group in record.groups:
            members = self._members.get(group)
            if members is None or record not in members:
                continue
            del members[record]
            if self._fanout is not None:
                self._fanout.discard(group, record)
            if not members:
                del self._members[group]
                if self._fanout is not None:
                    await self._fanout.leave(group, self)

    # ------------------------------------------------------------ tasks

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        failed = not task.cancelled() and task.exception() is not None
        if failed and error_log_budget.allow():
            log.error("A connection task failed.", exc_info=task.exception())

    async def _end_tasks(self) -> None:
        """Cancel every task of this session and wait until all have ended."""
        current = asyncio.current_task()
        while pending := [task for task in self._tasks if task is not current]:
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)


async def _close_stream(stream: AsyncIterable[Any]) -> None:
    """Let a plain Graphene async generator run its ``finally`` blocks."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        log.exception("Closing a subscription's event stream failed.")
