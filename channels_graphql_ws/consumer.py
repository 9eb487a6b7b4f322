"""``GraphqlWsConsumer``: glue between Channels, the protocol layer and the engine.

The protocol rules live in ``protocol.ServerConnection``, operations in
``session.OperationSession`` and ``operations.Operations``; this module
moves frames in and out, runs the connection's hooks and timers, and
routes layer messages, so that a WebSocket is one thin transport over the
engine every transport shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any, ClassVar

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from graphql import GraphQLSchema
from graphql.execution import MiddlewareManager

from . import broadcast, collector, notifications
from .config import ConsumerConfig
from .dict_as_object import DictAsObject
from .fanout import ProcessFanout, fanout_for
from .http_transport import HttpExchange
from .layer_errors import LayerErrorsWaitedOut
from .operations import Operations
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
    SendText,
    ServerConnection,
    encode_message,
)
from .session import OperationSession
from .websocket_sink import SocketSink

log = logging.getLogger(__name__)


class GraphqlWsConsumer(ConsumerConfig, LayerErrorsWaitedOut, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A Channels consumer serving GraphQL over WebSocket.

    Subclass it, set ``schema`` and route ``MyConsumer.as_asgi()``. Both
    subprotocols are spoken; the client's ``Sec-WebSocket-Protocol`` picks one,
    ``graphql-transport-ws`` first. Settings are class attributes read at run
    time, so they may be changed with ``setattr`` after the class is defined.
    """

    #: Prefix of Channels group names; read from this base class only
    #: (decision 11: the broadcasting side has no consumer at hand).
    group_name_prefix: ClassVar[str] = "GQLWS"

    # ------------------------------------------------------- construction

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        assert self.schema is not None, "An instance of `graphene.Schema` is required in `schema`!"
        super().__init__(*args, **kwargs)
        middleware = self.middleware
        if middleware is not None and not isinstance(middleware, MiddlewareManager):
            middleware = MiddlewareManager(*middleware)
        self._middleware: MiddlewareManager | None = middleware
        self._protocol: ServerConnection | None = None
        self._operations = Operations(self)
        self._session = OperationSession(
            self._operations,
            SocketSink(self),
            strict_ordering=self.strict_ordering,
            fanout=self._fanout,
        )
        self._init_timer: asyncio.Task[Any] | None = None
        self._keepalive_task: asyncio.Task[Any] | None = None
        self._pong_watchdog: asyncio.Task[Any] | None = None
        self._last_pong_at = 0.0
        self._disconnected = False
        self._http_exchange: HttpExchange | None = None
        broadcast.note_consumer_created()

    @property
    def _subscriptions(self) -> Mapping[OperationId, Any]:
        """Live subscriptions by operation id (read-only; each has ``.groups``)."""
        return self._session.subscriptions

    @property
    def _graphql_schema(self) -> GraphQLSchema:
        schema = self.schema
        return schema if isinstance(schema, GraphQLSchema) else schema.graphql_schema

    def _fanout(self) -> ProcessFanout:
        if self.channel_layer is None:
            broadcast.channel_layer()  # raises the clear error
        return fanout_for(self.channel_layer)

    # ---------------------------------------------------- Channels handlers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:
            if scope.get("type") == "http":
                if self._http_exchange is not None:
                    await self._http_exchange.disconnected()
                raise
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
            self._init_timer = self._session.spawn(self._expire_init(timeout))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._protocol is None:
            return
        frame: str | bytes = text_data if text_data is not None else (bytes_data or b"")
        await self._apply(self._protocol.receive_frame(frame))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Take an already decoded message (kept for code that calls it directly)."""
        if self._protocol is not None:
            await self._apply(self._protocol.receive_message(content))

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Any:
        """Channels' per-connection application, freezing start-up objects first.

        The freeze (``freeze_startup_objects``) comes before the first
        consumer exists: whatever is frozen is never collected, and a
        connection's objects are reference cycles that must go with it.
        """
        app = super().as_asgi(**initkwargs)

        async def application(scope: Any, receive: Any, send: Any) -> Any:
            if cls.freeze_startup_objects:
                collector.freeze_startup_objects()
            return await app(scope, receive, send)

        functools.update_wrapper(application, app)
        return application

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        """JSON that every client can parse: no ``NaN`` or ``Infinity`` (they raise)."""
        return encode_message(content)

    async def disconnect(self, code: int) -> None:
        self._disconnected = True
        if code not in (1000, 1001):
            log.debug("WebSocket closed with code %s.", code)
        if self._protocol is not None:
            self._protocol.connection_lost()
        await self._session.close()
        try:
            await self._operations.call_hook(self.on_disconnect, code)
        except Exception:
            log.exception("`on_disconnect` failed.")

    async def http_request(self, message: dict[str, Any]) -> None:
        """GraphQL over HTTP on the same path: the exchange answers, then stops us."""
        if self._http_exchange is None:
            self._http_exchange = HttpExchange(self, self._operations)
        await self._http_exchange.request_received(message)

    async def http_disconnect(self, message: dict[str, Any]) -> None:
        if self._http_exchange is not None:
            await self._http_exchange.disconnected()
        raise StopConsumer()

    # ------------------------------------------------ protocol outputs

    async def _apply(self, outputs: list[Output]) -> None:
        """Carry out what the protocol layer decided, in its order."""
        for output in outputs:
            if isinstance(output, Send):
                if not await self._send_to_socket(output.message):
                    return
            elif isinstance(output, SendText):
                if not await self._send_text(output.text):
                    return
            elif isinstance(output, Close):
                await self._close_socket(output)
            elif isinstance(output, OperationRequested):
                await self._session.start(output.message)
            elif isinstance(output, OperationStopRequested):
                await self._session.stop(output.id)
            elif isinstance(output, ConnectionInitReceived):
                await self._start_connect_hook(output.payload)
            elif isinstance(output, PongReceived):
                self._last_pong_at = time.monotonic()

    async def _send_to_socket(self, message: dict[str, Any]) -> bool:
        """Send one message; False when the socket turned out to be gone.

        A client that vanished while we were writing (the ASGI server raises,
        e.g. uvicorn's ``ClientDisconnected``) is a disconnect, not a failure
        of whatever was sending: nothing more is sent, and the disconnect
        that follows ends every task. An encoding error is the sender's: it
        raises, and the engine ends that operation with an ``error``.
        """
        return await self._send_text(await self.encode_json(message))

    async def _send_text(self, text: str) -> bool:
        try:
            # Channels' `send(text_data=...)` builds exactly this message.
            await self.base_send({"type": "websocket.send", "text": text})
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._socket_gone(error)
            return False
        return True

    async def _finish_text(self, rest: Coroutine[Any, Any, None]) -> bool:
        """The rest of a send the socket made wait (``SocketSink.start_encoded_result``)."""
        try:
            await rest
        except Exception as error:
            self._socket_gone(error)
            return False
        return True

    def _socket_gone(self, error: Exception) -> None:
        """A send failed: the client is gone, which is a disconnect, not a failure."""
        log.debug("The socket is gone (%r); nothing more is sent.", error)
        if self._protocol is not None:
            self._protocol.connection_lost()

    async def _close_socket(self, close: Close) -> None:
        await self._send_close(int(close.code), close.reason)
        self._session.cancel_tasks()

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
            self._session.spawn(self._run_connect_hook(payload))

    async def _run_connect_hook(self, payload: Any) -> None:
        assert self._protocol is not None
        try:
            verdict = await self._operations.call_hook(self.on_connect, payload)
        except Exception as error:
            log.info("Connection rejected by `on_connect`: %r", error)
            await self._apply(self._protocol.reject(self._operations.errors.for_client(error)))
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
            await self._apply(self._protocol.reject(self._operations.errors.as_given(rejection)))
            return
        keepalive = self.send_ping_every is not None
        await self._apply(self._protocol.acknowledge(ack_payload, keepalive=keepalive))
        if keepalive and not self._protocol.closed and self._keepalive_task is None:
            self._keepalive_task = self._session.spawn(self._send_keepalives(self.send_ping_every))

    async def _send_keepalives(self, interval: float | None) -> None:
        assert self._protocol is not None and interval is not None
        while not self._protocol.closed:
            await asyncio.sleep(interval)
            sent_at = time.monotonic()
            await self._apply(self._protocol.keepalive())
            pong_timeout = self.pong_timeout
            if pong_timeout is not None and self._pong_watchdog is None:
                self._pong_watchdog = self._session.spawn(self._expect_pong(sent_at, pong_timeout))

    async def _expect_pong(self, ping_sent_at: float, timeout: float) -> None:
        """Close (if the subprotocol says so) when no pong follows the ping in time."""
        assert self._protocol is not None
        await asyncio.sleep(timeout)
        self._pong_watchdog = None
        if self._last_pong_at < ping_sent_at:
            await self._apply(self._protocol.pong_timeout())

    # ------------------------------------------------- layer messages

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Route our own layer messages straight to their handlers.

        Channels closes stale database connections (a thread hop) before
        every handler. Our group messages touch no database (decision 23);
        with ``sync_code_in_thread`` a client's message runs its sync code in
        hops that close them already, so the extra hop is skipped for those
        too. With ``strict_ordering`` notifications wait while a message is
        being handled (decision 10).
        """
        kind = message.get("type")
        if kind == broadcast.BROADCAST:
            await self.broadcast(message)
        elif kind == broadcast.UNSUBSCRIBE:
            await self.unsubscribe(message)
        elif not self.strict_ordering:
            await self._dispatch_from_client(message)
        else:
            with self._session.dispatching():
                await self._dispatch_from_client(message)

    async def _dispatch_from_client(self, message: dict[str, Any]) -> None:
        handler = _OWN_HOP_HANDLERS.get(message.get("type"))  # type: ignore[arg-type]
        if handler is not None and self.sync_code_in_thread:
            await getattr(self, handler)(message)
        else:
            await super().dispatch(message)

    async def broadcast(self, message: dict[str, Any]) -> None:
        """Layer message ``broadcast`` sent to this consumer's own channel.

        Group broadcasts normally reach the process's fan-out instead; this
        handler keeps the group protocol of 1.0.0rc7 working for messages
        addressed to a consumer directly.
        """
        group = message.get("group", "")
        notification = notifications.Notification.unpack(message.get("payload"), group)
        if notification is not None:
            self._session.deliver(group, notification)

    async def unsubscribe(self, message: dict[str, Any]) -> None:
        """Layer message ``unsubscribe`` sent to this consumer's own channel."""
        group = message.get("group", "")
        if self.strict_ordering:
            await self._session.end_group_now(group)
        else:
            self._session.end_group(group)

    def _operation_context(self, request: Any) -> DictAsObject:
        """A fresh context per operation; ``channels_scope`` is the live scope."""
        return DictAsObject(
            {
                "channels_scope": self.scope,
                "channel_name": getattr(self, "channel_name", None),
                "graphql_operation_name": request.operation_name,
                "graphql_operation_id": request.id,
            }
        )


#: Client messages whose sync code closes stale connections in its own hops.
_OWN_HOP_HANDLERS = {
    "websocket.receive": "websocket_receive",
    "http.request": "http_request",
    # Every HTTP request ends with one: its handler's sync code (a stream's
    # `unsubscribed`) hops by itself.
    "http.disconnect": "http_disconnect",
}


# Decision 11: group names use the base class's prefix, read when computed.
broadcast.read_group_name_prefix_from(lambda: GraphqlWsConsumer.group_name_prefix)
