"""The receiving side of broadcasts: one notification, one queue per subscription.

A broadcast is unpacked once per process (``Notification``); each
subscriber takes its own copy of the payload, or a result shared with the
subscribers whose results cannot differ. Each subscription waits for its
notifications in a bounded ``NotificationQueue``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from . import serializer

# The queue's warnings keep the logger name they always had (log filters use it).
log = logging.getLogger("channels_graphql_ws.broadcast")


#: Payload types every subscriber may share: nothing in them can be changed.
_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})
_TAKEN = object()
#: What ``Notification.ready_result`` returns while the result is not computed.
NOT_READY: Any = object()


Result = TypeVar("Result")


class Notification:
    """One broadcast as this process received it, unpacked once.

    Each subscriber's ``publish`` gets a payload of its own, as the older
    release gave it, so one that changes its payload (``payload.pop(...)``)
    cannot change what the next one sees: the first taker gets the payload
    unpacked on arrival, every other one a fresh unpack of the same bytes.
    Payloads that cannot be changed are simply shared.
    """

    __slots__ = ("_packed", "_payload", "_results", "_shared")

    def __init__(self, packed: bytes, payload: Any) -> None:
        self._packed = packed
        self._payload = payload
        self._shared = type(payload) in _IMMUTABLE
        self._results: dict[Any, _SharedResult] | None = None

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
        self._reader: asyncio.Future[Item] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            self._reader = None
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
        self._reader = reader
        try:
            return await reader
        finally:
            if self._reader is reader:
                self._reader = None

    def __aiter__(self) -> NotificationQueue[Item]:
        return self

    async def __anext__(self) -> Item:
        return await self.get()
