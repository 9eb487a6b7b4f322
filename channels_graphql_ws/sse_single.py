"""graphql-sse's single connection mode on the consumer: its four requests, any process.

- PUT reserves: a token from ``secrets``, bound to the user (or else the
  session) that asked, kept where every process sees it (``reservations``).
- GET with the token opens the reservation's stream: an ``HttpStream``
  whose session runs the operations, plus a task of that session that
  receives the reservation's layer channel (``reservations.route_channel``).
- POST with the token checks the request where it lands (404, 400, 409 as
  section 2 says), takes the operation id for the reservation, and sends
  the operation to that channel: the stream's process runs it, whichever
  process that is, and whenever its stream opens (the channel keeps what
  arrives before the GET).
- DELETE sends a stop the same way.

The stream's process frees an operation id when the operation ends, and
the whole reservation when the stream ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import secrets
from typing import Any, Protocol

from channels.exceptions import ChannelFull

from .http_streams import HttpStream, SingleConnectionSse, StreamHost
from .layer_errors import receive_through_layer_errors
from .operations import Operations, Refusal
from .protocol import params, sse
from .protocol.accept import accepts_text_plain
from .protocol.http import HttpRequest, HttpResponse, problem_response
from .protocol.params import OperationRequest
from .protocol.responses import APPLICATION_JSON, Situation
from .protocol.sse import SingleConnection
from .reservations import REFRESH_SECONDS, Outcome, reservations_for, route_channel

log = logging.getLogger(__name__)

#: Layer messages on a reservation's channel.
EXECUTE = "graphql_sse.execute"
STOP = "graphql_sse.stop"


class SingleConnectionHost(StreamHost, Protocol):
    scope: dict[str, Any]
    channel_layer: Any
    max_operations: int | None


def owner_of(scope: dict[str, Any]) -> str:
    """Who made a request: its authenticated user, else its session, else nobody known.

    A reservation answers only requests of its owner (to anyone else the
    token does not exist); without a user or session the token alone is
    the secret.
    """
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    return f"session:{key}" if key else "anonymous"


class SingleConnectionRequests:
    """The single connection requests of one consumer (one HTTP request each)."""

    def __init__(
        self, host: SingleConnectionHost, operations: Operations, request: HttpRequest
    ) -> None:
        self._host = host
        self._operations = operations
        self._request = request
        self._layer = host.channel_layer
        self._reservations = reservations_for(self._layer)
        self._owner = owner_of(host.scope)

    def _answer(self, outcome: SingleConnection, **details: Any) -> HttpResponse:
        return self._request.with_cors(sse.single_connection_response(outcome, **details))

    # ------------------------------------------------------------ PUT

    async def reserve(self) -> HttpResponse:
        if not accepts_text_plain(self._request.headers.get("accept")):
            return self._answer(SingleConnection.RESERVE_NOT_ACCEPTABLE)
        token = secrets.token_urlsafe(32)
        await self._reservations.reserve(token, self._owner)
        return self._answer(SingleConnection.RESERVED, token=token)

    # ------------------------------------------------------------ GET

    async def open(self, token: str | None) -> HttpStream | HttpResponse:
        """The reservation's stream, open and routed; or the 404 or 409."""
        if token is None:
            return self._answer(SingleConnection.STREAM_NOT_FOUND)
        outcome = await self._reservations.open(token, self._owner)
        if outcome is Outcome.NOT_FOUND:
            return self._answer(SingleConnection.STREAM_NOT_FOUND)
        if outcome is Outcome.CONFLICT:
            return self._answer(SingleConnection.STREAM_ALREADY_OPEN)
        reservations = self._reservations

        async def free(op_id: Any) -> None:
            await reservations.remove_operation(token, str(op_id))

        stream = HttpStream(
            self._host, self._operations, SingleConnectionSse(), operation_ended=free
        )
        stream.on_close(functools.partial(reservations.release, token))
        await stream.open(self._request.with_cors(HttpResponse(200, (), b"")).headers)
        stream.read_while_open(self._route(stream, token))
        stream.session.spawn(self._refresh(token))
        return stream

    async def _route(self, stream: HttpStream, token: str) -> None:
        """Carry out what the other requests of this reservation sent, in order."""
        receive = functools.partial(self._layer.receive, route_channel(token))
        while not stream.closed:
            message = await receive_through_layer_errors(receive, lambda: stream.closed)
            if stream.closed:
                return  # read after the stream ended: nobody to run it for
            kind = message.get("type")
            op_id = message.get("id")
            if not isinstance(op_id, str):
                continue
            if kind == EXECUTE:
                await self._run(stream, op_id, message.get("payload"))
            elif kind == STOP:
                await stream.session.stop(op_id)

    async def _run(self, stream: HttpStream, op_id: str, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        found = params.operation_from(payload, "POST", APPLICATION_JSON)
        if isinstance(found, params.Problem) or not stream.sink.activate(op_id):
            return  # checked where it was posted; or that id runs here already
        operation = dataclasses.replace(found, operation_id=op_id)
        limit = self._host.max_operations
        if limit is not None and len(stream.sink.active) > limit:
            await stream.sink.send_error(op_id, [{"message": "Too many operations"}])
            return
        await stream.session.start(operation)

    async def _refresh(self, token: str) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self._reservations.refresh(token)
            except Exception as error:
                log.warning("Refreshing a graphql-sse reservation failed: %r", error)

    # ----------------------------------------------------------- POST

    async def execute(self, token: str, operation: OperationRequest) -> HttpResponse:
        """Check an operation here; send it to its stream's process to run."""
        reservations = self._reservations
        if not await reservations.exists(token, self._owner):
            return self._answer(SingleConnection.STREAM_NOT_FOUND)
        op_id = sse.operation_id_of(operation.extensions)
        if op_id is None:
            return self._answer(SingleConnection.OPERATION_ID_MISSING)
        planned = await self._operations.prepare(operation)
        if isinstance(planned, Refusal):
            return self._answer(SingleConnection.OPERATION_INVALID, errors=planned.errors)
        outcome = await reservations.add_operation(token, self._owner, op_id)
        if outcome is Outcome.NOT_FOUND:
            return self._answer(SingleConnection.STREAM_NOT_FOUND)
        if outcome is Outcome.CONFLICT:
            return self._answer(SingleConnection.OPERATION_ALREADY_RUNNING)
        message = {"type": EXECUTE, "id": op_id, "payload": operation.payload}
        try:
            await self._layer.send(route_channel(token), message)
        except ChannelFull:
            await reservations.remove_operation(token, op_id)
            return self._busy()
        return self._answer(SingleConnection.OPERATION_ACCEPTED)

    # --------------------------------------------------------- DELETE

    async def stop(self, token: str | None) -> HttpResponse:
        if token is None or not await self._reservations.exists(token, self._owner):
            return self._answer(SingleConnection.STREAM_NOT_FOUND)
        op_id = sse.query_parameter(self._request.query_string, "operationId")
        if op_id is None:
            return self._answer(SingleConnection.OPERATION_ID_MISSING)
        try:
            await self._layer.send(route_channel(token), {"type": STOP, "id": op_id})
        except ChannelFull:
            return self._busy()
        return self._answer(SingleConnection.STOPPED)

    def _busy(self) -> HttpResponse:
        message = "Too many requests wait for this stream; try again later."
        return self._request.with_cors(
            problem_response(Situation.SERVICE_UNAVAILABLE, APPLICATION_JSON, message)
        )
