"""``GraphqlWsConsumer``: glue between Channels, the protocol layer and graphql-core.

The protocol rules live in ``protocol.ServerConnection``; this module only
moves frames in and out, runs the user's hooks and the GraphQL operations
in tasks it owns, and ends every one of those tasks when the socket closes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from graphql import GraphQLError, GraphQLSchema
from graphql.execution import MiddlewareManager

from . import execution
from .dict_as_object import DictAsObject
from .protocol import (
    SUBPROTOCOLS,
    Close,
    CloseCode,
    ConnectionInitReceived,
    OperationId,
    OperationRequested,
    OperationStopRequested,
    Output,
    PongReceived,
    Send,
    ServerConnection,
    Subscribe,
)

log = logging.getLogger(__name__)


class GraphqlWsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A Channels consumer serving GraphQL over WebSocket.

    Subclass it, set ``schema`` and route ``MyConsumer.as_asgi()``. Both
    subprotocols are spoken; the client's ``Sec-WebSocket-Protocol`` picks one,
    ``graphql-transport-ws`` first. Settings are class attributes read at run
    time, so they may be changed with ``setattr`` after the class is defined.
    """

    # ------------------------------------------------------------ settings

    #: The ``graphene.Schema`` to serve; required.
    schema: ClassVar[Any] = None
    #: Seconds between keep-alives (``ping`` / legacy ``ka``); None: none sent.
    send_ping_every: ClassVar[float | None] = None
    #: Seconds a client has to send ``connection_init`` (close 4408); 0: forever.
    connection_init_wait_timeout: ClassVar[float] = 3
    #: Process every message of a connection, in order, one at a time.
    strict_ordering: ClassVar[bool] = False
    #: Send one extra result when a subscription starts (see API.md).
    confirm_subscriptions: ClassVar[bool] = False
    subscription_confirmation_message: ClassVar[dict[str, Any]] = {
        "data": None,
        "errors": None,
    }
    #: Log a warning when a query or mutation runs at least this long; None: never.
    warn_operation_timeout: ClassVar[float | None] = 1
    subscription_notification_queue_limit: ClassVar[int] = 1024
    #: graphql-core middleware: a list (first is innermost) or a MiddlewareManager.
    middleware: ClassVar[Any] = None
    #: Prefix of Channels group names; read from this base class only.
    group_name_prefix: ClassVar[str] = "GQLWS"
    #: With ``send_ping_every``: seconds a ``pong`` may take before the socket is
    #: closed with 1011 (graphql-transport-ws only: legacy clients never answer
    #: ``ka``). None: never.
    pong_timeout: ClassVar[float | None] = None
    #: Largest incoming frame in bytes (close 1009 above it); None: no limit.
    max_message_size: ClassVar[int | None] = 1024 * 1024

    # --------------------------------------------------------------- hooks

    async def on_connect(self, payload: Any) -> Any:
        """Decide on ``connection_init``; ``payload`` is the client's, unchecked.

        Raise or return ``False`` to reject; return a dict to send it as the
        ``connection_ack`` payload; ``None`` or ``True`` for a plain ack. May
        be a plain (sync) method as well.
        """

    async def on_operation(self, op_id: OperationId, payload: dict[str, Any]) -> None:
        """Called before every operation; raise to refuse it with an error.

        The return value is ignored. May be a plain (sync) method as well.
        """

    def _confirmation_payload(self) -> dict[str, Any]:
        """The result sent when a subscription starts, with ``confirm_subscriptions``.

        ``data`` goes out as given; ``errors`` (exceptions) are formatted, and
        the key is left out when there are none, so the default is ``{"data": None}``.
        """
        message = self.subscription_confirmation_message
        payload: dict[str, Any] = {"data": message.get("data")}
        errors = message.get("errors")
        if errors:
            payload["errors"] = [self._format_error(error) for error in errors]
        return payload

    @staticmethod
    def _format_error(error: Exception) -> dict[str, Any]:
        """Turn an error into what the client sees; override to enrich errors."""
        return execution.format_error(error)

    # ------------------------------------------------------- construction

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        assert self.schema is not None, "An instance of `graphene.Schema` is required in `schema`!"
        super().__init__(*args, **kwargs)
        middleware = self.middleware
        if middleware is not None and not isinstance(middleware, MiddlewareManager):
            middleware = MiddlewareManager(*middleware)
        self._middleware: MiddlewareManager | None = middleware
        self._protocol: ServerConnection | None = None
        # Every task this connection started; each is ended on disconnect.
        self._tasks: set[asyncio.Task[Any]] = set()
        self._operation_tasks: dict[OperationId, asyncio.Task[Any]] = {}
        self._init_timer: asyncio.Task[Any] | None = None
        self._keepalive_task: asyncio.Task[Any] | None = None
        self._pong_watchdog: asyncio.Task[Any] | None = None
        self._last_pong_at = 0.0
        self._subscriptions_by_id: dict[OperationId, Any] = {}

    @property
    def _subscriptions(self) -> Mapping[OperationId, Any]:
        """Live subscriptions by operation id (read-only; each has ``.groups``)."""
        return MappingProxyType(self._subscriptions_by_id)

    @property
    def _graphql_schema(self) -> GraphQLSchema:
        schema = self.schema
        return schema if isinstance(schema, GraphQLSchema) else schema.graphql_schema

    # ---------------------------------------------------- Channels handlers

    async def connect(self) -> None:
        offered = [
            p.decode() if isinstance(p, bytes) else p for p in self.scope.get("subprotocols", [])
        ]
        chosen = next((name for name in SUBPROTOCOLS if name in offered), None)
        if chosen is None:
            # Never pick a subprotocol the client did not offer: accept bare, then refuse.
            await self.accept()
            await self._close_socket(
                Close(CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable")
            )
            return
        self._protocol = ServerConnection(chosen, max_message_size=self.max_message_size)
        await self.accept(chosen)
        timeout = self.connection_init_wait_timeout
        if timeout:
            self._init_timer = self._spawn(self._expire_init(timeout))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._protocol is None:
            return
        frame: str | bytes = text_data if text_data is not None else (bytes_data or b"")
        await self._apply(self._protocol.receive_frame(frame))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Take an already decoded message (kept for code that calls it directly)."""
        if self._protocol is not None:
            await self._apply(self._protocol.receive_message(content))

    async def disconnect(self, code: int) -> None:
        if code not in (1000, 1001):
            log.debug("WebSocket closed with code %s.", code)
        if self._protocol is not None:
            self._protocol.connection_lost()
        await self._end_tasks()

    # ------------------------------------------------ protocol outputs

    async def _apply(self, outputs: list[Output]) -> None:
        """Carry out what the protocol layer decided, in its order."""
        for output in outputs:
            if isinstance(output, Send):
                await self.send_json(output.message)
            elif isinstance(output, Close):
                await self._close_socket(output)
            elif isinstance(output, OperationRequested):
                await self._start_operation(output.message)
            elif isinstance(output, OperationStopRequested):
                await self._stop_operation(output.id)
            elif isinstance(output, ConnectionInitReceived):
                await self._start_connect_hook(output.payload)
            elif isinstance(output, PongReceived):
                self._last_pong_at = time.monotonic()

    async def _close_socket(self, close: Close) -> None:
        message: dict[str, Any] = {"type": "websocket.close", "code": int(close.code)}
        if close.reason:
            message["reason"] = close.reason
        await self.base_send(message)
        self._cancel_tasks()

    # ------------------------------------------------------ connecting

    async def _expire_init(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        assert self._protocol is not None
        await self._apply(self._protocol.init_timeout())

    async def _start_connect_hook(self, payload: Any) -> None:
        if self._init_timer is not None:
            self._init_timer.cancel()
            self._init_timer = None
        if self.strict_ordering:
            await self._run_connect_hook(payload)
        else:
            # A task, so that messages sent while the hook runs still get the
            # protocol's answers (4401 for an early subscribe, 4429 for a second init).
            self._spawn(self._run_connect_hook(payload))

    async def _run_connect_hook(self, payload: Any) -> None:
        assert self._protocol is not None
        try:
            verdict = await _call_hook(self.on_connect, payload)
        except Exception as error:
            log.info("Connection rejected by `on_connect`: %r", error)
            await self._apply(self._protocol.reject(self._format_error(error)))
            return
        if verdict is None or verdict is True:
            ack_payload = None
        elif isinstance(verdict, dict):
            ack_payload = verdict
        else:
            if verdict is not False:
                log.error(
                    "TypeError: `on_connect` must return None, True, False or a dict, "
                    "not %s; the connection is rejected.",
                    type(verdict).__name__,
                )
            rejection = RuntimeError("Connection rejected!")
            await self._apply(self._protocol.reject(self._format_error(rejection)))
            return
        keepalive = self.send_ping_every is not None
        await self._apply(self._protocol.acknowledge(ack_payload, keepalive=keepalive))
        if keepalive and not self._protocol.closed and self._keepalive_task is None:
            self._keepalive_task = self._spawn(self._send_keepalives(self.send_ping_every))

    async def _send_keepalives(self, interval: float | None) -> None:
        assert self._protocol is not None and interval is not None
        while not self._protocol.closed:
            await asyncio.sleep(interval)
            sent_at = time.monotonic()
            await self._apply(self._protocol.keepalive())
            pong_timeout = self.pong_timeout
            if pong_timeout is not None and self._pong_watchdog is None:
                self._pong_watchdog = self._spawn(self._expect_pong(sent_at, pong_timeout))

    async def _expect_pong(self, ping_sent_at: float, timeout: float) -> None:
        """Close (if the subprotocol says so) when no pong follows the ping in time."""
        assert self._protocol is not None
        await asyncio.sleep(timeout)
        self._pong_watchdog = None
        if self._last_pong_at < ping_sent_at:
            await self._apply(self._protocol.pong_timeout())

    # ------------------------------------------------------ operations

    async def _start_operation(self, message: Subscribe) -> None:
        if self.strict_ordering:
            await self._run_operation(message)
            return
        task = self._spawn(self._run_operation(message))
        self._operation_tasks[message.id] = task
        task.add_done_callback(lambda _: self._forget_operation_task(message.id, task))

    def _forget_operation_task(self, op_id: OperationId, task: asyncio.Task[Any]) -> None:
        if self._operation_tasks.get(op_id) is task:
            del self._operation_tasks[op_id]

    async def _stop_operation(self, op_id: OperationId) -> None:
        """The client sent ``complete``: drop the result and answer ``complete``."""
        assert self._protocol is not None
        task = self._operation_tasks.get(op_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        await self._apply(self._protocol.complete(op_id))

    async def _run_operation(self, message: Subscribe) -> None:
        """Serve one operation; whatever fails ends it with an ``error``, never the socket."""
        protocol = self._protocol
        assert protocol is not None
        try:
            await self._serve_operation(protocol, message)
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            log.exception("Operation %r failed.", message.id)
            await self._apply(protocol.send_error(message.id, [self._format_error(failure)]))

    async def _serve_operation(self, protocol: ServerConnection, message: Subscribe) -> None:
        op_id = message.id
        try:
            await _call_hook(self.on_operation, op_id, message.payload)
        except Exception as refusal:
            log.info("Operation %r refused by `on_operation`: %r", op_id, refusal)
            await self._apply(protocol.send_error(op_id, [self._format_error(refusal)]))
            return
        schema = self._graphql_schema
        prepared = execution.document_cache.prepare(schema, message.query)
        operation = prepared.operation(message.operation_name)
        if prepared.errors or operation is None or prepared.document is None:
            errors = list(prepared.errors) or [
                execution.operation_not_found_error(message.operation_name)
            ]
            formatted = [self._format_error(error) for error in errors]
            await self._apply(protocol.send_document_errors(op_id, formatted))
            return
        if execution.is_subscription(operation):
            unsupported = GraphQLError("Subscriptions are not supported by this server yet.")
            await self._apply(protocol.send_error(op_id, [self._format_error(unsupported)]))
            return
        started = time.monotonic()
        result = await execution.execute_operation(
            schema,
            prepared.document,
            operation_name=message.operation_name,
            variables=message.variables,
            context=self._operation_context(message),
            middleware=self._middleware,
        )
        self._warn_if_slow(message, time.monotonic() - started)
        for error in result.errors or ():
            if error.original_error is not None:
                log.warning(
                    "Resolver error in operation %r: %s",
                    op_id,
                    error,
                    exc_info=error.original_error,
                )
        payload = execution.format_result(result, self._format_error)
        await self._apply(protocol.send_result(op_id, payload))
        await self._apply(protocol.complete(op_id))

    def _operation_context(self, message: Subscribe) -> DictAsObject:
        """A fresh context per operation; ``channels_scope`` is the live scope."""
        return DictAsObject(
            {
                "channels_scope": self.scope,
                "channel_name": getattr(self, "channel_name", None),
                "graphql_operation_name": message.operation_name,
                "graphql_operation_id": message.id,
            }
        )

    def _warn_if_slow(self, message: Subscribe, seconds: float) -> None:
        limit = self.warn_operation_timeout
        if limit is not None and seconds >= limit:
            log.warning(
                "Operation %r (%s) took %.3f s, over `warn_operation_timeout` %s s.",
                message.id,
                message.operation_name or "unnamed",
                seconds,
                limit,
            )
            log.debug(
                "Slow operation %r: query %r, variables %r.",
                message.id,
                message.query,
                message.variables,
            )

    # ------------------------------------------------------------ tasks

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        """Start a task this connection owns: kept until done, ended on disconnect."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A connection task failed.", exc_info=task.exception())

    def _cancel_tasks(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def _end_tasks(self) -> None:
        """Cancel every task this connection started and wait until all have ended."""
        current = asyncio.current_task()
        while pending := [task for task in self._tasks if task is not current]:
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)


async def _call_hook(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a user hook that may be sync or async."""
    result = hook(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
