"""Executing a document with its sync resolvers in Django's sync thread.

The other half of ``sync_thread``: which fields may run on the loop, an
execution context that hops to the thread where a value needs sync code
to complete, and ``execute``, which the engine calls with its
``sync_code_in_thread`` setting. See ``sync_thread`` for the hop itself.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

import graphql
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
)
from graphql.execution import MiddlewareManager

from . import execution
from .field_placement import (
    _ASYNC,
    _completion_needs_thread,
    _field_may_run_on_loop,
    _root_verdicts,
    _selected_field_names,
    field_kind,
)
from .node_memo import MISSING
from .sync_thread import batcher

_running_loop = asyncio._get_running_loop


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
        # `_on_loop()`, inlined: this runs for every field of every execution.
        if _running_loop() is not None and not _field_may_run_on_loop(
            parent_type, field_nodes, source
        ):
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
        if _running_loop() is not None and _completion_needs_thread(return_type, info, result):
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
    verdicts = _root_verdicts.get_one(schema, document)
    if verdicts is MISSING:
        verdicts = {}
        _root_verdicts.put(schema, document, value=verdicts)
    cached = verdicts.get(operation_name)
    if cached is not None:
        return cached
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
    verdicts[operation_name] = verdict
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
        outcome = await batcher().submit(start)
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
