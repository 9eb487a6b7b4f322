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
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol

from channels.layers import BaseChannelLayer

from . import broadcast, notifications

log = logging.getLogger(__name__)

#: Seconds between two log records about the same kind of layer failure.
ERROR_LOG_INTERVAL = 10.0
#: Retry delays after a layer error grow up to this many seconds.
MAX_RETRY_DELAY = 2.0


class GroupListener(Protocol):
    """A session as the fan-out sees it."""

    def deliver(self, group: str, notification: notifications.Notification) -> None:
        """Queue a broadcast for the listener's subscriptions in ``group``."""

    def end_group(self, group: str) -> None:
        """End the listener's subscriptions in ``group`` (a server ``unsubscribe``)."""


class _Group:
    """One group this process listens to, and whether the layer knows it yet.

    A listener that joined with a subscriber (a session) is not asked to
    deliver: its subscribers are, all of the group's in one call per
    broadcast (``notifications.deliver``), with no call per session. Other
    listeners get ``deliver`` each.
    """

    __slots__ = ("delivering", "joined", "listeners", "subscribers")

    def __init__(self) -> None:
        # Dicts used as ordered sets: cheaper to walk per broadcast than sets.
        self.listeners: dict[GroupListener, None] = {}
        self.delivering: dict[GroupListener, None] = {}
        self.subscribers: dict[notifications.Subscriber, None] = {}
        # Set once group_add has returned (or failed, to be retried): a
        # later joiner waits for it, so "joined" always means live.
        self.joined = asyncio.Event()


class ProcessFanout:
    """Joins groups on behalf of every session of one event loop.

    Its tasks run only while some group has a listener, so an idle process
    (or a finished test's loop) keeps no task behind; while they should
    run, a task that fails is logged and started again.
    """

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self._groups: dict[str, _Group] = {}
        # Per group, the layer membership change in progress: group_add and
        # group_discard of one group reach the layer in call order.
        self._membership_locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._receiver: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._rejoin_needed = False
        self._last_error_log: dict[str, float] = {}
        #: Broadcasts dispatched, layer errors seen and task restarts: for
        #: tests and metrics.
        self.dispatched = 0
        self.layer_errors = 0
        self.restarts = 0

    # ------------------------------------------------------- membership

    def groups(self) -> list[str]:
        return list(self._groups)

    def listeners(self, group: str) -> frozenset[GroupListener]:
        state = self._groups.get(group)
        return frozenset(state.listeners) if state is not None else frozenset()

    async def join(
        self,
        group: str,
        listener: GroupListener,
        subscriber: notifications.Subscriber | None = None,
    ) -> None:
        """Listen to ``group``; returns once the process's membership exists at the layer.

        With a ``subscriber``, broadcasts go to it (and to the listener's
        other subscribers joined so), not through ``listener.deliver``;
        ``discard`` removes it. The first local listener makes the
        membership; later ones wait for it. A layer error does not fail the
        join: the membership is made again once the layer answers, so a
        subscription made during an outage receives what is broadcast after
        it.
        """
        state = self._groups.get(group)
        if state is not None:
            self._add(state, listener, subscriber)
            await state.joined.wait()
            return
        state = self._groups[group] = _Group()
        self._add(state, listener, subscriber)
        try:
            async with self._membership_change(group):
                if self._groups.get(group) is not state:
                    return  # everyone left while we waited
                channel = await self._start()
                try:
                    await self.layer.group_add(group, channel)
                except Exception as error:
                    self._layer_failed("group_add", error)
                    self._rejoin_needed = True
        finally:
            state.joined.set()

    @staticmethod
    def _add(
        state: _Group, listener: GroupListener, subscriber: notifications.Subscriber | None
    ) -> None:
        state.listeners[listener] = None
        if subscriber is None:
            state.delivering[listener] = None
        else:
            state.subscribers[subscriber] = None

    def discard(self, group: str, subscriber: notifications.Subscriber) -> None:
        """Stop delivering ``group``'s broadcasts to ``subscriber`` (its listener stays)."""
        state = self._groups.get(group)
        if state is not None:
            state.subscribers.pop(subscriber, None)

    async def leave(self, group: str, listener: GroupListener) -> None:
        """Stop listening; the listener's subscribers must have been discarded first."""
        state = self._groups.get(group)
        if state is None or listener not in state.listeners:
            return
        del state.listeners[listener]
        state.delivering.pop(listener, None)
        if state.listeners:
            return
        del self._groups[group]
        channel = self.channel
        if not self._groups:
            self._stop()
        if channel is None:
            return
        async with self._membership_change(group):
            try:
                await self.layer.group_discard(group, channel)
            except Exception as error:
                self._layer_failed("group_discard", error)

    @contextlib.asynccontextmanager
    async def _membership_change(self, group: str) -> AsyncIterator[None]:
        entry = self._membership_locks.get(group)
        if entry is None:
            entry = self._membership_locks[group] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._membership_locks[group]

    # ---------------------------------------------------------- running

    async def _start(self) -> str:
        if self.channel is None:
            self.channel = await self.layer.new_channel()
        if self._receiver is None:
            self._receiver = self._supervised(self._receive_forever(self.channel))
            self._renewer = self._supervised(self._renew_forever())
        return self.channel

    def _supervised(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        task.add_done_callback(self._task_ended)
        return task

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A receiving or renewing task must never stop while groups are listened to."""
        if task.cancelled() or task not in (self._receiver, self._renewer):
            return
        error = task.exception()
        self.restarts += 1
        log.error("The broadcast fan-out's task failed; restarting it.", exc_info=error)
        self._rejoin_needed = True
        if task is self._receiver and self.channel is not None:
            self._receiver = self._supervised(self._receive_forever(self.channel))
        elif task is self._renewer:
            self._renewer = self._supervised(self._renew_forever())

    def _stop(self) -> None:
        tasks = (self._receiver, self._renewer)
        self._receiver = self._renewer = None
        for task in tasks:
            if task is not None:
                task.cancel()
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
        for group in list(self._groups):
            try:
                await self.layer.group_add(group, channel)
            except Exception as error:
                self._layer_failed("group_add", error)
                self._rejoin_needed = True
                return False
        return True

    def _dispatch(self, message: dict[str, Any]) -> None:
        group = message.get("group")
        state = self._groups.get(group) if isinstance(group, str) else None
        if state is None or not state.listeners or group is None:
            return
        kind = message.get("type")
        if kind == broadcast.BROADCAST:
            notification = notifications.Notification.unpack(message.get("payload"), group)
            if notification is None:
                return
            self.dispatched += 1
            if state.subscribers:
                notifications.deliver(list(state.subscribers), notification)
            for listener in list(state.delivering):
                listener.deliver(group, notification)
        elif kind == broadcast.UNSUBSCRIBE:
            for listener in list(state.listeners):
                listener.end_group(group)

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
