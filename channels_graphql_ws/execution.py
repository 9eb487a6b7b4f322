"""graphql-core glue: prepare documents once, execute them, shape the results.

No Channels here, and only graphql-core's public API, so any graphql-core
from 3.2 on works. Error formatting is passed in by the caller, because the
consumer's ``_format_error`` is a documented override point.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import graphql
import graphql.execution
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    create_source_event_stream,
    execute,
)
from graphql.execution import MiddlewareManager

from .documents import DocumentCache as DocumentCache
from .documents import PreparedDocument as PreparedDocument
from .documents import document_cache as document_cache
from .documents import prepare_document as prepare_document
from .fast_execution import _FAST_EXECUTE_OPTIONS
from .fast_execution import FAST_PATH_AVAILABLE as FAST_PATH_AVAILABLE
from .fast_execution import FastExecutionContext as FastExecutionContext
from .fast_execution import is_awaitable as is_awaitable
from .limits import DEFAULT_MAX_DOCUMENT_TOKENS as DEFAULT_MAX_DOCUMENT_TOKENS
from .limits import DEFAULT_MAX_VALIDATION_COST as DEFAULT_MAX_VALIDATION_COST
from .limits import DocumentLimits as DocumentLimits
from .limits import DocumentShape as DocumentShape
from .limits import count_tokens as count_tokens
from .limits import validation_cost as validation_cost

ErrorFormatter = Callable[[Exception], dict[str, Any]]

#: Operation name for which middleware is skipped: GraphiQL's schema fetch
#: would otherwise run every middleware over thousands of fields.
INTROSPECTION_OPERATION_NAME = "IntrospectionQuery"


def operation_not_found_error(operation_name: str | None) -> GraphQLError:
    """The error graphql-core gives when it cannot pick the operation."""
    if operation_name:
        return GraphQLError(f"Unknown operation named '{operation_name}'.")
    return GraphQLError("Must provide operation name if query contains multiple operations.")


def is_subscription(operation: OperationDefinitionNode) -> bool:
    return operation.operation is OperationType.SUBSCRIPTION


async def execute_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    middleware: MiddlewareManager | None,
    root: Any = None,
) -> ExecutionResult:
    """Run a query or mutation; resolvers run on the loop, as graphql-core runs them."""
    result = start_execution(
        schema,
        document,
        operation_name=operation_name,
        variables=variables,
        context=context,
        middleware=middleware,
        root=root,
    )
    if inspect.isawaitable(result):
        result = await result
    return result


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
    """Execute as far as it goes synchronously: the result, or an awaitable of it."""
    if operation_name == INTROSPECTION_OPERATION_NAME:
        middleware = None
    return execute(
        schema,
        document,
        root_value=root,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        middleware=middleware,
        **_FAST_EXECUTE_OPTIONS,
    )


async def create_event_stream(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    subscribe_field_resolver: Callable[..., Any],
) -> AsyncIterable[Any] | ExecutionResult:
    """Set a subscription up: the source stream, or the errors that prevented it.

    Only the stream is built here; each event is then run through
    ``execute_operation`` with the event as root, so middleware sees every
    notification and never the setup. ``subscribe_field_resolver`` serves
    root fields without a ``subscribe`` of their own.
    """
    executor_class = getattr(graphql, "Executor", None)
    if executor_class is None:  # graphql-core 3.2
        return await create_source_event_stream(
            schema,
            document,
            None,
            context,
            variables,
            operation_name,
            subscribe_field_resolver,
        )
    # graphql-core 3.3: build the executor, then ask it for the stream.
    executor = executor_class.build(
        schema,
        document,
        None,
        context,
        variables,
        operation_name,
        subscribe_field_resolver=subscribe_field_resolver,
    )
    if isinstance(executor, list):
        return ExecutionResult(None, errors=executor)
    stream: Any = create_source_event_stream(executor)  # type: ignore[call-arg]
    if inspect.isawaitable(stream):
        stream = await stream
    return stream  # type: ignore[no-any-return]


def unwrap_error(error: GraphQLError) -> Exception:
    """The exception a hook raised, without the location graphql-core wrapped it in."""
    original = error.original_error
    return original if original is not None else error


def without_skipped_fields(result: ExecutionResult) -> ExecutionResult | None:
    """Drop root fields whose ``publish`` returned None; None if nothing is left.

    Results with errors go out unchanged: the client must see them.
    """
    if result.errors or result.data is None:
        return result
    kept = {key: value for key, value in result.data.items() if value is not None}
    if not kept:
        return None
    if len(kept) == len(result.data):
        return result
    return ExecutionResult(kept, None, result.extensions)


def format_result(result: ExecutionResult, format_error: ErrorFormatter) -> dict[str, Any]:
    """The ``payload`` of a ``next``/``data`` message: ``errors`` only when there are some."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [format_error(error) for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def format_error(error: Exception) -> dict[str, Any]:
    """Shape an error for the client, as the older release did.

    A ``GraphQLError`` keeps graphql-core's shape; when it already carries
    extensions, the original exception's class name is added as ``code``.
    Anything else becomes ``"<Class>: <text>"`` with that class as ``code``.
    """
    if isinstance(error, GraphQLError):
        formatted: dict[str, Any] = dict(error.formatted)
        extensions = error.extensions
        if extensions and "code" not in extensions and error.original_error is not None:
            formatted["extensions"] = {**extensions, "code": type(error.original_error).__name__}
        return formatted
    name = type(error).__name__
    return {"message": f"{name}: {error}", "extensions": {"code": name}}


#: ``extensions.code`` of an error hidden by ``mask_internal_errors``.
INTERNAL_ERROR_CODE = "INTERNAL_SERVER_ERROR"


def is_internal_error(error: Exception) -> bool:
    """Whether ``error`` is unexpected: not a ``GraphQLError`` raised on purpose."""
    if isinstance(error, GraphQLError):
        original = error.original_error
        return original is not None and not isinstance(original, GraphQLError)
    return True


def masked_error(error: Exception) -> dict[str, Any]:
    """What the client sees of an internal error: no text, only where it happened."""
    formatted: dict[str, Any] = {"message": "Internal server error"}
    if isinstance(error, GraphQLError):
        if error.locations:
            formatted["locations"] = [location.formatted for location in error.locations]
        if error.path is not None:
            formatted["path"] = error.path
    formatted["extensions"] = {"code": INTERNAL_ERROR_CODE}
    return formatted
