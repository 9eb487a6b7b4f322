"""The receiving side of broadcasts: one notification, one queue per subscription.

A broadcast is unpacked once per process (``Notification``); each
subscriber takes its own copy of the payload, or a result shared with the
subscribers whose results cannot differ. Each subscription waits for its
notifications in a bounded ``NotificationQueue``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Generic, Protocol, TypeVar

from . import serializer

# The queue's warnings keep the logger name they always had (log filters use it).
log = logging.getLogger("channels_graphql_ws.broadcast")


#: Payload types every subscriber may share: nothing in them can be changed.
_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})
_TAKEN = object()
#: What ``Notification.ready_result`` returns while the result is not computed.
NOT_READY: Any = object()


Result = TypeVar("Result")
#: What a batch calls with its subscribers: ``(send_all(batch, result), fail_all(batch, error))``.
BatchCalls = tuple[Callable[[list[Any], Any], None], Callable[[list[Any], BaseException], None]]


class Subscriber(Protocol):
    """A subscription as ``deliver`` sees it (``lifecycle.OperationRecord``)."""

    queue: NotificationQueue[Any] | None
    #: Set while the subscriber may take the fast path (``Notification.enlist``).
    direct_batch: BatchCalls | None
    #: Notifications taken by the fast path and not yet sent.
    direct_pending: int
    shared_key: Any
    shared_compute: Callable[[Any], Awaitable[Any]] | None


def deliver(subscribers: Iterable[Subscriber], notification: Notification) -> None:
    """A broadcast for these subscribers: each takes it, the fast way if it may.

    A subscriber may take the fast path when its result is shared
    (``publish_once``, no middleware) and its session does not keep strict
    ordering (then it has ``direct_batch``), and its notifier is idle:
    waiting, with nothing queued. The notification then joins the
    broadcast's batch, which computes the result once and sends it to each
    subscriber in turn (``Notification.enlist``). It may already be in
    earlier batches of its key (they send in order); what reaches its queue
    meanwhile waits for them. Any other subscriber gets it in its queue,
    for its notifier.

    The fan-out calls this once per broadcast with every subscriber of the
    group in the process: the loop is the per-subscriber cost of a
    broadcast, so it is written out inline.
    """
    for record in subscribers:
        queue = record.queue
        if queue is None:
            continue
        # Idle: the reader waits, which means nothing is queued (`put` hands items to it).
        reader = queue.reader
        calls = record.direct_batch
        if calls is not None and reader is not None and not reader.done():
            record.direct_pending += 1
            key = record.shared_key
            if key is notification.last_key:  # `enlist`'s first case, inline
                notification.last_batch.append(record)
            else:
                compute = record.shared_compute
                assert compute is not None
                notification.enlist(key, compute, record, *calls)
        else:
            queue.put(notification)


class Notification:
    """One broadcast as this process received it, unpacked once.

    Each subscriber's ``publish`` gets a payload of its own, as the older
    release gave it, so one that changes its payload (``payload.pop(...)``)
    cannot change what the next one sees: the first taker gets the payload
    unpacked on arrival, every other one a fresh unpack of the same bytes.
    Payloads that cannot be changed are simply shared.
    """

    __slots__ = (
        "_batches",
        "_packed",
        "_payload",
        "_results",
        "_shared",
        "last_batch",
        "last_key",
    )

    def __init__(self, packed: bytes, payload: Any) -> None:
        self._packed = packed
        self._payload = payload
        self._shared = type(payload) in _IMMUTABLE
        self._results: dict[Any, _SharedResult] | None = None
        self._batches: dict[Any, list[Any]] | None = None
        #: The key and batch the previous subscriber joined: most of them share
        #: it, and the fan-out appends to it without a call (`enlist` is the
        #: way in for any other key).
        self.last_key: Any = None
        self.last_batch: list[Any] = []

    @classmethod
    def unpack(cls, packed: Any, group: str) -> Notification | None:
        """Unpack a layer message's payload; None (logged) if it cannot be."""
        try:
            return cls(packed, serializer.unpack(packed))
        except Exception:
            log.exception("A broadcast to group %s could not be unpacked.", group)
            return None

    def take(self) -> Any:
        """This subscriber's own copy of the payload."""
        payload = self._payload
        if self._shared:
            return payload
        if payload is not _TAKEN:
            self._payload = _TAKEN
            return payload
        return serializer.unpack(self._packed)

    def enlist(
        self,
        key: Any,
        compute: Callable[[Any], Awaitable[Any]],
        entry: Any,
        send_all: Callable[[list[Any], Any], None],
        fail_all: Callable[[list[Any], BaseException], None],
    ) -> None:
        """Have ``entry`` sent the shared result for ``key`` once it is computed.

        The fan-out's fast path for subscribers whose results cannot differ
        and whose notifier is idle: one task computes the result and hands
        it to every enlisted subscriber in one call, ``send_all(batch,
        result)``, as the floor of this stack does, with no task wake-up per
        subscriber. If computing it fails (or the batch is cancelled), it
        calls ``fail_all(batch, error)`` instead. The first entry of a key
        decides both for its batch.
        """
        if key is self.last_key:  # keys of equal results are one object (`shared_key`)
            self.last_batch.append(entry)
            return
        batches = self._batches
        if batches is None:
            batches = self._batches = {}
        batch = batches.get(key)
        if batch is None:
            batch = batches[key] = []
            earlier = _last_batches.get(key)
            sending = self._send_batch(key, compute, batch, earlier, send_all, fail_all)
            task = asyncio.ensure_future(sending)
            _last_batches[key] = task
            task.add_done_callback(functools.partial(_batch_done, key))
        self.last_key, self.last_batch = key, batch
        batch.append(entry)

    async def _send_batch(
        self,
        key: Any,
        compute: Callable[[Any], Awaitable[Any]],
        batch: list[Any],
        earlier: asyncio.Task[None] | None,
        send_all: Callable[[list[Any], Any], None],
        fail_all: Callable[[list[Any], BaseException], None],
    ) -> None:
        try:
            result = await self.shared_result(key, compute)
            if earlier is not None and not earlier.done():
                # The previous broadcast's batch of this key sends first.
                await asyncio.wait([earlier])
        except BaseException as error:
            fail_all(batch, error)
            if not isinstance(error, Exception):
                raise
            return
        send_all(batch, result)

    def ready_result(self, key: Any) -> Any:
        """The shared result for ``key`` if already computed, else ``NOT_READY``.

        Most subscribers of a broadcast find it computed: asking without a
        coroutine is the cheap path (a failure still raises).
        """
        results = self._results
        shared = results.get(key) if results is not None else None
        if shared is None or not shared.ready.is_set() or shared.abandoned:
            return NOT_READY
        if shared.error is not None:
            raise shared.error
        return shared.value

    async def shared_result(self, key: Any, compute: Callable[[Any], Awaitable[Result]]) -> Result:
        """``compute(payload)`` once for every subscriber asking with the same ``key``.

        The subscribers of one broadcast whose results cannot differ (same
        document and variables, a ``publish`` that asked to run once) share
        one execution: the first computes it, the others wait for it. If the
        first is cancelled (its client left), the next one computes instead.
        """
        results = self._results
        if results is None:
            results = self._results = {}
        while (shared := results.get(key)) is not None:
            if not shared.ready.is_set():
                await shared.ready.wait()  # a waiter's cancel cancels only itself
            if shared.abandoned:
                continue
            if shared.error is not None:
                raise shared.error
            return shared.value  # type: ignore[no-any-return]
        shared = results[key] = _SharedResult()
        try:
            shared.value = await compute(self.take())
        except asyncio.CancelledError:
            del results[key]
            shared.abandoned = True
            raise
        except Exception as error:
            shared.error = error
            raise
        finally:
            shared.ready.set()
        return shared.value  # type: ignore[no-any-return]


#: One object per shared-result key in use, so that equal keys are identical.
_keys: dict[Any, Any] = {}
#: Past this many, the table starts over (a key only has to be identical
#: to the keys interned after it; equal keys are still equal).
MAX_INTERNED_KEYS = 10_000


def shared_key(key: Any) -> Any:
    """The one object equal to ``key`` that subscribers of equal results share."""
    found = _keys.get(key)
    if found is None:
        if len(_keys) >= MAX_INTERNED_KEYS:
            _keys.clear()
        found = _keys[key] = key
    return found


#: The newest batch of each key, until it has sent (the next one waits for it).
#: Holding them also keeps them from being collected mid-way.
_last_batches: dict[Any, asyncio.Task[None]] = {}


def _batch_done(key: Any, task: asyncio.Task[None]) -> None:
    if _last_batches.get(key) is task:
        del _last_batches[key]


def run_until_blocked(coroutine: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, None] | None:
    """Run ``coroutine`` now, up to its first suspension; None if it finished.

    A send to a socket with room in its buffers finishes at once, so a batch
    sends to hundreds of subscribers without a task each. A send that has to
    wait (a client that does not read) is returned as a coroutine that
    finishes it, for the caller to run as a task: one slow client never
    holds up the others. Exceptions of the first step are raised here.

    The coroutine is stepped by iterating its ``__await__``: a coroutine
    that returns None then ends the loop without the ``StopIteration`` that
    ``send(None)`` raises, which costs more than the rest of a short send.
    """
    for waiting_for in coroutine.__await__():
        return finish_started(coroutine, waiting_for)
    return None


async def finish_started(coroutine: Coroutine[Any, Any, Any], waiting_for: Any) -> None:
    """Drive a coroutine ``run_until_blocked`` started, as a task would.

    ``waiting_for`` is what its first step yielded.
    """
    while True:
        try:
            if waiting_for is None:
                await asyncio.sleep(0)  # a bare yield: one turn of the loop
            else:
                # Its outcome is the coroutine's to see, when resumed.
                waiting_for._asyncio_future_blocking = False
                await asyncio.wait([waiting_for])
        except asyncio.CancelledError:
            coroutine.close()
            raise
        try:
            waiting_for = coroutine.send(None)
        except StopIteration:
            return


class _SharedResult:
    """One shared execution of a broadcast: its outcome, once ``ready`` is set."""

    __slots__ = ("abandoned", "error", "ready", "value")

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.value: Any = None
        self.error: Exception | None = None
        self.abandoned = False


Item = TypeVar("Item")


class NotificationQueue(Generic[Item]):
    """One subscription's waiting notifications: FIFO, bounded, dropping the oldest.

    The limit counts notifications waiting behind the one being processed. A
    notification given to an idle reader is handed over at once and never
    dropped, so with limit 1 a burst delivers its first and its last item.
    Iterating the queue yields items forever (it is the subscription's event
    stream); only cancelling the reader ends it.
    """

    def __init__(self, limit: int, *, name: str = "") -> None:
        self.limit = max(1, limit)
        self.name = name
        self.dropped = 0
        self._items: collections.deque[Item] = collections.deque()
        #: The reader's pending ``get`` while it waits (nothing is queued
        #: then): the fan-out's fast path reads it once per broadcast.
        self.reader: asyncio.Future[Item] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> None:
        reader = self.reader
        if reader is not None and not reader.done():
            self.reader = None
            reader.set_result(item)
            return
        if len(self._items) >= self.limit:
            self._items.popleft()
            self.dropped += 1
            if self.limit > 1:
                log.warning(
                    "Subscription %s: notification queue is full (limit %d); "
                    "the oldest notification was dropped (%d so far).",
                    self.name,
                    self.limit,
                    self.dropped,
                )
        self._items.append(item)

    async def get(self) -> Item:
        if self._items:
            return self._items.popleft()
        reader: asyncio.Future[Item] = asyncio.get_running_loop().create_future()
        self.reader = reader
        try:
            return await reader
        finally:
            if self.reader is reader:
                self.reader = None

    def __aiter__(self) -> NotificationQueue[Item]:
        return self

    async def __anext__(self) -> Item:
        return await self.get()
