"""Fixtures of the consumer tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from channels.testing import WebsocketCommunicator

from .support import TRANSPORT_WS, Client


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Client]]:
    """Build clients for consumer classes; every one is disconnected afterwards."""
    clients: list[Client] = []

    def make(consumer_class: type, subprotocols: list[str] | None = None) -> Client:
        if subprotocols is None:
            subprotocols = [TRANSPORT_WS]
        communicator = WebsocketCommunicator(
            consumer_class.as_asgi(), "/graphql/", subprotocols=subprotocols
        )
        client = Client(communicator)
        clients.append(client)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await client.disconnect()
