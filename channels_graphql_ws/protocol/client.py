"""The client side of both subprotocols: building messages and reading answers.

Clients and test helpers send what they are told, in any state (tests need
to send a second init or a repeated id), so this side has no state machine:
it only knows each subprotocol's names.
"""

from __future__ import annotations

from typing import Any

from .dialects import DIALECTS, Dialect
from .messages import MessageKind, OperationId

#: Incoming types a client skips while waiting for an answer.
KEEPALIVE_TYPES = frozenset({"ping", "pong", "ka"})


class ClientConnection:
    """Messages of one subprotocol, as a client writes and reads them."""

    def __init__(self, subprotocol: str) -> None:
        self.dialect: Dialect = DIALECTS[subprotocol]
        names = {kind: name for name, kind in self.dialect.kinds.items()}
        self._subscribe_type = names[MessageKind.SUBSCRIBE]
        self._complete_type = names[MessageKind.COMPLETE]

    @property
    def subprotocol(self) -> str:
        return self.dialect.subprotocol

    @property
    def result_type(self) -> str:
        """``next`` or legacy ``data``."""
        return self.dialect.result_type

    def connection_init(self, payload: Any = ..., /) -> dict[str, Any]:
        """``connection_init``; with no argument the message has no payload key."""
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not ...:
            message["payload"] = payload
        return message

    def subscribe(
        self,
        op_id: OperationId,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        """``subscribe`` (legacy ``start``) for one operation."""
        payload = {"query": query, "variables": variables or {}, "operationName": operation_name}
        return {"type": self._subscribe_type, "id": op_id, "payload": payload}

    def complete(self, op_id: OperationId) -> dict[str, Any]:
        """``complete`` (legacy ``stop``)."""
        return {"type": self._complete_type, "id": op_id}

    def pong_for(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The answer a client owes a server ``ping``, if ``message`` is one."""
        if message.get("type") != "ping" or self.dialect.keepalive_type != "ping":
            return None
        pong: dict[str, Any] = {"type": "pong"}
        if "payload" in message:
            pong["payload"] = message["payload"]
        return pong

    @staticmethod
    def is_keepalive(message: dict[str, Any]) -> bool:
        return message.get("type") in KEEPALIVE_TYPES
