"""``GraphqlWsClient``: a small GraphQL-over-WebSocket client on any transport.

It never enforces the protocol (tests use it to send what a broken client
would), but it reads answers the way each subprotocol means them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import textwrap
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

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


_Client = TypeVar("_Client", bound="GraphqlWsClient")


class GraphqlWsClient:
    """Run GraphQL operations over a ``GraphqlWsTransport``, on either subprotocol.

    The transport is asked for the client's subprotocol. Server pings are
    answered with pongs (graphql-transport-ws) and legacy ``ka`` messages
    skipped whenever the client reads. Several tasks may use one client at
    once: ``execute`` and ``iterate`` take only their own operation's
    messages and leave the others for whoever waits for them.
    """

    #: Default for ``msg_id``: a fresh random id.
    AUTO: Any = object()

    #: How many ids of operations left early are remembered (to drop what
    #: the server still sends for them).
    ABANDONED_IDS_KEPT = 1024

    def __init__(
        self, transport: GraphqlWsTransport, subprotocol: str = GRAPHQL_TRANSPORT_WS
    ) -> None:
        assert isinstance(transport, GraphqlWsTransport), "A GraphqlWsTransport is required!"
        assert subprotocol in SUBPROTOCOLS, f"Unknown subprotocol {subprotocol!r}!"
        self._transport = transport
        self._protocol = ClientConnection(subprotocol)
        self._is_connected = False
        transport.request_subprotocol(subprotocol)
        # Messages read from the transport that nobody has taken yet, oldest first.
        self._set_aside: collections.deque[dict[str, Any]] = collections.deque()
        # Whether a task is reading the transport; the others wait for news.
        self._reading = False
        self._news: set[asyncio.Future[None]] = set()
        # Ids of operations left early: their late messages are dropped.
        self._abandoned: collections.deque[Any] = collections.deque(maxlen=self.ABANDONED_IDS_KEPT)

    @property
    def transport(self) -> GraphqlWsTransport:
        return self._transport

    @property
    def connected(self) -> bool:
        return self._is_connected

    @property
    def subprotocol(self) -> str:
        return self._protocol.subprotocol

    async def __aenter__(self: _Client) -> _Client:
        """``async with client:`` connects and inits, then disconnects at the end."""
        await self.connect_and_init()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.finalize()

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
        with contextlib.suppress(ValueError):
            # The id is in use again: what comes for it now is wanted.
            self._abandoned.remove(op_id)
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
        messages for other ids too (they are dropped). Raises
        ``GraphqlWsResponseError`` for an ``error`` message or a payload
        carrying ``errors``.
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
        ``error`` message (which no ``complete`` follows) raises
        ``GraphqlWsResponseError`` at once; a result with errors raises it
        after its ``complete`` is consumed; a close of the connection raises
        what the transport raises. Messages of other operations that arrive
        meanwhile are left for their readers. When the wait is cancelled, the
        operation is completed (stopped) on the server.
        """
        op_id = await self.start(query, variables=variables)
        finished = False
        try:
            response = await self._receive_for(op_id)
            if response.get("type") == self._protocol.result_type:
                end = await self._receive_for(op_id)
                if end.get("type") != "complete":
                    raise GraphqlWsResponseError(end, "`complete` expected after the result")
            finished = True
        finally:
            if not finished:
                await self._abandon(op_id)
        if _has_errors(response):
            raise GraphqlWsResponseError(response)
        if response.get("type") != self._protocol.result_type:
            raise GraphqlWsResponseError(response, "A result expected")
        return response.get("payload")

    async def subscribe(
        self,
        query: str,
        *,
        variables: dict[str, Any] | None = None,
        wait_confirmation: bool = True,
    ) -> Any:
        """Start a subscription; with ``wait_confirmation``, await its first result.

        Returns the operation id: read the results with ``receive_next(id)``
        and stop with ``complete(id)``. ``iterate`` does all of it in a loop.
        """
        op_id = await self.start(query, variables=variables)
        if wait_confirmation:
            await self.receive_next(op_id)
        return op_id

    async def iterate(
        self,
        query: str,
        *,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        msg_id: Any = AUTO,
    ) -> AsyncGenerator[Any, None]:
        """Run a subscription and yield each result payload (``{"data": ...}``).

            async for payload in client.iterate("subscription { onMessage { text } }"):
                print(payload["data"])

        The operation starts when the loop asks for the first result; with a
        server that confirms subscriptions, the first payload is the
        confirmation. The loop ends when the server completes the
        subscription. ``GraphqlWsResponseError`` is raised for an ``error``
        message or a result carrying ``errors`` (a legacy server reports a
        failed setup that way). Leaving the loop early (``break``, an
        exception, a cancellation) sends ``complete`` (legacy ``stop``), and
        whatever the server still sends for the operation is dropped.
        ``break`` relies on asyncio finalizing the generator, which happens
        soon but not at once; for a deterministic stop close it yourself:
        ``async with contextlib.aclosing(client.iterate(...)) as results:``.
        Queries and mutations work too: one result, then the loop ends.
        """
        op_id = await self.start(
            query, variables=variables, operation_name=operation_name, msg_id=msg_id
        )
        ended = False
        try:
            while True:
                response = await self._receive_for(op_id)
                kind = response.get("type")
                if kind in ("complete", "error"):
                    ended = True
                if kind == "complete":
                    return
                if _has_errors(response):
                    raise GraphqlWsResponseError(response)
                if kind != self._protocol.result_type:
                    raise GraphqlWsResponseError(response, "A result expected")
                yield response.get("payload")
        finally:
            if not ended:
                await self._abandon(op_id)

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
        """Skip messages (keep-alives too) until ``response_checker`` accepts one; return it."""
        while self._set_aside:
            response = self._set_aside.popleft()
            if response_checker(response):
                return response
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
        """The next message that is not a keep-alive (and is for ``wait_id``, if given).

        With ``wait_id``, messages for other ids are dropped.
        """
        if wait_id is None:
            return await self._next_message(_take_first)
        return await self._next_message(functools.partial(_take_skipping, wait_id))

    async def _receive_for(self, op_id: Any) -> dict[str, Any]:
        """The next message for ``op_id``; messages for others stay set aside."""
        return await self._next_message(functools.partial(_take_for, op_id))

    async def _next_message(self, take: _Take) -> dict[str, Any]:
        """The message ``take`` picks among those set aside, reading more as needed.

        One task reads the transport at a time and sets every message aside
        (answering pings and dropping those of abandoned operations); the
        others wait for it, then look again.
        """
        while True:
            message = take(self._set_aside)
            if message is not None:
                return message
            if self._reading:
                await self._wait_for_news()
                continue
            self._reading = True
            try:
                message = await self._transport.receive()
            finally:
                self._reading = False
                self._tell_news()
            if self._is_ping_pong_message(message):
                pong = self._protocol.pong_for(message)
                if pong is not None:
                    await self._transport.send(pong)
                continue
            if not self._drop_if_abandoned(message):
                self._set_aside.append(message)

    async def _wait_for_news(self) -> None:
        news = asyncio.get_running_loop().create_future()
        self._news.add(news)
        try:
            await news
        finally:
            self._news.discard(news)

    def _tell_news(self) -> None:
        for news in self._news:
            if not news.done():
                news.set_result(None)

    def _drop_if_abandoned(self, message: dict[str, Any]) -> bool:
        if "id" not in message or message["id"] not in self._abandoned:
            return False
        if message.get("type") in ("complete", "error"):
            self._abandoned.remove(message["id"])
        return True

    async def _abandon(self, op_id: Any) -> None:
        """Stop an operation left early; drop what came or comes for it."""
        kept = [message for message in self._set_aside if message.get("id") != op_id]
        ended = any(
            message.get("id") == op_id and message.get("type") in ("complete", "error")
            for message in self._set_aside
        )
        self._set_aside.clear()
        self._set_aside.extend(kept)
        if ended:
            return
        self._abandoned.append(op_id)
        # The connection may be gone already (that may be why we left).
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.complete(op_id)


_Take = Callable[[collections.deque[dict[str, Any]]], "dict[str, Any] | None"]


def _take_first(messages: collections.deque[dict[str, Any]]) -> dict[str, Any] | None:
    return messages.popleft() if messages else None


def _take_for(op_id: Any, messages: collections.deque[dict[str, Any]]) -> dict[str, Any] | None:
    for index, message in enumerate(messages):
        if message.get("id") == op_id:
            del messages[index]
            return message
    return None


def _take_skipping(
    wait_id: Any, messages: collections.deque[dict[str, Any]]
) -> dict[str, Any] | None:
    while messages:
        message = messages.popleft()
        if message.get("id") == wait_id:
            return message
    return None


def _has_errors(response: dict[str, Any]) -> bool:
    payload = response.get("payload")
    return response.get("type") == "error" or (isinstance(payload, dict) and "errors" in payload)
