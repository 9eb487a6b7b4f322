"""GraphQL over HTTP on the consumer: the I/O around ``protocol.http``.

The consumer hands every ``http.request`` and ``http.disconnect`` of a
request to one ``HttpExchange``. The exchange reads the request as
``protocol.http`` says (refusing what it refuses before the body is read),
plans the operation and runs it with the same hooks, middleware, limits
and error masking as the WebSocket, and sends one response, or a stream
(``http_streams``: Server-Sent Events or Apollo multipart, for
subscriptions or any operation the client wants streamed; ``sse_single``:
graphql-sse's single connection mode).

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
from .http_streams import DistinctSse, Framing, HttpStream, Multipart
from .operations import Operations, Plan, Refusal
from .protocol.accept import StreamKind
from .protocol.http import (
    Cors,
    Endpoint,
    GraphiqlRequested,
    HttpRequest,
    HttpResponse,
    OperationRequest,
    Situation,
)
from .protocol.sse import SseRequestKind
from .sse_single import SingleConnectionHost, SingleConnectionRequests

log = logging.getLogger(__name__)


class HttpHost(SingleConnectionHost, Protocol):
    """What the exchange needs of the consumer it serves: the request and its settings.

    Everything about the operation itself (hooks, limits, execution, error
    shapes, logging) comes from the engine, ``operations.Operations``.
    """

    scope: dict[str, Any]
    base_send: Callable[[dict[str, Any]], Awaitable[None]]
    max_message_size: int | None
    sse_single_connection: bool
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
    # Single connection mode routes over the layer: without one it is off.
    single_connection = bool(host.sse_single_connection) and host.channel_layer is not None
    key = (
        host.max_message_size,
        host.graphiql,
        None if origins is None else tuple(origins),
        host.cors_allow_credentials,
        single_connection,
    )
    endpoint = _endpoints.get(key)
    if endpoint is None:
        cors = None
        if origins is not None:
            cors = Cors(frozenset(origins), allow_credentials=host.cors_allow_credentials)
        endpoint = Endpoint(
            max_body_size=host.max_message_size,
            graphiql=host.graphiql,
            cors=cors,
            single_connection=single_connection,
        )
        if len(_endpoints) >= 64:  # settings changed at run time over and over
            _endpoints.clear()
        _endpoints[key] = endpoint
    return endpoint


_endpoints: dict[tuple[Any, ...], Endpoint] = {}

#: graphql-sse single connection requests answered from their head alone.
_SINGLE_CONNECTION_BODILESS = frozenset(
    {SseRequestKind.RESERVE, SseRequestKind.OPEN, SseRequestKind.STOP}
)


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
        self._stream: HttpStream | None = None

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
            if request.sse.kind in _SINGLE_CONNECTION_BODILESS:
                await self._single_connection_without_body(request.sse.kind)
                return
        if self._responded or self._task is not None or self._stream is not None:
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
        if request.sse.kind is SseRequestKind.EXECUTE and request.sse.token is not None:
            requests = self._single_connection_requests()
            await self._respond_and_stop(await requests.execute(request.sse.token, operation))
        await self._serve(operation)

    async def disconnected(self) -> None:
        """``http.disconnect``: the client left, or the response is out.

        Ends the query task, or the stream and everything of its operations.
        """
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if self._stream is not None:
            await self._stream.close()

    # ------------------------------------------------- graphql-sse, single

    def _single_connection_requests(self) -> SingleConnectionRequests:
        return SingleConnectionRequests(self._host, self._operations, self._request)

    async def _single_connection_without_body(self, kind: SseRequestKind) -> None:
        """PUT, DELETE, and the GET of a reservation's stream: none needs a body."""
        requests = self._single_connection_requests()
        token = self._request.sse.token
        if kind is SseRequestKind.RESERVE:
            await self._respond_and_stop(await requests.reserve())
        if kind is SseRequestKind.STOP:
            await self._respond_and_stop(await requests.stop(token))
        opened = await requests.open(token)
        if isinstance(opened, HttpResponse):
            await self._respond_and_stop(opened)
        self._stream = opened

    # -------------------------------------------------------- the operation

    async def _serve(self, operation: OperationRequest) -> None:
        ops = self._operations
        try:
            planned = await ops.plan(operation)
        except Exception as failure:
            await self._respond_and_stop(self._failure(failure))
        if isinstance(planned, Refusal) and await self._streamed(operation, planned):
            return
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
        if await self._streamed(operation, planned):
            return
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

    async def _streamed(self, operation: OperationRequest, planned: Plan | Refusal) -> bool:
        """Serve the operation as a stream if the client asked so; whether it did.

        A stream the client ranks first carries any operation; one ranked
        below JSON only subscriptions (a refused operation then gets JSON).
        Over SSE, request errors go onto the stream (decision T8); a refused
        multipart subscription is a plain response (section 3).
        """
        choice = self._request.stream
        if choice is None:
            return False
        refused = isinstance(planned, Refusal)
        kind = None if isinstance(planned, Refusal) else planned.operation.operation
        if not (choice.preferred or kind is OperationType.SUBSCRIPTION):
            return False
        framing: Framing
        if choice.kind is StreamKind.SSE:
            framing = DistinctSse()
        elif refused:
            return False
        else:
            framing = Multipart()
        if kind is OperationType.MUTATION and operation.method == "GET":
            await self._respond_and_stop(self._request.mutation_over_get())
        stream = self._stream = HttpStream(self._host, self._operations, framing)
        stream.sink.activate(operation.id)
        await stream.open(self._request.cors_headers())
        stream.session.start_planned(operation, planned)
        return True

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
