"""The fan-out's fast path: one batch sends a shared result to every idle subscriber.

A broadcast whose subscribers' results cannot differ (``publish_once``, no
middleware) is computed once per process. Waking each subscriber's
notifier task to send it cost more than everything else per subscriber, so
a subscriber whose notifier is idle (nothing queued, strict ordering off)
joins the broadcast's batch instead (``Notification.enlist``): one task
computes the result and hands it to each in turn, and each send starts at
once, as in the floor of this stack. A send that must wait for its socket
finishes in a task of its own, so a slow client holds up nobody else;
anything else arriving for that subscriber meanwhile waits in its queue,
behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import notifications
from .operations import log_failure
from .protocol import OperationId

if TYPE_CHECKING:
    from .lifecycle import OperationRecord, Sink
    from .operations import Operations


class DirectDelivery:
    """The fast-path half of ``lifecycle.OperationOwner`` (it provides the state)."""

    _sink: Sink
    _ops: Operations
    _closed: bool
    _strict: bool
    _members: dict[str, dict[OperationRecord, None]]

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        raise NotImplementedError

    async def _end_subscription(self, record: OperationRecord, answer: Any) -> None:
        raise NotImplementedError

    def _error_answer(
        self, op_id: OperationId, errors: list[dict[str, Any]]
    ) -> Callable[[], Awaitable[None]]:
        raise NotImplementedError

    def deliver(self, group: str, notification: notifications.Notification) -> None:
        """A broadcast for ``group`` to this session's subscriptions in it.

        The fan-out delivers to the subscriptions of every session at once
        (``notifications.deliver``); this serves a broadcast addressed to
        this session alone (the older release's group protocol).
        """
        notifications.deliver(self._members.get(group, ()), notification)

    async def _send_rest(self, rest: Awaitable[None], record: OperationRecord) -> None:
        try:
            await rest
        finally:
            self._direct_done(record)

    async def _send_after(
        self, earlier: asyncio.Task[None], record: OperationRecord, text: str | None
    ) -> None:
        try:
            await asyncio.wait([earlier])
            if text is not None and record.live and not self._closed:
                await self._sink.send_encoded_result(record.id, text)
        finally:
            self._direct_done(record)

    def _fail_directly(self, record: OperationRecord, error: BaseException) -> None:
        """The batch's result could not be computed: the subscription ends with an error.

        As its notifier would have ended it, meeting the same failure.
        """
        self._direct_done(record)
        if isinstance(error, Exception) and record.live and not self._closed:
            errors = self._ops.failure(record.id, error)
            self.spawn(self._end_subscription(record, self._error_answer(record.id, errors)))

    @classmethod
    def _direct_done(cls, record: OperationRecord) -> None:
        record.direct_pending -= 1
        cls._direct_done_waiter(record)

    @staticmethod
    def _direct_done_waiter(record: OperationRecord) -> None:
        waiter, record.direct_waiter = record.direct_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def send_batch(batch: list[OperationRecord], text: str | None) -> None:
    """Hand a batch's shared result to each of its subscribers, in turn.

    One loop for every subscriber of a broadcast in this process, so it
    does per subscriber only what depends on the subscriber: whether it
    may still be sent to, and the sink's send, which goes to the socket at
    once unless the socket makes it wait (then a task finishes it, and a
    slow client holds up nobody else).
    """
    for record in batch:
        owner = record.direct_owner
        assert owner is not None
        earlier = record.direct_send
        if earlier is not None and not earlier.done():
            # An earlier send of this subscriber waits for its socket: this one follows it.
            record.direct_send = owner.spawn(owner._send_after(earlier, record, text))
            continue
        if text is not None and record.live and not owner._closed:
            try:
                rest = record.direct_start(record.id, text)  # type: ignore[misc]
            except Exception:
                rest = None
                log_failure("A notification of operation %r could not be sent.", record.id)
            if rest is not None:
                record.direct_send = owner.spawn(owner._send_rest(rest, record))
                continue
        # `_direct_done`, inline.
        record.direct_pending -= 1
        if record.direct_waiter is not None:
            DirectDelivery._direct_done_waiter(record)


def fail_batch(batch: list[OperationRecord], error: BaseException) -> None:
    """The batch's result could not be computed: each subscription ends with an error."""
    for record in batch:
        owner = record.direct_owner
        assert owner is not None
        owner._fail_directly(record, error)
