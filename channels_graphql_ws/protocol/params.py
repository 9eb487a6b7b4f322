"""The parameters of a GraphQL-over-HTTP request (section 1.1), as values.

Sans I/O, standard library only. The query string of a GET or the JSON body
of a POST becomes an ``OperationRequest``, or a ``Problem`` saying why the
request is not well-formed (a 400 of the status table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .responses import Situation


@dataclass(frozen=True)
class OperationRequest:
    """A well-formed GraphQL-over-HTTP request: the operation and how to answer.

    ``payload`` is the request's parameters as the client sent them (the POST
    body object, or the GET parameters with ``variables`` and ``extensions``
    decoded), for the application's ``on_operation`` hook. ``operation_id``
    is graphql-sse's ``operationId`` in single connection mode, else None.
    """

    method: str
    media_type: str
    query: str
    operation_name: str | None = None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    operation_id: str | None = None

    @property
    def id(self) -> str | None:
        """The operation's id for ``on_operation``: None but in single connection mode."""
        return self.operation_id


@dataclass(frozen=True)
class Problem:
    """Why a request carries no operation: its situation (a row of the table) and a message."""

    situation: Situation
    message: str


def from_query_string(query_string: bytes) -> dict[str, Any] | Problem:
    """GET parameters; ``variables`` and ``extensions`` decoded; an empty value is absent."""
    try:
        pairs = parse_qsl(
            query_string.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        return Problem(Situation.NOT_WELL_FORMED, "The query string is not UTF-8.")
    parameters: dict[str, Any] = {}
    for name, value in pairs:
        if name in parameters:
            return Problem(
                Situation.NOT_WELL_FORMED, f"Parameter {name!r} is given more than once."
            )
        if value == "":
            continue
        if name in ("variables", "extensions"):
            try:
                parameters[name] = json.loads(value)
            except (ValueError, RecursionError):
                return Problem(Situation.NOT_WELL_FORMED, f"Parameter {name!r} is not JSON.")
        else:
            parameters[name] = value
    return parameters


def from_body(body: bytes) -> dict[str, Any] | Problem:
    """POST parameters: one JSON object (no batching)."""
    if not body:
        return Problem(
            Situation.NOT_WELL_FORMED,
            "The request body is empty: POST a JSON object with a `query`.",
        )
    try:
        parameters = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Problem(Situation.BODY_NOT_JSON, "The request body is not JSON.")
    if isinstance(parameters, list):
        return Problem(
            Situation.NOT_WELL_FORMED,
            "Batching is not supported: send one operation per request.",
        )
    if not isinstance(parameters, dict):
        return Problem(Situation.NOT_WELL_FORMED, "The request body must be a JSON object.")
    return parameters


def operation_from(
    parameters: dict[str, Any], method: str, media_type: str
) -> OperationRequest | Problem:
    """The operation of well-typed parameters; ``null`` for an optional field means absent."""
    query = parameters.get("query")
    if not isinstance(query, str):
        message = (
            "The request has no `query`."
            if query is None
            else "`query` must be a string holding the GraphQL document."
        )
        return Problem(Situation.NOT_WELL_FORMED, message)
    operation_name = parameters.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        return Problem(Situation.NOT_WELL_FORMED, "`operationName` must be a string or null.")
    variables = parameters.get("variables")
    extensions = parameters.get("extensions")
    for name, value in (("variables", variables), ("extensions", extensions)):
        if value is not None and not isinstance(value, dict):
            return Problem(Situation.NOT_WELL_FORMED, f"`{name}` must be a JSON object or null.")
    return OperationRequest(
        method=method,
        media_type=media_type,
        query=query,
        operation_name=operation_name,
        variables=variables,
        extensions=extensions,
        payload=parameters,
    )
