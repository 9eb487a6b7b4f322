"""What the server state machine returns (messages to send, events to act on) and its states.

``ServerConnection`` answers every call with a list of these, in order; a
transport carries out ``Send``/``SendText``/``Close`` on its wire and hands
the events to the application (the engine).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .messages import OperationId, Subscribe


@dataclass(frozen=True, slots=True)
class Send:
    """Put this JSON message on the wire."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SendText:
    """Put this already encoded JSON message on the wire.

    A broadcast's result shared by many subscribers is encoded once; each
    subscriber's frame only splices its id in (``send_encoded_result``).
    """

    text: str


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with this code; nothing is sent after it."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionInitReceived:
    """Run the connect hook, then call ``acknowledge`` or ``reject``.

    ``implicit`` is set when a legacy client started an operation without
    sending ``connection_init``; ``payload`` is None then.
    """

    payload: Any
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class OperationRequested:
    """Run this operation; end it with ``complete`` or one of the error calls."""

    message: Subscribe

    @property
    def id(self) -> OperationId:
        return self.message.id


@dataclass(frozen=True, slots=True)
class OperationStopRequested:
    """The client stopped a running operation: stop it, then call ``complete``."""

    id: OperationId


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The client answered (or sent unasked) a ``pong``."""

    payload: Any


Event = ConnectionInitReceived | OperationRequested | OperationStopRequested | PongReceived
Output = Send | SendText | Close | Event


class ConnectionState(enum.Enum):
    WAITING_INIT = enum.auto()
    INIT_RECEIVED = enum.auto()  # the connect hook is running
    ACKNOWLEDGED = enum.auto()
    CLOSED = enum.auto()


class OperationState(enum.Enum):
    RUNNING = enum.auto()
    STOPPING = enum.auto()  # the client asked to stop; results are dropped
