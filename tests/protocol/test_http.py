"""GraphQL over HTTP at the protocol layer, rule by rule (TRANSPORTS.md section 1, T6, T7).

One test per rule, named after it: Accept negotiation (1.1), the status
table (1.2), reading GET and POST requests, the refusals decided from the
head alone, and CORS. Everything is synchronous: the layer does no I/O.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels_graphql_ws.protocol.http import (
    APPLICATION_JSON,
    CORS_ALLOWED_HEADERS,
    GRAPHQL_RESPONSE_JSON,
    STATUS_TABLE,
    SUBSCRIPTION_HINT,
    TEXT_HTML,
    Cors,
    Endpoint,
    GraphiqlRequested,
    HttpRequest,
    HttpResponse,
    OperationRequest,
    Situation,
    negotiate,
    status_for,
)

BOTH = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)
WITH_HTML = (*BOTH, TEXT_HTML)
JSON_POST = {"content-type": "application/json"}
#: What Chromium sends for a page load.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)


def request(
    method: str = "POST",
    headers: dict[str, str] | None = None,
    query_string: str = "",
    endpoint: Endpoint | None = None,
) -> HttpRequest:
    raw = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    return HttpRequest(method, raw, query_string.encode(), endpoint or Endpoint())


def post(body: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> HttpRequest:
    """A POST whose head passed, with ``body`` (JSON-encoded unless bytes) fed in."""
    req = request("POST", {**JSON_POST, **(headers or {})}, **kwargs)
    assert req.check_head() is None
    assert req.add_body(body if isinstance(body, bytes) else json.dumps(body).encode()) is None
    return req


def get(query_string: str, headers: dict[str, str] | None = None) -> HttpRequest:
    req = request("GET", headers, query_string)
    assert req.check_head() is None
    return req


def operation_of(req: HttpRequest) -> OperationRequest:
    found = req.operation()
    assert isinstance(found, OperationRequest), found
    return found


def problem_of(found: object, status: int) -> dict[str, Any]:
    """Check a problem response and return its decoded body."""
    assert isinstance(found, HttpResponse), found
    assert found.status == status, (found.status, found.body)
    body: dict[str, Any] = json.loads(found.body)
    assert set(body) == {"errors"} and body["errors"][0]["message"], body
    return body


# ------------------------------------------------------- 1.1 negotiation


def test_accept_graphql_response_json_first_is_used() -> None:
    assert negotiate("application/graphql-response+json, application/json", BOTH) == (
        GRAPHQL_RESPONSE_JSON
    )


def test_accept_application_json_is_used() -> None:
    assert negotiate("application/json", BOTH) == APPLICATION_JSON


@pytest.mark.parametrize("accept", ["*/*", "application/*"])
def test_accept_wildcard_means_application_json(accept: str) -> None:
    assert negotiate(accept, BOTH) == APPLICATION_JSON


@pytest.mark.parametrize("accept", [None, "", "  "])
def test_no_accept_means_application_json(accept: str | None) -> None:
    assert negotiate(accept, BOTH) == APPLICATION_JSON


def test_first_acceptable_entry_wins() -> None:
    accept = "text/plain, application/json, application/graphql-response+json"
    assert negotiate(accept, BOTH) == APPLICATION_JSON


def test_quality_orders_entries() -> None:
    assert negotiate("application/json;q=0.9, application/graphql-response+json", BOTH) == (
        GRAPHQL_RESPONSE_JSON
    )
    assert negotiate("application/graphql-response+json;q=0.5, application/json", BOTH) == (
        APPLICATION_JSON
    )


def test_q_zero_refuses_a_type_even_through_a_wildcard() -> None:
    assert negotiate("application/json;q=0, */*", BOTH) is None
    assert negotiate("application/json;q=0, application/graphql-response+json", BOTH) == (
        GRAPHQL_RESPONSE_JSON
    )


def test_media_type_parameters_do_not_prevent_a_match() -> None:
    assert negotiate("application/json; charset=utf-8", BOTH) == APPLICATION_JSON


def test_malformed_quality_ignores_the_entry() -> None:
    assert negotiate("application/graphql-response+json;q=high, application/json", BOTH) == (
        APPLICATION_JSON
    )


def test_nothing_acceptable_is_none() -> None:
    assert negotiate("text/plain, image/png", BOTH) is None


def test_wildcards_never_choose_html() -> None:
    assert negotiate("*/*", WITH_HTML) == APPLICATION_JSON
    assert negotiate(BROWSER_ACCEPT, WITH_HTML) == TEXT_HTML
    assert negotiate(BROWSER_ACCEPT, BOTH) == APPLICATION_JSON


def test_unacceptable_accept_is_406() -> None:
    found = request("GET", {"accept": "text/plain"}, "query={a}").check_head()
    problem_of(found, 406)
    assert isinstance(found, HttpResponse)
    assert found.header("content-type") == "application/json; charset=utf-8"


# ------------------------------------------------------ 1.2 status table

#: Section 1.2, row by row: (A: graphql-response+json, B: application/json).
SECTION_1_2 = {
    Situation.SUCCESS: (200, 200),
    Situation.BODY_NOT_JSON: (400, 400),
    Situation.NOT_WELL_FORMED: (400, 400),
    Situation.DOCUMENT_UNPARSABLE: (400, 200),
    Situation.DOCUMENT_INVALID: (400, 200),
    Situation.VARIABLES_INVALID: (400, 200),
    Situation.MUTATION_OVER_GET: (405, 405),
    Situation.METHOD_NOT_ALLOWED: (405, 405),
    Situation.UNSUPPORTED_MEDIA_TYPE: (415, 415),
    Situation.NOT_ACCEPTABLE: (406, 406),
}


@pytest.mark.parametrize("situation", list(SECTION_1_2), ids=lambda s: s.name)
def test_status_table_rows_are_section_1_2(situation: Situation) -> None:
    expected = SECTION_1_2[situation]
    assert (
        status_for(situation, GRAPHQL_RESPONSE_JSON),
        status_for(situation, APPLICATION_JSON),
    ) == expected


def test_every_situation_has_a_status() -> None:
    assert set(STATUS_TABLE) == set(Situation)


def test_our_own_rows_are_4xx_or_5xx() -> None:
    """Refusals and limits that section 1.2 leaves to us are errors in both columns."""
    for situation in (
        Situation.BODY_TOO_LARGE,
        Situation.SUBSCRIPTION_NOT_STREAMED,
        Situation.ORIGIN_NOT_ALLOWED,
        Situation.INTERNAL_ERROR,
    ):
        assert status_for(situation, GRAPHQL_RESPONSE_JSON) >= 400
        assert status_for(situation, APPLICATION_JSON) >= 400
    assert status_for(Situation.OPERATION_REFUSED, GRAPHQL_RESPONSE_JSON) == 400
    assert status_for(Situation.OPERATION_REFUSED, APPLICATION_JSON) == 200


def test_graphql_responses_use_the_negotiated_type() -> None:
    req = post({"query": "{ a }"}, {"accept": GRAPHQL_RESPONSE_JSON})
    answered = req.answer(Situation.DOCUMENT_INVALID, {"errors": [{"message": "no"}]})
    assert answered.status == 400
    assert answered.header("content-type") == GRAPHQL_RESPONSE_JSON + "; charset=utf-8"


def test_non_graphql_body_never_uses_graphql_response_json() -> None:
    req = post(b"{not json", {"accept": GRAPHQL_RESPONSE_JSON})
    found = req.operation()
    problem_of(found, 400)
    assert isinstance(found, HttpResponse)
    assert found.header("content-type") == "application/json; charset=utf-8"


def test_responses_say_charset_utf8() -> None:
    req = post({"query": "{ a }"})
    assert req.answer(Situation.SUCCESS, {"data": {"a": "é"}}).header("content-type") == (
        "application/json; charset=utf-8"
    )
    assert json.loads(req.answer(Situation.SUCCESS, {"data": {"a": "é"}}).body.decode()) == {
        "data": {"a": "é"}
    }


# ----------------------------------------------------------------- POST


def test_post_json_object_is_an_operation() -> None:
    body = {"query": "query Q($a: Int) { a }", "operationName": "Q", "variables": {"a": 1}}
    found = operation_of(post({**body, "extensions": {"x": 1}}))
    assert (found.method, found.query, found.operation_name) == ("POST", body["query"], "Q")
    assert (found.variables, found.extensions) == ({"a": 1}, {"x": 1})
    assert found.media_type == APPLICATION_JSON


def test_post_payload_is_the_body_as_sent() -> None:
    body = {"query": "{ a }", "unknown": [1, 2]}
    assert operation_of(post(body)).payload == body


@pytest.mark.parametrize("name", ["operationName", "variables", "extensions"])
def test_post_null_field_means_absent(name: str) -> None:
    found = operation_of(post({"query": "{ a }", name: None}))
    assert (found.operation_name, found.variables, found.extensions) == (None, None, None)


def test_post_without_content_type_is_415() -> None:
    problem_of(request("POST").check_head(), 415)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/graphql",
    ],
)
def test_post_other_content_type_is_415(content_type: str) -> None:
    """No form encodings: a cross-site form can never post an operation (CSRF)."""
    problem_of(request("POST", {"content-type": content_type}).check_head(), 415)


def test_post_non_utf8_charset_is_415() -> None:
    found = request("POST", {"content-type": "application/json; charset=latin-1"}).check_head()
    problem_of(found, 415)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
def test_post_utf8_json_content_type_is_accepted(content_type: str) -> None:
    assert request("POST", {"content-type": content_type}).check_head() is None


def test_content_length_over_limit_is_413_before_the_body() -> None:
    endpoint = Endpoint(max_body_size=100)
    found = request("POST", {**JSON_POST, "content-length": "101"}, endpoint=endpoint)
    problem_of(found.check_head(), 413)


def test_body_growing_over_limit_is_413_at_the_chunk_that_crosses_it() -> None:
    req = request("POST", JSON_POST, endpoint=Endpoint(max_body_size=10))
    assert req.check_head() is None
    assert req.add_body(b"x" * 6) is None
    problem_of(req.add_body(b"x" * 5), 413)


def test_body_at_the_limit_is_read() -> None:
    body = json.dumps({"query": "{ a }"}).encode()
    req = request("POST", JSON_POST, endpoint=Endpoint(max_body_size=len(body)))
    assert req.check_head() is None
    assert req.add_body(body) is None
    assert operation_of(req).query == "{ a }"


def test_empty_body_is_400() -> None:
    problem_of(post(b"").operation(), 400)


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE_JSON, APPLICATION_JSON])
def test_body_not_json_is_400(accept: str) -> None:
    problem_of(post(b'{ "not a JSON', {"accept": accept}).operation(), 400)


def test_body_not_utf8_is_400() -> None:
    problem_of(post(b'{"query": "\xff"}').operation(), 400)


def test_array_body_is_400_no_batching() -> None:
    body = problem_of(post([{"query": "{ a }"}, {"query": "{ b }"}]).operation(), 400)
    assert "Batching" in body["errors"][0]["message"]


@pytest.mark.parametrize("body", ["text", 1, None, True])
def test_body_not_an_object_is_400(body: Any) -> None:
    problem_of(post(body).operation(), 400)


def test_missing_query_is_400() -> None:
    problem_of(post({"qeury": "{ a }"}).operation(), 400)


@pytest.mark.parametrize("query", [{"obj": "ect"}, 0, False, ["array"]])
def test_query_not_a_string_is_400(query: Any) -> None:
    problem_of(post({"query": query}).operation(), 400)


@pytest.mark.parametrize("name", [{"obj": "ect"}, 0, False, ["array"]])
def test_operation_name_not_a_string_is_400(name: Any) -> None:
    problem_of(post({"query": "{ a }", "operationName": name}).operation(), 400)


@pytest.mark.parametrize("field", ["variables", "extensions"])
@pytest.mark.parametrize("value", ["string", 0, False, ["array"]])
def test_variables_and_extensions_not_an_object_are_400(field: str, value: Any) -> None:
    problem_of(post({"query": "{ a }", field: value}).operation(), 400)


# ------------------------------------------------------------------ GET


def test_get_reads_the_query_string() -> None:
    found = operation_of(
        get(
            "query=query%20Q(%24a%3A%20Int)%20%7B%20a%20%7D&operationName=Q"
            "&variables=%7B%22a%22%3A1%7D&extensions=%7B%22x%22%3Atrue%7D"
        )
    )
    assert (found.method, found.query, found.operation_name) == (
        "GET",
        "query Q($a: Int) { a }",
        "Q",
    )
    assert (found.variables, found.extensions) == ({"a": 1}, {"x": True})
    assert found.payload == {
        "query": found.query,
        "operationName": "Q",
        "variables": {"a": 1},
        "extensions": {"x": True},
    }


def test_get_empty_value_means_absent() -> None:
    found = operation_of(get("query=%7Ba%7D&operationName=&variables="))
    assert (found.operation_name, found.variables) == (None, None)


def test_get_needs_no_content_type() -> None:
    assert operation_of(get("query=%7Ba%7D")).query == "{a}"


def test_get_without_query_is_400() -> None:
    problem_of(get("operationName=Q").operation(), 400)


@pytest.mark.parametrize("field", ["variables", "extensions"])
def test_get_json_parameter_not_json_is_400(field: str) -> None:
    problem_of(get(f"query=%7Ba%7D&{field}=%7Bnot").operation(), 400)


def test_get_variables_not_an_object_is_400() -> None:
    problem_of(get("query=%7Ba%7D&variables=%5B1%5D").operation(), 400)


def test_get_repeated_parameter_is_400() -> None:
    problem_of(get("query=%7Ba%7D&query=%7Bb%7D").operation(), 400)


def test_get_query_string_not_utf8_is_400() -> None:
    problem_of(get("query=%FF").operation(), 400)


# -------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_other_methods_are_405_with_allow(method: str) -> None:
    found = request(method, JSON_POST).check_head()
    problem_of(found, 405)
    assert isinstance(found, HttpResponse)
    assert found.header("allow") == "GET, POST"


def test_mutation_over_get_is_405_allow_post() -> None:
    found = get("query=mutation%7Ba%7D").mutation_over_get()
    problem_of(found, 405)
    assert found.header("allow") == "POST"


def test_subscription_over_plain_http_names_the_three_ways_to_subscribe() -> None:
    found = post({"query": "subscription { a }"}).subscription_not_streamed()
    body = problem_of(found, 406)
    assert body["errors"][0]["message"] == SUBSCRIPTION_HINT
    for way in ("WebSocket", "text/event-stream", "multipart/mixed"):
        assert way in SUBSCRIPTION_HINT


# -------------------------------------------------------------- GraphiQL


def test_graphiql_for_a_get_preferring_html_when_enabled() -> None:
    req = request("GET", {"accept": BROWSER_ACCEPT}, endpoint=Endpoint(graphiql=True))
    assert isinstance(req.check_head(), GraphiqlRequested)
    page = req.page("<html></html>")
    assert (page.status, page.header("content-type")) == (200, "text/html; charset=utf-8")


def test_no_graphiql_when_disabled() -> None:
    req = request("GET", {"accept": BROWSER_ACCEPT}, "query=%7Ba%7D")
    assert req.check_head() is None
    assert req.media_type == APPLICATION_JSON


def test_no_graphiql_for_post() -> None:
    req = request("POST", {**JSON_POST, "accept": BROWSER_ACCEPT}, endpoint=Endpoint(graphiql=True))
    assert req.check_head() is None


def test_graphql_clients_get_json_with_graphiql_enabled() -> None:
    accept = {"accept": "application/graphql-response+json, application/json"}
    req = request("GET", accept, endpoint=Endpoint(graphiql=True))
    assert req.check_head() is None
    assert req.media_type == GRAPHQL_RESPONSE_JSON


# ------------------------------------------------------------------ CORS

APP = "https://app.example.com"
CORS = Cors(frozenset({APP}))


def preflight(origin: str | None, cors: Cors | None = CORS) -> object:
    headers = {"access-control-request-method": "POST"}
    if origin is not None:
        headers["origin"] = origin
    return request("OPTIONS", headers, endpoint=Endpoint(cors=cors)).check_head()


def test_cors_is_off_by_default() -> None:
    problem_of(preflight(APP, cors=None), 405)
    req = post({"query": "{ a }"}, {"origin": APP})
    assert req.answer(Situation.SUCCESS, {"data": {}}).headers == (
        ("content-type", "application/json; charset=utf-8"),
    )


def test_preflight_from_an_allowed_origin_gets_what_a_browser_needs() -> None:
    found = preflight(APP)
    assert isinstance(found, HttpResponse)
    assert found.status == 204
    assert found.header("access-control-allow-origin") == APP
    assert found.header("access-control-allow-methods") == "GET, POST"
    allowed = found.header("access-control-allow-headers") or ""
    assert [name.strip() for name in allowed.split(",")] == list(CORS_ALLOWED_HEADERS)
    assert "x-graphql-event-stream-token" in allowed
    assert found.header("vary") == "Origin"
    assert found.header("access-control-max-age")
    assert found.header("access-control-allow-credentials") is None


def test_preflight_from_an_unlisted_origin_is_403() -> None:
    found = preflight("https://evil.example.com")
    problem_of(found, 403)
    assert isinstance(found, HttpResponse)
    assert found.header("access-control-allow-origin") is None
    problem_of(preflight(None), 403)


def test_preflight_is_answered_before_the_method_check() -> None:
    assert isinstance(preflight(APP), HttpResponse)
    found = request("DELETE", {"origin": APP}, endpoint=Endpoint(cors=CORS)).check_head()
    problem_of(found, 405)
    assert isinstance(found, HttpResponse)
    assert found.header("allow") == "GET, POST, OPTIONS"


def test_allowed_origin_gets_its_exact_origin_back() -> None:
    req = post({"query": "{ a }"}, {"origin": APP}, endpoint=Endpoint(cors=CORS))
    response = req.answer(Situation.SUCCESS, {"data": {}})
    assert response.header("access-control-allow-origin") == APP
    assert response.header("vary") == "Origin"
    assert response.header("access-control-allow-credentials") is None


def test_unlisted_origin_gets_no_cors_headers() -> None:
    evil = {"origin": "https://evil.example.com"}
    req = post({"query": "{ a }"}, evil, endpoint=Endpoint(cors=CORS))
    response = req.answer(Situation.SUCCESS, {"data": {}})
    assert response.header("access-control-allow-origin") is None


def test_credentials_are_allowed_only_when_set() -> None:
    cors = Cors(frozenset({APP}), allow_credentials=True)
    found = preflight(APP, cors)
    assert isinstance(found, HttpResponse)
    assert found.header("access-control-allow-credentials") == "true"
    assert cors.response_headers(APP)[-1] == ("access-control-allow-credentials", "true")


def test_any_origin_is_answered_with_a_star_and_never_with_credentials() -> None:
    cors = Cors(frozenset({"*"}), allow_credentials=True)
    assert cors.response_headers("https://anyone.example") == [("access-control-allow-origin", "*")]
    found = preflight("https://anyone.example", cors)
    assert isinstance(found, HttpResponse)
    assert found.header("access-control-allow-origin") == "*"
    assert found.header("access-control-allow-credentials") is None


def test_problem_responses_carry_cors_headers_too() -> None:
    req = post(b"{", {"origin": APP}, endpoint=Endpoint(cors=CORS))
    found = req.operation()
    assert isinstance(found, HttpResponse)
    assert found.header("access-control-allow-origin") == APP
