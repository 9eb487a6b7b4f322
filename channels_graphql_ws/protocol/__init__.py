"""The two GraphQL-over-WebSocket subprotocols, sans I/O.

Standard library only: no Django, Channels, graphql-core or asyncio, so the
whole protocol can be tested synchronously and fuzzed.
"""

from .codes import (
    FALLBACK_CLOSE_CODES,
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    SUBPROTOCOLS,
    CloseCode,
)
from .messages import OperationId, Subscribe, encode_message
from .outputs import (
    Close,
    ConnectionInitReceived,
    OperationRequested,
    OperationStopRequested,
    Output,
    PongReceived,
    Send,
    SendText,
)
from .server import ServerConnection

__all__ = [
    "FALLBACK_CLOSE_CODES",
    "GRAPHQL_TRANSPORT_WS",
    "GRAPHQL_WS",
    "SUBPROTOCOLS",
    "Close",
    "CloseCode",
    "ConnectionInitReceived",
    "OperationId",
    "OperationRequested",
    "OperationStopRequested",
    "Output",
    "PongReceived",
    "Send",
    "SendText",
    "ServerConnection",
    "Subscribe",
    "encode_message",
]
