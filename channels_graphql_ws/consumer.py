"""``GraphqlWsConsumer``: glue between Channels, the protocol layer and graphql-core.

The protocol rules live in ``protocol.ServerConnection``; this module only
moves frames in and out, runs the user's hooks and the GraphQL operations
in tasks it owns, and ends every one of those tasks when the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from graphql import DocumentNode, ExecutionResult, GraphQLResolveInfo, GraphQLSchema
from graphql.execution import MiddlewareManager

from . import broadcast, execution, serializer, subscription
from .dict_as_object import DictAsObject
from .fanout import ProcessFanout, fanout_for, is_idle_timeout
from .protocol import (
    FALLBACK_CLOSE_CODES,
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
    #: Operations running at the same time per connection (queries and
    #: mutations in flight plus live subscriptions); over it: an ``error``.
    max_operations: ClassVar[int | None] = 4096
    #: Longest GraphQL document, in characters; None: no limit.
    max_document_length: ClassVar[int | None] = 100_000
    #: Most lexical tokens (names, punctuation, values, comments) of a
    #: document, counted before it is parsed; None: no limit.
    max_document_tokens: ClassVar[int | None] = execution.DEFAULT_MAX_DOCUMENT_TOKENS
    #: Deepest field nesting of an operation (fragments followed); None: no limit.
    max_document_depth: ClassVar[int | None] = 64
    #: Field selections of an operation with fragments expanded (aliases
    #: count once each); None: no limit.
    max_document_fields: ClassVar[int | None] = 10_000
    #: Whether ``__schema`` and ``__type`` may be queried.
    introspection: ClassVar[bool] = True
    #: Send "Internal server error" instead of the text of unexpected
    #: (non-GraphQL) exceptions; each is logged with its traceback.
    mask_internal_errors: ClassVar[bool] = False

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

    async def on_disconnect(self, code: int) -> None:
        """Called once when the socket has closed, after every ``unsubscribed``.

        ``code`` is the WebSocket close code. May be a plain (sync) method.
        Meant for presence tracking and per-connection cleanup.
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

    def _error_for_client(self, error: Exception) -> dict[str, Any]:
        """``_format_error``, unless the error is internal and masking is on."""
        if self.mask_internal_errors and execution.is_internal_error(error):
            return execution.masked_error(error)
        return self._format_error(error)

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
        # Each operation's "setup done" flag: stops wait on it, and each
        # operation's setup waits for the previous one's (arrival order).
        self._setups: dict[OperationId, asyncio.Event] = {}
        self._last_setup: asyncio.Event | None = None
        # Subscriptions from the start of their setup, and the live ones.
        self._subscription_records: dict[OperationId, _SubscriptionRecord] = {}
        self._subscriptions_by_id: dict[OperationId, _SubscriptionRecord] = {}
        # Groups this connection joined, with the operations that need each.
        self._ids_by_group: dict[str, set[OperationId]] = {}
        self._fanout: ProcessFanout | None = None
        # With strict_ordering: fan-out deliveries held back while a message
        # is being processed.
        self._dispatching = False
        self._held_back: list[tuple[str, Any]] = []
        self._disconnected = False
        # Held while one of this connection's documents waits for the worker
        # thread, so connections take turns there.
        self._document_turn = asyncio.Lock()
        broadcast.note_consumer_created()

    @property
    def _subscriptions(self) -> Mapping[OperationId, Any]:
        """Live subscriptions by operation id (read-only; each has ``.groups``)."""
        return MappingProxyType(self._subscriptions_by_id)

    @property
    def _graphql_schema(self) -> GraphQLSchema:
        schema = self.schema
        return schema if isinstance(schema, GraphQLSchema) else schema.graphql_schema

    # ---------------------------------------------------- Channels handlers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            # The ASGI server cancels its applications when it shuts down
            # (daphne does): say goodbye with 1001 and end every
            # subscription as a disconnect would, then let the cancel go on.
            if not self._disconnected:
                with contextlib.suppress(Exception):
                    await self._send_close(CloseCode.GOING_AWAY, "Server shutting down")
                await self.disconnect(1001)
            raise

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
        self._protocol = ServerConnection(
            chosen, max_message_size=self.max_message_size, max_operations=self.max_operations
        )
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
        self._disconnected = True
        if code not in (1000, 1001):
            log.debug("WebSocket closed with code %s.", code)
        if self._protocol is not None:
            self._protocol.connection_lost()
        await self._end_all_subscriptions()
        try:
            await _call_hook(self.on_disconnect, code)
        except Exception:
            log.exception("`on_disconnect` failed.")

    # ------------------------------------------------ protocol outputs

    async def _apply(self, outputs: list[Output]) -> None:
        """Carry out what the protocol layer decided, in its order."""
        for output in outputs:
            if isinstance(output, Send):
                if not await self._send_to_socket(output.message):
                    return
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

    async def _send_to_socket(self, message: dict[str, Any]) -> bool:
        """Send one message; False when the socket turned out to be gone.

        A client that vanished while we were writing (the ASGI server raises,
        e.g. uvicorn's ``ClientDisconnected``) is a disconnect, not a failure
        of whatever was sending: nothing more is sent, and the disconnect
        that follows ends every task.
        """
        text = await self.encode_json(message)  # an encoding error is ours: it raises
        try:
            await self.send(text_data=text)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.debug("The socket is gone (%r); nothing more is sent.", error)
            if self._protocol is not None:
                self._protocol.connection_lost()
            return False
        return True

    async def _close_socket(self, close: Close) -> None:
        await self._send_close(int(close.code), close.reason)
        self._cancel_tasks()

    async def _send_close(self, code: int, reason: str = "") -> None:
        """Close the socket; where the server refuses the code, with its fallback."""
        # Plain ints: daphne (autobahn) refuses int subclasses such as IntEnum.
        message: dict[str, Any] = {"type": "websocket.close", "code": int(code)}
        if reason:
            message["reason"] = reason
        try:
            await self.base_send(message)
        except Exception:
            fallback = FALLBACK_CLOSE_CODES.get(code)
            if fallback is None:
                raise
            log.debug("The ASGI server refused close code %s; sending %s.", code, fallback)
            await self.base_send({**message, "code": int(fallback)})

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
            await self._apply(self._protocol.reject(self._error_for_client(error)))
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
        if not self.strict_ordering and await self._serve_inline(message):
            return
        op_id = message.id
        # Setups run in arrival order, so a mutation sent right after a
        # subscribe finds that subscription live; executions still overlap.
        previous, setup_done = self._last_setup, asyncio.Event()
        self._setups[op_id] = self._last_setup = setup_done
        if self.strict_ordering:
            await self._run_operation(message, previous, setup_done)
            return
        task = self._spawn(self._run_operation(message, previous, setup_done))
        self._operation_tasks[op_id] = task
        task.add_done_callback(lambda _: self._forget_operation_task(op_id, task))

    async def _serve_inline(self, message: Subscribe) -> bool:
        """Run a query or mutation without a task of its own, where that changes nothing.

        With the stock ``on_operation``, no setup pending before it and a
        document known to be good, a task would run exactly this first:
        the synchronous part of the execution (all of it, unless a resolver
        is async). Only an awaitable result gets a task. False: take the
        ordinary path, which also reports every problem.
        """
        pending = self._last_setup
        if (pending is not None and not pending.is_set()) or (
            type(self).on_operation is not GraphqlWsConsumer.on_operation
        ):
            return False
        schema = self._graphql_schema
        limits = self._document_limits()
        prepared = execution.document_cache.cached(schema, message.query, limits)
        if prepared is None:
            return False
        operation = prepared.operation(message.operation_name)
        if (
            prepared.errors
            or operation is None
            or prepared.document is None
            or execution.is_subscription(operation)
            or limits.check(prepared.shape(operation))
        ):
            return False
        started = time.monotonic()
        try:
            outcome = execution.start_execution(
                schema,
                prepared.document,
                operation_name=message.operation_name,
                variables=message.variables,
                context=self._operation_context(message),
                middleware=self._middleware,
            )
        except Exception as failure:
            await self._operation_failed(message.id, failure)
            return True
        if inspect.isawaitable(outcome):
            task = self._spawn(self._finish_execution(message, outcome, started))
            self._operation_tasks[message.id] = task
            task.add_done_callback(lambda _: self._forget_operation_task(message.id, task))
            return True
        await self._send_query_result(message, outcome, started)
        return True

    async def _finish_execution(
        self, message: Subscribe, outcome: Awaitable[ExecutionResult], started: float
    ) -> None:
        protocol = self._protocol
        assert protocol is not None
        try:
            result = await outcome
            await self._send_query_result(message, result, started)
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            await self._operation_failed(message.id, failure)

    async def _operation_failed(self, op_id: OperationId, failure: Exception) -> None:
        """An unexpected failure ends the operation with an ``error``, never the socket."""
        if _error_log_budget.allow():
            log.exception("Operation %r failed.", op_id)
        assert self._protocol is not None
        await self._apply(self._protocol.send_error(op_id, [self._error_for_client(failure)]))

    async def _send_query_result(
        self, message: Subscribe, result: ExecutionResult, started: float
    ) -> None:
        """A query's or mutation's one result, then ``complete``."""
        protocol = self._protocol
        assert protocol is not None
        self._warn_if_slow(message, time.monotonic() - started)
        self._log_resolver_errors(message.id, result)
        payload = execution.format_result(result, self._error_for_client)
        await self._apply(protocol.send_result(message.id, payload))
        await self._apply(protocol.complete(message.id))

    def _document_limits(self) -> execution.DocumentLimits:
        return execution.DocumentLimits(
            max_length=self.max_document_length,
            max_tokens=self.max_document_tokens,
            max_depth=self.max_document_depth,
            max_fields=self.max_document_fields,
            introspection=self.introspection,
        )

    def _forget_operation_task(self, op_id: OperationId, task: asyncio.Task[Any]) -> None:
        if self._operation_tasks.get(op_id) is task:
            del self._operation_tasks[op_id]

    def _finish_setup(self, op_id: OperationId, setup_done: asyncio.Event) -> None:
        setup_done.set()
        if self._setups.get(op_id) is setup_done:
            del self._setups[op_id]

    async def _wait_for_setup(self, op_id: OperationId) -> None:
        setup_done = self._setups.get(op_id)
        if setup_done is not None:
            await setup_done.wait()

    async def _stop_operation(self, op_id: OperationId) -> None:
        """The client sent ``complete``/``stop`` (the protocol passes on only the first)."""
        if self.strict_ordering:
            await self._stop_requested(op_id)
        else:
            # A task: waiting for a subscription's setup must not hold up the socket.
            self._spawn(self._stop_requested(op_id))

    async def _stop_requested(self, op_id: OperationId) -> None:
        assert self._protocol is not None
        await self._wait_for_setup(op_id)
        if op_id in self._subscription_records:
            await self._end_subscription(op_id)
            return
        # A query or mutation: its result is never sent; the client gets complete.
        task = self._operation_tasks.get(op_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        await self._apply(self._protocol.complete(op_id))

    async def _run_operation(
        self, message: Subscribe, previous: asyncio.Event | None, setup_done: asyncio.Event
    ) -> None:
        """Serve one operation; whatever fails ends it with an ``error``, never the socket."""
        protocol = self._protocol
        assert protocol is not None
        try:
            if previous is not None:
                await previous.wait()
            await self._serve_operation(
                protocol, message, lambda: self._finish_setup(message.id, setup_done)
            )
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            await self._operation_failed(message.id, failure)
        finally:
            self._finish_setup(message.id, setup_done)

    async def _serve_operation(
        self, protocol: ServerConnection, message: Subscribe, finish_setup: Callable[[], None]
    ) -> None:
        op_id = message.id
        try:
            await _call_hook(self.on_operation, op_id, message.payload)
        except Exception as refusal:
            log.info("Operation %r refused by `on_operation`: %r", op_id, refusal)
            await self._apply(protocol.send_error(op_id, [self._error_for_client(refusal)]))
            return
        schema = self._graphql_schema
        limits = self._document_limits()
        prepared = await execution.document_cache.prepare_async(
            schema, message.query, limits, turn=self._document_turn
        )
        if prepared.refused:
            log.info("Operation %r refused: %s", op_id, prepared.errors[0].message)
        operation = prepared.operation(message.operation_name)
        if prepared.errors or operation is None or prepared.document is None:
            errors = list(prepared.errors) or [
                execution.operation_not_found_error(message.operation_name)
            ]
            formatted = [self._format_error(error) for error in errors]
            await self._apply(protocol.send_document_errors(op_id, formatted))
            return
        over_limit = limits.check(prepared.shape(operation))
        if over_limit is not None:
            log.info("Operation %r refused: %s", op_id, over_limit.message)
            await self._apply(
                protocol.send_document_errors(op_id, [self._format_error(over_limit)])
            )
            return
        if execution.is_subscription(operation):
            await self._serve_subscription(protocol, message, prepared.document)
            return
        finish_setup()
        started = time.monotonic()
        result = await execution.execute_operation(
            schema,
            prepared.document,
            operation_name=message.operation_name,
            variables=message.variables,
            context=self._operation_context(message),
            middleware=self._middleware,
        )
        await self._send_query_result(message, result, started)

    def _log_resolver_errors(self, op_id: OperationId, result: ExecutionResult) -> None:
        for error in result.errors or ():
            if error.original_error is not None and _error_log_budget.allow():
                log.warning(
                    "Resolver error in operation %r: %s",
                    op_id,
                    error,
                    exc_info=error.original_error,
                )

    # --------------------------------------------------- subscriptions

    async def _serve_subscription(
        self, protocol: ServerConnection, message: Subscribe, document: DocumentNode
    ) -> None:
        """Set a subscription up in one step (decision 6), then start its notifier.

        ``subscribe()``, joining the groups, registering the id as live and
        the confirmation all happen before the setup counts as done, so a
        stop, an ``unsubscribe`` or a notification always comes after them.
        """
        op_id = message.id
        record = _SubscriptionRecord(op_id)
        self._subscription_records[op_id] = record
        context = self._operation_context(message)
        try:
            stream = await execution.create_event_stream(
                self._graphql_schema,
                document,
                operation_name=message.operation_name,
                variables=message.variables,
                context=context,
                subscribe_field_resolver=functools.partial(self._subscribe_field, record),
            )
            if isinstance(stream, ExecutionResult):
                errors = [execution.unwrap_error(error) for error in stream.errors or ()]
                log.info("Subscription %r refused: %r", op_id, errors)
                formatted = [self._error_for_client(error) for error in errors]
                await self._apply(protocol.send_setup_errors(op_id, formatted))
                return
            record.stream = stream
            await self._join_groups(op_id, record.groups)
            if not protocol.is_active(op_id):  # the connection closed meanwhile
                await self._leave_groups(op_id, record.groups)
                return
            self._subscriptions_by_id[op_id] = record
            if self.confirm_subscriptions:
                await self._apply(protocol.send_confirmation(op_id, self._confirmation_payload()))
            record.notifier = self._spawn(
                self._send_notifications(protocol, message, document, context, record)
            )
        except Exception:
            if self._subscriptions_by_id.get(op_id) is record:
                del self._subscriptions_by_id[op_id]
            await self._leave_groups(op_id, record.groups)
            raise
        finally:
            if self._subscriptions_by_id.get(op_id) is not record:
                self._subscription_records.pop(op_id, None)

    async def _subscribe_field(
        self, record: _SubscriptionRecord, root: Any, info: GraphQLResolveInfo, **arguments: Any
    ) -> broadcast.NotificationQueue[Any]:
        """graphql-core's resolver for a root field that has no ``subscribe_<field>``."""
        subscription_class = subscription.subscription_class_of(info)
        if subscription_class is None:
            raise TypeError(
                f"Subscription field '{info.field_name}' has neither a "
                f"`subscribe_{info.field_name}` resolver nor a `Subscription` class."
            )
        record.setup = await subscription.run_subscribe(subscription_class, info, arguments)
        record.groups = record.setup.groups
        limit = subscription_class.notification_queue_limit
        if limit is None or limit <= 0:
            limit = self.subscription_notification_queue_limit
        record.queue = broadcast.NotificationQueue(limit, name=repr(record.id))
        return record.queue

    async def _send_notifications(
        self,
        protocol: ServerConnection,
        message: Subscribe,
        document: DocumentNode,
        context: DictAsObject,
        record: _SubscriptionRecord,
    ) -> None:
        """Run the subscriber's document once per event, in order, and send each result."""
        op_id = message.id
        stream = record.stream
        assert stream is not None
        try:
            async for event in stream:
                result = await execution.execute_operation(
                    self._graphql_schema,
                    document,
                    operation_name=message.operation_name,
                    variables=message.variables,
                    context=context,
                    middleware=self._middleware,
                    root=event,
                )
                self._log_resolver_errors(op_id, result)
                if record.setup is not None:
                    kept = execution.without_skipped_fields(result)
                    if kept is None:
                        continue  # `publish` returned None for this subscriber
                    result = kept
                payload = execution.format_result(result, self._error_for_client)
                await self._apply(protocol.send_result(op_id, payload))
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            if _error_log_budget.allow():
                log.exception("The event stream of subscription %r failed.", op_id)
            if self._forget_subscription(op_id, record):
                await self._apply(protocol.send_error(op_id, [self._error_for_client(failure)]))
            return
        finally:
            await _close_stream(stream)
        # A plain Graphene stream ended by itself.
        if self._forget_subscription(op_id, record):
            await self._apply(protocol.complete(op_id))

    def _forget_subscription(self, op_id: OperationId, record: _SubscriptionRecord) -> bool:
        """Unregister a live subscription; False if something else already did."""
        if self._subscriptions_by_id.get(op_id) is not record:
            return False
        del self._subscriptions_by_id[op_id]
        self._subscription_records.pop(op_id, None)
        self._spawn(self._leave_groups(op_id, record.groups))
        return True

    async def _end_subscription(self, op_id: OperationId) -> None:
        """Stop a subscription, whoever asked, and send its one ``complete``.

        Waits for a setup in progress first; a second request finds nothing
        to do. The notifier is cancelled and awaited before ``complete``, so
        nothing for this id can follow it.
        """
        assert self._protocol is not None
        await self._wait_for_setup(op_id)
        record = self._subscriptions_by_id.pop(op_id, None)
        if record is None:
            return
        self._subscription_records.pop(op_id, None)
        if record.notifier is not None:
            record.notifier.cancel()
            await asyncio.wait([record.notifier])
        await self._leave_groups(op_id, record.groups)
        await self._run_unsubscribed(record)
        await self._apply(self._protocol.complete(op_id))

    async def _run_unsubscribed(self, record: _SubscriptionRecord) -> None:
        if record.setup is None:
            return
        try:
            await subscription.run_unsubscribed(record.setup)
        except Exception:
            log.exception("`unsubscribed` of subscription %r failed.", record.id)

    # ---------------------------------------------------------- groups

    async def _join_groups(self, op_id: OperationId, groups: list[str]) -> None:
        """Join through the process's fan-out: one layer membership per process."""
        if not groups:
            return
        if self.channel_layer is None:
            broadcast.channel_layer()  # raises the clear error
        fanout = self._fanout = self._fanout or fanout_for(self.channel_layer)
        for group in groups:
            members = self._ids_by_group.setdefault(group, set())
            first = not members
            members.add(op_id)
            if first:
                await fanout.join(group, self)

    async def _leave_groups(self, op_id: OperationId, groups: list[str]) -> None:
        for group in groups:
            members = self._ids_by_group.get(group)
            if members is None or op_id not in members:
                continue
            members.discard(op_id)
            if not members:
                del self._ids_by_group[group]
                if self._fanout is not None:
                    await self._fanout.leave(group, self)

    def _fanout_deliver(self, group: str, payload: Any) -> None:
        """Queue a broadcast for this connection's subscriptions in ``group``."""
        if self._dispatching:
            self._held_back.append((group, payload))
            return
        for op_id in self._ids_by_group.get(group, ()):
            record = self._subscription_records.get(op_id)
            if record is not None and record.queue is not None:
                record.queue.put(payload)

    def _fanout_end_group(self, group: str) -> None:
        """A server-side ``unsubscribe``: end this connection's subscriptions in ``group``."""
        if self._dispatching:
            self._held_back.append((group, _END_GROUP))
            return
        for op_id in list(self._ids_by_group.get(group, ())):
            self._spawn(self._end_subscription(op_id))

    def _release_held_back(self) -> None:
        held, self._held_back = self._held_back, []
        for group, payload in held:
            if payload is _END_GROUP:
                self._fanout_end_group(group)
            else:
                self._fanout_deliver(group, payload)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Route our own layer messages straight to their handlers.

        Channels closes stale database connections (a thread hop) before
        every handler; our group messages touch no database (decision 23).
        """
        kind = message.get("type")
        if kind == broadcast.BROADCAST:
            await self.broadcast(message)
        elif kind == broadcast.UNSUBSCRIBE:
            await self.unsubscribe(message)
        elif not self.strict_ordering:
            await super().dispatch(message)
        else:
            # Decision 10: what the fan-out delivers while a message is being
            # processed waits until it is done, as a message in line would.
            self._dispatching = True
            try:
                await super().dispatch(message)
            finally:
                self._dispatching = False
                self._release_held_back()

    async def broadcast(self, message: dict[str, Any]) -> None:
        """Layer message ``broadcast`` sent to this consumer's own channel.

        Group broadcasts normally reach the process's fan-out instead; this
        handler keeps the group protocol of 1.0.0rc7 working for messages
        addressed to a consumer directly.
        """
        group = message.get("group", "")
        if not self._ids_by_group.get(group):
            return
        try:
            payload = serializer.unpack(message["payload"])
        except Exception:
            log.exception("A broadcast to group %s could not be unpacked.", group)
            return
        self._fanout_deliver(group, payload)

    async def unsubscribe(self, message: dict[str, Any]) -> None:
        """Layer message ``unsubscribe`` sent to this consumer's own channel."""
        for op_id in list(self._ids_by_group.get(message.get("group", ""), ())):
            if self.strict_ordering:
                await self._end_subscription(op_id)
            else:
                self._spawn(self._end_subscription(op_id))

    async def _end_all_subscriptions(self) -> None:
        """On disconnect: every task is ended, then ``unsubscribed`` and groups left."""
        live = list(self._subscriptions_by_id.values())
        self._subscriptions_by_id.clear()
        self._subscription_records.clear()
        await self._end_tasks()
        for record in live:
            await self._run_unsubscribed(record)
        groups, self._ids_by_group = list(self._ids_by_group), {}
        if self._fanout is not None:
            for group in groups:
                await self._fanout.leave(group, self)

    # ------------------------------------------------- the layer channel

    @property
    def channel_receive(self) -> Callable[[], Awaitable[Any]]:
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[Any]]) -> None:
        # Channels sets this to read the consumer's own layer channel and
        # closes the socket (1011) when it raises: with Redis down, every
        # socket would go. Wrapped, a layer error only delays that channel.
        self._channel_receive = functools.partial(
            _receive_through_layer_errors, receive, self._reading_must_stop
        )

    def _reading_must_stop(self) -> bool:
        """Whether a failed layer read should end instead of being retried.

        On Python 3.10 and 3.11 a cancellation can be lost inside the layer
        (``asyncio.wait_for`` in redis-py), and the read fails later instead:
        after the disconnect, or while the task is being cancelled, that
        failure ends the read.
        """
        if self._disconnected:
            return True
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+
        return bool(cancelling and cancelling())

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


@dataclass(eq=False)
class _SubscriptionRecord:
    """One subscription of this connection, from the start of its setup.

    ``groups`` is what ``_subscriptions`` users read; ``setup`` is None for a
    plain Graphene subscription (an async-generator ``subscribe_<field>``).
    """

    id: OperationId
    groups: list[str] = field(default_factory=list)
    setup: subscription.SubscriptionSetup | None = None
    queue: broadcast.NotificationQueue[Any] | None = None
    stream: AsyncIterable[Any] | None = None
    notifier: asyncio.Task[Any] | None = None


class _LogBudget:
    """A process-wide allowance of error records with tracebacks.

    One client repeating a failing operation must not flood the log: past
    ``burst`` records in ``window`` seconds, errors are only counted, and
    the count is logged when the next window opens.
    """

    def __init__(self, burst: int = 20, window: float = 10.0) -> None:
        self.burst = burst
        self.window = window
        self._window_start = -window
        self._used = 0
        self.suppressed = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._window_start >= self.window:
            if self.suppressed:
                log.warning(
                    "%d more errors were not logged in the last %.0f s.",
                    self.suppressed,
                    now - self._window_start,
                )
            self._window_start, self._used, self.suppressed = now, 0, 0
        if self._used < self.burst:
            self._used += 1
            return True
        self.suppressed += 1
        return False


_error_log_budget = _LogBudget()
_last_layer_error_log = 0.0
#: Marks a held-back server-side ``unsubscribe`` among held-back payloads.
_END_GROUP = object()


async def _receive_through_layer_errors(
    receive: Callable[[], Awaitable[Any]], must_stop: Callable[[], bool]
) -> Any:
    """Read a layer channel, waiting out layer errors instead of raising them."""
    global _last_layer_error_log
    delay = 0.05
    while True:
        try:
            return await receive()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if must_stop():
                raise asyncio.CancelledError() from error
            if is_idle_timeout(error):
                continue  # redis-py's socket timeout on an idle blocking read
            now = time.monotonic()
            if now - _last_layer_error_log >= 10:
                _last_layer_error_log = now
                log.error(
                    "Channel layer receive failed (%s: %s); retrying.", type(error).__name__, error
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _close_stream(stream: AsyncIterable[Any]) -> None:
    """Let a plain Graphene async generator run its ``finally`` blocks."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        log.exception("Closing a subscription's event stream failed.")


# Decision 11: group names use the base class's prefix, read when computed.
broadcast.read_group_name_prefix_from(lambda: GraphqlWsConsumer.group_name_prefix)
