"""Close codes and subprotocol names: the numbers both sides must agree on."""

from __future__ import annotations

import enum

#: The modern subprotocol (npm ``graphql-ws``, Apollo's ``GraphQLWsLink``).
GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"
#: The legacy subprotocol of ``subscriptions-transport-ws``.
GRAPHQL_WS = "graphql-ws"

#: Preference order when a client offers both.
SUBPROTOCOLS = (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)


class CloseCode(enum.IntEnum):
    """Every WebSocket close code our server sends, named as in PROTOCOL.md."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    LEGACY_CONNECTION_ERROR = 4000
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    CONNECTION_INIT_TIMEOUT = 4408
    SUBSCRIBER_ALREADY_EXISTS = 4409
    TOO_MANY_INIT_REQUESTS = 4429
    #: Only as daphne's stand-in for 1011 (see ``FALLBACK_CLOSE_CODES``).
    INTERNAL_SERVER_ERROR = 4500


#: The reason sent along with each code; clients show it in their logs.
CLOSE_REASONS: dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "Normal closure",
    CloseCode.GOING_AWAY: "Server shutting down",
    CloseCode.MESSAGE_TOO_BIG: "Message too big",
    CloseCode.INTERNAL_ERROR: "Internal server error",
    CloseCode.LEGACY_CONNECTION_ERROR: "Connection rejected",
    CloseCode.BAD_REQUEST: "Invalid message received",
    CloseCode.UNAUTHORIZED: "Unauthorized",
    CloseCode.FORBIDDEN: "Forbidden",
    CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE: "Subprotocol not acceptable",
    CloseCode.CONNECTION_INIT_TIMEOUT: "Connection initialisation timeout",
    CloseCode.SUBSCRIBER_ALREADY_EXISTS: "Subscriber already exists",
    CloseCode.TOO_MANY_INIT_REQUESTS: "Too many initialisation requests",
}

#: RFC 6455 leaves 123 bytes for the reason in a close frame.
MAX_CLOSE_REASON_BYTES = 123


def limit_close_reason(reason: str) -> str:
    """Cut a reason to what fits in a close frame, on a character boundary."""
    # Lone surrogates (a client's "\ud800" in an id or type) are not UTF-8;
    # encoding with "replace" turns them into "?" so the frame can be sent.
    encoded = reason.encode("utf-8", "replace")
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return encoded.decode("utf-8")
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


#: The code to send instead, where the ASGI server refuses a code: daphne
#: (autobahn) sends only 1000 and 3000-4999. Clients reconnect after 1000,
#: which suits a shutdown; a missed pong becomes graphql-transport-ws's 4500
#: and a too-big frame a bad request.
FALLBACK_CLOSE_CODES: dict[int, int] = {
    CloseCode.GOING_AWAY: CloseCode.NORMAL_CLOSURE,
    CloseCode.INTERNAL_ERROR: CloseCode.INTERNAL_SERVER_ERROR,
    CloseCode.MESSAGE_TOO_BIG: CloseCode.BAD_REQUEST,
}
