"""graphql-transport-ws at the protocol layer, row by row.

There is one test per row of the "graphql-transport-ws" table in PROTOCOL.md
section 4 ("What our server answers"), in the table's order, named after the
row. Rows that need the application (``on_connect``, execution, the
``subscribe`` hook) are tested as the state machine's part of them: the event
it emits and what it puts on the wire for the application's decision. After
the rows come the rules that hold across them (API.md section 0, decision 3:
nothing after a close; keep-alives; close reasons that fit a close frame).

Everything here is synchronous: the layer does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import pytest

from channels_graphql_ws.protocol import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    Close,
    CloseCode,
    ConnectionInitReceived,
    OperationRequested,
    OperationStopRequested,
    Output,
    PongReceived,
    Send,
    SendText,
    ServerConnection,
    Subscribe,
)

#: RFC 6455: a close frame has room for 123 bytes of reason.
MAX_CLOSE_REASON_BYTES = 123

State = Literal["fresh", "pending", "acked"]

QUERY = "query Q { hello }"


# ---------------------------------------------------------------- helpers


def dumps(message: object) -> str:
    """A text frame as a client would send it (non-ASCII kept as UTF-8)."""
    return json.dumps(message, ensure_ascii=False)


def subscribe_frame(op_id: object = "1", query: str = QUERY, **extra: Any) -> str:
    return dumps({"type": "subscribe", "id": op_id, "payload": {"query": query, **extra}})


def complete_frame(op_id: object) -> str:
    return dumps({"type": "complete", "id": op_id})


INIT = dumps({"type": "connection_init"})
PING = dumps({"type": "ping"})


def connection(state: State = "acked", *, max_message_size: int | None = None) -> ServerConnection:
    """A connection that has received nothing, an init (hook running), or been acked."""
    conn = ServerConnection(GRAPHQL_TRANSPORT_WS, max_message_size=max_message_size)
    if state in ("pending", "acked"):
        assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    if state == "acked":
        assert conn.acknowledge() == [Send({"type": "connection_ack"})]
    return conn


def start(conn: ServerConnection, op_id: str = "1", query: str = QUERY) -> Subscribe:
    """Subscribe ``op_id`` and check the machine asks the application to run it."""
    outputs = conn.receive_frame(subscribe_frame(op_id, query))
    assert len(outputs) == 1, outputs
    (requested,) = outputs
    assert isinstance(requested, OperationRequested), outputs
    assert requested.message.id == op_id
    assert requested.message.query == query
    return requested.message


def next_message(op_id: str, result: dict[str, Any]) -> Send:
    return Send({"type": "next", "id": op_id, "payload": result})


def complete_message(op_id: str) -> Send:
    return Send({"type": "complete", "id": op_id})


def error_message(op_id: str, errors: list[dict[str, Any]]) -> Send:
    return Send({"type": "error", "id": op_id, "payload": errors})


def wire(outputs: list[Output]) -> list[Output]:
    """Only what goes on the wire (``Send`` and ``Close``), not events."""
    return [output for output in outputs if isinstance(output, (Send, Close))]


def assert_silent(conn: ServerConnection, *op_ids: str) -> None:
    """Decision 3: once closed, nothing the client or the application does
    produces any output, for any id (``op_ids`` adds ids that were active)."""
    assert conn.closed
    calls: list[tuple[str, Callable[[], list[Output]]]] = [
        ("receive_frame(ping)", lambda: conn.receive_frame(PING)),
        ("receive_frame(init)", lambda: conn.receive_frame(INIT)),
        ("receive_frame(not json)", lambda: conn.receive_frame("{")),
        ("receive_frame(binary)", lambda: conn.receive_frame(b"\x00")),
        ("receive_frame(unknown type)", lambda: conn.receive_frame('{"type":"x"}')),
        (
            "receive_frame(terminate)",
            lambda: conn.receive_frame('{"type":"connection_terminate"}'),
        ),
        ("receive_message(ping)", lambda: conn.receive_message({"type": "ping"})),
        ("acknowledge", lambda: conn.acknowledge({"user": "u"}, keepalive=True)),
        ("acknowledge(None)", lambda: conn.acknowledge(None)),
        ("reject", lambda: conn.reject({"message": "no"})),
        ("keepalive", conn.keepalive),
        ("init_timeout", conn.init_timeout),
        ("close", lambda: conn.close(CloseCode.NORMAL_CLOSURE)),
        ("close(1011)", lambda: conn.close(CloseCode.INTERNAL_ERROR)),
    ]
    errors: list[dict[str, Any]] = [{"message": "boom"}]
    for op_id in dict.fromkeys(("1", "2", *op_ids)):
        calls += [
            (f"send_result({op_id})", partial(conn.send_result, op_id, {"data": {}})),
            (f"send_encoded_result({op_id})", partial(conn.send_encoded_result, op_id, "{}")),
            (f"complete({op_id})", partial(conn.complete, op_id)),
            (f"send_error({op_id})", partial(conn.send_error, op_id, errors)),
            (f"send_document_errors({op_id})", partial(conn.send_document_errors, op_id, errors)),
            (f"send_setup_errors({op_id})", partial(conn.send_setup_errors, op_id, errors)),
            (f"receive subscribe {op_id}", partial(conn.receive_frame, subscribe_frame(op_id))),
            (f"receive complete {op_id}", partial(conn.receive_frame, complete_frame(op_id))),
        ]
    for name, call in calls:
        assert call() == [], f"{name} after the close"
    assert conn.closed


def assert_closes(conn: ServerConnection, outputs: list[Output], code: int, *op_ids: str) -> Close:
    """The call closed with ``code``, sent nothing before it (decision 3), gave a
    reason that fits a close frame, and the connection is silent from then on."""
    assert len(outputs) == 1, f"expected only a close {code}, got {outputs}"
    (close,) = outputs
    assert isinstance(close, Close), outputs
    assert close.code == code, outputs
    assert len(close.reason.encode("utf-8")) <= MAX_CLOSE_REASON_BYTES, close.reason
    assert_silent(conn, *op_ids)
    return close


def acked_with_running_operation() -> ServerConnection:
    """An acknowledged connection where operation "1" runs and has sent results.

    One of them was pre-encoded, so the frame head of "1" is cached: a close
    must silence it too.
    """
    conn = connection("acked")
    start(conn, "1")
    assert conn.send_result("1", {"data": {"n": 1}}) == [next_message("1", {"data": {"n": 1}})]
    assert encoded_frames(conn.send_encoded_result("1", '{"data":{"n":2}}')) == [
        {"type": "next", "id": "1", "payload": {"data": {"n": 2}}}
    ]
    return conn


def encoded_frames(outputs: list[Output]) -> list[Any]:
    """What ``send_encoded_result`` put on the wire, parsed."""
    assert all(isinstance(output, SendText) for output in outputs), outputs
    return [json.loads(output.text) for output in outputs if isinstance(output, SendText)]


def connection_in(state: State) -> tuple[ServerConnection, tuple[str, ...]]:
    """A connection in ``state``; when acked, with operation "1" running."""
    if state == "acked":
        return acked_with_running_operation(), ("1",)
    return connection(state), ()


STATES: tuple[State, ...] = ("fresh", "pending", "acked")
ALL_STATES = pytest.mark.parametrize("state", STATES)


# ------------------------------------------------------- the table's rows


def ping_frame_of(nbytes: int, filler: str) -> str:
    """A valid ping frame of exactly ``nbytes`` UTF-8 bytes: its payload is as
    many ``filler`` characters as fit, then ASCII for the bytes left over."""
    base = dumps({"type": "ping", "payload": ""})
    room = nbytes - len(base.encode("utf-8"))
    width = len(filler.encode("utf-8"))
    count, rest = divmod(room, width)
    assert count > 0, (nbytes, filler)
    frame = dumps({"type": "ping", "payload": filler * count + "x" * rest})
    assert len(frame.encode("utf-8")) == nbytes
    return frame


LIMIT = 100
EMOJI = "\N{GRINNING FACE}"  # 4 bytes in UTF-8
EURO = "\N{EURO SIGN}"  # 3 bytes in UTF-8


@pytest.mark.parametrize("state", ["fresh", "acked"])
@pytest.mark.parametrize(
    ("frame", "over"),
    [
        pytest.param(EMOJI * 30, True, id="30-emoji-120-bytes"),
        pytest.param(ping_frame_of(LIMIT + 1, "x"), True, id="ascii-one-over"),
        pytest.param(ping_frame_of(LIMIT + 1, EMOJI), True, id="emoji-ping-one-byte-over"),
        pytest.param(ping_frame_of(LIMIT + 1, EURO), True, id="euro-ping-one-byte-over"),
        pytest.param(b"x" * (LIMIT + 1), True, id="binary-over"),
        pytest.param(ping_frame_of(LIMIT, "x"), False, id="ascii-exactly-at-limit"),
        pytest.param(ping_frame_of(LIMIT, EMOJI), False, id="emoji-exactly-at-limit"),
        pytest.param(ping_frame_of(LIMIT, EURO), False, id="euro-exactly-at-limit"),
        pytest.param(ping_frame_of(LIMIT - 1, EURO), False, id="euro-one-under"),
    ],
)
def test_frame_over_max_message_size_closes_1009(
    state: State, frame: str | bytes, over: bool
) -> None:
    """| frame over `max_message_size` (bytes) | close 1009 |

    Measured in UTF-8 bytes, not characters; a frame of exactly the limit is
    not over it. The size is checked before anything else (a 120-byte frame of
    emoji is not JSON, yet the answer is 1009, not 4400)."""
    if isinstance(frame, str) and frame.isascii():
        assert (len(frame) > LIMIT) is over
    elif isinstance(frame, str):  # fewer characters than the limit: bytes decide
        assert len(frame) <= LIMIT
    conn = connection(state, max_message_size=LIMIT)
    op_ids: tuple[str, ...] = ()
    if state == "acked":
        start(conn, "1")
        op_ids = ("1",)
    outputs = conn.receive_frame(frame)
    if over:
        assert_closes(conn, outputs, CloseCode.MESSAGE_TOO_BIG, *op_ids)
        assert int(CloseCode.MESSAGE_TOO_BIG) == 1009
    else:
        assert isinstance(frame, str)
        assert outputs == [Send({"type": "pong", "payload": json.loads(frame)["payload"]})]
        assert not conn.closed


NOT_JSON_OBJECTS = [
    pytest.param(b'{"type": "ping"}', id="binary-with-json"),
    pytest.param(b"", id="binary-empty"),
    pytest.param(bytearray(b'{"type": "connection_init"}'), id="bytearray"),
    pytest.param("", id="empty-text"),
    pytest.param("not json", id="text"),
    pytest.param("{", id="truncated-object"),
    pytest.param('{"type": "ping"', id="unterminated"),
    pytest.param("{'type': 'ping'}", id="single-quotes"),
    pytest.param('{"type": "ping"} {}', id="two-values"),
    pytest.param("[" * 100_000, id="100000-open-brackets"),
    pytest.param("[" * 100_000 + "]" * 100_000, id="100000-deep-array"),
    pytest.param('{"a":' * 50_000 + "1" + "}" * 50_000, id="50000-deep-object"),
    # Python's json module reads these JavaScript literals; JSON has no such values.
    pytest.param("NaN", id="bare-nan"),
    pytest.param('{"type": "ping", "payload": NaN}', id="nan-inside-object"),
    pytest.param('{"type": "ping", "payload": {"t": -Infinity}}', id="infinity-inside-object"),
    pytest.param("[]", id="json-array"),
    pytest.param('[{"type": "ping"}]', id="json-array-of-message"),
    pytest.param("1", id="json-number"),
    pytest.param("-1.5e3", id="json-float"),
    pytest.param('"ping"', id="json-string"),
    pytest.param('"{\\"type\\": \\"ping\\"}"', id="json-string-of-message"),
    pytest.param("null", id="json-null"),
    pytest.param("true", id="json-true"),
]


@ALL_STATES
@pytest.mark.parametrize("frame", NOT_JSON_OBJECTS)
def test_binary_frame_or_not_json_or_not_an_object_closes_4400(
    state: State, frame: str | bytes
) -> None:
    """| binary frame; text that is not JSON; JSON that is not an object | close 4400 |"""
    conn, op_ids = connection_in(state)
    assert_closes(conn, conn.receive_frame(frame), CloseCode.BAD_REQUEST, *op_ids)
    assert int(CloseCode.BAD_REQUEST) == 4400


BAD_TYPES = [
    pytest.param({}, id="empty-object"),
    pytest.param({"id": "1", "payload": {"query": QUERY}}, id="missing"),
    pytest.param({"type": None}, id="null"),
    pytest.param({"type": 1}, id="number"),
    pytest.param({"type": True}, id="bool"),
    pytest.param({"type": ["ping"]}, id="array"),
    pytest.param({"type": {"name": "ping"}}, id="object"),
    pytest.param({"type": ""}, id="empty-string"),
    pytest.param({"type": "foo"}, id="unknown"),
    pytest.param({"type": "ping "}, id="trailing-space"),
    pytest.param({"type": " ping"}, id="leading-space"),
    pytest.param({"type": "connection-init"}, id="dash"),
    pytest.param({"type": "connectionInit"}, id="camel-case"),
    pytest.param({"type": "subscription", "id": "2", "payload": {"query": QUERY}}, id="near"),
    pytest.param({"type": "query", "id": "2", "payload": {"query": QUERY}}, id="query"),
    pytest.param({"type": "ping\u0000"}, id="nul"),
]

#: Spellings of known types that must be read as their lower-case selves, each
#: with the state where its lower-case twin does something visible.
MIXED_CASE: list[tuple[str, dict[str, Any], State]] = [
    ("Subscribe", {"type": "Subscribe", "id": "2", "payload": {"query": QUERY}}, "acked"),
    ("SUBSCRIBE", {"type": "SUBSCRIBE", "id": "2", "payload": {"query": QUERY}}, "acked"),
    ("CONNECTION_INIT", {"type": "CONNECTION_INIT", "payload": {"a": 1}}, "fresh"),
    ("Connection_Init", {"type": "Connection_Init"}, "fresh"),
    ("CONNECTION_INIT-again", {"type": "CONNECTION_INIT"}, "acked"),
    ("PING", {"type": "PING", "payload": {"a": 1}}, "fresh"),
    ("Pong", {"type": "Pong"}, "acked"),
    ("COMPLETE", {"type": "COMPLETE", "id": "1"}, "acked"),
    ("Connection_Terminate", {"type": "Connection_Terminate"}, "acked"),
]

TYPE_CASES = [
    *(
        pytest.param(param.values[0], state, False, id=f"{param.id}-{state}")
        for param in BAD_TYPES
        for state in STATES
    ),
    *(
        pytest.param(message, state, True, id=f"case-insensitive-{name}")
        for name, message, state in MIXED_CASE
    ),
]


@pytest.mark.parametrize(("message", "state", "known"), TYPE_CASES)
def test_type_missing_not_a_string_or_unknown_closes_4400(
    message: dict[str, Any], state: State, known: bool
) -> None:
    """| `type` missing, not a string, or unknown (names match case-insensitively:
    `Subscribe` is `subscribe`) | close 4400 |

    A known type in any letter case is answered exactly as its lower-case
    spelling is, in a state where that answer shows, and never with 4400."""
    conn, op_ids = connection_in(state)
    outputs = conn.receive_frame(dumps(message))
    if not known:
        assert_closes(conn, outputs, CloseCode.BAD_REQUEST, *op_ids)
        return
    twin, _ = connection_in(state)
    expected = twin.receive_frame(dumps({**message, "type": message["type"].lower()}))
    assert outputs == expected
    assert outputs, "the lower-case twin must do something visible"
    codes = [output.code for output in outputs if isinstance(output, Close)]
    assert CloseCode.BAD_REQUEST not in codes


WRONG_SIDE_TYPES = [
    pytest.param({"type": "next", "id": "1", "payload": {"data": {"x": 1}}}, id="next"),
    pytest.param({"type": "error", "id": "1", "payload": [{"message": "x"}]}, id="error"),
    pytest.param({"type": "connection_ack"}, id="connection_ack"),
    pytest.param({"type": "connection_ack", "payload": {"a": 1}}, id="connection_ack-payload"),
    pytest.param({"type": "start", "id": "2", "payload": {"query": QUERY}}, id="start"),
    pytest.param({"type": "stop", "id": "1"}, id="stop"),
    pytest.param({"type": "data", "id": "1", "payload": {"data": None}}, id="data"),
    pytest.param({"type": "ka"}, id="ka"),
    pytest.param({"type": "connection_error", "payload": {"message": "x"}}, id="connection_error"),
    pytest.param({"type": "NEXT", "id": "1", "payload": {}}, id="NEXT"),
    pytest.param({"type": "Start", "id": "2", "payload": {"query": QUERY}}, id="Start"),
    pytest.param({"type": "STOP", "id": "1"}, id="STOP"),
    pytest.param({"type": "Connection_Ack"}, id="Connection_Ack"),
]


@ALL_STATES
@pytest.mark.parametrize("message", WRONG_SIDE_TYPES)
def test_server_only_or_legacy_only_type_closes_4400(state: State, message: dict[str, Any]) -> None:
    """| a server-only or legacy-only type (`next`, `error`, `connection_ack`,
    `start`, `stop`, `data`, `ka`, `connection_error`) | close 4400 |

    (The reference closes 4500 for the server-only ones; our table says 4400.
    A `stop` for the running operation "1" does not stop it: the close is all.)"""
    conn, op_ids = connection_in(state)
    assert_closes(conn, conn.receive_frame(dumps(message)), CloseCode.BAD_REQUEST, *op_ids)


@ALL_STATES
@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"type": "connection_terminate"}, id="plain"),
        pytest.param({"type": "connection_terminate", "payload": [1], "id": 3}, id="extra-fields"),
        pytest.param({"type": "CONNECTION_TERMINATE"}, id="upper-case"),
    ],
)
def test_connection_terminate_closes_1000(state: State, message: dict[str, Any]) -> None:
    """| `connection_terminate` | close 1000 |"""
    conn, op_ids = connection_in(state)
    assert_closes(conn, conn.receive_frame(dumps(message)), CloseCode.NORMAL_CLOSURE, *op_ids)
    assert int(CloseCode.NORMAL_CLOSURE) == 1000


_ABSENT = object()

INIT_PAYLOADS = [
    pytest.param({"token": "t", "nested": {"list": [1, "a", None]}}, id="object"),
    pytest.param({}, id="empty-object"),
    pytest.param(None, id="null"),
    pytest.param(_ABSENT, id="absent"),
    pytest.param("", id="empty-string"),
    pytest.param("token", id="string"),
    pytest.param(0, id="zero"),
    pytest.param(42, id="number"),
    pytest.param(1.5, id="float"),
    pytest.param([1, "a"], id="array"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
]


@pytest.mark.parametrize("payload", INIT_PAYLOADS)
@pytest.mark.parametrize(
    "decision",
    [
        "returns-dict",
        "returns-empty-dict",
        "returns-none",
        "returns-true",
        "acknowledge-with-keepalive",
        "raises-or-false",
        "reject-with-error",
    ],
)
def test_first_connection_init_whatever_its_payload_runs_on_connect(
    payload: Any, decision: str
) -> None:
    """| first `connection_init`, whatever its payload (an object, null, absent,
    or another JSON value such as the older client's `""`) | `on_connect(payload)`:
    raises or returns `False`: close 4403; returns a dict: `connection_ack` with
    that dict as payload; returns `None` or `True`: `connection_ack` with no
    payload key |

    The machine's part: one `ConnectionInitReceived` with the payload unchanged
    (decision 1: never validated; absent reads as None), then the answer to
    `acknowledge(...)` or `reject(...)`."""
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not _ABSENT:
        message["payload"] = payload
    conn = ServerConnection(GRAPHQL_TRANSPORT_WS)
    outputs = conn.receive_frame(dumps(message))
    expected_payload = None if payload is _ABSENT else payload
    assert outputs == [ConnectionInitReceived(expected_payload, implicit=False)]
    (event,) = outputs
    assert isinstance(event, ConnectionInitReceived)
    assert type(event.payload) is type(expected_payload)  # 0 stays 0, not False

    if decision in ("raises-or-false", "reject-with-error"):
        error = {"message": "RuntimeError: no", "extensions": {"code": "RuntimeError"}}
        outputs = conn.reject(error) if decision == "reject-with-error" else conn.reject()
        assert_closes(conn, outputs, CloseCode.FORBIDDEN)
        assert int(CloseCode.FORBIDDEN) == 4403
        return

    if decision == "returns-dict":
        ack_payload: dict[str, Any] | None = {"user": "u", "roles": ["a"]}
        expected_ack: dict[str, Any] = {"type": "connection_ack", "payload": ack_payload}
        outputs = conn.acknowledge(ack_payload)
    elif decision == "returns-empty-dict":
        expected_ack = {"type": "connection_ack", "payload": {}}
        outputs = conn.acknowledge({})
    elif decision == "returns-none":
        expected_ack = {"type": "connection_ack"}
        outputs = conn.acknowledge(None)
    elif decision == "returns-true":  # the consumer maps True to "no payload"
        expected_ack = {"type": "connection_ack"}
        outputs = conn.acknowledge()
    else:  # keep-alives on: transport-ws sends no ping along with the ack
        expected_ack = {"type": "connection_ack"}
        outputs = conn.acknowledge(None, keepalive=True)
    assert outputs == [Send(expected_ack)]
    # Acknowledged means operations run now; a late second answer does nothing.
    start(conn, "1")
    assert conn.acknowledge({"again": True}) == []
    assert conn.reject() == []
    assert not conn.closed


SECOND_INITS = [
    pytest.param({"type": "connection_init"}, id="absent-payload"),
    pytest.param({"type": "connection_init", "payload": None}, id="null"),
    pytest.param({"type": "connection_init", "payload": {"token": "t"}}, id="object"),
    pytest.param({"type": "connection_init", "payload": ""}, id="empty-string"),
    pytest.param({"type": "connection_init", "payload": 7}, id="number"),
    pytest.param({"type": "connection_init", "payload": [1]}, id="array"),
    pytest.param({"type": "connection_init", "id": 5, "payload": "x"}, id="junk-fields"),
    pytest.param({"type": "CONNECTION_INIT", "payload": {}}, id="upper-case"),
]


@pytest.mark.parametrize("state", ["pending", "acked"])
@pytest.mark.parametrize("message", SECOND_INITS)
def test_another_connection_init_pending_or_acknowledged_closes_4429(
    state: State, message: dict[str, Any]
) -> None:
    """| another `connection_init`, pending or acknowledged, whatever its payload
    (checked before anything else about it) | close 4429 |

    While pending, the hook's late answer does nothing; when acked, the running
    operation's result is not flushed."""
    conn, op_ids = connection_in(state)
    assert_closes(
        conn, conn.receive_frame(dumps(message)), CloseCode.TOO_MANY_INIT_REQUESTS, *op_ids
    )
    assert int(CloseCode.TOO_MANY_INIT_REQUESTS) == 4429


@pytest.mark.parametrize(
    "before",
    ["nothing", "ping", "pong", "init-pending", "acked", "acked-then-ping"],
)
def test_nothing_within_connection_init_wait_timeout_closes_4408(before: str) -> None:
    """| nothing within `connection_init_wait_timeout` seconds of the accept
    (default 3; 0 turns it off) | close 4408 |

    The timer itself is the consumer's; the machine closes 4408 on
    `init_timeout()` only while no `connection_init` was received (pings and
    pongs do not count; an init whose hook still runs is not timed out)."""
    conn = ServerConnection(GRAPHQL_TRANSPORT_WS)
    if before == "ping":
        assert conn.receive_frame(PING) == [Send({"type": "pong"})]
    if before == "pong":
        assert wire(conn.receive_frame('{"type": "pong"}')) == []
    if before in ("init-pending", "acked", "acked-then-ping"):
        assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    if before in ("acked", "acked-then-ping"):
        conn.acknowledge()
    if before == "acked-then-ping":
        assert conn.receive_frame(PING) == [Send({"type": "pong"})]

    outputs = conn.init_timeout()
    if before in ("nothing", "ping", "pong"):
        assert_closes(conn, outputs, CloseCode.CONNECTION_INIT_TIMEOUT)
        assert int(CloseCode.CONNECTION_INIT_TIMEOUT) == 4408
        return
    assert outputs == []
    assert not conn.closed
    if before == "init-pending":
        assert conn.acknowledge() == [Send({"type": "connection_ack"})]
    start(conn, "1")
    assert conn.init_timeout() == []


@ALL_STATES
@pytest.mark.parametrize(
    ("ping", "pong"),
    [
        pytest.param({"type": "ping"}, {"type": "pong"}, id="no-payload"),
        pytest.param(
            {"type": "ping", "payload": {"t": 1, "n": {"x": [1]}}},
            {"type": "pong", "payload": {"t": 1, "n": {"x": [1]}}},
            id="object",
        ),
        pytest.param({"type": "ping", "payload": {}}, {"type": "pong", "payload": {}}, id="empty"),
        pytest.param(
            {"type": "ping", "payload": None}, {"type": "pong", "payload": None}, id="null"
        ),
        pytest.param({"type": "ping", "payload": ""}, {"type": "pong", "payload": ""}, id="string"),
        pytest.param({"type": "ping", "payload": 3}, {"type": "pong", "payload": 3}, id="number"),
        pytest.param({"type": "ping", "id": "1"}, {"type": "pong"}, id="stray-id"),
        pytest.param({"type": "PING"}, {"type": "pong"}, id="upper-case"),
    ],
)
def test_ping_at_any_time_answers_pong_echoing_payload(
    state: State, ping: dict[str, Any], pong: dict[str, Any]
) -> None:
    """| `ping`, at any time, also before `connection_init` | `pong`, echoing the
    ping's `payload` when it has one |

    No payload key when the ping had none; `null` is echoed as `null`; the
    payload is not validated (decision 1). The ping changes no state."""
    conn, _ = connection_in(state)
    outputs = conn.receive_frame(dumps(ping))
    assert outputs == [Send(pong)]
    (send,) = outputs
    assert isinstance(send, Send)
    assert ("payload" in send.message) == ("payload" in ping)
    assert not conn.closed
    if state == "fresh":  # the ping did not count as an init
        assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    elif state == "pending":  # still waiting for the hook
        assert conn.acknowledge() == [Send({"type": "connection_ack"})]
    else:  # operation "1" still runs
        assert conn.send_result("1", {"data": {}}) == [next_message("1", {"data": {}})]


@ALL_STATES
@pytest.mark.parametrize(
    "pong",
    [
        pytest.param({"type": "pong"}, id="no-payload"),
        pytest.param({"type": "pong", "payload": None}, id="null"),
        pytest.param({"type": "pong", "payload": {"t": 1}}, id="object"),
        pytest.param({"type": "pong", "payload": ""}, id="string"),
        pytest.param({"type": "Pong", "payload": 1}, id="mixed-case"),
    ],
)
def test_pong_answers_nothing(state: State, pong: dict[str, Any]) -> None:
    """| `pong` | nothing |

    Nothing goes on the wire; the machine only tells the application (for a
    pong timeout) with `PongReceived`."""
    conn, _ = connection_in(state)
    outputs = conn.receive_frame(dumps(pong))
    assert wire(outputs) == []
    assert outputs == [PongReceived(pong.get("payload"))]
    assert not conn.closed


@pytest.mark.parametrize("state", ["fresh", "pending"])
@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(subscribe_frame("1"), id="subscribe"),
        pytest.param(subscribe_frame("1", variables={"a": 1}, operationName="Q"), id="full"),
        pytest.param(
            dumps({"type": "Subscribe", "id": "1", "payload": {"query": QUERY}}), id="mixed-case"
        ),
    ],
)
def test_subscribe_before_connection_ack_closes_4401(state: State, frame: str) -> None:
    """| `subscribe` before `connection_ack` was sent | close 4401 |

    Both before any `connection_init` and while `on_connect` still runs; the
    hook's late acknowledgement then sends nothing."""
    conn = connection(state)
    assert_closes(conn, conn.receive_frame(frame), CloseCode.UNAUTHORIZED, "1")
    assert int(CloseCode.UNAUTHORIZED) == 4401


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"type": "subscribe", "payload": {"query": QUERY}}, id="missing"),
        pytest.param({"type": "subscribe", "id": None, "payload": {"query": QUERY}}, id="null"),
        pytest.param({"type": "subscribe", "id": "", "payload": {"query": QUERY}}, id="empty"),
        pytest.param({"type": "subscribe", "id": 2, "payload": {"query": QUERY}}, id="integer"),
        pytest.param({"type": "subscribe", "id": 0, "payload": {"query": QUERY}}, id="zero"),
        pytest.param({"type": "subscribe", "id": 2.5, "payload": {"query": QUERY}}, id="float"),
        pytest.param({"type": "subscribe", "id": True, "payload": {"query": QUERY}}, id="bool"),
        pytest.param({"type": "subscribe", "id": ["2"], "payload": {"query": QUERY}}, id="array"),
        pytest.param(
            {"type": "subscribe", "id": {"a": 1}, "payload": {"query": QUERY}}, id="object"
        ),
        pytest.param({"type": "Subscribe", "id": 3, "payload": {"query": QUERY}}, id="mixed-case"),
    ],
)
def test_subscribe_with_id_missing_not_a_string_or_empty_closes_4400(
    message: dict[str, Any],
) -> None:
    """| `subscribe` with `id` missing, not a string, or empty | close 4400 |

    Integers too: only the legacy subprotocol accepts integer ids."""
    conn = acked_with_running_operation()
    assert_closes(conn, conn.receive_frame(dumps(message)), CloseCode.BAD_REQUEST, "1")


# (payload or _ABSENT, None when it must close 4400, else the expected
# (variables, operation_name, extensions) of the accepted Subscribe)
SUBSCRIBE_PAYLOADS = [
    pytest.param(_ABSENT, None, id="payload-missing"),
    pytest.param(None, None, id="payload-null"),
    pytest.param([{"query": QUERY}], None, id="payload-array"),
    pytest.param(QUERY, None, id="payload-string"),
    pytest.param(1, None, id="payload-number"),
    pytest.param(True, None, id="payload-bool"),
    pytest.param({}, None, id="query-missing"),
    pytest.param({"variables": {}}, None, id="query-missing-with-others"),
    pytest.param({"query": None}, None, id="query-null"),
    pytest.param({"query": 1}, None, id="query-number"),
    pytest.param({"query": [QUERY]}, None, id="query-array"),
    pytest.param({"query": {"q": QUERY}}, None, id="query-object"),
    pytest.param({"query": QUERY, "variables": []}, None, id="variables-array"),
    pytest.param({"query": QUERY, "variables": "{}"}, None, id="variables-string"),
    pytest.param({"query": QUERY, "variables": 1}, None, id="variables-number"),
    pytest.param({"query": QUERY, "variables": False}, None, id="variables-false"),
    pytest.param({"query": QUERY, "extensions": []}, None, id="extensions-array"),
    pytest.param({"query": QUERY, "extensions": "x"}, None, id="extensions-string"),
    pytest.param({"query": QUERY, "extensions": 0}, None, id="extensions-number"),
    pytest.param({"query": QUERY, "operationName": 1}, None, id="operationName-number"),
    pytest.param({"query": QUERY, "operationName": ["Q"]}, None, id="operationName-array"),
    pytest.param({"query": QUERY, "operationName": {"n": "Q"}}, None, id="operationName-object"),
    pytest.param({"query": QUERY, "operationName": False}, None, id="operationName-false"),
    # Accepted: null wherever the table allows it, and the plain shapes.
    pytest.param({"query": QUERY}, (None, None, None), id="query-only"),
    pytest.param({"query": ""}, (None, None, None), id="query-empty-string"),
    pytest.param(
        {"query": QUERY, "variables": None, "extensions": None, "operationName": None},
        (None, None, None),
        id="all-null",
    ),
    pytest.param(
        {"query": QUERY, "variables": {"a": [1]}, "extensions": {"e": 1}, "operationName": "Q"},
        ({"a": [1]}, "Q", {"e": 1}),
        id="all-set",
    ),
    pytest.param(
        {"query": QUERY, "variables": {}, "extensions": {}, "operationName": ""},
        ({}, "", {}),
        id="all-empty",
    ),
]


@pytest.mark.parametrize(("payload", "accepted"), SUBSCRIBE_PAYLOADS)
def test_subscribe_with_malformed_payload_closes_4400(
    payload: Any, accepted: tuple[Any, Any, Any] | None
) -> None:
    """| `subscribe` with `payload` missing or not an object, `query` not a
    string, `variables` or `extensions` not an object or null, `operationName`
    not a string or null | close 4400 |

    The well-formed payloads next to them (null where allowed) are accepted and
    handed to the application unchanged."""
    message: dict[str, Any] = {"type": "subscribe", "id": "2"}
    if payload is not _ABSENT:
        message["payload"] = payload
    conn = acked_with_running_operation()
    outputs = conn.receive_frame(dumps(message))
    if accepted is None:
        assert_closes(conn, outputs, CloseCode.BAD_REQUEST, "1", "2")
        return
    variables, operation_name, extensions = accepted
    assert outputs == [
        OperationRequested(
            Subscribe(
                id="2",
                payload=payload,
                query=payload["query"],
                variables=variables,
                operation_name=operation_name,
                extensions=extensions,
            )
        )
    ]
    assert not conn.closed


@pytest.mark.parametrize(
    "prior",
    [
        "query-running",
        "subscription-live",
        "reuse-after-complete",
        "reuse-after-stop-and-complete",
        "reuse-after-error",
        "reuse-after-document-errors",
        "reuse-after-setup-errors",
    ],
)
def test_subscribe_whose_id_is_active_closes_4409(prior: str) -> None:
    """| `subscribe` whose `id` is active (a query or mutation still running, or
    a live subscription) | close 4409 |

    No `error` for the id and no pending result go out (decision 3). Once an
    operation has ended, its id may be used again."""
    conn = connection("acked")
    start(conn, "7")
    if prior.startswith("subscription"):
        assert conn.send_result("7", {"data": {"n": 1}}) == [next_message("7", {"data": {"n": 1}})]
    if prior == "reuse-after-stop-and-complete":
        assert conn.receive_frame(complete_frame("7")) == [OperationStopRequested("7")]
    errors = [{"message": "boom"}]
    if prior in ("reuse-after-complete", "reuse-after-stop-and-complete"):
        assert conn.complete("7") == [complete_message("7")]
    elif prior == "reuse-after-error":
        assert conn.send_error("7", errors) == [error_message("7", errors)]
    elif prior == "reuse-after-document-errors":
        assert conn.send_document_errors("7", errors) == [error_message("7", errors)]
    elif prior == "reuse-after-setup-errors":
        assert conn.send_setup_errors("7", errors) == [error_message("7", errors)]

    outputs = conn.receive_frame(subscribe_frame("7", "{ again }"))
    if prior.startswith("reuse"):
        assert len(outputs) == 1 and isinstance(outputs[0], OperationRequested), outputs
        assert outputs[0].message.query == "{ again }"
        assert conn.send_result("7", {"data": {}}) == [next_message("7", {"data": {}})]
        assert conn.complete("7") == [complete_message("7")]
        return
    assert_closes(conn, outputs, CloseCode.SUBSCRIBER_ALREADY_EXISTS, "7")
    assert int(CloseCode.SUBSCRIBER_ALREADY_EXISTS) == 4409


@pytest.mark.parametrize("kind", ["query", "subscription"])
@pytest.mark.parametrize("ending", ["complete", "send_error"])
def test_subscribe_reusing_an_id_while_its_stop_is_carried_out_runs_after_the_old_end(
    kind: str, ending: str
) -> None:
    """| `subscribe` reusing an id after the client's own `complete` for it, while
    that stop is still being carried out | not 4409: the id is free from the
    client's `complete` on; the old operation's answering `complete` goes out
    first, then the new operation runs |"""
    conn = connection("acked")
    start(conn, "7")
    if kind == "subscription":
        assert conn.send_result("7", {"data": {"n": 1}}) == [next_message("7", {"data": {"n": 1}})]
    assert conn.receive_frame(complete_frame("7")) == [OperationStopRequested("7")]
    assert conn.receive_frame(subscribe_frame("7", "{ again }")) == []
    assert not conn.closed
    # A second reuse while the first still waits is a duplicate of an active id.
    errors = [{"message": "boom"}]
    if ending == "complete":
        outputs = conn.complete("7")
        assert outputs[0] == complete_message("7")
    else:
        outputs = conn.send_error("7", errors)
        assert outputs[0] == error_message("7", errors)
    assert len(outputs) == 2 and isinstance(outputs[1], OperationRequested), outputs
    assert outputs[1].message.query == "{ again }"
    assert conn.send_result("7", {"data": {}}) == [next_message("7", {"data": {}})]
    assert conn.complete("7") == [complete_message("7")]
    assert_operation_ended(conn, "7")


def test_a_reused_id_stopped_before_it_could_start_is_started_then_stopped() -> None:
    """The client may stop the reused operation too before the old one ended: it
    comes back as requested and stopped, so it still gets its one `complete`."""
    conn = connection("acked")
    start(conn, "7")
    assert conn.receive_frame(complete_frame("7")) == [OperationStopRequested("7")]
    assert conn.receive_frame(subscribe_frame("7", "{ again }")) == []
    assert conn.receive_frame(complete_frame("7")) == []
    outputs = conn.complete("7")
    assert outputs[0] == complete_message("7")
    assert isinstance(outputs[1], OperationRequested)
    assert outputs[2:] == [OperationStopRequested("7")]
    assert conn.send_result("7", {"data": {}}) == []
    assert conn.complete("7") == [complete_message("7")]


def test_a_second_reuse_while_the_first_waits_closes_4409() -> None:
    conn = connection("acked")
    start(conn, "7")
    assert conn.receive_frame(complete_frame("7")) == [OperationStopRequested("7")]
    assert conn.receive_frame(subscribe_frame("7", "{ again }")) == []
    outputs = conn.receive_frame(subscribe_frame("7", "{ and again }"))
    assert_closes(conn, outputs, CloseCode.SUBSCRIBER_ALREADY_EXISTS, "7")


def assert_operation_ended(conn: ServerConnection, op_id: str) -> None:
    """Nothing more goes out for ``op_id``; the socket stays open and the id is free."""
    errors = [{"message": "late"}]
    assert conn.complete(op_id) == []
    assert conn.send_result(op_id, {"data": {}}) == []
    assert conn.send_error(op_id, errors) == []
    assert conn.send_document_errors(op_id, errors) == []
    assert conn.send_setup_errors(op_id, errors) == []
    assert conn.receive_frame(complete_frame(op_id)) == []
    assert not conn.closed
    assert conn.receive_frame(PING) == [Send({"type": "pong"})]
    start(conn, op_id)


SYNTAX_ERROR: dict[str, Any] = {
    "message": "Syntax Error: Expected Name, found <EOF>.",
    "locations": [{"line": 1, "column": 8}],
}


def test_subscribe_whose_document_has_a_syntax_error_answers_error() -> None:
    """| `subscribe` whose document has a syntax error | `error`: one error with
    `message` and `locations` (the reference closes 4500; ...) |

    The machine's part: `send_document_errors` sends one `error` whose payload
    is the list as given, nothing after it, and the socket stays open."""
    conn = connection("acked")
    start(conn, "1", "query {")
    assert conn.send_document_errors("1", [SYNTAX_ERROR]) == [error_message("1", [SYNTAX_ERROR])]
    assert_operation_ended(conn, "1")


def test_subscribe_whose_document_fails_validation_answers_error() -> None:
    """| `subscribe` whose document fails validation, or names an operation it
    lacks | `error`: every validation error, in graphql-core's order |

    The machine's part: one `error` with every error of the list, in the
    order given; no `complete`; the socket stays open."""
    errors: list[dict[str, Any]] = [
        {
            "message": "Cannot query field 'nope' on type 'Query'.",
            "locations": [{"line": 1, "column": 3}],
        },
        {"message": "Unknown operation named 'Missing'."},
        {
            "message": "There can be only one operation named 'Q'.",
            "locations": [{"line": 1, "column": 7}, {"line": 2, "column": 7}],
        },
    ]
    conn = connection("acked")
    start(conn, "1", "{ nope }")
    start(conn, "2")
    assert conn.send_document_errors("1", errors) == [error_message("1", errors)]
    assert conn.send_result("2", {"data": {"hello": "x"}}) == [
        next_message("2", {"data": {"hello": "x"}})
    ]
    assert_operation_ended(conn, "1")


def test_on_operation_raises_answers_error() -> None:
    """| `on_operation` raises | `error`: the formatted exception |

    The machine's part: `send_error` sends one `error` with the list given,
    and nothing follows for that id."""
    formatted = [{"message": "RuntimeError: denied", "extensions": {"code": "RuntimeError"}}]
    conn = connection("acked")
    start(conn, "op")
    assert conn.send_error("op", formatted) == [error_message("op", formatted)]
    assert_operation_ended(conn, "op")


@pytest.mark.parametrize(
    "result",
    [
        pytest.param({"data": {"hello": "world"}}, id="data"),
        pytest.param(
            {
                "data": {"hello": None},
                "errors": [
                    {"message": "boom", "locations": [{"line": 1, "column": 3}], "path": ["hello"]}
                ],
            },
            id="resolver-errors",
        ),
        pytest.param({"data": None}, id="data-null"),
    ],
)
def test_query_or_mutation_answers_next_then_complete(result: dict[str, Any]) -> None:
    """| a query or mutation | `next` with its result (resolver errors in
    `payload.errors`), then `complete` |

    The machine's part: `OperationRequested` with the parsed message, the
    result passed through unchanged as `next`, one `complete`, then nothing
    more for that id (a second `complete` or `send_result` gives nothing)."""
    conn = connection("acked")
    payload: dict[str, Any] = {
        "query": "mutation M($v: Int) { set(v: $v) }",
        "variables": {"v": 1},
        "operationName": "M",
        "extensions": {"trace": True},
    }
    outputs = conn.receive_frame(dumps({"type": "subscribe", "id": "m1", "payload": payload}))
    assert outputs == [
        OperationRequested(
            Subscribe(
                id="m1",
                payload=payload,
                query=payload["query"],
                variables={"v": 1},
                operation_name="M",
                extensions={"trace": True},
            )
        )
    ]
    (requested,) = outputs
    assert isinstance(requested, OperationRequested)
    assert requested.id == "m1"
    assert conn.is_active("m1")
    assert conn.send_result("m1", result) == [next_message("m1", result)]
    assert conn.complete("m1") == [complete_message("m1")]
    assert not conn.is_active("m1")
    assert conn.complete("m1") == []
    assert conn.send_result("m1", result) == []
    assert_operation_ended(conn, "m1")


def test_subscription_answers_next_per_notification_and_complete_when_server_ends_it() -> None:
    """| a subscription | `next` per notification; `complete` when the server
    ends it (`unsubscribe`) |

    Several operations at once, results interleaved; ending one leaves the
    other live."""
    conn = connection("acked")
    start(conn, "a", "subscription { onA }")
    start(conn, "b", "subscription { onB }")
    for n in range(3):
        for op_id in ("a", "b"):
            result = {"data": {"n": n, "op": op_id}}
            assert conn.send_result(op_id, result) == [next_message(op_id, result)]
    assert conn.complete("a") == [complete_message("a")]
    assert conn.send_result("a", {"data": {}}) == []
    assert conn.send_result("b", {"data": {"n": 9}}) == [next_message("b", {"data": {"n": 9}})]
    assert conn.complete("b") == [complete_message("b")]
    assert conn.complete("b") == []
    assert conn.active_operations() == []
    assert_operation_ended(conn, "a")


def test_subscription_whose_subscribe_hook_raises_answers_error() -> None:
    """| a subscription whose `subscribe` hook raises or returns a wrong type |
    `error`: `{"message": "<Class>: <text>", "extensions": {"code": "<Class>"}}` |

    The machine's part: `send_setup_errors` sends one `error` with that list;
    no `complete`; the id is not registered."""
    formatted = [{"message": "RuntimeError: no way", "extensions": {"code": "RuntimeError"}}]
    conn = connection("acked")
    start(conn, "s", "subscription { onA }")
    assert conn.send_setup_errors("s", formatted) == [error_message("s", formatted)]
    assert not conn.is_active("s")
    assert_operation_ended(conn, "s")


@pytest.mark.parametrize("times", [1, 2, 5])
def test_client_complete_for_live_subscription_answers_exactly_one_complete(times: int) -> None:
    """| client `complete` for a live subscription, once or many times | stop it,
    run `unsubscribed`, answer exactly one `complete`; nothing more for that id |

    The machine's part: one `OperationStopRequested` however many completes
    come; a notification still being executed is dropped; the application's
    `complete(id)` then sends exactly one `complete`."""
    conn = connection("acked")
    start(conn, "s", "subscription { onA }")
    start(conn, "other", "subscription { onB }")
    assert conn.send_result("s", {"data": {"n": 1}}) == [next_message("s", {"data": {"n": 1}})]
    answers = [conn.receive_frame(complete_frame("s")) for _ in range(times)]
    assert answers[0] == [OperationStopRequested("s")]
    assert all(answer == [] for answer in answers[1:])
    assert conn.send_result("s", {"data": {"n": 2}}) == []
    assert conn.receive_frame(complete_frame("s")) == []
    assert conn.complete("s") == [complete_message("s")]
    for _ in range(times):
        assert conn.receive_frame(complete_frame("s")) == []
    assert conn.complete("s") == []
    assert conn.send_result("other", {"data": {}}) == [next_message("other", {"data": {}})]
    assert_operation_ended(conn, "s")


@pytest.mark.parametrize("setup", ["succeeds", "fails"])
def test_client_complete_for_subscription_being_set_up_waits_for_setup(setup: str) -> None:
    """| client `complete` for a subscription still being set up | wait for the
    setup; if it succeeded, stop it as a live one (one `complete`); if it
    failed, nothing |

    The machine's part: the stop request is emitted at once (the consumer
    waits for the setup). Setup succeeded: the application's `complete` sends
    one `complete`. Setup failed: its `error` goes out (decision 7: "an
    `error` was sent") and nothing answers the client's `complete`."""
    conn = connection("acked")
    start(conn, "s", "subscription { onA }")
    assert conn.receive_frame(complete_frame("s")) == [OperationStopRequested("s")]
    assert conn.receive_frame(complete_frame("s")) == []
    if setup == "succeeds":
        assert conn.complete("s") == [complete_message("s")]
    else:
        formatted = [{"message": "RuntimeError: x", "extensions": {"code": "RuntimeError"}}]
        assert conn.send_setup_errors("s", formatted) == [error_message("s", formatted)]
        assert conn.complete("s") == []
    assert_operation_ended(conn, "s")


@pytest.mark.parametrize("times", [1, 3])
def test_client_complete_for_running_query_suppresses_result_and_answers_complete(
    times: int,
) -> None:
    """| client `complete` for a query or mutation still running | its result is
    never sent; answer `complete` |"""
    conn = connection("acked")
    start(conn, "q")
    answers = [conn.receive_frame(complete_frame("q")) for _ in range(times)]
    assert answers[0] == [OperationStopRequested("q")]
    assert all(answer == [] for answer in answers[1:])
    assert conn.send_result("q", {"data": {"hello": "late"}}) == []
    assert conn.complete("q") == [complete_message("q")]
    assert_operation_ended(conn, "q")


@pytest.mark.parametrize(
    "case",
    [
        "unknown-before-init",
        "unknown-while-pending",
        "unknown",
        "completed",
        "errored",
        "other-running",
    ],
)
def test_client_complete_for_unknown_or_ended_id_answers_nothing(case: str) -> None:
    """| client `complete` for an id unknown or already ended | nothing |"""
    if case == "unknown-before-init":
        conn = connection("fresh")
    elif case == "unknown-while-pending":
        conn = connection("pending")
    else:
        conn = connection("acked")
    if case == "completed":
        start(conn, "x")
        conn.complete("x")
    elif case == "errored":
        start(conn, "x")
        conn.send_error("x", [{"message": "e"}])
    elif case == "other-running":
        start(conn, "y")
    for op_id in ("x", "X", "x ", "nope"):
        assert conn.receive_frame(complete_frame(op_id)) == []
    assert not conn.closed
    if case == "other-running":  # "y" was not touched
        assert conn.send_result("y", {"data": {}}) == [next_message("y", {"data": {}})]


def test_client_offering_neither_subprotocol_is_closed_4406() -> None:
    """| the client offered neither subprotocol | accept with no subprotocol,
    then close 4406 |

    A consumer matter (decision 5): here only the code exists, and the machine
    cannot be made for any other subprotocol."""
    assert int(CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE) == 4406
    assert ServerConnection(GRAPHQL_TRANSPORT_WS).subprotocol == GRAPHQL_TRANSPORT_WS
    assert ServerConnection(GRAPHQL_WS).subprotocol == GRAPHQL_WS
    for name in ("", "graphql-subscriptions", "GRAPHQL-TRANSPORT-WS", "graphql-transport-ws "):
        with pytest.raises(KeyError):
            ServerConnection(name)


# The row "a limit from the reliability settings is exceeded" belongs to the
# reliability issue, which adds those limits and their tests.


def test_keepalive_ping_without_pong_within_pong_timeout_closes_1011() -> None:
    """| a keep-alive `ping` from us gets no `pong` within `pong_timeout` ... | close 1011 |

    The timer is a later issue; here only the machine's part: closing with
    1011 sends that close and nothing after it."""
    conn = acked_with_running_operation()
    assert conn.keepalive() == [Send({"type": "ping"})]
    assert_closes(conn, conn.close(CloseCode.INTERNAL_ERROR), CloseCode.INTERNAL_ERROR, "1")
    assert int(CloseCode.INTERNAL_ERROR) == 1011


# ------------------------------------------------ rules across the rows


def _close_too_big(conn: ServerConnection) -> list[Output]:
    return conn.receive_frame("x" * 101)


def _connection_lost(conn: ServerConnection) -> list[Output]:
    conn.connection_lost()
    return []


CLOSERS: list[Any] = [
    pytest.param("acked", _close_too_big, 1009, id="1009"),
    pytest.param("acked", lambda c: c.receive_frame("{"), 4400, id="4400"),
    pytest.param("pending", lambda c: c.receive_frame(subscribe_frame("2")), 4401, id="4401"),
    pytest.param("pending", lambda c: c.reject(), 4403, id="4403"),
    pytest.param("fresh", lambda c: c.init_timeout(), 4408, id="4408"),
    pytest.param("acked", lambda c: c.receive_frame(subscribe_frame("1")), 4409, id="4409"),
    pytest.param("acked", lambda c: c.receive_frame(INIT), 4429, id="4429"),
    pytest.param(
        "acked", lambda c: c.receive_frame('{"type":"connection_terminate"}'), 1000, id="1000"
    ),
    pytest.param("acked", lambda c: c.close(CloseCode.GOING_AWAY), 1001, id="1001"),
    pytest.param("acked", lambda c: c.close(CloseCode.INTERNAL_ERROR), 1011, id="1011"),
    pytest.param("pending", _connection_lost, None, id="connection-lost-pending"),
    pytest.param("acked", _connection_lost, None, id="connection-lost"),
]


@pytest.mark.parametrize(("state", "closer", "code"), CLOSERS)
def test_nothing_is_sent_after_a_close(
    state: State, closer: Callable[[ServerConnection], list[Output]], code: int | None
) -> None:
    """API.md decision 3: when the server closes it sends nothing else first,
    no `error` for the offending id, no pending result; and after any close
    (or the client's disconnect) every call returns nothing."""
    conn = connection(state, max_message_size=100)
    op_ids: tuple[str, ...] = ()
    if state == "acked":
        start(conn, "1")
        start(conn, "2")
        conn.receive_frame(complete_frame("2"))  # "2" is stopping
        op_ids = ("1", "2")
    outputs = closer(conn)
    if code is None:
        assert outputs == []
        assert_silent(conn, *op_ids)
    else:
        assert_closes(conn, outputs, code, *op_ids)


def test_keepalive_pings_only_after_ack() -> None:
    """Keep-alives on graphql-transport-ws are protocol `ping` messages with no
    payload, and only on an acknowledged connection (before it the client
    would read an unexpected message)."""
    conn = ServerConnection(GRAPHQL_TRANSPORT_WS)
    assert conn.keepalive() == []
    assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    assert conn.keepalive() == []
    assert conn.acknowledge() == [Send({"type": "connection_ack"})]
    assert conn.keepalive() == [Send({"type": "ping"})]
    assert conn.keepalive() == [Send({"type": "ping"})]
    conn.close(CloseCode.NORMAL_CLOSURE)
    assert conn.keepalive() == []


@pytest.mark.parametrize(
    "op_id",
    [
        pytest.param("i" * 500, id="ascii"),
        pytest.param(EMOJI * 200, id="emoji"),
        pytest.param("a" + EURO * 100, id="euro-off-boundary"),
        pytest.param("x" * 98, id="near-the-limit"),
    ],
)
def test_close_reason_fits_in_a_close_frame(op_id: str) -> None:
    """PROTOCOL.md section 1: close reasons must be at most 123 bytes; a 4409
    whose reason names a very long id is cut to fit, on a character boundary."""
    conn = connection("acked")
    start(conn, op_id)
    outputs = conn.receive_frame(subscribe_frame(op_id))
    close = assert_closes(conn, outputs, CloseCode.SUBSCRIBER_ALREADY_EXISTS, op_id)
    encoded = close.reason.encode("utf-8")  # raises if cut inside a character
    assert len(encoded) <= MAX_CLOSE_REASON_BYTES
    assert close.reason


def test_pong_timeout_closes_1011_once_acknowledged() -> None:
    """Decision 21: our keep-alive unanswered within `pong_timeout` closes 1011."""
    assert connection("pending").pong_timeout() == []
    conn = connection("acked")
    [close] = conn.pong_timeout()
    assert close == Close(CloseCode.INTERNAL_ERROR, "No pong received in time")
    assert conn.closed and conn.pong_timeout() == []


def test_a_pre_encoded_result_is_sent_only_while_its_operation_runs() -> None:
    """The cached frame head must not outlive the running state: a client's
    ``complete``, the operation's end and a reuse of its id each change it."""
    conn = connection("acked")
    start(conn, "7")
    assert encoded_frames(conn.send_encoded_result("7", '{"data":{"n":1}}')) == [
        {"type": "next", "id": "7", "payload": {"data": {"n": 1}}}
    ]
    assert [type(o) for o in conn.receive_frame(complete_frame("7"))] == [OperationStopRequested]
    assert conn.send_encoded_result("7", '{"data":{"n":2}}') == []
    assert conn.complete("7") == [complete_message("7")]
    assert conn.send_encoded_result("7", '{"data":{"n":3}}') == []
    start(conn, "7")
    assert encoded_frames(conn.send_encoded_result("7", '{"data":{"n":4}}')) == [
        {"type": "next", "id": "7", "payload": {"data": {"n": 4}}}
    ]
