"""Sync code in Django's sync thread: the ORM in resolvers and hooks, by default.

Django refuses database queries on an event loop, and graphene-django's types,
fields and the resolvers users write for them are synchronous. So sync
resolvers, and ``subscribe``, ``publish``, ``unsubscribed``, ``on_connect`` and
``on_operation`` when they are plain functions, run in the thread Channels'
``database_sync_to_async`` uses (asgiref's ``sync_to_async`` with
``thread_sensitive=True``), with stale database connections closed before and
after, as Django does around a request. Async resolvers and hooks stay on the
loop.

What it costs is the thread hop (a round trip through a thread pool, tens of
microseconds), so hops are batched: ``SyncThreadBatcher.run`` collects every
call submitted during one event-loop iteration and makes ONE hop for all of
them. After a broadcast every local subscriber's notifier wakes in the same
iteration, so their ``publish`` executions share one hop; an operation whose
resolvers are all sync costs one hop. A document mixing async and sync
resolvers hops again each time a value an async resolver returned needs sync
code to complete (see ``SyncThreadExecutionContext``); sibling values that
complete in the same iteration share that hop.

No Channels consumer here: the engine calls ``execute``, ``call_hook`` and
``batcher`` with its ``sync_thread`` setting, and nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import os
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync
from asgiref.sync import iscoroutinefunction as asgiref_iscoroutinefunction
from django.db import close_old_connections

Result = TypeVar("Result")

# ------------------------------------------------------------------ the hop


@dataclass(eq=False, slots=True)
class _Call:
    """One submitted call, with the context of its caller and where its outcome goes."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    context: contextvars.Context
    future: asyncio.Future[Any]


def _run_calls(calls: list[_Call]) -> list[tuple[bool, Any]]:
    """Runs in the sync thread: every call in turn, each with its caller's context.

    Connections are closed before and after the whole batch, as Channels'
    ``database_sync_to_async`` does around each call: a connection past
    ``CONN_MAX_AGE`` or broken is never used and never kept. A call whose
    caller was cancelled before its turn is skipped.
    """
    close_old_connections()
    try:
        outcomes: list[tuple[bool, Any]] = []
        for call in calls:
            if call.future.cancelled():
                outcomes.append((False, None))
                continue
            try:
                value = call.context.run(call.function, *call.args, **call.kwargs)
            except Exception as error:
                outcomes.append((False, error))
            else:
                outcomes.append((True, value))
        return outcomes
    finally:
        close_old_connections()


# One SyncToAsync object for every hop: building one per hop would cost more
# than nothing for nothing.
_to_sync_thread = SyncToAsync(_run_calls, thread_sensitive=True)


def _plain_sync_thread(loop: asyncio.AbstractEventLoop) -> Executor | None:
    """asgiref's one sync thread, when that is where ``sync_to_async`` would go now.

    ``sync_to_async(thread_sensitive=True)`` picks, in this order: the sync
    thread of an ``async_to_sync`` above us (a test calling the consumer
    from sync code), the executor of a ``ThreadSensitiveContext`` (Django's
    own ASGI handler), the thread of a loop ``async_to_sync`` made, or its
    single thread: the case of every ASGI server process. In that last case
    the hop goes straight to that thread, skipping what ``SyncToAsync``
    does per call that a batch does not need (a context copy and two
    restores, a shield): tens of microseconds of CPU per hop. In any other
    case, or if asgiref's internals are not as expected, None: the caller
    goes through ``SyncToAsync``.
    """
    try:
        if getattr(AsyncToSync.executors, "current", None) is not None:
            return None
        if SyncToAsync.thread_sensitive_context.get(None) is not None:
            return None
        if loop in AsyncToSync.loop_thread_executors:
            return None
        executor = SyncToAsync.single_thread_executor
    except AttributeError:  # pragma: no cover - another asgiref
        return None
    return executor if isinstance(executor, Executor) else None


def _run_calls_there(loop: asyncio.AbstractEventLoop, calls: list[_Call]) -> list[tuple[bool, Any]]:
    """``_run_calls`` in asgiref's thread, marked as ``SyncToAsync`` marks it.

    Sync code that calls ``async_to_sync`` there finds the loop it came
    from, as under ``sync_to_async``.
    """
    local = SyncToAsync.threadlocal
    local.main_event_loop = loop
    local.main_event_loop_pid = os.getpid()
    local.task_context = []
    return _run_calls(calls)


class SyncThreadBatcher:
    """Runs sync calls in Django's sync thread, one hop per event-loop iteration.

    ``await batcher.run(fn, *args)`` returns what ``fn`` returned, or raises
    what it raised. Calls submitted during one iteration of the loop are run
    together, in submission order, in ONE ``sync_to_async(thread_sensitive=True)``
    call scheduled for the next iteration; calls submitted while that hop is
    under way make the next one. Each call sees the ``contextvars`` of its
    caller (a copy: what it sets there does not come back). A caller cancelled
    before its turn is skipped; one cancelled later only stops waiting.

    One batcher per loop: ``batcher()`` returns the running loop's.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pending: list[_Call] = []
        self._flush_scheduled = False
        self._hops_in_flight: set[asyncio.Task[None]] = set()
        #: Hops made and calls run through them, for tests and metrics.
        self.hops = 0
        self.calls = 0

    def submit(
        self, function: Callable[..., Result], *args: Any, **kwargs: Any
    ) -> asyncio.Future[Result]:
        """Queue ``function(*args, **kwargs)`` for the next hop; a future of its outcome."""
        future: asyncio.Future[Result] = self.loop.create_future()
        call = _Call(function, args, kwargs, contextvars.copy_context(), future)
        self._pending.append(call)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            # An empty context: the hop must not inherit asgiref's per-task
            # state (its deadlock flag, a request's ThreadSensitiveContext)
            # from whichever caller happened to come first.
            self.loop.call_soon(self._flush, context=contextvars.Context())
        return future

    async def run(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """``function(*args, **kwargs)`` in the sync thread, sharing a hop with its iteration."""
        return await self.submit(function, *args, **kwargs)

    def _flush(self) -> None:
        """Run by ``call_soon``: after everything the queuing iteration had ready."""
        self._flush_scheduled = False
        calls = [call for call in self._pending if not call.future.cancelled()]
        self._pending = []
        if not calls:
            return
        self.hops += 1
        self.calls += len(calls)
        executor = _plain_sync_thread(self.loop)
        if executor is not None:
            # Straight to the thread, which hands the outcomes back to the
            # loop itself: no task and no chained futures per hop.
            try:
                executor.submit(self._run_there, calls)
            except RuntimeError as failure:  # the executor was shut down
                self._settle(calls, None, failure)
            return
        task = self.loop.create_task(self._hop(calls))
        self._hops_in_flight.add(task)
        task.add_done_callback(self._hops_in_flight.discard)

    def _run_there(self, calls: list[_Call]) -> None:
        """In asgiref's sync thread: run the batch, then settle it on the loop."""
        outcomes: list[tuple[bool, Any]] | None = None
        failure: BaseException | None = None
        try:
            outcomes = _run_calls_there(self.loop, calls)
        except BaseException as error:
            failure = error
        # A closed loop refuses: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._settle, calls, outcomes, failure)

    async def _hop(self, calls: list[_Call]) -> None:
        """The batch through ``SyncToAsync`` (where asgiref picks another thread)."""
        try:
            outcomes = await _to_sync_thread(calls)
        except BaseException as failure:
            self._settle(calls, None, failure)
            if not isinstance(failure, Exception):
                raise
            return
        self._settle(calls, outcomes, None)

    @staticmethod
    def _settle(
        calls: list[_Call],
        outcomes: list[tuple[bool, Any]] | None,
        failure: BaseException | None,
    ) -> None:
        """Give each caller its outcome; if the hop itself failed, its failure."""
        if outcomes is None:
            # The hop itself failed (or the loop is closing): nobody may wait forever.
            for call in calls:
                if not call.future.done():
                    if isinstance(failure, asyncio.CancelledError):
                        call.future.cancel()
                    else:
                        call.future.set_exception(failure or RuntimeError("the hop failed"))
            return
        for call, (ok, value) in zip(calls, outcomes, strict=True):
            if call.future.done():
                continue
            if ok:
                call.future.set_result(value)
            elif isinstance(value, StopIteration):
                # A future refuses StopIteration, as a coroutine would.
                call.future.set_exception(RuntimeError(f"{value!r} raised in the sync thread"))
            else:
                call.future.set_exception(value)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SyncThreadBatcher] = (
    weakref.WeakKeyDictionary()
)


def batcher() -> SyncThreadBatcher:
    """The running loop's batcher (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = SyncThreadBatcher(loop)
    return found


async def run_in_sync_thread(function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """``function(*args, **kwargs)`` in Django's sync thread, sharing the iteration's hop."""
    return await batcher().run(function, *args, **kwargs)


# -------------------------------------------------------------- user hooks


def is_async_callable(function: Any) -> bool:
    """Whether calling ``function`` gives a coroutine: ``async def``, also behind
    ``functools.partial``, a bound method or an object's ``async def __call__``."""
    if asgiref_iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)  # noqa: B004 - an object's own __call__
    return (
        call is not None and not inspect.isfunction(function) and asgiref_iscoroutinefunction(call)
    )


async def call_hook(
    hook: Callable[..., Any], *args: Any, sync_thread: bool = True, **kwargs: Any
) -> Any:
    """Call a user hook that may be sync or async, and return its outcome.

    An ``async def`` hook runs on the loop. A plain function runs in the sync
    thread when ``sync_thread`` is on (sharing the iteration's hop), else on
    the loop; if it returns an awaitable, that is awaited on the loop.
    """
    if sync_thread and not is_async_callable(hook):
        result = await batcher().run(hook, *args, **kwargs)
    else:
        result = hook(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
