"""The receiving side of broadcasts: one layer membership per process and group.

A broadcast costs one layer message per process, however many of the
process's connections subscribe to the group: a ``ProcessFanout`` joins
each group once with its own channel, unpacks each broadcast once, and
hands it to the local listeners (the consumers). Memberships are renewed
well within the layer's ``group_expiry`` and made again after a layer
error, so a Redis restart (which forgets every group) loses nothing but the
broadcasts sent while it was down.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Protocol

from channels.layers import BaseChannelLayer

from . import broadcast, serializer

log = logging.getLogger(__name__)

#: Seconds between two log records about the same kind of layer failure.
ERROR_LOG_INTERVAL = 10.0
#: Retry delays after a layer error grow up to this many seconds.
MAX_RETRY_DELAY = 2.0


class GroupListener(Protocol):
    """A consumer as the fan-out sees it."""

    def _fanout_deliver(self, group: str, payload: Any) -> None:
        """Queue ``payload`` for the listener's subscriptions in ``group``."""

    def _fanout_end_group(self, group: str) -> None:
        """End the listener's subscriptions in ``group`` (a server ``unsubscribe``)."""


class ProcessFanout:
    """Joins groups on behalf of every consumer of one event loop.

    Its receiving task runs only while some group has a listener, so an idle
    process (or a finished test's loop) keeps no task behind.
    """

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self._listeners: dict[str, set[GroupListener]] = {}
        self._receiver: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._rejoin_needed = False
        self._last_error_log: dict[str, float] = {}
        #: Broadcasts dispatched and layer errors seen: for tests and metrics.
        self.dispatched = 0
        self.layer_errors = 0

    # ------------------------------------------------------- membership

    def groups(self) -> list[str]:
        return list(self._listeners)

    def listeners(self, group: str) -> frozenset[GroupListener]:
        return frozenset(self._listeners.get(group, ()))

    async def join(self, group: str, listener: GroupListener) -> None:
        """Listen to ``group``; the first local listener joins it at the layer.

        A layer error does not fail the join: the membership is made again
        once the layer answers, so a subscription made during an outage
        receives what is broadcast after it.
        """
        listeners = self._listeners.setdefault(group, set())
        first = not listeners
        listeners.add(listener)
        if not first:
            return
        channel = await self._start()
        try:
            await self.layer.group_add(group, channel)
        except Exception as error:
            self._layer_failed("group_add", error)
            self._rejoin_needed = True

    async def leave(self, group: str, listener: GroupListener) -> None:
        listeners = self._listeners.get(group)
        if listeners is None or listener not in listeners:
            return
        listeners.discard(listener)
        if listeners:
            return
        del self._listeners[group]
        channel = self.channel
        if not self._listeners:
            self._stop()
        if channel is not None:
            try:
                await self.layer.group_discard(group, channel)
            except Exception as error:
                self._layer_failed("group_discard", error)

    # ---------------------------------------------------------- running

    async def _start(self) -> str:
        if self.channel is None:
            self.channel = await self.layer.new_channel()
        if self._receiver is None:
            self._receiver = asyncio.ensure_future(self._receive_forever(self.channel))
            self._renewer = asyncio.ensure_future(self._renew_forever())
        return self.channel

    def _stop(self) -> None:
        for task in (self._receiver, self._renewer):
            if task is not None:
                task.cancel()
        self._receiver = self._renewer = None
        self.channel = None

    async def _receive_forever(self, channel: str) -> None:
        delay = 0.05
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._receiver is not asyncio.current_task():
                    return  # stopped, but the layer lost the cancellation (see consumer)
                if is_idle_timeout(error):
                    continue
                self._layer_failed("receive", error)
                self._rejoin_needed = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
                continue
            delay = 0.05
            if self._rejoin_needed:
                self._rejoin_needed = False
                await self._join_all()
            self._dispatch(message)

    async def _renew_forever(self) -> None:
        """Renew memberships before the layer forgets them, and after errors."""
        expiry = float(getattr(self.layer, "group_expiry", 86400) or 86400)
        interval = max(1.0, min(expiry / 4, 3600.0))
        waited = 0.0
        while self._renewer is asyncio.current_task():
            await asyncio.sleep(1.0)
            waited += 1.0
            if self._rejoin_needed or waited >= interval:
                waited = 0.0
                if await self._join_all():
                    self._rejoin_needed = False

    async def _join_all(self) -> bool:
        channel = self.channel
        if channel is None:
            return True
        for group in list(self._listeners):
            try:
                await self.layer.group_add(group, channel)
            except Exception as error:
                self._layer_failed("group_add", error)
                self._rejoin_needed = True
                return False
        return True

    def _dispatch(self, message: dict[str, Any]) -> None:
        group = message.get("group")
        listeners = self._listeners.get(group) if isinstance(group, str) else None
        if not listeners or group is None:
            return
        kind = message.get("type")
        if kind == broadcast.BROADCAST:
            try:
                payload = serializer.unpack(message["payload"])
            except Exception:
                log.exception("A broadcast to group %s could not be unpacked.", group)
                return
            self.dispatched += 1
            for listener in list(listeners):
                listener._fanout_deliver(group, payload)
        elif kind == broadcast.UNSUBSCRIBE:
            for listener in list(listeners):
                listener._fanout_end_group(group)

    def _layer_failed(self, operation: str, error: Exception) -> None:
        """Log a layer failure, at most once per interval per operation."""
        self.layer_errors += 1
        now = time.monotonic()
        if now - self._last_error_log.get(operation, -ERROR_LOG_INTERVAL) < ERROR_LOG_INTERVAL:
            return
        self._last_error_log[operation] = now
        log.error(
            "Channel layer %s failed (%s: %s); retrying. Connections stay open; "
            "broadcasts sent meanwhile are lost.",
            operation,
            type(error).__name__,
            error,
        )


def is_idle_timeout(error: Exception) -> bool:
    """A read timeout of an idle blocking receive, not a failure of the layer.

    redis-py 8 gives every socket read a 5-second timeout by default, which
    is as long as channels_redis's blocking pop: an idle process sees a
    ``redis.exceptions.TimeoutError`` every few seconds. Retrying at once is
    right; logging it or re-joining groups is not.
    """
    return type(error).__name__ == "TimeoutError" and type(error).__module__.startswith("redis")


_fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, ProcessFanout]] = (
    weakref.WeakKeyDictionary()
)


def fanout_for(layer: BaseChannelLayer) -> ProcessFanout:
    """The fan-out of ``layer`` on the running loop (one per loop and layer)."""
    per_loop = _fanouts.setdefault(asyncio.get_running_loop(), {})
    fanout = per_loop.get(id(layer))
    if fanout is None or fanout.layer is not layer:
        fanout = per_loop[id(layer)] = ProcessFanout(layer)
    return fanout
