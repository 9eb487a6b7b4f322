"""Test helpers: a client that talks to a consumer in-process, no server needed.

The transport wraps Channels' ``WebsocketCommunicator``; the client adds the
assertions test suites written for 1.0.0rc7 use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from channels.testing import WebsocketCommunicator

from . import client, transport
from .consumer import GraphqlWsConsumer
from .protocol import GRAPHQL_TRANSPORT_WS


class GraphqlWsTransport(transport.GraphqlWsTransport):
    """A transport over ``WebsocketCommunicator`` (``communicator_kwds`` go to it)."""

    TIMEOUT: float = 30.0

    def __init__(
        self,
        application: Any,
        path: str,
        communicator_kwds: dict[str, Any] | None = None,
        subprotocol: str = GRAPHQL_TRANSPORT_WS,
    ) -> None:
        self._communicator = WebsocketCommunicator(
            application, path, subprotocols=[subprotocol], **(communicator_kwds or {})
        )
        self._disconnected = False

    async def connect(self, timeout: float | None = None) -> None:
        connected, _ = await self._communicator.connect(timeout or self.TIMEOUT)
        if not connected:
            raise RuntimeError("Failed to establish the WebSocket connection!")

    async def send(self, message: dict[str, Any]) -> None:
        await self._communicator.send_json_to(message)

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        if self._disconnected and self._communicator.output_queue.empty():
            # Nothing can arrive any more: say so now rather than after the timeout.
            raise asyncio.TimeoutError("The connection is closed; nothing more will arrive.")
        # The communicator's queue keeps a message if this wait is cancelled.
        message = await self._communicator.receive_json_from(timeout or self.TIMEOUT)
        return dict(message)

    async def receive_nothing(self, timeout: float) -> bool:
        """Whether nothing arrives within ``timeout`` seconds.

        Unlike a ``receive`` that times out, this leaves the application
        running (the communicator cancels it when a receive times out).
        """
        result: bool = await self._communicator.receive_nothing(timeout)
        return result

    async def disconnect(self, timeout: float | None = None) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        await self._communicator.disconnect(timeout=timeout or self.TIMEOUT)

    async def wait_disconnect(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the server's close; return it (with its ``code``)."""
        output = await self._communicator.receive_output(timeout or self.TIMEOUT)
        assert output["type"] == "websocket.close", f"Close expected, got {output}!"
        await self.disconnect(timeout)
        return dict(output)


class GraphqlWsClient(client.GraphqlWsClient):
    """The client plus assertions for tests; sends anything in any state."""

    RECEIVE_NOTHING_ATTEMPTS = 10
    RECEIVE_NOTHING_INTERVAL = 0.1

    async def connect_and_init(self, connect_only: bool = False, *, payload: Any = ...) -> Any:
        """Connect and init; with ``connect_only`` just connect (and send nothing)."""
        if connect_only:
            await self._transport.connect()
            self._is_connected = True
            return None
        return await super().connect_and_init(payload=payload)

    async def send_raw_message(self, message: Any) -> None:
        """Send anything, valid or not."""
        await self._transport.send(message)

    async def assert_no_messages(
        self,
        error_message: str | None = None,
        attempts: int | None = None,
        interval: float | None = None,
    ) -> None:
        """Fail if anything but a keep-alive arrives within attempts x interval seconds."""
        attempts = self.RECEIVE_NOTHING_ATTEMPTS if attempts is None else attempts
        interval = self.RECEIVE_NOTHING_INTERVAL if interval is None else interval
        assert isinstance(self._transport, GraphqlWsTransport)
        for _ in range(attempts):
            if await self._transport.receive_nothing(interval):
                continue
            message = await self._transport.receive()
            if not self._is_ping_pong_message(message):
                raise AssertionError(
                    f"{error_message or 'Message received when nothing expected!'}\n{message}"
                )

    async def wait_disconnect(
        self, timeout: float | None = None, assert_code: int | None = None
    ) -> dict[str, Any]:
        """Wait for the server's close; check its code when ``assert_code`` is given."""
        message = await super().wait_disconnect(timeout)
        if assert_code is not None:
            assert message.get("code") == assert_code, (
                f"Close code {assert_code} expected: {message}"
            )
        return message

    async def receive_error(self, msg_id: Any) -> tuple[Any, Any]:
        """The errors of an operation that failed: ``(errors, data)``.

        graphql-transport-ws sends an ``error`` message (data is None); the
        legacy subprotocol sends a result with ``errors``.
        """
        response = await self._receive_message()
        assert response.get("id") == msg_id, f"Id {msg_id!r} expected: {response}"
        if self.subprotocol == GRAPHQL_TRANSPORT_WS:
            assert response.get("type") == "error", f"`error` expected: {response}"
            return response["payload"], None
        assert response.get("type") == "data", f"`data` expected: {response}"
        payload = response["payload"]
        return payload["errors"], payload["data"]


def consumer_for(schema: Any, **settings: Any) -> type[GraphqlWsConsumer]:
    """A fresh ``GraphqlWsConsumer`` subclass serving ``schema`` with ``settings``."""
    attrs = {"schema": schema, **settings}
    return type("GraphqlWsTestConsumer", (GraphqlWsConsumer,), attrs)


class ClientFactory:
    """Builds connected test clients and disconnects them all at the end.

    What the ``graphql_ws_client`` fixture hands to a test; usable without
    pytest too (``async with ClientFactory() as make: ...``).
    """

    def __init__(self) -> None:
        self._clients: list[GraphqlWsClient] = []

    async def __call__(
        self,
        schema_or_consumer: Any,
        *,
        subprotocol: str = GRAPHQL_TRANSPORT_WS,
        path: str = "/graphql/",
        communicator_kwds: dict[str, Any] | None = None,
        init: bool = True,
        **settings: Any,
    ) -> GraphqlWsClient:
        """A client of a consumer for ``schema_or_consumer`` (a schema or a consumer class).

        With a schema, ``settings`` become the consumer's class attributes.
        The client is connected and initialised unless ``init`` is False.
        """
        if isinstance(schema_or_consumer, type) and issubclass(
            schema_or_consumer, GraphqlWsConsumer
        ):
            assert not settings, "Set settings on the consumer class itself."
            consumer_class = schema_or_consumer
        else:
            consumer_class = consumer_for(schema_or_consumer, **settings)
        transport = GraphqlWsTransport(
            consumer_class.as_asgi(), path, communicator_kwds, subprotocol=subprotocol
        )
        made = GraphqlWsClient(transport, subprotocol)
        self._clients.append(made)
        if init:
            await made.connect_and_init()
        return made

    async def finalize(self) -> None:
        """Disconnect every client this factory made."""
        for made in self._clients:
            await made.finalize()
        self._clients.clear()

    async def __aenter__(self) -> ClientFactory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.finalize()


try:  # The fixture exists where pytest (and pytest-asyncio) are installed.
    import pytest_asyncio as _pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    pass
else:

    @_pytest_asyncio.fixture
    async def graphql_ws_client() -> AsyncIterator[ClientFactory]:
        """Build test clients: ``client = await graphql_ws_client(schema, **settings)``.

        Enable it with ``pytest_plugins = ["channels_graphql_ws.testing"]`` in
        your ``conftest.py``. Each call makes a consumer subclass for the schema
        (or takes a consumer class), connects through ``WebsocketCommunicator``
        and sends ``connection_init``; every client is disconnected after the test.
        """
        async with ClientFactory() as factory:
            yield factory
