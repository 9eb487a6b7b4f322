"""The engine's stateful half: one connection's (or stream's) operations.

A session carries out what a client asks: it starts operations in arrival
order (decisions 6 to 10 of API.md), stops them, routes the fan-out's
broadcasts and server ``unsubscribe`` messages, and ends everything when
the client leaves. What it owns and how each thing ends lives in its base,
``lifecycle.OperationOwner``.

It talks to the client only through a ``Sink`` that mirrors the
application side of ``protocol.ServerConnection``; it knows no Channels,
no socket and no wire format.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from graphql import ExecutionResult

from .lifecycle import Fanout, OperationOwner, OperationRecord, Sink
from .operations import Operations, Plan, Refusal
from .protocol import OperationId

__all__ = ["Fanout", "OperationRecord", "OperationSession", "Sink"]


class OperationSession(OperationOwner):
    """Every operation of one client connection, and their one cleanup path.

    ``strict_ordering`` is fixed when the session is made: with it, each
    request, stop and server ``unsubscribe`` is carried out before the
    caller's next message, and notifications wait while the transport is
    dispatching a message (``dispatching()``).
    """

    def __init__(
        self,
        operations: Operations,
        sink: Sink,
        *,
        strict_ordering: bool,
        fanout: Callable[[], Fanout],
    ) -> None:
        super().__init__(operations, sink, fanout)
        self._strict = strict_ordering
        self._last_setup: OperationRecord | None = None
        self._held_back_groups: list[str] = []

    # ------------------------------------------------------ from the client

    async def start(self, request: Any) -> None:
        """Run an operation the transport accepted; its answers go to the sink."""
        record = OperationRecord(request.id, request)
        self._records[record.id] = record
        pending = self._last_setup
        if pending is not None and pending.setup_finished:
            pending = None
        plan: Plan | Refusal | None = None
        if self._strict:
            await self._run(record, None, None)
            return
        if pending is None and self._ops.hook_is_default:
            # Nothing to wait for and a known document: plan here, and run a
            # query here as far as it goes without waiting; only what must
            # wait (a new document is prepared in a worker thread) gets a task.
            try:
                plan = self._ops.plan_cached(request)
                if plan is not None and (isinstance(plan, Refusal) or not plan.is_subscription):
                    await self._run_query_inline(record, plan)
                    return
            except Exception as error:
                await self._fail(record, error)
                return
        self._last_setup = record
        record.task = self.spawn(self._run(record, pending, plan))

    def start_planned(self, request: Any, plan: Plan | Refusal) -> None:
        """Run an operation the transport has planned already (``on_operation`` ran).

        An HTTP stream plans before it answers (a refused multipart
        subscription is a plain response, not a stream), then hands the
        plan over here so the hook runs once. The operation runs in a task
        of the session, like every other.
        """
        record = OperationRecord(request.id, request)
        self._records[record.id] = record
        pending = self._last_setup
        if pending is not None and pending.setup_finished:
            pending = None
        self._last_setup = record
        record.task = self.spawn(self._run(record, pending, plan))

    async def stop(self, op_id: OperationId) -> None:
        """The client stopped ``op_id`` (``complete``/``stop``)."""
        if self._strict:
            await self._stop(op_id)
        else:
            # Waiting for a subscription's setup must not hold up the client.
            self.spawn(self._stop(op_id))

    # ------------------------------------------------- from the fan-out

    def end_group(self, group: str) -> None:
        """A server ``unsubscribe``: end this session's subscriptions in ``group``."""
        if not self._gate.is_set():
            self._held_back_groups.append(group)
            return
        for record in list(self._members.get(group, ())):
            self.spawn(self._end_by_server(record))

    async def end_group_now(self, group: str) -> None:
        """``end_group``, carried out before returning (strict ordering)."""
        for record in list(self._members.get(group, ())):
            await self._end_by_server(record)

    @contextlib.contextmanager
    def dispatching(self) -> Iterator[None]:
        """While the transport handles one message, notifications wait (decision 10).

        They wait in their subscription's bounded queue, so a long mutation
        during a burst holds no more than the queue limit.
        """
        self._gate.clear()
        try:
            yield
        finally:
            self._gate.set()
            held, self._held_back_groups = self._held_back_groups, []
            for group in dict.fromkeys(held):
                self.end_group(group)

    # ---------------------------------------------------------- closing

    async def close(self) -> None:
        """The client is gone: end every task, then ``unsubscribed``, then the groups."""
        self._closed = True
        self._gate.set()
        await self._end_tasks()
        if self._unsubscribing:
            await asyncio.wait(list(self._unsubscribing))
        for record in list(self._owed):
            await self._run_unsubscribed(record)
        members, self._members = self._members, {}
        self._records.clear()
        if self._fanout is not None:
            for group, records in members.items():
                for record in records:
                    self._fanout.discard(group, record)
                await self._fanout.leave(group, self)

    # ------------------------------------------------------- operations

    async def _run(
        self,
        record: OperationRecord,
        previous: OperationRecord | None,
        plan: Plan | Refusal | None,
    ) -> None:
        """Serve one operation; whatever fails ends it with an ``error``, never the session."""
        try:
            if previous is not None:
                await previous.setup_over()
            if plan is None:
                plan = await self._ops.plan(record.request)
            if isinstance(plan, Refusal):
                record.finish_setup()
                self._forget(record)
                await self._refuse(record.id, plan)
            elif plan.is_subscription:
                await self._set_up_subscription(record, plan)
            else:
                record.finish_setup()
                started = time.monotonic()
                result = await self._ops.run_query(plan)
                await self._send_query_result(record, plan, result, started)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._fail(record, error)
        finally:
            record.finish_setup()
            if not record.is_subscription:
                self._forget(record)

    async def _run_query_inline(self, record: OperationRecord, plan: Plan | Refusal) -> None:
        record.finish_setup()
        if isinstance(plan, Refusal):
            self._forget(record)
            await self._refuse(record.id, plan)
            return
        try:
            started = time.monotonic()
            outcome = self._ops.start_query(plan)
            if inspect.isawaitable(outcome):
                record.task = self.spawn(self._finish_query(record, plan, outcome, started))
                return
            await self._send_query_result(record, plan, outcome, started)
        except Exception as error:
            await self._fail(record, error)
        finally:
            if record.task is None:
                self._forget(record)

    async def _finish_query(
        self,
        record: OperationRecord,
        plan: Plan,
        outcome: Awaitable[ExecutionResult],
        started: float,
    ) -> None:
        try:
            result = await outcome
            await self._send_query_result(record, plan, result, started)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._fail(record, error)
        finally:
            self._forget(record)

    async def _send_query_result(
        self, record: OperationRecord, plan: Plan, result: ExecutionResult, started: float
    ) -> None:
        """A query's or mutation's one result, then ``complete``."""
        payload = self._ops.query_payload(plan, result, started)
        await self._sink.send_result(record.id, payload)
        self._forget(record)
        await self._sink.complete(record.id)

    async def _refuse(self, op_id: OperationId, refusal: Refusal) -> None:
        if refusal.by_hook:
            await self._sink.send_error(op_id, refusal.errors)
        else:
            await self._sink.send_document_errors(op_id, refusal.errors)

    async def _fail(self, record: OperationRecord, error: Exception) -> None:
        """An unexpected failure ends the operation with an ``error``, never the connection."""
        errors = self._ops.failure(record.id, error)
        if record in self._owed or record.live:
            await self._end_subscription(record, self._error_answer(record.id, errors))
            return
        self._forget(record)
        await self._error_answer(record.id, errors)()

    async def _stop(self, op_id: OperationId) -> None:
        record = self._records.get(op_id)
        if record is None:
            await self._sink.complete(op_id)
            return
        await record.setup_over()
        if record.is_subscription:
            if record.live:
                await self._end_subscription(record, functools.partial(self._sink.complete, op_id))
            elif not record.ending:
                await self._sink.complete(op_id)  # its setup failed: nothing to send
            return
        # A query or mutation: its result is never sent; the client gets complete.
        task = record.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        self._forget(record)
        await self._sink.complete(op_id)
