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
import contextvars
import functools
import inspect
import weakref
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import graphql
from asgiref.sync import SyncToAsync
from asgiref.sync import iscoroutinefunction as asgiref_iscoroutinefunction
from django.db import close_old_connections
from django.db.models import Model
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_leaf_type,
    is_list_type,
    is_object_type,
)
from graphql.execution import MiddlewareManager

from . import execution

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
        task = self.loop.create_task(self._hop(calls))
        self._hops_in_flight.add(task)
        task.add_done_callback(self._hops_in_flight.discard)

    async def _hop(self, calls: list[_Call]) -> None:
        try:
            outcomes = await _to_sync_thread(calls)
        except BaseException as failure:
            # The hop itself failed (or the loop is closing): nobody may wait forever.
            for call in calls:
                if not call.future.done():
                    if isinstance(failure, asyncio.CancelledError):
                        call.future.cancel()
                    else:
                        call.future.set_exception(failure)
            if not isinstance(failure, Exception):
                raise
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


# ------------------------------------------------------- where fields run

# What a field's resolver is, as far as where it may run goes.
_ASYNC = 1  # ``async def``: runs on the loop
_DEFAULT = 2  # a dict key or attribute read (graphene's or graphql-core's default)
_SYNC = 3  # anything else: user code, graphene-django's list and connection resolvers

_field_kinds: dict[int, tuple[Any, int]] = {}
_selection_verdicts: dict[tuple[int, ...], tuple[Any, bool]] = {}
_root_verdicts: dict[tuple[int, str | None], tuple[DocumentNode, bool]] = {}
#: Entries past which a cache above is emptied (the ids of what it keeps stay theirs).
_CACHE_LIMIT = 4096


def _resolver_kind(resolve: Any) -> int:
    if resolve is None or resolve is graphql.default_field_resolver:
        return _DEFAULT
    if isinstance(resolve, functools.partial) and execution._is_graphene_default_resolver(
        resolve.func
    ):
        return _DEFAULT
    # A ``Subscription.Field()`` resolves with ``publish``: async if that is.
    subscription_class = getattr(resolve, "subscription_class", None)
    if subscription_class is not None:
        resolve = subscription_class._meta.publish
    return _ASYNC if is_async_callable(resolve) else _SYNC


def field_kind(parent_type: GraphQLObjectType, field_name: str) -> int:
    """``_ASYNC``, ``_DEFAULT`` or ``_SYNC`` for a field; meta fields count as default."""
    field_def = parent_type.fields.get(field_name)
    if field_def is None:  # __typename, __schema, __type: graphql-core's own
        return _DEFAULT
    key = id(field_def)
    cached = _field_kinds.get(key)
    if cached is not None and cached[0] is field_def:
        return cached[1]
    kind = _resolver_kind(field_def.resolve)
    if len(_field_kinds) >= _CACHE_LIMIT:
        _field_kinds.clear()
    _field_kinds[key] = (field_def, kind)
    return kind


def _field_may_run_on_loop(
    parent_type: GraphQLObjectType, field_nodes: list[FieldNode], source: Any
) -> bool:
    """Async resolvers, and plain reads of anything but a model instance, stay on the loop.

    A read of a model's attribute may query (a foreign key, a deferred field),
    so it goes to the thread like any sync resolver.
    """
    kind = field_kind(parent_type, field_nodes[0].name.value)
    return kind == _ASYNC or (kind == _DEFAULT and not isinstance(source, Model))


def _selected_field_names(
    object_type: GraphQLObjectType,
    selection_set: SelectionSetNode | None,
    fragments: dict[str, Any],
    names: set[str],
    seen_fragments: set[str],
) -> None:
    """The fields a selection asks of ``object_type`` (directives ignored: a superset)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            # Every type condition is followed: a superset only costs a needless hop.
            _selected_field_names(
                object_type, selection.selection_set, fragments, names, seen_fragments
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen_fragments:
                seen_fragments.add(name)
                _selected_field_names(
                    object_type, fragment.selection_set, fragments, names, seen_fragments
                )


def _selection_needs_thread(
    object_type: GraphQLObjectType, field_nodes: list[FieldNode], info: GraphQLResolveInfo
) -> bool:
    """Whether completing an object (not a model) of ``object_type`` calls a sync resolver.

    Type conditions are not followed precisely: a field selected under another
    type's condition may count, which only costs a hop that was not needed.
    """
    key = (id(object_type), *map(id, field_nodes))
    cached = _selection_verdicts.get(key)
    # Identity, not ==: AST nodes compare deeply, and the ids are what must match.
    if cached is not None and all(
        kept is current
        for kept, current in zip(cached[0], (object_type, *field_nodes), strict=True)
    ):
        return cached[1]
    names: set[str] = set()
    for node in field_nodes:
        _selected_field_names(object_type, node.selection_set, info.fragments, names, set())
    verdict = any(
        field_kind(object_type, name) == _SYNC for name in names if name in object_type.fields
    )
    if len(_selection_verdicts) >= _CACHE_LIMIT:
        _selection_verdicts.clear()
    _selection_verdicts[key] = ((object_type, *field_nodes), verdict)
    return verdict


def _completion_needs_thread(
    return_type: GraphQLOutputType, info: GraphQLResolveInfo, value: Any
) -> bool:
    """Whether completing ``value`` on the loop could run sync code that may query.

    Scalars and enums complete on the loop. A list that is not a list or a
    tuple (a QuerySet, a generator) is iterated in the thread; so is a model
    instance or a list holding one (reading its fields may query), and an
    object whose selection has a sync resolver. Interfaces and unions go to
    the thread: resolving their type may run user code.
    """
    if value is None or isinstance(value, Exception):
        return False
    nullable = get_nullable_type(return_type)  # type: ignore[arg-type]
    named = get_named_type(return_type)
    if is_list_type(nullable):
        if not isinstance(value, (list, tuple)):
            return True
        if is_leaf_type(named):
            return False
        items: Iterable[Any] = value
    else:
        if is_leaf_type(named):
            return False
        items = (value,)
    if not is_object_type(named):
        return True
    if any(isinstance(item, Model) for item in items):
        return True
    return _selection_needs_thread(named, info.field_nodes, info)  # type: ignore[arg-type]


def _on_loop() -> bool:
    """Whether this thread runs an event loop (where Django refuses queries)."""
    return asyncio._get_running_loop() is not None


async def _hop_and_settle(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function`` in the thread; await on the loop whatever awaitable it leaves."""
    value = await batcher().run(function, *args)
    if inspect.isawaitable(value):
        value = await value
    return value


# ------------------------------------------------------------- executing


if execution.FAST_PATH_AVAILABLE:
    _ExecutionBase: Any = execution.FastExecutionContext
else:  # pragma: no cover - graphql-core 3.3: the middleware below does the work
    _ExecutionBase = getattr(graphql.execution, "ExecutionContext", object)


class SyncThreadExecutionContext(_ExecutionBase):  # type: ignore[misc]
    """graphql-core 3.2's executor (with the shortcut) keeping sync code off the loop.

    An execution starts in the sync thread, where everything it reaches runs
    as stock graphql-core runs it. What it leaves awaitable (an async
    resolver's value) is awaited on the loop, and there graphql-core goes on
    completing the value: these two overrides send that completion, or a
    field, back to the thread when it may run sync code (see
    ``_completion_needs_thread`` and ``_field_may_run_on_loop``), and let it
    run on the loop when not. In the thread they only add one check.
    """

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_nodes: list[FieldNode],
        path: Any,
        *rest: Any,
    ) -> Any:
        if _on_loop() and not _field_may_run_on_loop(parent_type, field_nodes, source):
            return _hop_and_settle(
                super().execute_field, parent_type, source, field_nodes, path, *rest
            )
        return super().execute_field(parent_type, source, field_nodes, path, *rest)

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_nodes: list[FieldNode],
        info: GraphQLResolveInfo,
        path: Any,
        result: Any,
        *rest: Any,
    ) -> Any:
        if _on_loop() and _completion_needs_thread(return_type, info, result):
            return _hop_and_settle(
                super().complete_value, return_type, field_nodes, info, path, result, *rest
            )
        return super().complete_value(return_type, field_nodes, info, path, result, *rest)


def _resolve_in_sync_thread(
    next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo, **args: Any
) -> Any:
    """Innermost middleware: a field about to run sync code on the loop hops instead.

    This is the whole mechanism where graphql-core has no 3.2
    ``ExecutionContext`` (3.3), and a safety net behind the user's own
    middleware on 3.2 (an ``async def`` middleware calls the resolver on the
    loop). Its hop also completes what a completion would iterate or read
    (a QuerySet, a model's fields) only per field, so mixed documents hop
    more often here than with ``SyncThreadExecutionContext``.
    """
    if not _on_loop():
        return next_(root, info, **args)
    parent_type = info.parent_type
    if not _field_may_run_on_loop(parent_type, info.field_nodes, root):
        return _hop_and_settle(_resolve_and_materialize, next_, root, info, args)
    result = next_(root, info, **args)
    if inspect.isawaitable(result) and is_list_type(get_nullable_type(info.return_type)):  # type: ignore[arg-type]
        return _materialize_on_thread_after(result)
    return result


def _resolve_and_materialize(
    next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo, args: dict[str, Any]
) -> Any:
    result = next_(root, info, **args)
    if is_list_type(get_nullable_type(info.return_type)) and _is_lazy_iterable(result):  # type: ignore[arg-type]
        return list(result)
    return result


def _is_lazy_iterable(value: Any) -> bool:
    return not isinstance(value, (list, tuple, str, bytes, dict)) and isinstance(value, Iterable)


async def _materialize_on_thread_after(awaitable: Awaitable[Any]) -> Any:
    value = await awaitable
    if _is_lazy_iterable(value):
        value = await batcher().run(list, value)
    return value


_guard_only = MiddlewareManager(_resolve_in_sync_thread)


def _guarded_middleware(middleware: MiddlewareManager | None) -> MiddlewareManager | None:
    """The user's middleware with ``_resolve_in_sync_thread`` innermost, where it is needed."""
    if execution.FAST_PATH_AVAILABLE and middleware is None:
        return None  # the execution context does it all, shortcut included
    if middleware is None:
        return _guard_only
    # Kept on the user's manager (it allows attributes) so that graphql-core's
    # per-manager cache of wrapped resolvers lives as long as the original.
    found: MiddlewareManager | None = getattr(middleware, "_sync_thread_guarded", None)
    if found is None:
        found = MiddlewareManager(_resolve_in_sync_thread, *middleware.middlewares)
        middleware._sync_thread_guarded = found  # type: ignore[attr-defined]
    return found


def _is_async_iterable_here(value: Any) -> bool:
    """graphql-core 3.3's check, except that the sync thread iterates what it can.

    A Django QuerySet is also an async iterable; iterated that way in the
    thread, it would be awaited on the loop and query through a hop of its own.
    """
    if not isinstance(value, AsyncIterable):
        return False
    return _on_loop() or not isinstance(value, Iterable)


_THREAD_EXECUTE_OPTIONS: dict[str, Any] = (
    {
        "execution_context_class": SyncThreadExecutionContext,
        "is_awaitable": execution.is_awaitable,
    }
    if execution.FAST_PATH_AVAILABLE
    else {}
)
if "is_async_iterable" in inspect.signature(graphql.execute).parameters:  # graphql-core 3.3
    _THREAD_EXECUTE_OPTIONS["is_async_iterable"] = _is_async_iterable_here


def start_execution(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    middleware: MiddlewareManager | None,
    root: Any = None,
) -> ExecutionResult | Awaitable[ExecutionResult]:
    """``execution.start_execution`` keeping sync code off the loop, wherever it is called."""
    if operation_name == execution.INTROSPECTION_OPERATION_NAME:
        middleware = None
    return graphql.execute(
        schema,
        document,
        root_value=root,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        middleware=_guarded_middleware(middleware),
        **_THREAD_EXECUTE_OPTIONS,
    )


def starts_on_loop(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> bool:
    """Whether every root field the operation selects has an async resolver.

    Such an execution starts on the loop: a first hop would find no sync code
    to run. Anything else (a sync or default root field, an operation that
    cannot be picked) starts in the thread.
    """
    key = (id(document), operation_name)
    cached = _root_verdicts.get(key)
    if cached is not None and cached[0] is document:
        return cached[1]
    verdict = False
    operation = get_operation_ast(document, operation_name)
    if operation is not None:
        root_type = schema.get_root_type(operation.operation)
        if root_type is not None:
            fragments = {
                definition.name.value: definition
                for definition in document.definitions
                if isinstance(definition, graphql.FragmentDefinitionNode)
            }
            names: set[str] = set()
            _selected_field_names(root_type, operation.selection_set, fragments, names, set())
            kinds = [field_kind(root_type, name) for name in names if name in root_type.fields]
            verdict = bool(kinds) and all(kind == _ASYNC for kind in kinds)
    if len(_root_verdicts) >= _CACHE_LIMIT:
        _root_verdicts.clear()
    _root_verdicts[key] = (document, verdict)
    return verdict


async def execute_in_sync_thread(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    middleware: MiddlewareManager | None,
    root: Any = None,
) -> ExecutionResult:
    """Execute with sync resolvers in Django's sync thread, async ones on the loop.

    The arguments are ``execution.start_execution``'s. An operation whose
    root fields are sync starts in the thread (one hop, shared with the
    iteration's other submissions) and, if its resolvers are all sync,
    finishes there. Whatever async resolvers leave is awaited on the loop,
    and sync code their values need hops back (see the module's docstring).
    """
    start = functools.partial(
        start_execution,
        schema,
        document,
        operation_name=operation_name,
        variables=variables,
        context=context,
        middleware=middleware,
        root=root,
    )
    if starts_on_loop(schema, document, operation_name):
        outcome = start()
    else:
        outcome = await batcher().run(start)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return outcome


async def execute(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    middleware: MiddlewareManager | None,
    root: Any = None,
    sync_thread: bool = True,
) -> ExecutionResult:
    """``execute_in_sync_thread``, or everything on the loop when ``sync_thread`` is off."""
    if sync_thread:
        return await execute_in_sync_thread(
            schema,
            document,
            operation_name=operation_name,
            variables=variables,
            context=context,
            middleware=middleware,
            root=root,
        )
    return await execution.execute_operation(
        schema,
        document,
        operation_name=operation_name,
        variables=variables,
        context=context,
        middleware=middleware,
        root=root,
    )
