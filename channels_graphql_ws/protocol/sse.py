"""graphql-sse over Server-Sent Events, as values: event framing and the mode rules.

Sans I/O, standard library only (TRANSPORTS.md section 2, decisions T8 and
T10). ``classify`` tells which graphql-sse request an HTTP request is;
the framing functions turn results into the bytes of the stream; the
single connection mode's answers are a table (``STATUS``) and
``single_connection_response``.

Keep-alives are comment lines, never an event: the npm client fails on any
event name other than ``next`` and ``complete``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from .accept import EVENT_STREAM, StreamKind, negotiate_stream
from .responses import APPLICATION_JSON, HttpResponse, encode_json, errors_payload

#: Where the single connection mode's token travels: a header, or the query string.
TOKEN_HEADER = "x-graphql-event-stream-token"
TOKEN_QUERY = "token"
#: The longest token taken as one; ours are 43 characters.
MAX_TOKEN_LENGTH = 200
#: Seconds between keep-alive comments when ``send_ping_every`` is not set:
#: under the idle timeouts of common proxies (nginx: 60 s, AWS ALB: 60 s).
KEEPALIVE_SECONDS = 12.0

#: The response head of every stream. ``no-transform`` keeps proxies from
#: compressing (and so buffering) it; ``X-Accel-Buffering: no`` tells nginx.
STREAM_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", EVENT_STREAM + "; charset=utf-8"),
    ("cache-control", "no-cache, no-transform"),
    ("x-accel-buffering", "no"),
)

# ------------------------------------------------------------------ framing

#: The first bytes of every stream, and each keep-alive: an empty comment.
#: Sent at once, so a browser's ``EventSource`` fires ``open`` without waiting.
COMMENT = b":\n\n"


def next_event(data_json: str) -> bytes:
    """``event: next`` carrying ``data_json`` (compact JSON: one line, no newline)."""
    return f"event: next\ndata: {data_json}\n\n".encode()


def complete_event(data_json: str | None = None) -> bytes:
    """``event: complete``; its ``data:`` line is sent even when empty."""
    data = "" if data_json is None else " " + data_json
    return f"event: complete\ndata:{data}\n\n".encode()


def with_id(op_id: str, payload_json: str) -> str:
    """Single connection mode's ``next`` data: ``{"id": ..., "payload": ...}``."""
    return f'{{"id":{json.dumps(op_id)},"payload":{payload_json}}}'


def id_only(op_id: str) -> str:
    """Single connection mode's ``complete`` data: ``{"id": ...}``."""
    return f'{{"id":{json.dumps(op_id)}}}'


# ------------------------------------------------------------- the requests


class SseRequestKind(enum.Enum):
    """What a request is in graphql-sse's terms."""

    NONE = enum.auto()  # not graphql-sse: plain GraphQL over HTTP (or multipart)
    DISTINCT = enum.auto()  # one operation, its own stream (POST or GET)
    RESERVE = enum.auto()  # single connection: PUT makes a reservation
    OPEN = enum.auto()  # single connection: the stream of a reservation
    EXECUTE = enum.auto()  # single connection: POST an operation onto the stream
    STOP = enum.auto()  # single connection: DELETE ?operationId=


@dataclass(frozen=True)
class SseRequest:
    kind: SseRequestKind
    token: str | None = None


def classify(method: str, headers: Mapping[str, str], query_string: bytes) -> SseRequest:
    """Which graphql-sse request this is, from its method, ``Accept`` and token.

    ``headers`` has lower-case names. A token with a streaming ``Accept``
    opens its reservation's stream; a POST with a token runs an operation
    on it; without a token, a streaming ``Accept`` is the distinct mode.
    """
    token = stream_token(headers, query_string)
    if method == "PUT":
        return SseRequest(SseRequestKind.RESERVE, token)
    if method == "DELETE":
        return SseRequest(SseRequestKind.STOP, token)
    choice = negotiate_stream(headers.get("accept"))
    wants_events = choice is not None and choice.kind is StreamKind.SSE
    if token is not None and wants_events and method in ("GET", "POST"):
        return SseRequest(SseRequestKind.OPEN, token)
    if token is not None and method == "POST":
        return SseRequest(SseRequestKind.EXECUTE, token)
    if wants_events:
        return SseRequest(SseRequestKind.DISTINCT)
    return SseRequest(SseRequestKind.NONE)


def stream_token(headers: Mapping[str, str], query_string: bytes) -> str | None:
    """The reservation token of the header, else of ``?token=``; None when absent."""
    token = headers.get(TOKEN_HEADER) or query_parameter(query_string, TOKEN_QUERY)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token


def query_parameter(query_string: bytes, name: str) -> str | None:
    """The first non-empty value of ``name`` in the query string."""
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    return next((value for key, value in pairs if key == name and value), None)


def operation_id_of(extensions: Mapping[str, object] | None) -> str | None:
    """``extensions.operationId`` of a single connection POST, as text; None when missing."""
    found = None if extensions is None else extensions.get("operationId")
    if isinstance(found, bool) or not isinstance(found, (str, int)) or found == "":
        return None
    return str(found)


# ------------------------------------------------- single connection mode


class SingleConnection(enum.Enum):
    """The outcomes of single connection mode requests (the table of section 2)."""

    RESERVED = enum.auto()  # PUT: a new reservation
    RESERVE_NOT_ACCEPTABLE = enum.auto()  # PUT: Accept is neither */* nor text/plain
    STREAM_OPENED = enum.auto()  # GET: the reservation's stream starts
    STREAM_ALREADY_OPEN = enum.auto()  # GET: one stream per reservation
    STREAM_NOT_FOUND = enum.auto()  # GET, POST, DELETE: no such reservation
    OPERATION_ID_MISSING = enum.auto()  # POST without extensions.operationId; DELETE without it
    OPERATION_ALREADY_RUNNING = enum.auto()  # POST: that operationId runs on the stream
    OPERATION_INVALID = enum.auto()  # POST: the document does not parse or validate
    OPERATION_ACCEPTED = enum.auto()  # POST: it runs; its results go onto the stream
    STOPPED = enum.auto()  # DELETE: done (also for an unknown operation)


STATUS: Mapping[SingleConnection, int] = {
    SingleConnection.RESERVED: 201,
    SingleConnection.RESERVE_NOT_ACCEPTABLE: 406,
    SingleConnection.STREAM_OPENED: 200,
    SingleConnection.STREAM_ALREADY_OPEN: 409,
    SingleConnection.STREAM_NOT_FOUND: 404,
    SingleConnection.OPERATION_ID_MISSING: 400,
    SingleConnection.OPERATION_ALREADY_RUNNING: 409,
    SingleConnection.OPERATION_INVALID: 400,
    SingleConnection.OPERATION_ACCEPTED: 202,
    SingleConnection.STOPPED: 200,
}

_MESSAGES: Mapping[SingleConnection, str] = {
    SingleConnection.RESERVE_NOT_ACCEPTABLE: "A reservation token is sent as text/plain.",
    SingleConnection.STREAM_ALREADY_OPEN: "The stream of this token is already open.",
    SingleConnection.STREAM_NOT_FOUND: "No stream is reserved for this token.",
    SingleConnection.OPERATION_ID_MISSING: "The operation id is missing.",
    SingleConnection.OPERATION_ALREADY_RUNNING: "An operation with this id is running.",
}


def single_connection_response(
    outcome: SingleConnection,
    *,
    token: str | None = None,
    errors: list[dict[str, object]] | None = None,
) -> HttpResponse:
    """The whole answer to a single connection request (not the stream itself).

    A reservation answers its token as text; accepted operations and stops
    have no body; every refusal is a JSON body with ``errors``
    (``errors`` given: the document's GraphQL errors).
    """
    status = STATUS[outcome]
    if outcome is SingleConnection.RESERVED:
        assert token is not None
        text = (("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store"))
        return HttpResponse(status, text, token.encode())
    if outcome in (SingleConnection.OPERATION_ACCEPTED, SingleConnection.STOPPED):
        return HttpResponse(status, (), b"")
    body = {"errors": errors} if errors is not None else errors_payload(_MESSAGES[outcome])
    headers = (("content-type", APPLICATION_JSON + "; charset=utf-8"),)
    return HttpResponse(status, headers, encode_json(body))
