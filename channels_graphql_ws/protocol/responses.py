"""What every HTTP answer is made of: situations, their status codes, responses.

Sans I/O, standard library only. ``STATUS_TABLE`` is section 1.2 of
TRANSPORTS.md as data; ``HttpResponse`` is a whole response as values. The
request rules (``http``), CORS (``cors``) and the streaming transports
(``sse``, ``multipart``) build their answers from these.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
TEXT_HTML = "text/html"


class Situation(enum.Enum):
    """Why a request is answered as it is: the rows of the status table."""

    SUCCESS = enum.auto()  # a result: data, possibly with field errors
    BODY_NOT_JSON = enum.auto()
    NOT_WELL_FORMED = enum.auto()  # no or ill-typed query, variables, ...
    DOCUMENT_UNPARSABLE = enum.auto()
    DOCUMENT_INVALID = enum.auto()  # validation, no such operation, a limit
    VARIABLES_INVALID = enum.auto()  # variable coercion failed
    OPERATION_REFUSED = enum.auto()  # the application's on_operation raised
    MUTATION_OVER_GET = enum.auto()
    SUBSCRIPTION_NOT_STREAMED = enum.auto()
    METHOD_NOT_ALLOWED = enum.auto()
    UNSUPPORTED_MEDIA_TYPE = enum.auto()
    NOT_ACCEPTABLE = enum.auto()
    BODY_TOO_LARGE = enum.auto()
    ORIGIN_NOT_ALLOWED = enum.auto()  # a CORS preflight from an unlisted origin
    INTERNAL_ERROR = enum.auto()
    SERVICE_UNAVAILABLE = enum.auto()  # a stream's layer channel is full


@dataclass(frozen=True)
class StatusRow:
    """One situation's status per response type (columns A and B of section 1.2).

    ``graphql_response`` says whether the body is a GraphQL response, which
    alone may be sent as ``application/graphql-response+json``; other
    bodies (problems with the HTTP request itself) go as ``application/json``.
    """

    graphql_response_json: int
    application_json: int
    graphql_response: bool


STATUS_TABLE: Mapping[Situation, StatusRow] = {
    Situation.SUCCESS: StatusRow(200, 200, True),
    Situation.BODY_NOT_JSON: StatusRow(400, 400, False),
    Situation.NOT_WELL_FORMED: StatusRow(400, 400, False),
    Situation.DOCUMENT_UNPARSABLE: StatusRow(400, 200, True),
    Situation.DOCUMENT_INVALID: StatusRow(400, 200, True),
    Situation.VARIABLES_INVALID: StatusRow(400, 200, True),
    Situation.OPERATION_REFUSED: StatusRow(400, 200, True),
    Situation.MUTATION_OVER_GET: StatusRow(405, 405, False),
    # The same request with a streaming Accept would be served: 406.
    Situation.SUBSCRIPTION_NOT_STREAMED: StatusRow(406, 406, False),
    Situation.METHOD_NOT_ALLOWED: StatusRow(405, 405, False),
    Situation.UNSUPPORTED_MEDIA_TYPE: StatusRow(415, 415, False),
    Situation.NOT_ACCEPTABLE: StatusRow(406, 406, False),
    Situation.BODY_TOO_LARGE: StatusRow(413, 413, False),
    Situation.ORIGIN_NOT_ALLOWED: StatusRow(403, 403, False),
    Situation.INTERNAL_ERROR: StatusRow(500, 500, False),
    Situation.SERVICE_UNAVAILABLE: StatusRow(503, 503, False),
}


def status_for(situation: Situation, media_type: str) -> int:
    """The status code of ``situation`` when the response is ``media_type``."""
    row = STATUS_TABLE[situation]
    if media_type == GRAPHQL_RESPONSE_JSON and row.graphql_response:
        return row.graphql_response_json
    return row.application_json


def content_type_for(situation: Situation, media_type: str) -> str:
    """``Content-Type`` of a JSON response: never the GraphQL type for a non-GraphQL body."""
    if media_type == GRAPHQL_RESPONSE_JSON and not STATUS_TABLE[situation].graphql_response:
        media_type = APPLICATION_JSON
    return media_type + "; charset=utf-8"


# -------------------------------------------------------------- responses


@dataclass(frozen=True)
class HttpResponse:
    """A whole response: status, headers (lower-case names), body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (lower case), or None."""
        return next((value for key, value in self.headers if key == name), None)


#: One encoder for every response: ``json.dumps`` with options builds a new one per call.
_compact = json.JSONEncoder(separators=(",", ":")).encode


def encode_json(payload: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (non-ASCII escaped, so always valid UTF-8)."""
    return _compact(payload).encode()


def errors_payload(message: str) -> dict[str, Any]:
    """A body that GraphQL clients can show: one error with ``message``."""
    return {"errors": [{"message": message}]}


def problem_response(
    situation: Situation,
    media_type: str,
    message: str,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> HttpResponse:
    """A response with one error ``message``, its status from the table."""
    headers = [("content-type", content_type_for(situation, media_type)), *extra_headers]
    body = encode_json(errors_payload(message))
    return HttpResponse(status_for(situation, media_type), tuple(headers), body)
