"""graphql-sse as values, rule by rule (TRANSPORTS.md section 2, decisions T8 and T10)."""

from __future__ import annotations

import json

import pytest

from channels_graphql_ws.protocol import sse
from channels_graphql_ws.protocol.accept import StreamKind, negotiate_stream
from channels_graphql_ws.protocol.http import Endpoint, HttpRequest, HttpResponse
from channels_graphql_ws.protocol.sse import SingleConnection, SseRequestKind

EVENTS = "text/event-stream"


def events_of(raw: bytes) -> list[tuple[str | None, str | None]]:
    """Parse a stream as EventSource does: (event, data) per event; a comment as (None, None)."""
    found: list[tuple[str | None, str | None]] = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        event = data = None
        for line in block.split("\n"):
            if line.startswith(":"):
                found.append((None, None))
            elif line.startswith("event:"):
                event = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data = line[len("data:") :].lstrip(" ")
        if event is not None:
            found.append((event, data))
    return found


# ------------------------------------------------------------------ framing


def test_the_first_bytes_are_an_empty_comment() -> None:
    assert sse.COMMENT == b":\n\n"
    assert events_of(sse.COMMENT) == [(None, None)]


def test_next_carries_compact_json_on_one_data_line() -> None:
    payload = json.dumps({"data": {"text": "two\nlines"}}, separators=(",", ":"))
    raw = sse.next_event(payload)
    assert raw == b'event: next\ndata: {"data":{"text":"two\\nlines"}}\n\n'
    assert events_of(raw) == [("next", payload)]


def test_complete_without_data_still_has_a_data_line() -> None:
    assert sse.complete_event() == b"event: complete\ndata:\n\n"


def test_single_connection_next_and_complete_carry_the_id() -> None:
    assert json.loads(sse.with_id("op-1", '{"data":1}')) == {"id": "op-1", "payload": {"data": 1}}
    assert json.loads(sse.id_only('a"b')) == {"id": 'a"b'}
    assert sse.complete_event(sse.id_only("op-1")) == b'event: complete\ndata: {"id":"op-1"}\n\n'


def test_the_stream_head_forbids_caching_and_proxy_buffering() -> None:
    headers = dict(sse.STREAM_HEADERS)
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache, no-transform"
    assert headers["x-accel-buffering"] == "no"
    assert "transfer-encoding" not in headers


def test_keepalive_interval_is_under_common_proxy_idle_timeouts() -> None:
    assert 5 <= sse.KEEPALIVE_SECONDS <= 30


# -------------------------------------------------------- classification


def classify(method: str, accept: str | None = None, token: str | None = None, query: bytes = b""):
    headers = {}
    if accept is not None:
        headers["accept"] = accept
    if token is not None:
        headers[sse.TOKEN_HEADER] = token
    return sse.classify(method, headers, query)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_event_stream_accept_without_a_token_is_distinct_mode(method: str) -> None:
    assert classify(method, EVENTS).kind is SseRequestKind.DISTINCT


def test_put_reserves() -> None:
    assert classify("PUT").kind is SseRequestKind.RESERVE


def test_a_token_with_event_stream_accept_opens_the_stream() -> None:
    found = classify("GET", EVENTS, token="t1")
    assert found == sse.SseRequest(SseRequestKind.OPEN, "t1")


def test_the_token_may_come_in_the_query_string() -> None:
    assert classify("GET", EVENTS, query=b"token=t2") == sse.SseRequest(SseRequestKind.OPEN, "t2")


def test_the_header_token_wins_over_the_query_string() -> None:
    assert classify("GET", EVENTS, token="head", query=b"token=query").token == "head"


def test_a_post_with_a_token_executes_on_the_stream() -> None:
    found = classify("POST", "application/json", token="t3")
    assert found == sse.SseRequest(SseRequestKind.EXECUTE, "t3")


def test_delete_stops_with_or_without_a_token() -> None:
    assert classify("DELETE", token="t4") == sse.SseRequest(SseRequestKind.STOP, "t4")
    assert classify("DELETE").token is None


def test_a_json_request_without_a_token_is_not_graphql_sse() -> None:
    assert classify("POST", "application/json").kind is SseRequestKind.NONE
    assert classify("GET").kind is SseRequestKind.NONE


def test_an_oversized_token_is_no_token() -> None:
    assert classify("GET", EVENTS, token="x" * (sse.MAX_TOKEN_LENGTH + 1)).token is None


@pytest.mark.parametrize(
    ("extensions", "expected"),
    [
        ({"operationId": "abc"}, "abc"),
        ({"operationId": 7}, "7"),
        ({"operationId": ""}, None),
        ({"operationId": None}, None),
        ({"operationId": True}, None),
        ({"operationId": ["x"]}, None),
        ({}, None),
        (None, None),
    ],
)
def test_operation_id_comes_from_extensions(extensions: object, expected: str | None) -> None:
    assert sse.operation_id_of(extensions) == expected  # type: ignore[arg-type]


def test_delete_reads_operation_id_from_the_query_string() -> None:
    assert sse.query_parameter(b"operationId=op%201&token=t", "operationId") == "op 1"
    assert sse.query_parameter(b"operationId=", "operationId") is None
    assert sse.query_parameter(b"", "operationId") is None


# ------------------------------------------ the single connection table


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (SingleConnection.RESERVED, 201),
        (SingleConnection.RESERVE_NOT_ACCEPTABLE, 406),
        (SingleConnection.STREAM_OPENED, 200),
        (SingleConnection.STREAM_ALREADY_OPEN, 409),
        (SingleConnection.STREAM_NOT_FOUND, 404),
        (SingleConnection.OPERATION_ID_MISSING, 400),
        (SingleConnection.OPERATION_ALREADY_RUNNING, 409),
        (SingleConnection.OPERATION_INVALID, 400),
        (SingleConnection.OPERATION_ACCEPTED, 202),
        (SingleConnection.STOPPED, 200),
    ],
)
def test_status_table_is_section_2(outcome: SingleConnection, status: int) -> None:
    assert sse.STATUS[outcome] == status


def test_every_outcome_has_a_row() -> None:
    assert set(sse.STATUS) == set(SingleConnection)


def test_a_reservation_answers_its_token_as_plain_text() -> None:
    response = sse.single_connection_response(SingleConnection.RESERVED, token="tok")
    assert (response.status, response.body) == (201, b"tok")
    assert response.header("content-type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize("outcome", [SingleConnection.OPERATION_ACCEPTED, SingleConnection.STOPPED])
def test_accepted_and_stopped_have_no_body(outcome: SingleConnection) -> None:
    response = sse.single_connection_response(outcome)
    assert response.body == b""


@pytest.mark.parametrize(
    "outcome",
    [
        SingleConnection.RESERVE_NOT_ACCEPTABLE,
        SingleConnection.STREAM_ALREADY_OPEN,
        SingleConnection.STREAM_NOT_FOUND,
        SingleConnection.OPERATION_ID_MISSING,
        SingleConnection.OPERATION_ALREADY_RUNNING,
    ],
)
def test_refusals_are_json_with_an_error_message(outcome: SingleConnection) -> None:
    response = sse.single_connection_response(outcome)
    assert response.header("content-type") == "application/json; charset=utf-8"
    (error,) = json.loads(response.body)["errors"]
    assert error["message"]


def test_invalid_operation_answers_its_graphql_errors() -> None:
    errors = [{"message": "Cannot query field 'x' on type 'Query'."}]
    response = sse.single_connection_response(SingleConnection.OPERATION_INVALID, errors=errors)
    assert (response.status, json.loads(response.body)) == (400, {"errors": errors})


# ---------------------------------------- the HTTP request, with streams


def request(method: str, accept: str | None = None, **endpoint: object) -> HttpRequest:
    headers = [(b"content-type", b"application/json")]
    if accept is not None:
        headers.append((b"accept", accept.encode()))
    return HttpRequest(method, headers, b"", Endpoint(**endpoint))  # type: ignore[arg-type]


def test_a_stream_only_accept_is_not_406() -> None:
    found = request("POST", EVENTS)
    assert found.check_head() is None
    assert found.media_type == "application/json"
    assert found.stream is not None and found.stream.kind is StreamKind.SSE


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_single_connection_methods_are_405_when_the_mode_is_off(method: str) -> None:
    found = request(method).check_head()
    assert isinstance(found, HttpResponse)
    assert (found.status, found.header("allow")) == (405, "GET, POST")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_single_connection_methods_need_no_body(method: str) -> None:
    assert request(method, single_connection=True).check_head() is None


def test_other_methods_name_all_four_in_allow_when_the_mode_is_on() -> None:
    found = request("PATCH", single_connection=True).check_head()
    assert isinstance(found, HttpResponse)
    assert found.header("allow") == "GET, POST, PUT, DELETE"


def test_event_stream_is_chosen_over_json_only_when_ranked_first() -> None:
    first = negotiate_stream("text/event-stream, application/json")
    second = negotiate_stream("application/json, text/event-stream")
    assert first is not None and first.preferred
    assert second is not None and not second.preferred
    assert negotiate_stream("*/*") is None
    assert negotiate_stream("text/event-stream;q=0") is None
