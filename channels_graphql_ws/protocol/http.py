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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import params, sse
from .accept import StreamChoice, StreamKind, negotiate, negotiate_stream
from .cors import CORS_ALLOWED_HEADERS, Cors
from .params import OperationRequest
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

#: The methods that carry an operation.
OPERATION_METHODS = ("GET", "POST")
#: What graphql-sse's single connection mode adds: reserve (PUT) and stop (DELETE).
SINGLE_CONNECTION_METHODS = ("PUT", "DELETE")

#: What a client is told when it sends a subscription as a plain request.
SUBSCRIPTION_HINT = (
    "Subscriptions are not served as plain HTTP responses. Subscribe over a "
    "WebSocket on this URL (subprotocol graphql-transport-ws or graphql-ws), "
    "or over HTTP as a stream: Server-Sent Events (Accept: text/event-stream, "
    "the graphql-sse protocol) or Apollo multipart "
    "(Accept: multipart/mixed;subscriptionSpec=1.0)."
)


# ---------------------------------------------------------------- requests

#: graphql-sse requests whose body, if any, carries no operation.
_BODILESS = frozenset(
    {sse.SseRequestKind.RESERVE, sse.SseRequestKind.OPEN, sse.SseRequestKind.STOP}
)


@dataclass(frozen=True)
class Endpoint:
    """What an endpoint serves, from the consumer's settings.

    ``max_body_size`` in bytes (None: no limit); ``graphiql`` serves the
    GraphiQL page to browsers (a GET whose ``Accept`` prefers HTML);
    ``cors`` None answers no cross-origin requests; ``single_connection``
    serves graphql-sse's single connection mode (PUT and DELETE as well).
    """

    max_body_size: int | None = None
    graphiql: bool = False
    cors: Cors | None = None
    single_connection: bool = False

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods the endpoint serves; any other is 405."""
        if self.single_connection:
            return (*OPERATION_METHODS, *SINGLE_CONNECTION_METHODS)
        return OPERATION_METHODS


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
        #: The stream the client asks for, if any (``Accept``).
        self.stream: StreamChoice | None = negotiate_stream(self.headers.get("accept"))
        #: What the request is in graphql-sse's terms.
        self.sse = _sse_request(self.method, self.headers, query_string, endpoint, self.stream)
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
            return cors.preflight(self.headers.get("origin"), self.endpoint.methods)
        if self.method not in self.endpoint.methods:
            allowed = [*self.endpoint.methods, *(["OPTIONS"] if cors is not None else [])]
            return self.problem(
                Situation.METHOD_NOT_ALLOWED,
                f"Method {self.method} is not allowed: send queries with GET or POST.",
                [("allow", ", ".join(allowed))],
            )
        if self.sse.kind in _BODILESS:
            return None  # the single connection glue answers these
        offered = [GRAPHQL_RESPONSE_JSON, APPLICATION_JSON]
        if self.method == "GET" and self.endpoint.graphiql:
            offered.append(TEXT_HTML)
        chosen = negotiate(self.headers.get("accept"), offered)
        if chosen is None and self.stream is not None:
            chosen = APPLICATION_JSON  # problems before a stream starts are JSON
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
            parameters = params.from_query_string(self.query_string)
        else:
            parameters = params.from_body(b"".join(self._body))
            self._body.clear()
        found = (
            parameters
            if isinstance(parameters, params.Problem)
            else params.operation_from(parameters, self.method, self.media_type)
        )
        if isinstance(found, params.Problem):
            return self.problem(found.situation, found.message)
        return found

    # -------------------------------------------------------- the response

    def answer(self, situation: Situation, payload: Mapping[str, Any]) -> HttpResponse:
        """A GraphQL response (a result or request errors) for ``situation``."""
        headers = [("content-type", content_type_for(situation, self.media_type))]
        headers += self.cors_headers()
        return HttpResponse(
            status_for(situation, self.media_type), tuple(headers), encode_json(payload)
        )

    def problem(
        self, situation: Situation, message: str, extra_headers: Iterable[tuple[str, str]] = ()
    ) -> HttpResponse:
        """A response with one error ``message`` for ``situation``."""
        return problem_response(
            situation, self.media_type, message, [*extra_headers, *self.cors_headers()]
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

    def with_cors(self, response: HttpResponse) -> HttpResponse:
        """``response`` with the CORS headers this request's origin gets."""
        extra = self.cors_headers()
        if not extra:
            return response
        return HttpResponse(response.status, (*response.headers, *extra), response.body)

    def cors_headers(self) -> list[tuple[str, str]]:
        """The CORS headers every answer to this request's origin carries."""
        cors = self.endpoint.cors
        if cors is None:
            return []
        return cors.response_headers(self.headers.get("origin"))


def _sse_request(
    method: str,
    headers: Mapping[str, str],
    query_string: bytes,
    endpoint: Endpoint,
    stream: StreamChoice | None,
) -> sse.SseRequest:
    """The graphql-sse kind of a request; with single connection mode off, distinct or none."""
    if endpoint.single_connection:
        return sse.classify(method, headers, query_string)
    if stream is not None and stream.kind is StreamKind.SSE:
        return sse.SseRequest(sse.SseRequestKind.DISTINCT)
    return sse.SseRequest(sse.SseRequestKind.NONE)


__all__ = [
    "APPLICATION_JSON",
    "CORS_ALLOWED_HEADERS",
    "GRAPHQL_RESPONSE_JSON",
    "OPERATION_METHODS",
    "SINGLE_CONNECTION_METHODS",
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
