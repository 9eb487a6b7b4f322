"""graphql-core glue: prepare documents once, execute them, shape the results.

No Channels here, and only graphql-core's public API, so any graphql-core
from 3.2 on works. Error formatting is passed in by the caller, because the
consumer's ``_format_error`` is a documented override point.
"""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import graphql
import graphql.execution
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    create_source_event_stream,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution import MiddlewareManager

from .fast_execution import _FAST_EXECUTE_OPTIONS
from .fast_execution import FAST_PATH_AVAILABLE as FAST_PATH_AVAILABLE
from .fast_execution import FastExecutionContext as FastExecutionContext
from .fast_execution import is_awaitable as is_awaitable

ErrorFormatter = Callable[[Exception], dict[str, Any]]

#: Operation name for which middleware is skipped: GraphiQL's schema fetch
#: would otherwise run every middleware over thousands of fields.
INTROSPECTION_OPERATION_NAME = "IntrospectionQuery"


@dataclass(frozen=True)
class PreparedDocument:
    """A parsed document and its validation outcome, shared by all connections.

    ``document`` is None when parsing failed; ``errors`` holds the syntax
    error or every validation error in graphql-core's order.
    """

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()
    # Operations looked up by name, filled lazily; safe to share because a
    # document never changes once parsed.
    _operations: dict[str | None, OperationDefinitionNode | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _shapes: dict[str | None, DocumentShape] = field(
        default_factory=dict, compare=False, repr=False
    )

    def shape(self, operation: OperationDefinitionNode) -> DocumentShape:
        """Depth, field count and introspection use of ``operation`` (computed once)."""
        key = operation.name.value if operation.name else None
        cached = self._shapes.get(key)
        if cached is not None:
            return cached
        assert self.document is not None
        fragments = {
            definition.name.value: definition
            for definition in self.document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        shape = _measure(operation.selection_set, fragments, {})
        self._shapes[key] = shape
        return shape

    def operation(self, operation_name: str | None) -> OperationDefinitionNode | None:
        """The operation to run, as graphql-core would pick it, or None."""
        if self.document is None:
            return None
        try:
            return self._operations[operation_name]
        except KeyError:
            found = get_operation_ast(self.document, operation_name)
            self._operations[operation_name] = found
            return found


@dataclass(frozen=True)
class DocumentShape:
    """What the limits look at in one operation, fragments followed."""

    depth: int
    fields: int
    introspects: bool


@dataclass(frozen=True)
class DocumentLimits:
    """The consumer's limits on documents; None switches one off."""

    max_length: int | None = None
    max_depth: int | None = None
    max_fields: int | None = None
    introspection: bool = True

    def check(self, query: str, shape: DocumentShape) -> GraphQLError | None:
        """The first limit ``query`` breaks, as an error whose code names it."""
        if self.max_length is not None and len(query) > self.max_length:
            return _limit_error(
                "MAX_DOCUMENT_LENGTH",
                f"The document is {len(query)} characters long; the limit is {self.max_length}.",
            )
        if self.max_depth is not None and shape.depth > self.max_depth:
            return _limit_error(
                "MAX_DOCUMENT_DEPTH",
                f"The operation nests fields {shape.depth} deep; the limit is {self.max_depth}.",
            )
        if self.max_fields is not None and shape.fields > self.max_fields:
            return _limit_error(
                "MAX_DOCUMENT_FIELDS",
                f"The operation selects {shape.fields} fields; the limit is {self.max_fields}.",
            )
        if not self.introspection and shape.introspects:
            return _limit_error("INTROSPECTION_DISABLED", "Introspection is disabled.")
        return None


def _limit_error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


class DocumentCache:
    """A bounded LRU of prepared documents, keyed by schema and query text.

    Bounded twice: by entries and by the total length of the cached query
    texts, so a client sending huge unique documents cannot grow it without
    limit. Failures are cached too: a client repeating a bad document costs
    one dict lookup.
    """

    def __init__(self, max_entries: int = 1000, max_chars: int = 10_000_000) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._entries: OrderedDict[tuple[GraphQLSchema, str], PreparedDocument] = OrderedDict()
        self._chars = 0
        # Sync broadcasts may prepare documents from worker threads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def prepare(self, schema: GraphQLSchema, query: str) -> PreparedDocument:
        key = (schema, query)
        with self._lock:
            prepared = self._entries.get(key)
            if prepared is not None:
                self._entries.move_to_end(key)
                return prepared
        prepared = prepare_document(schema, query)
        if len(query) > self.max_chars:
            return prepared
        with self._lock:
            if key not in self._entries:
                self._entries[key] = prepared
                self._chars += len(query)
            while len(self._entries) > self.max_entries or self._chars > self.max_chars:
                (_, old_query), _ = self._entries.popitem(last=False)
                self._chars -= len(old_query)
        return prepared

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0


#: The cache every consumer shares.
document_cache = DocumentCache()


def prepare_document(schema: GraphQLSchema, query: str) -> PreparedDocument:
    """Parse and validate, reporting every problem as a ``GraphQLError``."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return PreparedDocument(None, (error,))
    except RecursionError:
        return PreparedDocument(None, (GraphQLError("Document is nested too deeply."),))
    try:
        errors = validate(schema, document)
    except RecursionError:
        errors = [GraphQLError("Document is nested too deeply.")]
    return PreparedDocument(document if not errors else None, tuple(errors))


def _measure(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    memo: dict[str, DocumentShape],
) -> DocumentShape:
    """Measure a selection set, each fragment once (validation ruled out cycles)."""
    depth, fields, introspects = 0, 0, False
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            inner = _measure(selection.selection_set, fragments, memo)
            depth = max(depth, inner.depth + 1)
            fields += inner.fields + 1
            name = selection.name.value
            introspects = introspects or inner.introspects or name in ("__schema", "__type")
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment_name = selection.name.value
            if fragment_name not in memo:
                fragment = fragments.get(fragment_name)
                if fragment is None:
                    continue
                memo[fragment_name] = _measure(fragment.selection_set, fragments, memo)
            inner = memo[fragment_name]
        else:
            assert isinstance(selection, InlineFragmentNode)
            inner = _measure(selection.selection_set, fragments, memo)
        depth = max(depth, inner.depth)
        fields += inner.fields
        introspects = introspects or inner.introspects
    return DocumentShape(depth, fields, introspects)


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
