"""The fixture a test suite written for 1.0.0rc7 typically keeps in its conftest."""

from __future__ import annotations

import pytest

from .support import TRANSPORT_WS, build_client


@pytest.fixture
async def make_client():
    """``make_client(MyConsumer, subprotocol)``: a client, finalized after the test."""
    made = []

    def make(consumer_class, subprotocol=TRANSPORT_WS, communicator_kwds=None):
        client = build_client(consumer_class, subprotocol, communicator_kwds)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.finalize()
