"""The WebSocket transport's sink: a session's answers through the protocol layer.

The session (``session.OperationSession``) says what to answer for an
operation; this sink asks the connection's ``protocol.ServerConnection``
what that means on the wire (it may mean nothing: a stopped query's result,
anything after a close) and has the consumer put it on the socket.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from .notifications import finish_started
from .protocol import OperationId, Output, ServerConnection, encode_message


class Socket(Protocol):
    """The consumer as its sink uses it."""

    _protocol: ServerConnection | None

    async def _apply(self, outputs: list[Output]) -> None: ...
    async def _send_text(self, text: str) -> bool: ...
    async def _finish_text(self, rest: Coroutine[Any, Any, None]) -> bool: ...
    def _socket_gone(self, error: Exception) -> None: ...
    async def base_send(self, message: dict[str, Any]) -> None: ...


class SocketSink:
    """The session's answers, through the protocol state machine, onto the socket."""

    __slots__ = ("_consumer",)

    def __init__(self, consumer: Socket) -> None:
        self._consumer = consumer

    @property
    def _protocol(self) -> ServerConnection:
        protocol = self._consumer._protocol
        assert protocol is not None
        return protocol

    def is_active(self, op_id: OperationId) -> bool:
        return self._protocol.is_active(op_id)

    async def send_result(self, op_id: OperationId, payload: dict[str, Any]) -> None:
        # Every notification of every subscriber: the payload is encoded
        # alone (raising on what no client can parse) and spliced into the
        # subscription's frame, as ``send_encoded_result`` does.
        await self.send_encoded_result(op_id, encode_message(payload))

    async def send_encoded_result(self, op_id: OperationId, payload_json: str) -> None:
        # The hot path of a shared broadcast: its only possible output is the frame.
        frame = self._protocol.encoded_result_frame(op_id, payload_json)
        if frame is not None:
            await self._consumer._send_text(frame)

    def start_encoded_result(
        self, op_id: OperationId, payload_json: str
    ) -> Coroutine[Any, Any, bool] | None:
        """``send_encoded_result`` begun at once: None when done, else what finishes it.

        The fan-out's fast path (one batch sending to every subscriber of a
        process): no coroutine of its own, and the frame goes to the socket
        before this returns unless the socket makes it wait.
        """
        consumer = self._consumer
        protocol = consumer._protocol
        if protocol is None:
            return None
        head = protocol.frame_heads.get(op_id)
        # Running, with its head built: no call into the protocol.
        frame = (
            f"{head}{payload_json}}}"
            if head is not None
            else protocol.encoded_result_frame(op_id, payload_json)
        )
        if frame is None:
            return None
        # Channels' `send(text_data=...)` builds exactly this message.
        sending = consumer.base_send({"type": "websocket.send", "text": frame})
        # `notifications.run_until_blocked`, inline: once per subscriber per broadcast.
        try:
            for waiting_for in sending.__await__():
                return consumer._finish_text(finish_started(sending, waiting_for))
        except Exception as error:
            consumer._socket_gone(error)
        return None

    async def send_confirmation(self, op_id: OperationId, payload: dict[str, Any]) -> None:
        await self._consumer._apply(self._protocol.send_confirmation(op_id, payload))

    async def complete(self, op_id: OperationId) -> None:
        await self._consumer._apply(self._protocol.complete(op_id))

    async def send_error(self, op_id: OperationId, errors: list[dict[str, Any]]) -> None:
        await self._consumer._apply(self._protocol.send_error(op_id, errors))

    async def send_document_errors(self, op_id: OperationId, errors: list[dict[str, Any]]) -> None:
        await self._consumer._apply(self._protocol.send_document_errors(op_id, errors))

    async def send_setup_errors(self, op_id: OperationId, errors: list[dict[str, Any]]) -> None:
        await self._consumer._apply(self._protocol.send_setup_errors(op_id, errors))
