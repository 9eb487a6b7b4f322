"""CORS for the endpoint (decision T7), as values: who may call, and what they are told.

Sans I/O, standard library only. Django's CSRF middleware and
django-cors-headers never run for consumers, so the endpoint answers the
preflight (``OPTIONS``) itself, before any method check, and adds the
response headers a browser checks to every answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .responses import APPLICATION_JSON, HttpResponse, Situation, problem_response

#: Request headers a browser may send cross-origin: the JSON body's type,
#: token authentication, and graphql-sse's single-connection token.
CORS_ALLOWED_HEADERS = ("content-type", "authorization", "x-graphql-event-stream-token")


@dataclass(frozen=True)
class Cors:
    """Which browser origins may call the endpoint, and how they are told so.

    ``allowed_origins`` are exact origins (``https://app.example.com``), or
    ``"*"`` for any. Credentials (cookies) are allowed only for origins
    listed by name: ``"*"`` is answered with ``Access-Control-Allow-Origin: *``,
    which browsers never combine with cookies.
    """

    allowed_origins: frozenset[str]
    allow_credentials: bool = False
    max_age: int = 600
    allowed_headers: tuple[str, ...] = CORS_ALLOWED_HEADERS

    def allows(self, origin: str) -> bool:
        return origin in self.allowed_origins or "*" in self.allowed_origins

    def response_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """Headers an actual (non-preflight) response carries for ``origin``."""
        if origin is None or not self.allows(origin):
            return [("vary", "Origin")]
        if origin not in self.allowed_origins:
            return [("access-control-allow-origin", "*")]
        headers = [("access-control-allow-origin", origin), ("vary", "Origin")]
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return headers

    def preflight(self, origin: str | None, methods: Sequence[str]) -> HttpResponse:
        """The answer to ``OPTIONS`` with ``Access-Control-Request-Method``.

        ``methods`` are those the endpoint serves (graphql-sse's single
        connection mode adds PUT and DELETE to GET and POST).
        """
        if origin is None or not self.allows(origin):
            return problem_response(
                Situation.ORIGIN_NOT_ALLOWED,
                APPLICATION_JSON,
                f"Origin {origin!r} may not call this endpoint.",
                [("vary", "Origin")],
            )
        headers = [
            *self.response_headers(origin),
            ("access-control-allow-methods", ", ".join(methods)),
            ("access-control-allow-headers", ", ".join(self.allowed_headers)),
            ("access-control-max-age", str(self.max_age)),
        ]
        return HttpResponse(204, tuple(headers), b"")
