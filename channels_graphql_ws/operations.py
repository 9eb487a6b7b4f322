"""The engine's stateless half: what one operation is, whatever carries it.

Every transport plans an operation here (``on_operation``, parse and
validate through the shared cache, pick the operation, the document
limits), runs queries and per-event subscription executions here, and
shapes errors through one ``ErrorPolicy``. Nothing here knows Channels, a
socket or a wire protocol: the settings and hooks are read from the
*host* (the user's consumer) when they are used, because users change
settings with ``setattr`` after the class is defined.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
)
from graphql.execution import MiddlewareManager

from . import documents, execution, sync_thread, thread_execution
from .limits import DocumentLimits
from .log_budget import LogBudget
from .protocol import OperationId

log = logging.getLogger(__name__)


# ------------------------------------------------------------ the log budget


#: The budget every connection of the process shares.
error_log_budget = LogBudget()
#: Slow operations come in floods when the server is overloaded (every
#: operation of a backlog is late), exactly when logging them costs most.
slow_log_budget = LogBudget("slow-operation warnings")


def log_failure(message: str, *args: Any) -> None:
    """Log the exception being handled, if the process's budget allows it."""
    if error_log_budget.allow():
        log.exception(message, *args)


# ---------------------------------------------------------- error policy


class ErrorPolicy:
    """How an error reaches a client, decided in one place.

    ``as_given`` is the host's ``_format_error`` (a documented override
    point); ``for_client`` hides the text of unexpected exceptions when
    ``mask_internal_errors`` is on. A formatter that itself raises must not
    take the connection down: the client then gets the masked form.
    """

    def __init__(self, host: OperationHost) -> None:
        self._host = host

    def as_given(self, error: Exception) -> dict[str, Any]:
        try:
            return self._host._format_error(error)
        except Exception:
            log_failure("`_format_error` failed on %r.", error)
            return execution.masked_error(error)

    def for_client(self, error: Exception) -> dict[str, Any]:
        if self._host.mask_internal_errors and execution.is_internal_error(error):
            return execution.masked_error(error)
        return self.as_given(error)


# ------------------------------------------------------------ requests


class OperationRequest(Protocol):
    """One operation as a client asked for it (a WebSocket ``subscribe`` or
    an HTTP request): the id is None where the transport has none."""

    @property
    def id(self) -> OperationId | None: ...
    @property
    def query(self) -> str: ...
    @property
    def operation_name(self) -> str | None: ...
    @property
    def variables(self) -> dict[str, Any] | None: ...
    @property
    def payload(self) -> dict[str, Any]: ...


class OperationHost(Protocol):
    """What the engine reads from the user's consumer, when it needs it."""

    mask_internal_errors: bool
    max_document_length: int | None
    max_document_tokens: int | None
    max_document_depth: int | None
    max_document_fields: int | None
    introspection: bool
    warn_operation_timeout: float | None
    sync_code_in_thread: bool
    confirm_subscriptions: bool
    subscription_notification_queue_limit: int

    @property
    def _graphql_schema(self) -> GraphQLSchema: ...
    @property
    def _middleware(self) -> MiddlewareManager | None: ...
    def _format_error(self, error: Exception) -> dict[str, Any]: ...
    def _confirmation_payload(self) -> dict[str, Any]: ...
    def _operation_context(self, request: OperationRequest) -> Any: ...
    def on_operation(self, op_id: OperationId | None, payload: dict[str, Any]) -> Any: ...


def default_hook(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a host's hook as the do-nothing default, so callers may skip it."""
    function._engine_default_hook = True  # type: ignore[attr-defined]
    return function


def is_default_hook(bound: Any) -> bool:
    return bool(getattr(bound, "_engine_default_hook", False))


async def call_hook(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a user hook that may be sync or async."""
    result = hook(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


# ---------------------------------------------------------------- plans


@dataclass(frozen=True, eq=False)
class Plan:
    """An operation ready to run: a valid document within every limit."""

    request: OperationRequest
    document: DocumentNode
    operation: OperationDefinitionNode
    context: Any

    @property
    def is_subscription(self) -> bool:
        return execution.is_subscription(self.operation)

    @property
    def operation_type(self) -> str:
        return self.operation.operation.value


@dataclass(frozen=True)
class Refusal:
    """Why an operation will not run, as the client sees it.

    ``by_hook`` tells an ``on_operation`` refusal (an ``error`` on every
    subprotocol) from a document problem (each subprotocol's own answer);
    ``syntax`` says the document did not even parse (HTTP answers that
    differently from an invalid one).
    """

    errors: list[dict[str, Any]]
    by_hook: bool = False
    syntax: bool = False


class Operations:
    """Plans and runs operations for one host (a consumer instance)."""

    def __init__(self, host: OperationHost) -> None:
        self.host = host
        self.errors = ErrorPolicy(host)
        # Held while one of this host's documents waits for the worker
        # thread, so that connections take turns there.
        self._document_turn = asyncio.Lock()

    # ------------------------------------------------------------ planning

    @property
    def hook_is_default(self) -> bool:
        """Whether ``on_operation`` is the stock one, so planning never waits."""
        return is_default_hook(self.host.on_operation)

    async def plan(self, request: OperationRequest) -> Plan | Refusal:
        """``on_operation``, then the document: prepared off the loop if it is new."""
        try:
            await self.call_hook(self.host.on_operation, request.id, request.payload)
        except Exception as refusal:
            log.info("Operation %r refused by `on_operation`: %r", request.id, refusal)
            return Refusal([self.errors.for_client(refusal)], by_hook=True)
        return await self.prepare(request)

    async def prepare(self, request: OperationRequest) -> Plan | Refusal:
        """The document without the hook: prepared off the loop if it is new."""
        limits = self.limits()
        prepared = await documents.document_cache.prepare_async(
            self.host._graphql_schema, request.query, limits, turn=self._document_turn
        )
        return self._plan_from(request, prepared, limits)

    def plan_cached(self, request: OperationRequest) -> Plan | Refusal | None:
        """The plan when the document needs no parsing or validation now, else None.

        Synchronous, so a transport may plan without a task of its own when
        the hook is the stock one and the document is known.
        """
        limits = self.limits()
        prepared = documents.document_cache.cached(self.host._graphql_schema, request.query, limits)
        return None if prepared is None else self._plan_from(request, prepared, limits)

    def _plan_from(
        self,
        request: OperationRequest,
        prepared: documents.PreparedDocument,
        limits: DocumentLimits,
    ) -> Plan | Refusal:
        """Pick the operation and check the limits that need the validated document."""
        if prepared.refused:
            log.info("Operation %r refused: %s", request.id, prepared.errors[0].message)
        operation = prepared.operation(request.operation_name)
        if prepared.errors or operation is None or prepared.document is None:
            errors = list(prepared.errors) or [
                execution.operation_not_found_error(request.operation_name)
            ]
            syntax = isinstance(errors[0], GraphQLSyntaxError)
            return Refusal([self.errors.as_given(error) for error in errors], syntax=syntax)
        over_limit = limits.check(prepared.shape(operation))
        if over_limit is not None:
            log.info("Operation %r refused: %s", request.id, over_limit.message)
            return Refusal([self.errors.as_given(over_limit)])
        return Plan(request, prepared.document, operation, self.host._operation_context(request))

    async def call_hook(self, hook: Callable[..., Any], *args: Any) -> Any:
        """A user hook, sync (in Django's sync thread, by default) or async (on the loop)."""
        return await sync_thread.call_hook(hook, *args, sync_thread=self.host.sync_code_in_thread)

    def limits(self) -> DocumentLimits:
        host = self.host
        return DocumentLimits(
            max_length=host.max_document_length,
            max_tokens=host.max_document_tokens,
            max_depth=host.max_document_depth,
            max_fields=host.max_document_fields,
            introspection=host.introspection,
        )

    # ------------------------------------------------------------- queries

    def start_query(self, plan: Plan) -> ExecutionResult | Awaitable[ExecutionResult]:
        """Run a query or mutation as far as it goes without waiting.

        With sync code in Django's thread this is always an awaitable (the
        hop), so a transport awaits it in a task of its own and goes on
        reading its client meanwhile.
        """
        request = plan.request
        start = (
            thread_execution.execute_in_sync_thread
            if self.host.sync_code_in_thread
            else execution.start_execution
        )
        return start(
            self.host._graphql_schema,
            plan.document,
            operation_name=request.operation_name,
            variables=request.variables,
            context=plan.context,
            middleware=self.host._middleware,
        )

    async def run_query(self, plan: Plan) -> ExecutionResult:
        outcome = self.start_query(plan)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        return outcome

    def query_payload(self, plan: Plan, result: ExecutionResult, started: float) -> dict[str, Any]:
        """A query's result as the client sees it; slow runs and resolver errors logged."""
        self._warn_if_slow(plan.request, time.monotonic() - started)
        self.log_resolver_errors(plan.request.id, result)
        return execution.format_result(result, self.errors.for_client)

    # ------------------------------------------------------- subscriptions

    async def create_stream(
        self, plan: Plan, subscribe_field: Callable[..., Any]
    ) -> AsyncIterable[Any] | Refusal:
        """The source stream, or the setup errors (``subscribe`` raised) that prevented it."""
        request = plan.request
        stream = await execution.create_event_stream(
            self.host._graphql_schema,
            plan.document,
            operation_name=request.operation_name,
            variables=request.variables,
            context=plan.context,
            subscribe_field_resolver=subscribe_field,
        )
        if isinstance(stream, ExecutionResult):
            errors = [execution.unwrap_error(error) for error in stream.errors or ()]
            log.info("Subscription %r refused: %r", request.id, errors)
            return Refusal([self.errors.for_client(error) for error in errors])
        return stream

    async def event_payload(
        self, plan: Plan, event: Any, *, skip_empty: bool
    ) -> dict[str, Any] | None:
        """One notification for one subscriber: its document run with ``event`` as root.

        ``publish`` runs here, through the middleware (decision 13). With
        ``skip_empty``, root fields whose ``publish`` returned None are
        dropped, and None means there is nothing to send.
        """
        request = plan.request
        result = await thread_execution.execute(
            self.host._graphql_schema,
            plan.document,
            operation_name=request.operation_name,
            variables=request.variables,
            context=plan.context,
            middleware=self.host._middleware,
            root=event,
            sync_thread=self.host.sync_code_in_thread,
        )
        self.log_resolver_errors(request.id, result)
        if skip_empty:
            kept = execution.without_skipped_fields(result)
            if kept is None:
                return None
            result = kept
        return execution.format_result(result, self.errors.for_client)

    # ------------------------------------------------------------- logging

    def log_resolver_errors(self, op_id: OperationId | None, result: ExecutionResult) -> None:
        for error in result.errors or ():
            if error.original_error is not None and error_log_budget.allow():
                log.warning(
                    "Resolver error in operation %r: %s",
                    op_id,
                    error,
                    exc_info=error.original_error,
                )

    def _warn_if_slow(self, request: OperationRequest, seconds: float) -> None:
        limit = self.host.warn_operation_timeout
        if limit is None or seconds < limit or not slow_log_budget.allow():
            return
        log.warning(
            "Operation %r (%s) took %.3f s, over `warn_operation_timeout` %s s.",
            request.id,
            request.operation_name or "unnamed",
            seconds,
            limit,
        )
        log.debug(
            "Slow operation %r: query %r, variables %r.",
            request.id,
            request.query,
            request.variables,
        )

    def failure(self, op_id: OperationId | None, error: Exception) -> list[dict[str, Any]]:
        """An unexpected failure of an operation: logged (within budget), shaped for the client."""
        if error_log_budget.allow():
            log.error("Operation %r failed.", op_id, exc_info=error)
        return [self.errors.for_client(error)]
