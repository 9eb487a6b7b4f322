"""GraphQL over HTTP as values: a request in, a decision or a response out.

Sans I/O, like the WebSocket state machine: the standard library only, no
asyncio. The consumer's HTTP glue feeds it the request's method, headers,
query string and body as they arrive, and sends what it returns. Every rule
of TRANSPORTS.md section 1 (and decisions T6, T7) lives here as data or as
one small function, so it is tested synchronously, rule by rule:

- ``negotiate``: the ``Accept`` header against what the endpoint can send;
- ``HttpRequest``: one request from its head to the operation it asks for,
  or the problem response that ends it early (405, 406, 413, 415, 400).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .cors import CORS_ALLOWED_HEADERS, Cors
from .responses import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    STATUS_TABLE,
    TEXT_HTML,
    HttpResponse,
    Situation,
    content_type_for,
    encode_json,
    errors_payload,
    problem_response,
    status_for,
)

#: The methods that carry an operation; everything else is 405.
OPERATION_METHODS = ("GET", "POST")

#: What a client is told when it sends a subscription as a plain request.
SUBSCRIPTION_HINT = (
    "Subscriptions are not served as plain HTTP responses. Subscribe over a "
    "WebSocket on this URL (subprotocol graphql-transport-ws or graphql-ws), "
    "or over HTTP as a stream: Server-Sent Events (Accept: text/event-stream, "
    "the graphql-sse protocol) or Apollo multipart "
    "(Accept: multipart/mixed;subscriptionSpec=1.0)."
)


# ------------------------------------------------------------ negotiation


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The media type to answer with, or None when nothing asked for is offered.

    Entries are taken by ``q`` (highest first, ties in the client's order);
    ``q=0`` refuses a type, also for the wildcards. ``*/*`` and
    ``application/*`` mean ``application/json`` (section 1.1), never
    ``text/html``; no ``Accept`` at all means ``application/json`` too.
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON if APPLICATION_JSON in offered else None
    ranges: list[tuple[float, int, str]] = []
    refused: set[str] = set()
    for index, entry in enumerate(accept.split(",")):
        media_range, _, parameters = entry.partition(";")
        media_range = media_range.strip().lower()
        if not media_range:
            continue
        quality = _quality(parameters)
        if quality is None:
            continue  # a malformed q: the entry is ignored
        if quality <= 0:
            refused.add(media_range)
            continue
        ranges.append((-quality, index, media_range))
    for _, _, media_range in sorted(ranges):
        if media_range in offered:
            return media_range
        if media_range in ("*/*", "application/*"):
            if APPLICATION_JSON in offered and APPLICATION_JSON not in refused:
                return APPLICATION_JSON
        elif media_range == "text/*" and TEXT_HTML in offered and TEXT_HTML not in refused:
            return TEXT_HTML
    return None


def _quality(parameters: str) -> float | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            return quality if 0 <= quality <= 1 else None
    return 1.0


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Endpoint:
    """What an endpoint serves, from the consumer's settings.

    ``max_body_size`` in bytes (None: no limit); ``graphiql`` serves the
    GraphiQL page to browsers (a GET whose ``Accept`` prefers HTML);
    ``cors`` None answers no cross-origin requests.
    """

    max_body_size: int | None = None
    graphiql: bool = False
    cors: Cors | None = None


@dataclass(frozen=True)
class OperationRequest:
    """A well-formed GraphQL-over-HTTP request: the operation and how to answer.

    ``payload`` is the request's parameters as the client sent them (the POST
    body object, or the GET parameters with ``variables`` and ``extensions``
    decoded), for the application's ``on_operation`` hook.
    """

    method: str
    media_type: str
    query: str
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> None:
        """Plain HTTP has no operation id (``on_operation`` gets None)."""
        return None


@dataclass(frozen=True)
class GraphiqlRequested:
    """A browser asked for the page: serve GraphiQL (only when enabled)."""


class HttpRequest:
    """One HTTP request, from its head to an operation or a problem response.

    Call ``check_head`` first: a response there ends the request before its
    body is read (preflight, 405, 406, 415, a Content-Length over the limit),
    ``GraphiqlRequested`` asks for the page. Then feed the body with
    ``add_body`` (a 413 as soon as it grows over the limit) and call
    ``operation``. ``answer`` and ``problem`` build the final response with
    the negotiated type and the CORS headers.
    """

    def __init__(
        self,
        method: str,
        headers: Iterable[tuple[bytes, bytes]],
        query_string: bytes,
        endpoint: Endpoint,
    ) -> None:
        self.method = method.upper()
        self.endpoint = endpoint
        self.query_string = query_string
        self.headers: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            previous = self.headers.get(name)
            self.headers[name] = value if previous is None else f"{previous}, {value}"
        #: The negotiated response type; JSON until negotiation has run.
        self.media_type = APPLICATION_JSON
        self._body: list[bytes] = []
        self._body_size = 0

    # ------------------------------------------------------------- the head

    def check_head(self) -> HttpResponse | GraphiqlRequested | None:
        """Decide what needs no body; None: read the body, then ``operation``."""
        cors = self.endpoint.cors
        if (
            self.method == "OPTIONS"
            and cors is not None
            and "access-control-request-method" in self.headers
        ):
            return cors.preflight(self.headers.get("origin"), OPERATION_METHODS)
        if self.method not in OPERATION_METHODS:
            allowed = [*OPERATION_METHODS, *(["OPTIONS"] if cors is not None else [])]
            return self.problem(
                Situation.METHOD_NOT_ALLOWED,
                f"Method {self.method} is not allowed: send queries with GET or POST.",
                [("allow", ", ".join(allowed))],
            )
        offered = [GRAPHQL_RESPONSE_JSON, APPLICATION_JSON]
        if self.method == "GET" and self.endpoint.graphiql:
            offered.append(TEXT_HTML)
        chosen = negotiate(self.headers.get("accept"), offered)
        if chosen is None:
            return self.problem(
                Situation.NOT_ACCEPTABLE,
                "Nothing in Accept can be sent: ask for "
                f"{GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}.",
            )
        if chosen == TEXT_HTML:
            return GraphiqlRequested()
        self.media_type = chosen
        if self.method == "POST":
            return self._check_post_head()
        return None

    def _check_post_head(self) -> HttpResponse | None:
        content_type = self.headers.get("content-type")
        if content_type is None:
            return self.problem(
                Situation.UNSUPPORTED_MEDIA_TYPE,
                "POST needs Content-Type: application/json.",
            )
        media_type, _, parameters = content_type.partition(";")
        if media_type.strip().lower() != APPLICATION_JSON:
            return self.problem(
                Situation.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {media_type.strip()!r} is not supported: "
                "POST a JSON object as application/json.",
            )
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            charset = value.strip().strip('"').lower()
            if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
                return self.problem(
                    Situation.UNSUPPORTED_MEDIA_TYPE,
                    f"Charset {charset!r} is not supported: send UTF-8.",
                )
        declared = self.headers.get("content-length")
        limit = self.endpoint.max_body_size
        if limit is not None and declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # the server itself refuses a bad Content-Length
            if too_big:
                return self._too_large()
        return None

    # ------------------------------------------------------------- the body

    def add_body(self, chunk: bytes) -> HttpResponse | None:
        """Keep a piece of the body; a 413 as soon as the body is over the limit."""
        if not chunk:
            return None
        self._body_size += len(chunk)
        limit = self.endpoint.max_body_size
        if limit is not None and self._body_size > limit:
            self._body.clear()
            return self._too_large()
        self._body.append(chunk)
        return None

    def _too_large(self) -> HttpResponse:
        return self.problem(
            Situation.BODY_TOO_LARGE,
            f"The request body is over the limit of {self.endpoint.max_body_size} bytes.",
        )

    # ------------------------------------------------------- the operation

    def operation(self) -> OperationRequest | HttpResponse:
        """The operation the request asks for, or the 400 it gets."""
        if self.method == "GET":
            found = self._parameters_from_query_string()
        else:
            found = self._parameters_from_body()
        if isinstance(found, HttpResponse):
            return found
        return self._operation_from(found)

    def _parameters_from_query_string(self) -> dict[str, Any] | HttpResponse:
        try:
            pairs = parse_qsl(
                self.query_string.decode("latin-1"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
            )
        except (UnicodeDecodeError, ValueError):
            return self.problem(Situation.NOT_WELL_FORMED, "The query string is not UTF-8.")
        parameters: dict[str, Any] = {}
        for name, value in pairs:
            if name in parameters:
                return self.problem(
                    Situation.NOT_WELL_FORMED, f"Parameter {name!r} is given more than once."
                )
            if value == "":
                continue  # an empty value means absent
            if name in ("variables", "extensions"):
                try:
                    parameters[name] = json.loads(value)
                except (ValueError, RecursionError):
                    return self.problem(
                        Situation.NOT_WELL_FORMED, f"Parameter {name!r} is not JSON."
                    )
            else:
                parameters[name] = value
        return parameters

    def _parameters_from_body(self) -> dict[str, Any] | HttpResponse:
        body = b"".join(self._body)
        self._body.clear()
        if not body:
            return self.problem(
                Situation.NOT_WELL_FORMED,
                "The request body is empty: POST a JSON object with a `query`.",
            )
        try:
            parameters = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return self.problem(Situation.BODY_NOT_JSON, "The request body is not JSON.")
        if isinstance(parameters, list):
            return self.problem(
                Situation.NOT_WELL_FORMED,
                "Batching is not supported: send one operation per request.",
            )
        if not isinstance(parameters, dict):
            return self.problem(
                Situation.NOT_WELL_FORMED, "The request body must be a JSON object."
            )
        return parameters

    def _operation_from(self, parameters: dict[str, Any]) -> OperationRequest | HttpResponse:
        query = parameters.get("query")
        if not isinstance(query, str):
            message = (
                "The request has no `query`."
                if query is None
                else "`query` must be a string holding the GraphQL document."
            )
            return self.problem(Situation.NOT_WELL_FORMED, message)
        operation_name = parameters.get("operationName")
        if operation_name is not None and not isinstance(operation_name, str):
            return self.problem(
                Situation.NOT_WELL_FORMED, "`operationName` must be a string or null."
            )
        variables = parameters.get("variables")
        extensions = parameters.get("extensions")
        for name, value in (("variables", variables), ("extensions", extensions)):
            if value is not None and not isinstance(value, dict):
                return self.problem(
                    Situation.NOT_WELL_FORMED, f"`{name}` must be a JSON object or null."
                )
        return OperationRequest(
            method=self.method,
            media_type=self.media_type,
            query=query,
            operation_name=operation_name,
            variables=variables,
            extensions=extensions,
            payload=parameters,
        )

    # -------------------------------------------------------- the response

    def answer(self, situation: Situation, payload: Mapping[str, Any]) -> HttpResponse:
        """A GraphQL response (a result or request errors) for ``situation``."""
        headers = [("content-type", content_type_for(situation, self.media_type))]
        headers += self._cors_headers()
        return HttpResponse(
            status_for(situation, self.media_type), tuple(headers), encode_json(payload)
        )

    def problem(
        self, situation: Situation, message: str, extra_headers: Iterable[tuple[str, str]] = ()
    ) -> HttpResponse:
        """A response with one error ``message`` for ``situation``."""
        return problem_response(
            situation, self.media_type, message, [*extra_headers, *self._cors_headers()]
        )

    def mutation_over_get(self) -> HttpResponse:
        """GET runs queries only: nothing was executed; POST it instead."""
        return self.problem(
            Situation.MUTATION_OVER_GET,
            "Mutations are not run over GET: send them with POST.",
            [("allow", "POST")],
        )

    def subscription_not_streamed(self) -> HttpResponse:
        return self.problem(Situation.SUBSCRIPTION_NOT_STREAMED, SUBSCRIPTION_HINT)

    def page(self, html: str) -> HttpResponse:
        """An HTML page (GraphiQL), never cached: it names this endpoint's scripts."""
        headers = (("content-type", TEXT_HTML + "; charset=utf-8"), ("cache-control", "no-cache"))
        return HttpResponse(200, headers, html.encode())

    def _cors_headers(self) -> list[tuple[str, str]]:
        cors = self.endpoint.cors
        if cors is None:
            return []
        return cors.response_headers(self.headers.get("origin"))


__all__ = [
    "APPLICATION_JSON",
    "CORS_ALLOWED_HEADERS",
    "GRAPHQL_RESPONSE_JSON",
    "OPERATION_METHODS",
    "STATUS_TABLE",
    "SUBSCRIPTION_HINT",
    "TEXT_HTML",
    "Cors",
    "Endpoint",
    "GraphiqlRequested",
    "HttpRequest",
    "HttpResponse",
    "OperationRequest",
    "Situation",
    "content_type_for",
    "encode_json",
    "errors_payload",
    "negotiate",
    "problem_response",
    "status_for",
]
