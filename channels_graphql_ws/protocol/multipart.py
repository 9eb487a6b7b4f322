"""Apollo's multipart subscriptions, as values: the framing of section 3 (decision T9).

Sans I/O, standard library only. A subscription's response is
``multipart/mixed`` with the boundary ``graphql``; every part is JSON:
``{"payload": <result>}`` per result, ``{}`` as a heartbeat, and
``{"payload": null, "errors": [...]}`` for a failure that ends it. The
close delimiter ends the response: Apollo Client counts a stream that
stops without it as an error.
"""

from __future__ import annotations

BOUNDARY = "graphql"
#: Seconds between heartbeats while nothing else is sent, when
#: ``send_ping_every`` is not set (what Apollo's router does).
HEARTBEAT_SECONDS = 5.0

STREAM_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", f'multipart/mixed;boundary="{BOUNDARY}";subscriptionSpec="1.0"'),
    ("cache-control", "no-cache, no-transform"),
    ("x-accel-buffering", "no"),
)

_PART_HEAD = f"\r\n--{BOUNDARY}\r\nContent-Type: application/json\r\n\r\n".encode()


def part(json_text: str) -> bytes:
    """One part: the delimiter, its header, a blank line, the JSON (CRLF line ends)."""
    return _PART_HEAD + json_text.encode()


#: A heartbeat: sent as the first bytes, then while the stream is idle.
HEARTBEAT = part("{}")
#: The close delimiter: the response ends after it.
CLOSE = f"\r\n--{BOUNDARY}--\r\n".encode()


def result_part(payload_json: str) -> bytes:
    """A result, GraphQL errors included: the subscription goes on."""
    return part(f'{{"payload":{payload_json}}}')


def fatal_part(errors_json: str) -> bytes:
    """A transport-level failure: the subscription ends (the close delimiter follows)."""
    return part(f'{{"payload":null,"errors":{errors_json}}}')
