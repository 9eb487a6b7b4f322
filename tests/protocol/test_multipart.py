"""Apollo multipart subscriptions as values, rule by rule (TRANSPORTS.md section 3, T9)."""

from __future__ import annotations

import json
import re

import pytest

from channels_graphql_ws.protocol import multipart
from channels_graphql_ws.protocol.accept import StreamKind, negotiate_stream

APOLLO_ACCEPT = (
    "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,"
    "application/graphql-response+json,application/json;q=0.9"
)


def parts_of(raw: bytes) -> tuple[list[tuple[dict[str, str], object]], bool]:
    """Split a body as Apollo Client does: (headers, JSON) per part, and whether it closed."""
    text = raw.decode()
    closed = text.endswith("\r\n--graphql--\r\n")
    if closed:
        text = text[: -len("--\r\n")]
    chunks = text.split("\r\n--graphql")
    assert chunks[0] == "", "the body starts with a delimiter"
    parts = []
    for chunk in chunks[1:]:
        if not chunk:
            continue
        assert chunk.startswith("\r\n")
        head, _, body = chunk[2:].partition("\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.split("\r\n"))
        parts.append((headers, json.loads(body)))
    return parts, closed


def test_the_response_is_multipart_mixed_with_the_graphql_boundary() -> None:
    headers = dict(multipart.STREAM_HEADERS)
    assert headers["content-type"] == 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"'
    assert headers["cache-control"] == "no-cache, no-transform"
    assert headers["x-accel-buffering"] == "no"


def test_a_part_has_crlf_line_ends_and_a_json_header() -> None:
    raw = multipart.part('{"a":1}')
    assert raw == b'\r\n--graphql\r\nContent-Type: application/json\r\n\r\n{"a":1}'
    assert re.search(rb"(?<!\r)\n", raw) is None, "every line end is CRLF"


def test_the_heartbeat_is_an_empty_object() -> None:
    assert parts_of(multipart.HEARTBEAT) == ([({"Content-Type": "application/json"}, {})], False)


def test_a_result_goes_in_payload() -> None:
    raw = multipart.result_part('{"data":{"n":1},"errors":[{"message":"x"}]}')
    (part,), _ = parts_of(raw)
    assert part[1] == {"payload": {"data": {"n": 1}, "errors": [{"message": "x"}]}}


def test_a_fatal_error_has_a_null_payload_and_top_level_errors() -> None:
    (part,), _ = parts_of(multipart.fatal_part('[{"message":"gone"}]'))
    assert part[1] == {"payload": None, "errors": [{"message": "gone"}]}


def test_the_close_delimiter_ends_the_body() -> None:
    raw = multipart.HEARTBEAT + multipart.result_part('{"data":null}') + multipart.CLOSE
    parts, closed = parts_of(raw)
    assert closed
    assert [body for _, body in parts] == [{}, {"payload": {"data": None}}]
    assert multipart.CLOSE == b"\r\n--graphql--\r\n"


def test_heartbeats_come_about_every_five_seconds() -> None:
    assert multipart.HEARTBEAT_SECONDS == 5.0


@pytest.mark.parametrize(
    "accept",
    [
        APOLLO_ACCEPT,
        'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json',
        "multipart/mixed; subscriptionSpec=1.0",
    ],
)
def test_apollo_accept_asks_for_multipart(accept: str) -> None:
    choice = negotiate_stream(accept)
    assert choice is not None
    assert (choice.kind, choice.preferred) == (StreamKind.MULTIPART, True)


@pytest.mark.parametrize(
    "accept",
    [
        "multipart/mixed;deferSpec=20220824,application/json",
        "multipart/mixed;subscriptionSpec=2.0",
        "multipart/mixed",
        "multipart/mixed;subscriptionSpec=1.0;q=0",
        "application/json",
    ],
)
def test_other_accepts_do_not(accept: str) -> None:
    assert negotiate_stream(accept) is None


def test_multipart_ranked_below_json_is_for_subscriptions_only() -> None:
    choice = negotiate_stream("application/json, multipart/mixed;subscriptionSpec=1.0")
    assert choice is not None and not choice.preferred
