"""The server side of both subprotocols as one state machine, with no I/O.

Feed it what the client sent (``receive_frame``) and what the application
decided (``acknowledge``, ``send_result``, ``complete``, ...); each call
returns, in order, the events the application must act on and the messages
and close to put on the wire. The machine owns every protocol rule, so the
code around it cannot send a second ``complete``, a result after a close, or
anything for an id that has ended.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .codes import CLOSE_REASONS, CloseCode, limit_close_reason
from .dialects import DIALECTS, FAULT_SITUATIONS, Dialect, Reply, Situation, error_code
from .messages import (
    ClientMessage,
    Complete,
    ConnectionInit,
    ConnectionTerminate,
    Fault,
    Malformed,
    MessageKind,
    OperationId,
    Ping,
    Pong,
    Subscribe,
    parse_frame,
    parse_message,
)
from .outputs import (
    Close,
    ConnectionInitReceived,
    ConnectionState,
    OperationRequested,
    OperationState,
    OperationStopRequested,
    Output,
    PongReceived,
    Send,
    SendText,
)

# Enum members read through the class cost a lookup each (Python 3.11);
# the broadcast's hot path reads these once per subscriber.
_RUNNING = OperationState.RUNNING
_CLOSED = ConnectionState.CLOSED


class ServerConnection:
    """One WebSocket connection's protocol state, server side.

    Every method returns a list of outputs (``Send``, ``Close`` or an event);
    once the connection is closed every method returns an empty list.
    """

    def __init__(
        self,
        subprotocol: str,
        *,
        max_message_size: int | None = None,
        max_operations: int | None = None,
    ) -> None:
        self.dialect: Dialect = DIALECTS[subprotocol]
        self.max_message_size = max_message_size
        self.max_operations = max_operations
        self.state = ConnectionState.WAITING_INIT
        self._operations: dict[OperationId, OperationState] = {}
        # The start of every result frame of a running operation, built once.
        # Only running operations have one (it goes when the operation stops,
        # ends or the connection closes): finding it is the check. Callers
        # on the fan-out's hot path read it (``frame_heads``) before calling
        # ``encoded_result_frame``, which builds a missing one.
        self._frame_heads: dict[OperationId, str] = {}
        self.frame_heads: Mapping[OperationId, str] = self._frame_heads
        # Legacy starts (and stops) received before the ack, in order; replayed
        # by acknowledge().
        self._deferred: list[Subscribe | Complete] = []
        # Operations whose id was reused while the client's stop of the old
        # one was being carried out: each starts when the one before it ends
        # (the flag says the client stopped it meanwhile).
        self._reuses: dict[OperationId, list[tuple[Subscribe, bool]]] = {}

    # ------------------------------------------------------------ queries

    @property
    def subprotocol(self) -> str:
        return self.dialect.subprotocol

    @property
    def closed(self) -> bool:
        return self.state is ConnectionState.CLOSED

    @property
    def init_received(self) -> bool:
        return self.state is not ConnectionState.WAITING_INIT

    def is_active(self, op_id: OperationId) -> bool:
        """Whether ``op_id`` was accepted and has not ended yet."""
        return op_id in self._operations

    def active_operations(self) -> list[OperationId]:
        return list(self._operations)

    # ------------------------------------------------------ from the client

    def receive_frame(self, frame: str | bytes) -> list[Output]:
        """Take one WebSocket frame as received: size check and JSON decoding."""
        if self.closed:
            return []
        message = parse_frame(
            frame,
            kinds=self.dialect.kinds,
            max_size=self.max_message_size,
            integer_ids=self.dialect.integer_ids,
        )
        return self._receive(message)

    def receive_message(self, message: object) -> list[Output]:
        """Take a message the transport has already decoded from JSON."""
        if self.closed:
            return []
        parsed = parse_message(
            message, kinds=self.dialect.kinds, integer_ids=self.dialect.integer_ids
        )
        return self._receive(parsed)

    def _receive(self, message: ClientMessage | Malformed) -> list[Output]:
        if isinstance(message, Malformed):
            return self._malformed(message)
        if isinstance(message, Subscribe):
            return self._subscribe(message)
        if isinstance(message, Complete):
            return self._client_complete(message.id)
        if isinstance(message, ConnectionInit):
            return self._connection_init(message)
        if isinstance(message, Ping):
            pong: dict[str, Any] = {"type": "pong"}
            if message.has_payload:
                pong["payload"] = message.payload
            return [Send(pong)]
        if isinstance(message, Pong):
            return [PongReceived(message.payload)]
        assert isinstance(message, ConnectionTerminate)
        return self.close(CloseCode.NORMAL_CLOSURE)

    def _connection_init(self, message: ConnectionInit) -> list[Output]:
        if self.state is not ConnectionState.WAITING_INIT:
            return self._answer(Situation.REPEATED_INIT, None, "Too many initialisation requests")
        self.state = ConnectionState.INIT_RECEIVED
        return [ConnectionInitReceived(message.payload)]

    def _subscribe(self, message: Subscribe) -> list[Output]:
        if self.state is not ConnectionState.ACKNOWLEDGED:
            if self.dialect.answer(Situation.OPERATION_BEFORE_ACK) is not Reply.IMPLICIT_INIT:
                return self._answer(Situation.OPERATION_BEFORE_ACK, message.id, "")
            outputs: list[Output] = []
            if self.state is ConnectionState.WAITING_INIT:
                self.state = ConnectionState.INIT_RECEIVED
                outputs.append(ConnectionInitReceived(None, implicit=True))
            self._deferred.append(message)
            return outputs
        reused = self._id_reuse(message.id)
        if reused is not None:
            return self._answer(reused, message.id, f"Subscriber for {message.id} already exists")
        limit = self.max_operations
        if limit is not None and self._operation_count() >= limit:
            # Refused, not registered: the socket and the other operations go on.
            error = {
                "message": f"Too many operations at the same time; the limit is {limit}.",
                "extensions": {"code": "MAX_OPERATIONS"},
            }
            return [self._error_message(message.id, [error])]
        if message.id in self._operations:  # reused while stopping: waits for the old end
            self._reuses.setdefault(message.id, []).append((message, False))
            return []
        self._operations[message.id] = OperationState.RUNNING
        return [OperationRequested(message)]

    def _id_reuse(self, op_id: OperationId) -> Situation | None:
        """Whether ``op_id`` may not start now: still active, or reused while stopping."""
        state = self._operations.get(op_id)
        if state is None:
            return None
        waiting = self._reuses.get(op_id, ())
        if state is OperationState.STOPPING and all(stopped for _, stopped in waiting):
            situation = Situation.ID_REUSED_WHILE_STOPPING
            if self.dialect.answer(situation) is Reply.RUN_AFTER_OLD_ENDS:
                return None
            return situation
        return Situation.DUPLICATE_ID

    def _operation_count(self) -> int:
        waiting = sum(not stopped for queue in self._reuses.values() for _, stopped in queue)
        return len(self._operations) + waiting

    def _client_complete(self, op_id: OperationId) -> list[Output]:
        if self._deferred:  # a legacy stop may be for a start held back: keep the order
            self._deferred.append(Complete(op_id))
            return []
        waiting = self._reuses.get(op_id)
        if waiting and not waiting[-1][1]:
            waiting[-1] = (waiting[-1][0], True)  # stopped before it could start
            return []
        if self._operations.get(op_id) is not OperationState.RUNNING:
            return []  # unknown, ended, or already being stopped
        self._operations[op_id] = OperationState.STOPPING
        self._frame_heads.pop(op_id, None)
        return [OperationStopRequested(op_id)]

    def _malformed(self, message: Malformed) -> list[Output]:
        if message.fault is Fault.BAD_ID:
            if message.kind is MessageKind.COMPLETE:
                situation = Situation.BAD_COMPLETE_ID
            else:
                situation = Situation.BAD_OPERATION_ID
        else:
            situation = FAULT_SITUATIONS[message.fault]
        if situation is Situation.BAD_TYPE:
            shown = message.type.upper() if message.type is not None else ""
            detail = f"Exception: Wrong message type '{shown}'!"
        else:
            detail = f"Invalid message received: {message.fault.value} ({message.detail})"
        return self._answer(situation, message.id, detail)

    # ------------------------------------------------- from the application

    def acknowledge(
        self, payload: dict[str, Any] | None = None, *, keepalive: bool = False
    ) -> list[Output]:
        """The connect hook accepted: send the ack (with ``payload`` if given).

        ``keepalive`` says keep-alives are on; the legacy subprotocol then sends
        its first ``ka`` right after the ack. Operations a legacy client started
        before the ack come back as ``OperationRequested`` events (followed by
        ``OperationStopRequested`` if the client also stopped them).
        """
        if self.state is not ConnectionState.INIT_RECEIVED:
            return []
        self.state = ConnectionState.ACKNOWLEDGED
        ack: dict[str, Any] = {"type": "connection_ack"}
        if payload is not None:
            ack["payload"] = payload
        outputs: list[Output] = [Send(ack)]
        if keepalive and self.dialect.keepalive_after_ack:
            outputs.extend(self.keepalive())
        deferred, self._deferred = self._deferred, []
        for message in deferred:
            outputs.extend(self._receive(message))
        return outputs

    def reject(self, error: dict[str, Any] | None = None) -> list[Output]:
        """The connect hook refused; ``error`` is the formatted reason (legacy shows it)."""
        if self.state is not ConnectionState.INIT_RECEIVED:
            return []
        self._deferred = []
        answer = self.dialect.answer(Situation.CONNECTION_REJECTED)
        if answer is Reply.CONNECTION_ERROR_AND_CLOSE:
            payload = error if error is not None else {"message": "Connection rejected"}
            message = {"type": "connection_error", "payload": payload}
            return [Send(message), *self.close(CloseCode.LEGACY_CONNECTION_ERROR)]
        assert isinstance(answer, CloseCode)
        return self.close(answer)

    def send_result(self, op_id: OperationId, result: dict[str, Any]) -> list[Output]:
        """One result (``next``/``data``) of a running operation."""
        if self._operations.get(op_id) is not OperationState.RUNNING or self.closed:
            return []
        return [Send({"type": self.dialect.result_type, "id": op_id, "payload": result})]

    def send_encoded_result(self, op_id: OperationId, payload_json: str) -> list[Output]:
        """``send_result`` for a payload already encoded as JSON text."""
        frame = self.encoded_result_frame(op_id, payload_json)
        return [] if frame is None else [SendText(frame)]

    def encoded_result_frame(self, op_id: OperationId, payload_json: str) -> str | None:
        """The text of ``send_encoded_result``'s one frame, or None when nothing is sent.

        The hot path of a broadcast: once per subscriber per event.
        """
        head = self._frame_heads.get(op_id)
        if head is None:
            if self._operations.get(op_id) is not _RUNNING or self.state is _CLOSED:
                return None
            head = self._frame_heads[op_id] = (
                f'{{"type": "{self.dialect.result_type}", "id": {json.dumps(op_id)}, "payload": '
            )
        return f"{head}{payload_json}}}"

    def send_confirmation(self, op_id: OperationId, result: dict[str, Any]) -> list[Output]:
        """A subscription's confirmation: sent even if a stop is already waiting.

        The confirmation says the subscription went live; a ``complete`` that
        arrived during setup is answered after it (decision 7 and 9).
        """
        if op_id not in self._operations or self.closed:
            return []
        return [Send({"type": self.dialect.result_type, "id": op_id, "payload": result})]

    def complete(self, op_id: OperationId) -> list[Output]:
        """End an operation normally, or after the client asked to stop it.

        If the client reused the id meanwhile, the new operation comes back
        as ``OperationRequested`` right after this ``complete``.
        """
        if self._end(op_id) is None or self.closed:
            return []
        return [Send({"type": "complete", "id": op_id}), *self._start_reuse(op_id)]

    def send_error(self, op_id: OperationId, errors: list[dict[str, Any]]) -> list[Output]:
        """End an operation with an ``error`` message (it failed before running)."""
        if self._end(op_id) is None or self.closed:
            return []
        return [self._error_message(op_id, errors), *self._start_reuse(op_id)]

    def _end(self, op_id: OperationId) -> OperationState | None:
        """Forget a running or stopping operation; its state, or None if it had none."""
        self._frame_heads.pop(op_id, None)
        return self._operations.pop(op_id, None)

    def _start_reuse(self, op_id: OperationId) -> list[Output]:
        """The operation that waited for ``op_id`` to end, if the client reused it."""
        waiting = self._reuses.get(op_id)
        if not waiting:
            return []
        message, stopped = waiting.pop(0)
        if not waiting:
            del self._reuses[op_id]
        self._operations[op_id] = OperationState.RUNNING
        outputs: list[Output] = [OperationRequested(message)]
        if stopped:
            self._operations[op_id] = OperationState.STOPPING
            outputs.append(OperationStopRequested(op_id))
        return outputs

    def send_document_errors(
        self, op_id: OperationId, errors: list[dict[str, Any]]
    ) -> list[Output]:
        """End an operation whose document has syntax or validation errors."""
        return self._end_with(Situation.DOCUMENT_ERRORS, op_id, errors)

    def send_setup_errors(self, op_id: OperationId, errors: list[dict[str, Any]]) -> list[Output]:
        """End a subscription whose ``subscribe`` hook failed."""
        return self._end_with(Situation.SETUP_ERRORS, op_id, errors)

    def keepalive(self) -> list[Output]:
        """A keep-alive: ``ping`` on graphql-transport-ws, ``ka`` on legacy."""
        if self.state is not ConnectionState.ACKNOWLEDGED:
            return []
        return [Send({"type": self.dialect.keepalive_type})]

    def init_timeout(self) -> list[Output]:
        """The init timer fired: close 4408 unless an init (or legacy start) came."""
        if self.state is not ConnectionState.WAITING_INIT:
            return []
        return self.close(CloseCode.CONNECTION_INIT_TIMEOUT)

    def pong_timeout(self) -> list[Output]:
        """A keep-alive got no pong in time: close 1011 where the subprotocol has pongs."""
        if self.state is not ConnectionState.ACKNOWLEDGED:
            return []
        return self._answer(Situation.PONG_TIMEOUT, None, "No pong received in time")

    def close(self, code: int, reason: str | None = None) -> list[Output]:
        """Close the connection; every later call returns nothing."""
        if self.closed:
            return []
        self.state = ConnectionState.CLOSED
        self._operations.clear()
        self._frame_heads.clear()
        self._reuses.clear()
        self._deferred = []
        if reason is None:
            reason = CLOSE_REASONS.get(code, "")
        return [Close(code, limit_close_reason(reason))]

    def connection_lost(self) -> None:
        """The socket is gone (the client closed it): send nothing more."""
        self.state = ConnectionState.CLOSED
        self._operations.clear()
        self._frame_heads.clear()
        self._reuses.clear()
        self._deferred = []

    # ------------------------------------------------------------ helpers

    def _end_with(
        self, situation: Situation, op_id: OperationId, errors: list[dict[str, Any]]
    ) -> list[Output]:
        if self._end(op_id) is None or self.closed:
            return []
        answer = self.dialect.answer(situation)
        if answer is Reply.OPERATION_ERROR:
            return [self._error_message(op_id, errors), *self._start_reuse(op_id)]
        result = Send(
            {
                "type": self.dialect.result_type,
                "id": op_id,
                "payload": {"data": None, "errors": errors},
            }
        )
        if answer is Reply.ERRORS_AS_RESULT_AND_COMPLETE:
            return [result, Send({"type": "complete", "id": op_id}), *self._start_reuse(op_id)]
        return [result, *self._start_reuse(op_id)]

    def _error_message(self, op_id: OperationId | None, errors: list[dict[str, Any]]) -> Send:
        payload: Any = errors if self.dialect.error_payload_is_list else {"errors": errors}
        return Send({"type": "error", "id": op_id, "payload": payload})

    def _answer(self, situation: Situation, op_id: OperationId | None, detail: str) -> list[Output]:
        """Answer a client's mistake as this subprotocol's table says."""
        answer = self.dialect.answer(situation)
        if isinstance(answer, CloseCode):
            return self.close(answer, detail or None)
        if answer is Reply.IGNORE:
            return []
        if answer is Reply.CONNECTION_ERROR:
            return [Send({"type": "connection_error", "payload": {"message": detail}})]
        assert answer is Reply.OPERATION_ERROR, answer
        error = {"message": detail, "extensions": {"code": error_code(situation)}}
        return [self._error_message(op_id, [error])]
