"""GraphQL over HTTP on the consumer: the I/O around ``protocol.http``.

The consumer hands every ``http.request`` and ``http.disconnect`` of a
request to one ``HttpExchange``. The exchange reads the request as
``protocol.http`` says (refusing what it refuses before the body is read),
plans the operation and runs it with the same hooks, middleware, limits
and error masking as the WebSocket, and sends one response.

A query that finishes without awaiting anything is answered inside the
handler and the consumer stops at once. One that awaits runs in a task the
exchange owns, so Channels keeps dispatching: ``http.disconnect`` (sent by
daphne and uvicorn when the client goes away, and after every response)
cancels it if it is still running and stops the consumer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, Protocol

from channels.exceptions import StopConsumer
from graphql import (
    ExecutionResult,
    OperationType,
)

from . import graphiql
from .operations import Operations, Plan, Refusal
from .protocol.http import (
    Cors,
    Endpoint,
    GraphiqlRequested,
    HttpRequest,
    HttpResponse,
    OperationRequest,
    Situation,
)

log = logging.getLogger(__name__)


class HttpHost(Protocol):
    """What the exchange needs of the consumer it serves: the request and its settings.

    Everything about the operation itself (hooks, limits, execution, error
    shapes, logging) comes from the engine, ``operations.Operations``.
    """

    scope: dict[str, Any]
    base_send: Callable[[dict[str, Any]], Awaitable[None]]
    max_message_size: int | None
    graphiql: bool
    graphiql_base_url: str
    cors_allowed_origins: Sequence[str] | None
    cors_allow_credentials: bool


def endpoint_of(host: HttpHost) -> Endpoint:
    """The consumer's HTTP settings as ``protocol.http`` takes them.

    Read per request, as every setting is; the value is kept per distinct
    settings, so a request pays one tuple and one dict lookup for it.
    """
    origins = host.cors_allowed_origins
    key = (
        host.max_message_size,
        host.graphiql,
        None if origins is None else tuple(origins),
        host.cors_allow_credentials,
    )
    endpoint = _endpoints.get(key)
    if endpoint is None:
        cors = None
        if origins is not None:
            cors = Cors(frozenset(origins), allow_credentials=host.cors_allow_credentials)
        endpoint = Endpoint(max_body_size=host.max_message_size, graphiql=host.graphiql, cors=cors)
        if len(_endpoints) >= 64:  # settings changed at run time over and over
            _endpoints.clear()
        _endpoints[key] = endpoint
    return endpoint


_endpoints: dict[tuple[Any, ...], Endpoint] = {}


class HttpExchange:
    """One HTTP request on a consumer, from its first body message to its response."""

    def __init__(self, host: HttpHost, operations: Operations) -> None:
        scope = host.scope
        self._host = host
        self._operations = operations
        self._request = HttpRequest(
            scope["method"], scope.get("headers", ()), scope.get("query_string", b""),
            endpoint_of(host),
        )  # fmt: skip
        self._head_checked = False
        self._task: asyncio.Task[None] | None = None
        self._responded = False

    # ------------------------------------------------------ Channels events

    async def request_received(self, message: Mapping[str, Any]) -> None:
        """One ``http.request`` message; raises ``StopConsumer`` once answered."""
        request = self._request
        if not self._head_checked:
            self._head_checked = True
            decision = request.check_head()
            if isinstance(decision, HttpResponse):
                await self._respond_and_stop(decision)
            if isinstance(decision, GraphiqlRequested):
                page = graphiql.render_page(self._host.graphiql_base_url)
                await self._respond_and_stop(request.page(page))
        if self._responded or self._task is not None:
            return  # more body after the answer: nothing to do
        if request.method == "POST":
            too_large = request.add_body(message.get("body", b""))
            if too_large is not None:
                await self._respond_and_stop(too_large)
            if message.get("more_body", False):
                return
        operation = request.operation()
        if isinstance(operation, HttpResponse):
            await self._respond_and_stop(operation)
        await self._serve(operation)

    async def disconnected(self) -> None:
        """``http.disconnect``: the client left, or the response is out. Ends the query task."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    # -------------------------------------------------------- the operation

    async def _serve(self, operation: OperationRequest) -> None:
        ops = self._operations
        try:
            planned = await ops.plan(operation)
        except Exception as failure:
            await self._respond_and_stop(self._failure(failure))
        if isinstance(planned, Refusal):
            situation = (
                Situation.OPERATION_REFUSED
                if planned.by_hook
                else Situation.DOCUMENT_UNPARSABLE
                if planned.syntax
                else Situation.DOCUMENT_INVALID
            )
            await self._respond_and_stop(
                self._request.answer(situation, {"errors": planned.errors})
            )
        kind = planned.operation.operation
        if kind is OperationType.SUBSCRIPTION:
            await self._respond_and_stop(self._request.subscription_not_streamed())
        if kind is OperationType.MUTATION and operation.method == "GET":
            await self._respond_and_stop(self._request.mutation_over_get())
        started = time.monotonic()
        try:
            outcome = ops.start_query(planned)
        except Exception as failure:
            await self._respond_and_stop(self._failure(failure))
        if inspect.isawaitable(outcome):
            # Channels goes on dispatching: http.disconnect can end the task.
            self._task = asyncio.ensure_future(self._finish(planned, outcome, started))
            return
        await self._respond_and_stop(self._result_response(planned, outcome, started))

    async def _finish(
        self, planned: Plan, outcome: Awaitable[ExecutionResult], started: float
    ) -> None:
        try:
            result = await outcome
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            await self._respond(self._failure(failure))
            return
        await self._respond(self._result_response(planned, result, started))

    def _result_response(
        self, planned: Plan, result: ExecutionResult, started: float
    ) -> HttpResponse:
        ops = self._operations
        if is_request_error(result):
            # Variable coercion failed: nothing ran; a request error, no `data`.
            errors = [ops.errors.as_given(error) for error in result.errors or ()]
            return self._request.answer(Situation.VARIABLES_INVALID, {"errors": errors})
        payload = ops.query_payload(planned, result, started)
        return self._request.answer(Situation.SUCCESS, payload)

    def _failure(self, failure: Exception) -> HttpResponse:
        """An unexpected failure: 500 with the error as the policy shows it, logged."""
        return self._request.answer(
            Situation.INTERNAL_ERROR, {"errors": self._operations.failure(None, failure)}
        )

    # -------------------------------------------------------------- sending

    async def _respond_and_stop(self, response: HttpResponse) -> NoReturn:
        """Send the response, then end the consumer (never returns)."""
        await self._respond(response)
        raise StopConsumer()

    async def _respond(self, response: HttpResponse) -> None:
        if self._responded:
            return
        self._responded = True
        headers = [(name.encode(), value.encode("latin-1")) for name, value in response.headers]
        try:
            await self._host.base_send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await self._host.base_send({"type": "http.response.body", "body": response.body})
        except (OSError, RuntimeError) as error:
            # The client left meanwhile (the server refuses to write): a disconnect.
            log.debug("The HTTP client is gone (%r); the response is dropped.", error)


def is_request_error(result: ExecutionResult) -> bool:
    """Whether graphql-core refused to execute: no data, errors located nowhere.

    That is what a failed variable coercion gives; an error raised by a
    resolver always has a path, even when it nulls the whole result.
    """
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )
