"""``GraphqlWsClient``: a small GraphQL-over-WebSocket client on any transport.

It never enforces the protocol (tests use it to send what a broken client
would), but it reads answers the way each subprotocol means them.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from typing import Any

from .protocol import GRAPHQL_TRANSPORT_WS, SUBPROTOCOLS
from .protocol.client import ClientConnection
from .transport import GraphqlWsTransport


class GraphqlWsResponseError(Exception):
    """The server answered with errors; ``response`` is the whole message."""

    def __init__(self, response: dict[str, Any], message: str | None = None) -> None:
        super().__init__(response, message)
        self.response = response
        self.message = message

    def __str__(self) -> str:
        return f"{self.message or 'Error in GraphQL response'}: {self.response}!"


class GraphqlWsClient:
    """Run GraphQL operations over a ``GraphqlWsTransport``, on either subprotocol."""

    #: Default for ``msg_id``: a fresh random id.
    AUTO: Any = object()

    def __init__(
        self, transport: GraphqlWsTransport, subprotocol: str = GRAPHQL_TRANSPORT_WS
    ) -> None:
        assert isinstance(transport, GraphqlWsTransport), "A GraphqlWsTransport is required!"
        assert subprotocol in SUBPROTOCOLS, f"Unknown subprotocol {subprotocol!r}!"
        self._transport = transport
        self._protocol = ClientConnection(subprotocol)
        self._is_connected = False

    @property
    def transport(self) -> GraphqlWsTransport:
        return self._transport

    @property
    def connected(self) -> bool:
        return self._is_connected

    @property
    def subprotocol(self) -> str:
        return self._protocol.subprotocol

    async def connect_and_init(self, *, payload: Any = ...) -> Any:
        """Connect, send ``connection_init`` (no payload key unless given), await the ack.

        Returns the ack's payload (None when it has none).
        """
        await self._transport.connect()
        await self._transport.send(self._protocol.connection_init(payload))
        ack = await self._receive_message()
        assert ack.get("type") == "connection_ack", f"Expected connection_ack, got {ack}!"
        self._is_connected = True
        return ack.get("payload")

    async def start(
        self,
        query: str,
        *,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        msg_id: Any = AUTO,
    ) -> Any:
        """Send an operation (``subscribe`` / legacy ``start``); return its id."""
        op_id = uuid.uuid4().hex if msg_id is self.AUTO else msg_id
        query = textwrap.dedent(query)
        await self._transport.send(
            self._protocol.subscribe(op_id, query, variables, operation_name)
        )
        return op_id

    async def receive(
        self,
        *,
        wait_id: Any = None,
        assert_id: Any = None,
        assert_type: str | None = None,
        raw_response: bool = False,
    ) -> Any:
        """The next message's payload (or the message, with ``raw_response``).

        Keep-alives are skipped (server pings answered); with ``wait_id``,
        messages for other ids too. Raises ``GraphqlWsResponseError`` for an
        ``error`` message or a payload carrying ``errors``.
        """
        response = await self._receive_message(wait_id)
        if assert_type is not None:
            assert response.get("type") == assert_type, (
                f"Type '{assert_type}' expected, but '{response.get('type')}' received: {response}"
            )
        if assert_id is not None:
            assert response.get("id") == assert_id, f"Id {assert_id!r} expected: {response}"
        if _has_errors(response):
            raise GraphqlWsResponseError(response)
        return response if raw_response else response.get("payload")

    async def receive_next(self, op_id: Any) -> Any:
        """The payload of the next result for ``op_id`` (``next`` / legacy ``data``)."""
        return await self.receive(assert_id=op_id, assert_type=self._protocol.result_type)

    async def receive_complete(self, op_id: Any) -> Any:
        return await self.receive(assert_id=op_id, assert_type="complete")

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """Run a query or mutation and return its result payload.

        Returns or raises as soon as the operation's answer arrives: an
        ``error`` message (which no ``complete`` follows) raises at once; a
        result with errors raises after its ``complete`` is consumed.
        """
        op_id = await self.start(query, variables=variables)
        response = await self._receive_message(op_id)
        if response.get("type") == self._protocol.result_type:
            await self.receive(assert_id=op_id, assert_type="complete")
        if _has_errors(response):
            raise GraphqlWsResponseError(response)
        assert response.get("type") == self._protocol.result_type, f"Unexpected: {response}"
        return response.get("payload")

    async def subscribe(
        self,
        query: str,
        *,
        variables: dict[str, Any] | None = None,
        wait_confirmation: bool = True,
    ) -> Any:
        """Start a subscription; with ``wait_confirmation``, await its first result."""
        op_id = await self.start(query, variables=variables)
        if wait_confirmation:
            await self.receive_next(op_id)
        return op_id

    async def complete(self, op_id: Any) -> None:
        """Stop an operation (``complete`` / legacy ``stop``)."""
        await self._transport.send(self._protocol.complete(op_id))

    async def finalize(self) -> None:
        """Disconnect."""
        await self._transport.disconnect()
        self._is_connected = False

    async def wait_response(
        self, response_checker: Callable[[dict[str, Any]], bool], timeout: float | None = None
    ) -> dict[str, Any]:
        """Skip messages until ``response_checker`` accepts one; return it."""
        while True:
            response = await self._transport.receive(timeout)
            if response_checker(response):
                return response

    async def wait_disconnect(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the server closes the socket."""
        message = await self._transport.wait_disconnect(timeout)
        self._is_connected = False
        return message

    def _is_ping_pong_message(self, response: dict[str, Any]) -> bool:
        return self._protocol.is_keepalive(response)

    async def _receive_message(self, wait_id: Any = None) -> dict[str, Any]:
        """The next message that is not a keep-alive (and is for ``wait_id``, if given)."""
        while True:
            response = await self._transport.receive()
            if self._is_ping_pong_message(response):
                pong = self._protocol.pong_for(response)
                if pong is not None:
                    await self._transport.send(pong)
                continue
            if wait_id is None or response.get("id") == wait_id:
                return response


def _has_errors(response: dict[str, Any]) -> bool:
    payload = response.get("payload")
    return response.get("type") == "error" or (isinstance(payload, dict) and "errors" in payload)
