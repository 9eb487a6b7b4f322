"""Helpers the compatibility tests share: subprotocol names and a hand-built client."""

from __future__ import annotations

import pytest

import channels_graphql_ws.testing

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

#: Run a test once per subprotocol; the test takes a ``subprotocol`` argument.
both_subprotocols = pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])


def build_client(consumer_class, subprotocol=TRANSPORT_WS, communicator_kwds=None):
    """A testing client of ``consumer_class``, put together as 1.0.0rc7 users do; not connected."""
    transport = channels_graphql_ws.testing.GraphqlWsTransport(
        application=consumer_class.as_asgi(),
        path="graphql/",
        communicator_kwds=communicator_kwds,
        subprotocol=subprotocol,
    )
    return channels_graphql_ws.testing.GraphqlWsClient(transport, subprotocol)
