"""graphql-ws (legacy, subscriptions-transport-ws) at the protocol layer, row by row.

There is one test per row of the "graphql-ws (legacy, subscriptions-transport-ws)"
table in PROTOCOL.md section 4 ("What our server answers"), in the table's
order, named after the row. Rows that need the application (``on_connect``,
``on_operation``, execution, the ``subscribe`` hook) are tested as the state
machine's part of them: the events it emits and what it puts on the wire for
the application's decision. After the rows come the rules that hold across
them: nothing after a close (API.md decision 3), keep-alives, and the
invariant that every accepted operation id ends with exactly one `complete` or
one `error` (with the one exception the table marks), driven by seeded random
sequences.

Unlike graphql-transport-ws, this subprotocol reports problems in messages and
keeps the socket open; the only closes are 1009, 4000 (after
`connection_error` for a rejected connection), 4408 and 1000.

Everything here is synchronous: the layer does no I/O.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import pytest

from channels_graphql_ws.protocol import (
    GRAPHQL_WS,
    Close,
    CloseCode,
    ConnectionInitReceived,
    OperationId,
    OperationRequested,
    OperationStopRequested,
    Output,
    PongReceived,
    Send,
    ServerConnection,
    Subscribe,
)

#: RFC 6455: a close frame has room for 123 bytes of reason.
MAX_CLOSE_REASON_BYTES = 123

#: Where a connection can be while open: nothing received yet; the hook runs
#: for a `connection_init`, or for a `start` that came before any init (which
#: is then held back); acknowledged.
State = Literal["fresh", "pending", "implicitly-pending", "acked"]
STATES: tuple[State, ...] = ("fresh", "pending", "implicitly-pending", "acked")
ALL_STATES = pytest.mark.parametrize("state", STATES)

QUERY = "query Q { hello }"
SUBSCRIPTION = "subscription S { onA }"
RESULT: dict[str, Any] = {"data": {"hello": "world"}}
ACK: dict[str, Any] = {"type": "connection_ack"}
KA: dict[str, Any] = {"type": "ka"}

#: What the older release answered (and our table keeps) for a type it does
#: not know: the type upper-cased, as it upper-cased every type before matching.
WRONG_TYPE_MESSAGE = "Exception: Wrong message type '{}'!"


# ---------------------------------------------------------------- helpers


def dumps(message: object) -> str:
    """A text frame as a client would send it (non-ASCII kept as UTF-8)."""
    return json.dumps(message, ensure_ascii=False)


def start_frame(op_id: object = "1", query: str = QUERY, **extra: Any) -> str:
    return dumps({"type": "start", "id": op_id, "payload": {"query": query, **extra}})


def stop_frame(op_id: object) -> str:
    return dumps({"type": "stop", "id": op_id})


INIT = dumps({"type": "connection_init"})
TERMINATE = dumps({"type": "connection_terminate"})


def data_message(op_id: OperationId, payload: dict[str, Any]) -> Send:
    return Send({"type": "data", "id": op_id, "payload": payload})


def complete_message(op_id: OperationId) -> Send:
    return Send({"type": "complete", "id": op_id})


def error_message(op_id: OperationId | None, errors: list[dict[str, Any]]) -> Send:
    """Decision 4(c): a legacy `error` always carries ``{"errors": [...]}``."""
    return Send({"type": "error", "id": op_id, "payload": {"errors": errors}})


def errors_as_data(op_id: OperationId, errors: list[dict[str, Any]]) -> Send:
    return data_message(op_id, {"data": None, "errors": errors})


def wrong_type(op_id: OperationId | None, shown: str) -> Send:
    """Decision 4(d): the one `error` for a message of a type we do not know."""
    error = {"message": WRONG_TYPE_MESSAGE.format(shown), "extensions": {"code": "Exception"}}
    return error_message(op_id, [error])


def connection_error(payload: dict[str, Any]) -> Send:
    return Send({"type": "connection_error", "payload": payload})


def wire(outputs: list[Output]) -> list[Output]:
    """Only what goes on the wire (``Send`` and ``Close``), not events."""
    return [output for output in outputs if isinstance(output, (Send, Close))]


def connection(
    state: Literal["fresh", "pending", "acked"] = "acked", *, max_message_size: int | None = None
) -> ServerConnection:
    """A connection that has received nothing, an init (hook running), or been acked."""
    conn = ServerConnection(GRAPHQL_WS, max_message_size=max_message_size)
    if state in ("pending", "acked"):
        assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    if state == "acked":
        assert conn.acknowledge() == [Send(ACK)]
    return conn


def implicitly_pending(op_id: OperationId = "d") -> ServerConnection:
    """A connection whose first message was a `start` of ``op_id``: the hook runs."""
    conn = ServerConnection(GRAPHQL_WS)
    assert conn.receive_frame(start_frame(op_id)) == [ConnectionInitReceived(None, implicit=True)]
    return conn


def held(op_id: OperationId = "d", query: str = QUERY) -> OperationRequested:
    """What the ack hands out for a plain `start` of ``op_id`` held back before it."""
    return OperationRequested(Subscribe(op_id, {"query": query}, query))


def start(conn: ServerConnection, op_id: OperationId = "1", query: str = QUERY) -> Subscribe:
    """Start ``op_id`` on an acknowledged connection; the machine asks to run it."""
    outputs = conn.receive_frame(start_frame(op_id, query))
    assert len(outputs) == 1, outputs
    (requested,) = outputs
    assert isinstance(requested, OperationRequested), outputs
    assert requested.id == op_id
    assert type(requested.id) is type(op_id)
    assert requested.message.query == query
    return requested.message


def acked_with_running_operation() -> ServerConnection:
    """An acknowledged connection where operation 1 (an integer id) runs and
    has sent a result."""
    conn = connection("acked")
    start(conn, 1)
    assert conn.send_result(1, RESULT) == [data_message(1, RESULT)]
    return conn


def connection_in(state: State) -> tuple[ServerConnection, tuple[OperationId, ...]]:
    """A connection in ``state``, and the ids it holds: when acked, operation 1
    runs; when implicitly pending, the `start` of "d" is held back."""
    if state == "acked":
        return acked_with_running_operation(), (1,)
    if state == "implicitly-pending":
        return implicitly_pending("d"), ("d",)
    return connection(state), ()


def assert_still_works(conn: ServerConnection, state: State) -> None:
    """The socket is open and the connection is where it was: a later message
    is still answered, and what the state allows next still happens."""
    assert not conn.closed
    assert conn.receive_frame(dumps({"type": "foo", "id": "w"})) == [wrong_type("w", "FOO")]
    if state == "fresh":  # nothing so far counted as an init
        assert conn.receive_frame(INIT) == [ConnectionInitReceived(None, implicit=False)]
    elif state == "pending":  # the hook's answer is still awaited
        assert conn.acknowledge() == [Send(ACK)]
    elif state == "implicitly-pending":  # ... and the held-back start comes out
        assert conn.acknowledge() == [Send(ACK), held("d")]
    else:  # operation 1 still runs and new ones start
        assert conn.send_result(1, RESULT) == [data_message(1, RESULT)]
        start(conn, "later")
    assert not conn.closed


def assert_silent(conn: ServerConnection, *op_ids: OperationId) -> None:
    """Decision 3: once closed, nothing the client or the application does
    produces any output, for any id (``op_ids`` adds ids that were active)."""
    assert conn.closed
    calls: list[tuple[str, Callable[[], list[Output]]]] = [
        ("receive_frame(init)", lambda: conn.receive_frame(INIT)),
        ("receive_frame(not json)", lambda: conn.receive_frame("{")),
        ("receive_frame(binary)", lambda: conn.receive_frame(b"\x00")),
        ("receive_frame(unknown type)", lambda: conn.receive_frame('{"type":"x","id":1}')),
        ("receive_frame(no type)", lambda: conn.receive_frame("{}")),
        ("receive_frame(start without id)", lambda: conn.receive_frame('{"type":"start"}')),
        ("receive_frame(terminate)", lambda: conn.receive_frame(TERMINATE)),
        ("receive_frame(too big)", lambda: conn.receive_frame("x" * 100_000)),
        ("receive_message(init)", lambda: conn.receive_message({"type": "connection_init"})),
        ("receive_message(list)", lambda: conn.receive_message([])),
        ("acknowledge", lambda: conn.acknowledge({"user": "u"}, keepalive=True)),
        ("acknowledge(None)", lambda: conn.acknowledge(None)),
        ("reject", lambda: conn.reject({"message": "no"})),
        ("reject()", conn.reject),
        ("keepalive", conn.keepalive),
        ("init_timeout", conn.init_timeout),
        ("close", lambda: conn.close(CloseCode.NORMAL_CLOSURE)),
        ("close(4000)", lambda: conn.close(CloseCode.LEGACY_CONNECTION_ERROR)),
    ]
    errors: list[dict[str, Any]] = [{"message": "boom"}]
    for op_id in dict.fromkeys((1, "1", 2, *op_ids)):
        calls += [
            (f"send_result({op_id!r})", partial(conn.send_result, op_id, {"data": {}})),
            (f"complete({op_id!r})", partial(conn.complete, op_id)),
            (f"send_error({op_id!r})", partial(conn.send_error, op_id, errors)),
            (f"send_document_errors({op_id!r})", partial(conn.send_document_errors, op_id, errors)),
            (f"send_setup_errors({op_id!r})", partial(conn.send_setup_errors, op_id, errors)),
            (f"receive start {op_id!r}", partial(conn.receive_frame, start_frame(op_id))),
            (f"receive stop {op_id!r}", partial(conn.receive_frame, stop_frame(op_id))),
        ]
    for name, call in calls:
        assert call() == [], f"{name} after the close"
    assert conn.closed
    assert conn.active_operations() == []


def assert_closes(
    conn: ServerConnection,
    outputs: list[Output],
    code: int,
    *op_ids: OperationId,
    sent_first: Sequence[Send] = (),
) -> Close:
    """The call sent ``sent_first`` (nothing, unless the row says so), then
    closed with ``code`` and a reason that fits a close frame; the connection
    is silent from then on."""
    assert outputs, f"expected a close {code}, got nothing"
    *sent, close = outputs
    assert sent == list(sent_first), outputs
    assert isinstance(close, Close), outputs
    assert close.code == code, outputs
    assert len(close.reason.encode("utf-8")) <= MAX_CLOSE_REASON_BYTES, close.reason
    assert_silent(conn, *op_ids)
    return close


def assert_connection_error(outputs: list[Output]) -> str:
    """Exactly one `connection_error` whose payload is ``{"message": <text>}``."""
    assert len(outputs) == 1, outputs
    (send,) = outputs
    assert isinstance(send, Send), outputs
    assert set(send.message) == {"type", "payload"}, send.message
    assert send.message["type"] == "connection_error"
    payload = send.message["payload"]
    assert isinstance(payload, dict) and set(payload) == {"message"}, payload
    assert isinstance(payload["message"], str) and payload["message"], payload
    return payload["message"]


def assert_one_operation_error(outputs: list[Output], op_id: OperationId | None) -> str:
    """Exactly one `error` for ``op_id`` (``None``: the id is null) whose payload
    is ``{"errors": [<one error with a message>]}``; returns the message."""
    assert len(outputs) == 1, outputs
    (send,) = outputs
    assert isinstance(send, Send), outputs
    message = send.message
    assert set(message) == {"type", "id", "payload"}, message
    assert message["type"] == "error"
    assert message["id"] == op_id and type(message["id"]) is type(op_id), message
    assert isinstance(message["payload"], dict) and set(message["payload"]) == {"errors"}
    (error,) = message["payload"]["errors"]
    assert isinstance(error["message"], str) and error["message"], error
    return error["message"]


def assert_operation_ended(conn: ServerConnection, op_id: OperationId) -> None:
    """Nothing more goes out for ``op_id``; the socket stays open and the id is free."""
    errors = [{"message": "late"}]
    assert not conn.is_active(op_id)
    assert conn.complete(op_id) == []
    assert conn.send_result(op_id, {"data": {}}) == []
    assert conn.send_error(op_id, errors) == []
    assert conn.send_document_errors(op_id, errors) == []
    assert conn.send_setup_errors(op_id, errors) == []
    assert conn.receive_frame(stop_frame(op_id)) == []
    assert not conn.closed
    start(conn, op_id)


# ------------------------------------------------------- the table's rows


LIMIT = 100
EMOJI = "\N{GRINNING FACE}"  # 4 bytes in UTF-8
EURO = "\N{EURO SIGN}"  # 3 bytes in UTF-8


def unknown_type_frame_of(nbytes: int, filler: str) -> str:
    """A frame of exactly ``nbytes`` UTF-8 bytes that the legacy subprotocol
    answers visibly in every state: an unknown type whose id (echoed in the
    answer) is as many ``filler`` characters as fit, then ASCII."""
    base = dumps({"type": "foo", "id": ""})
    room = nbytes - len(base.encode("utf-8"))
    width = len(filler.encode("utf-8"))
    count, rest = divmod(room, width)
    assert count > 0, (nbytes, filler)
    frame = dumps({"type": "foo", "id": filler * count + "x" * rest})
    assert len(frame.encode("utf-8")) == nbytes
    return frame


@ALL_STATES
@pytest.mark.parametrize(
    ("frame", "over"),
    [
        pytest.param(EMOJI * 30, True, id="30-emoji-120-bytes-not-json"),
        pytest.param(unknown_type_frame_of(LIMIT + 1, "x"), True, id="ascii-one-over"),
        pytest.param(unknown_type_frame_of(LIMIT + 1, EMOJI), True, id="emoji-one-byte-over"),
        pytest.param(unknown_type_frame_of(LIMIT + 1, EURO), True, id="euro-one-byte-over"),
        pytest.param(start_frame("1", "{ " + "a " * 60 + "}"), True, id="start-over"),
        pytest.param(b"x" * (LIMIT + 1), True, id="binary-over"),
        pytest.param(unknown_type_frame_of(LIMIT, "x"), False, id="ascii-exactly-at-limit"),
        pytest.param(unknown_type_frame_of(LIMIT, EMOJI), False, id="emoji-exactly-at-limit"),
        pytest.param(unknown_type_frame_of(LIMIT - 1, EURO), False, id="euro-one-under"),
    ],
)
def test_frame_over_max_message_size_closes_1009(
    state: State, frame: str | bytes, over: bool
) -> None:
    """| frame over `max_message_size` (bytes) | close 1009 |

    Measured in UTF-8 bytes; a frame of exactly the limit is not over it. The
    size is checked before anything else: 120 bytes of emoji are not JSON,
    yet the answer is 1009, not `connection_error`. Nothing is sent before
    the close, not even a pending result of the running operation."""
    conn, op_ids = connection_in(state)
    conn.max_message_size = LIMIT
    outputs = conn.receive_frame(frame)
    if over:
        assert_closes(conn, outputs, CloseCode.MESSAGE_TOO_BIG, *op_ids)
        assert int(CloseCode.MESSAGE_TOO_BIG) == 1009
        return
    assert isinstance(frame, str)
    assert outputs == [wrong_type(json.loads(frame)["id"], "FOO")]
    assert_still_works(conn, state)


NOT_JSON_OBJECTS = [
    pytest.param(b'{"type": "connection_init"}', id="binary-with-json"),
    pytest.param(b"", id="binary-empty"),
    pytest.param(bytearray(b'{"type": "start", "id": "1"}'), id="bytearray"),
    pytest.param("", id="empty-text"),
    pytest.param("not json", id="text"),
    pytest.param("{", id="truncated-object"),
    pytest.param('{"type": "start"', id="unterminated"),
    pytest.param("{'type': 'connection_init'}", id="single-quotes"),
    pytest.param('{"type": "connection_init"} {}', id="two-values"),
    pytest.param("[" * 100_000, id="100000-open-brackets"),
    pytest.param("[" * 100_000 + "]" * 100_000, id="100000-deep-array"),
    pytest.param('{"a":' * 50_000 + "1" + "}" * 50_000, id="50000-deep-object"),
    pytest.param("NaN", id="bare-nan"),
    pytest.param('{"type": "connection_init", "payload": NaN}', id="nan-inside-object"),
    pytest.param('{"type": "start", "id": Infinity}', id="infinity-inside-object"),
    pytest.param("[]", id="json-array"),
    pytest.param('[{"type": "connection_init"}]', id="json-array-of-message"),
    pytest.param("1", id="json-number"),
    pytest.param('"connection_init"', id="json-string"),
    pytest.param("null", id="json-null"),
    pytest.param("false", id="json-false"),
]

#: Values a transport already decoded from JSON that are not objects.
NOT_OBJECTS_DECODED = [
    pytest.param([], id="decoded-list"),
    pytest.param([{"type": "start", "id": "1"}], id="decoded-list-of-message"),
    pytest.param(0, id="decoded-number"),
    pytest.param("start", id="decoded-string"),
    pytest.param(None, id="decoded-null"),
]


@ALL_STATES
@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        *(pytest.param(p.values[0], False, id=p.id) for p in NOT_JSON_OBJECTS),
        *(pytest.param(p.values[0], True, id=p.id) for p in NOT_OBJECTS_DECODED),
    ],
)
def test_text_not_json_or_json_not_an_object_answers_connection_error(
    state: State, value: Any, decoded: bool
) -> None:
    """| text that is not JSON, or JSON that is not an object | `connection_error`
    with `{"message": ...}`; socket stays open |

    Binary frames are answered the same way (the protocol has no binary
    messages). The state does not change: before an init it still waits for
    one, a pending hook's answer is still taken, a running operation runs."""
    conn, _ = connection_in(state)
    outputs = conn.receive_message(value) if decoded else conn.receive_frame(value)
    assert_connection_error(outputs)
    assert_still_works(conn, state)


#: (message, what the error shows as the type, the id it echoes)
BAD_TYPES: list[Any] = [
    pytest.param({"type": "ping"}, "PING", None, id="ping"),
    pytest.param({"type": "ping", "payload": {"a": 1}}, "PING", None, id="ping-payload"),
    pytest.param({"type": "pong"}, "PONG", None, id="pong"),
    pytest.param(
        {"type": "subscribe", "id": "2", "payload": {"query": QUERY}},
        "SUBSCRIBE",
        "2",
        id="subscribe",
    ),
    # Operation 1 runs in the acknowledged state; this does not stop it.
    pytest.param({"type": "complete", "id": 1}, "COMPLETE", 1, id="complete-of-running"),
    pytest.param({"type": "next", "id": "3", "payload": {"data": {}}}, "NEXT", "3", id="next"),
    pytest.param({"type": "ka"}, "KA", None, id="ka"),
    pytest.param({"type": "foo"}, "FOO", None, id="foo"),
    pytest.param({"type": "foo", "id": "f1"}, "FOO", "f1", id="foo-string-id"),
    pytest.param({"type": "foo", "id": 7}, "FOO", 7, id="foo-integer-id"),
    pytest.param({"type": "foo", "id": 0}, "FOO", 0, id="foo-zero-id"),
    pytest.param({"type": "Ping"}, "PING", None, id="mixed-case-ping"),
    pytest.param({"type": "data", "id": "1", "payload": {"data": None}}, "DATA", "1", id="data"),
    pytest.param({"type": "error", "id": "1", "payload": {}}, "ERROR", "1", id="error"),
    pytest.param({"type": "connection_ack"}, "CONNECTION_ACK", None, id="connection_ack"),
    pytest.param({"type": "connection_error"}, "CONNECTION_ERROR", None, id="connection_error"),
    pytest.param({"type": "connection-init"}, "CONNECTION-INIT", None, id="dash"),
    pytest.param({"type": "start ", "id": "4"}, "START ", "4", id="trailing-space"),
    pytest.param({"type": "\u00fcnknown"}, "\u00dcNKNOWN", None, id="non-ascii"),
    pytest.param({"type": ""}, "", None, id="empty-string"),
    # Missing or not a string: nothing to show between the quotes.
    pytest.param({}, "", None, id="missing"),
    pytest.param({"id": "5", "payload": {"query": QUERY}}, "", "5", id="missing-with-id"),
    pytest.param({"type": None, "id": 6}, "", 6, id="null"),
    pytest.param({"type": 1}, "", None, id="number"),
    pytest.param({"type": True}, "", None, id="bool"),
    pytest.param({"type": ["start"], "id": "x"}, "", "x", id="array"),
    pytest.param({"type": {"name": "start"}}, "", None, id="object"),
    # Ids that cannot name an operation are not echoed: the id is null.
    pytest.param({"type": "foo", "id": ""}, "FOO", None, id="empty-id"),
    pytest.param({"type": "foo", "id": None}, "FOO", None, id="null-id"),
    pytest.param({"type": "foo", "id": 1.5}, "FOO", None, id="float-id"),
    pytest.param({"type": "foo", "id": True}, "FOO", None, id="bool-id"),
    pytest.param({"type": "foo", "id": [1]}, "FOO", None, id="array-id"),
    pytest.param({"type": "foo", "id": {"a": 1}}, "FOO", None, id="object-id"),
]

#: Known types in other letter cases, each with the state where its lower-case
#: twin does something visible.
MIXED_CASE: list[tuple[str, dict[str, Any], State]] = [
    ("START", {"type": "START", "id": "2", "payload": {"query": QUERY}}, "acked"),
    ("Start-before-init", {"type": "Start", "id": 2, "payload": {"query": QUERY}}, "fresh"),
    ("Stop", {"type": "Stop", "id": 1}, "acked"),
    ("STOP", {"type": "STOP", "id": 1}, "acked"),
    ("CONNECTION_INIT", {"type": "CONNECTION_INIT", "payload": {"a": 1}}, "fresh"),
    ("Connection_Init-again", {"type": "Connection_Init"}, "acked"),
    ("Connection_Terminate", {"type": "Connection_Terminate"}, "pending"),
]

TYPE_CASES = [
    *(
        pytest.param(*param.values, state, id=f"{param.id}-{state}")
        for param in BAD_TYPES
        for state in STATES
    ),
    *(
        pytest.param(message, None, None, state, id=f"case-insensitive-{name}")
        for name, message, state in MIXED_CASE
    ),
]


@pytest.mark.parametrize(("message", "shown", "echoed_id", "state"), TYPE_CASES)
def test_type_missing_not_a_string_or_unknown_answers_one_error_at_any_time(
    message: dict[str, Any], shown: str | None, echoed_id: OperationId | None, state: State
) -> None:
    """| `type` missing, not a string, or unknown, at any time (also before
    `connection_init`) | exactly one `error` with that `id` (or null) and payload
    `{"errors": [{"message": "Exception: Wrong message type '<TYPE>'!",
    "extensions": {"code": "Exception"}}]}`; socket stays open |

    `<TYPE>` is the type upper-cased, as the older release showed it
    (`ping` gives `'PING'`); when the type is missing or not a string there is
    nothing to show and it is empty (`''`). The id is echoed as sent, integers
    as integers; an id that cannot name an operation (empty, null, a float, a
    boolean, an array, an object) gives null. Types of the other subprotocol
    (`ping`, `pong`, `subscribe`, `complete`, `next`) and server-only ones
    (`ka`, `data`, ...) are unknown here. The message changes no state.

    Known types match case-insensitively (`START` is `start`, `Stop` is
    `stop`): they are answered exactly as their lower-case spelling, in a
    state where that answer shows, and never with this error."""
    conn, _ = connection_in(state)
    outputs = conn.receive_frame(dumps(message))
    if shown is not None:
        assert outputs == [wrong_type(echoed_id, shown)]
        (send,) = outputs
        assert isinstance(send, Send)
        assert type(send.message["id"]) is type(echoed_id)
        # Exactly the keys of the table's shape, nothing more.
        (error,) = send.message["payload"]["errors"]
        assert set(error) == {"message", "extensions"}
        assert_still_works(conn, state)
        return
    twin, _ = connection_in(state)
    expected = twin.receive_frame(dumps({**message, "type": message["type"].lower()}))
    assert outputs == expected
    assert outputs, "the lower-case twin must do something visible"
    for output in outputs:
        if isinstance(output, Send):
            assert output.message["type"] != "error", outputs


_ABSENT = object()

INIT_PAYLOADS = [
    pytest.param({"token": "t", "nested": {"list": [1, "a", None]}}, id="object"),
    pytest.param({}, id="empty-object"),
    pytest.param(None, id="null"),
    pytest.param(_ABSENT, id="absent"),
    pytest.param("", id="empty-string"),
    pytest.param(0, id="zero"),
    pytest.param([1, "a"], id="array"),
    pytest.param(False, id="false"),
]

REJECTION: dict[str, Any] = {
    "message": "RuntimeError: Connection rejected!",
    "extensions": {"code": "RuntimeError"},
}


@pytest.mark.parametrize("payload", INIT_PAYLOADS)
@pytest.mark.parametrize(
    "decision",
    [
        "accepts",
        "accepts-with-dict",
        "accepts-keepalive",
        "accepts-with-dict-keepalive",
        "rejects",
        "rejects-without-error",
    ],
)
def test_first_connection_init_any_payload_runs_on_connect(payload: Any, decision: str) -> None:
    """| first `connection_init`, any payload | `on_connect(payload)`: rejects:
    `connection_error` with the formatted error, then close 4000; accepts:
    `connection_ack`, then `ka` at once and every `send_ping_every` seconds if set |

    The machine's part: one `ConnectionInitReceived` with the payload unchanged
    (decision 1; absent reads as None), not implicit. `reject(error)` sends
    `connection_error` with exactly that error, then closes 4000 with nothing
    after it (decision 3). `acknowledge(keepalive=True)` sends the ack and one
    `ka` right after it; the periodic ones are `keepalive()` calls."""
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not _ABSENT:
        message["payload"] = payload
    conn = ServerConnection(GRAPHQL_WS)
    outputs = conn.receive_frame(dumps(message))
    expected_payload = None if payload is _ABSENT else payload
    assert outputs == [ConnectionInitReceived(expected_payload, implicit=False)]
    (event,) = outputs
    assert isinstance(event, ConnectionInitReceived)
    assert type(event.payload) is type(expected_payload)  # 0 stays 0, not False
    assert conn.keepalive() == []  # nothing before the ack

    if decision == "rejects":
        outputs = conn.reject(REJECTION)
        assert_closes(
            conn,
            outputs,
            CloseCode.LEGACY_CONNECTION_ERROR,
            sent_first=[connection_error(REJECTION)],
        )
        assert int(CloseCode.LEGACY_CONNECTION_ERROR) == 4000
        return
    if decision == "rejects-without-error":
        outputs = conn.reject()
        first = outputs[0]
        assert isinstance(first, Send)
        assert_connection_error([first])
        assert_closes(conn, outputs, CloseCode.LEGACY_CONNECTION_ERROR, sent_first=[first])
        return

    ack_payload = {"user": "u"} if decision.startswith("accepts-with-dict") else None
    keepalive = decision.endswith("keepalive")
    ack = {**ACK, "payload": ack_payload} if ack_payload is not None else ACK
    expected: list[Output] = [Send(ack)]
    if keepalive:
        expected.append(Send(KA))
    assert conn.acknowledge(ack_payload, keepalive=keepalive) == expected
    assert conn.keepalive() == [Send(KA)]
    start(conn, "1")
    assert conn.acknowledge({"again": True}, keepalive=True) == []
    assert conn.reject(REJECTION) == []
    assert not conn.closed


SECOND_INITS = [
    pytest.param({"type": "connection_init"}, id="absent-payload"),
    pytest.param({"type": "connection_init", "payload": None}, id="null"),
    pytest.param({"type": "connection_init", "payload": {"token": "t"}}, id="object"),
    pytest.param({"type": "connection_init", "payload": ""}, id="empty-string"),
    pytest.param({"type": "connection_init", "id": 5, "payload": 7}, id="junk-fields"),
    pytest.param({"type": "CONNECTION_INIT", "payload": {}}, id="upper-case"),
]


@pytest.mark.parametrize("state", ["pending", "implicitly-pending", "acked"])
@pytest.mark.parametrize("message", SECOND_INITS)
def test_another_connection_init_answers_connection_error(
    state: State, message: dict[str, Any]
) -> None:
    """| another `connection_init` | `connection_error`, socket stays open
    (`on_connect` does not run twice, no second keep-alive task) |

    No second `ConnectionInitReceived`, however many more come. A `start`
    before any init counts as the first one (it ran `on_connect(None)`), so
    an init after it is "another". While pending, the hook's answer is still
    taken once; when acked, the running operation is untouched and there is
    still one `ka` per `keepalive()`."""
    conn, _ = connection_in(state)
    for _ in range(3):
        assert_connection_error(conn.receive_frame(dumps(message)))
    assert not conn.closed
    if state == "pending":
        assert conn.acknowledge(keepalive=True) == [Send(ACK), Send(KA)]
    elif state == "implicitly-pending":
        assert conn.acknowledge() == [Send(ACK), held("d")]
    else:
        assert conn.send_result(1, RESULT) == [data_message(1, RESULT)]
        assert conn.complete(1) == [complete_message(1)]
    assert conn.acknowledge() == []
    assert conn.keepalive() == [Send(KA)]


@pytest.mark.parametrize(
    "before",
    [
        "nothing",
        "unknown-type",
        "not-json",
        "binary",
        "stop",
        "start-without-id",
        "start-with-bad-payload",
        "keepalive-call",
        "connection_init",
        "start",
        "start-then-init",
        "acked",
        "acked-by-start",
    ],
)
def test_nothing_within_init_wait_timeout_and_no_start_closes_4408(before: str) -> None:
    """| nothing within `connection_init_wait_timeout` seconds, and no `start`
    either | close 4408 |

    The timer is the consumer's; the machine closes 4408 on `init_timeout()`
    only while no `connection_init` and no `start` came. Messages answered
    with an error do not count: an unknown type, text that is not JSON, a
    `stop`, and a `start` too malformed to run (no id, bad payload) leave
    the connection waiting for its init (decision 20: the timer stops when an
    init or a first start is received; these never reach `on_connect`)."""
    conn = ServerConnection(GRAPHQL_WS)
    if before == "unknown-type":
        assert conn.receive_frame('{"type": "ping"}') == [wrong_type(None, "PING")]
    elif before == "not-json":
        assert_connection_error(conn.receive_frame("{"))
    elif before == "binary":
        assert_connection_error(conn.receive_frame(b"{}"))
    elif before == "stop":
        assert conn.receive_frame(stop_frame("1")) == []
    elif before == "start-without-id":
        assert_one_operation_error(conn.receive_frame('{"type":"start","payload":{}}'), None)
    elif before == "start-with-bad-payload":
        assert_one_operation_error(conn.receive_frame('{"type":"start","id":"1"}'), "1")
    elif before == "keepalive-call":
        assert conn.keepalive() == []
    elif before in ("connection_init", "start-then-init", "acked"):
        if before == "start-then-init":
            conn = implicitly_pending("1")
            assert_connection_error(conn.receive_frame(INIT))
        else:
            assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    elif before in ("start", "acked-by-start"):
        conn = implicitly_pending("1")
    if before in ("acked", "acked-by-start"):
        assert conn.acknowledge()[0] == Send(ACK)

    outputs = conn.init_timeout()
    if before in (
        "nothing",
        "unknown-type",
        "not-json",
        "binary",
        "stop",
        "start-without-id",
        "start-with-bad-payload",
        "keepalive-call",
    ):
        assert_closes(conn, outputs, CloseCode.CONNECTION_INIT_TIMEOUT)
        assert int(CloseCode.CONNECTION_INIT_TIMEOUT) == 4408
        return
    assert outputs == []
    assert not conn.closed
    assert conn.init_timeout() == []


@pytest.mark.parametrize("how", ["no-init", "explicit-init-pending"])
@pytest.mark.parametrize("decision", ["accepts", "accepts-keepalive", "rejects"])
def test_start_before_any_connection_init_runs_on_connect_first(how: str, decision: str) -> None:
    """| `start` before any `connection_init` | `on_connect(None)` runs first,
    exactly as for an init; if it rejects, `connection_error` and close 4000;
    else the operation starts (older clients never sent init; the hook still
    guards them) |

    The machine's part: the first `start` emits `ConnectionInitReceived(None,
    implicit=True)` and nothing else; it and every later `start` are held back
    (no operation is active, and nothing is sent) until the hook answers.
    `acknowledge()` sends the ack (and `ka` if asked), then hands out the held
    operations as `OperationRequested`, in the order they came. `reject(error)`
    sends `connection_error` with that error, closes 4000, and the held
    operations never come out. A `start` while an explicit init's hook runs is
    held back the same way (no second `ConnectionInitReceived`)."""
    conn = ServerConnection(GRAPHQL_WS)
    if how == "explicit-init-pending":
        assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    starts: list[tuple[OperationId, str]] = [
        (1, "query A { a }"),
        ("b", "subscription B { onB }"),
        (2, "mutation C { c }"),
        ("1", "query D { d }"),  # a string "1" is not the integer 1
    ]
    for index, (op_id, query) in enumerate(starts):
        outputs = conn.receive_frame(start_frame(op_id, query, variables={"n": index}))
        if index == 0 and how == "no-init":
            assert outputs == [ConnectionInitReceived(None, implicit=True)]
        else:
            assert outputs == []
        assert conn.active_operations() == []
    assert conn.init_received
    assert conn.keepalive() == []
    assert conn.init_timeout() == []

    if decision == "rejects":
        assert_closes(
            conn,
            conn.reject(REJECTION),
            CloseCode.LEGACY_CONNECTION_ERROR,
            *(op_id for op_id, _ in starts),
            sent_first=[connection_error(REJECTION)],
        )
        return

    keepalive = decision == "accepts-keepalive"
    outputs = conn.acknowledge(keepalive=keepalive)
    expected: list[Output] = [Send(ACK), *([Send(KA)] if keepalive else [])]
    expected += [
        OperationRequested(
            Subscribe(
                id=op_id,
                payload={"query": query, "variables": {"n": index}},
                query=query,
                variables={"n": index},
            )
        )
        for index, (op_id, query) in enumerate(starts)
    ]
    assert outputs == expected
    requested = [output.id for output in outputs if isinstance(output, OperationRequested)]
    assert [type(op_id) for op_id in requested] == [type(op_id) for op_id, _ in starts]
    assert conn.active_operations() == [op_id for op_id, _ in starts]
    for op_id, _ in starts:
        assert conn.send_result(op_id, RESULT) == [data_message(op_id, RESULT)]
        assert conn.complete(op_id) == [complete_message(op_id)]
    assert conn.acknowledge() == []
    assert conn.reject(REJECTION) == []
    assert not conn.closed


@ALL_STATES
@pytest.mark.parametrize(
    "message",
    [
        pytest.param({"type": "start", "payload": {"query": QUERY}}, id="missing"),
        pytest.param({"type": "start", "id": None, "payload": {"query": QUERY}}, id="null"),
        pytest.param({"type": "start", "id": "", "payload": {"query": QUERY}}, id="empty"),
        pytest.param({"type": "start", "id": 2.5, "payload": {"query": QUERY}}, id="float"),
        pytest.param({"type": "start", "id": 1.0, "payload": {"query": QUERY}}, id="float-one"),
        pytest.param({"type": "start", "id": True, "payload": {"query": QUERY}}, id="bool"),
        pytest.param({"type": "start", "id": ["2"], "payload": {"query": QUERY}}, id="array"),
        pytest.param({"type": "start", "id": {"a": 1}, "payload": {"query": QUERY}}, id="object"),
        pytest.param({"type": "start"}, id="missing-and-no-payload"),
        pytest.param({"type": "START", "payload": {"query": QUERY}}, id="upper-case"),
    ],
)
def test_start_with_id_missing_answers_error_with_id_null(
    state: State, message: dict[str, Any]
) -> None:
    """| `start` with `id` missing | `error` with id null |

    Also for ids that cannot name an operation (null, empty, a float, a
    boolean, an array, an object): the id is not echoed. The error payload is
    `{"errors": [...]}` (decision 4(c)). Nothing starts: before any init it
    does not count as one (`on_connect` does not run), while the hook runs
    nothing is held back, and a running operation (integer id 1, which the
    float `1.0` and `true` must not be mistaken for) is untouched."""
    conn, _ = connection_in(state)
    assert_one_operation_error(conn.receive_frame(dumps(message)), None)
    assert_still_works(conn, state)


@pytest.mark.parametrize("op_id", [7, "7"])
@pytest.mark.parametrize(
    "prior",
    [
        "query-running",
        "subscription-live",
        "stopping",
        "reuse-after-complete",
        "reuse-after-stop-and-complete",
        "reuse-after-error",
        "reuse-after-document-errors",
        "reuse-after-setup-errors",
    ],
)
def test_start_whose_id_is_live_answers_error_and_keeps_it_running(
    prior: str, op_id: OperationId
) -> None:
    """| `start` whose `id` is live | `error` for that id ("already exists");
    the live operation keeps running |

    Live includes an operation the client asked to stop whose `complete` has
    not gone out yet. The error is for the rejected `start` only: the live
    operation's later results and its one `complete` still go out. Once an
    operation has ended its id may be used again."""
    conn = connection("acked")
    query = SUBSCRIPTION if prior == "subscription-live" else QUERY
    start(conn, op_id, query)
    if prior == "subscription-live":
        assert conn.send_result(op_id, RESULT) == [data_message(op_id, RESULT)]
    if prior in ("stopping", "reuse-after-stop-and-complete"):
        assert conn.receive_frame(stop_frame(op_id)) == [OperationStopRequested(op_id)]
    errors = [{"message": "boom"}]
    if prior in ("reuse-after-complete", "reuse-after-stop-and-complete"):
        assert conn.complete(op_id) == [complete_message(op_id)]
    elif prior == "reuse-after-error":
        assert conn.send_error(op_id, errors) == [error_message(op_id, errors)]
    elif prior == "reuse-after-document-errors":
        assert conn.send_document_errors(op_id, errors) == [
            errors_as_data(op_id, errors),
            complete_message(op_id),
        ]
    elif prior == "reuse-after-setup-errors":
        assert conn.send_setup_errors(op_id, errors) == [errors_as_data(op_id, errors)]

    outputs = conn.receive_frame(start_frame(op_id, "{ again }"))
    if prior.startswith("reuse"):
        assert len(outputs) == 1 and isinstance(outputs[0], OperationRequested), outputs
        assert outputs[0].message.query == "{ again }"
        assert conn.send_result(op_id, RESULT) == [data_message(op_id, RESULT)]
        assert conn.complete(op_id) == [complete_message(op_id)]
        return

    text = assert_one_operation_error(outputs, op_id)
    assert "already exists" in text
    assert not conn.closed
    assert conn.is_active(op_id)
    if prior == "stopping":
        assert conn.send_result(op_id, RESULT) == []  # stopped: results dropped
        assert conn.receive_frame(stop_frame(op_id)) == []  # already stopping
    else:
        assert conn.send_result(op_id, RESULT) == [data_message(op_id, RESULT)]
        assert conn.receive_frame(stop_frame(op_id)) == [OperationStopRequested(op_id)]
    assert conn.complete(op_id) == [complete_message(op_id)]
    assert_operation_ended(conn, op_id)


# (payload or _ABSENT, None when it is answered with an error, else the
# expected (variables, operation_name, extensions) of the accepted Subscribe)
START_PAYLOADS = [
    pytest.param(_ABSENT, None, id="payload-missing"),
    pytest.param(None, None, id="payload-null"),
    pytest.param([{"query": QUERY}], None, id="payload-array"),
    pytest.param(QUERY, None, id="payload-string"),
    pytest.param(1, None, id="payload-number"),
    pytest.param({}, None, id="query-missing"),
    pytest.param({"variables": {}}, None, id="query-missing-with-others"),
    pytest.param({"query": None}, None, id="query-null"),
    pytest.param({"query": 1}, None, id="query-number"),
    pytest.param({"query": [QUERY]}, None, id="query-array"),
    pytest.param({"query": QUERY, "variables": []}, None, id="variables-array"),
    pytest.param({"query": QUERY, "variables": "{}"}, None, id="variables-string"),
    pytest.param({"query": QUERY, "variables": False}, None, id="variables-false"),
    pytest.param({"query": QUERY, "extensions": []}, None, id="extensions-array"),
    pytest.param({"query": QUERY, "extensions": 0}, None, id="extensions-number"),
    pytest.param({"query": QUERY, "operationName": 1}, None, id="operationName-number"),
    pytest.param({"query": QUERY, "operationName": ["Q"]}, None, id="operationName-array"),
    pytest.param({"query": QUERY, "operationName": False}, None, id="operationName-false"),
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
]


@pytest.mark.parametrize("state", ["fresh", "acked"])
@pytest.mark.parametrize("op_id", [5, "s5"])
@pytest.mark.parametrize(("payload", "accepted"), START_PAYLOADS)
def test_start_with_payload_missing_or_malformed_answers_error(
    state: State, op_id: OperationId, payload: Any, accepted: tuple[Any, Any, Any] | None
) -> None:
    """| `start` with a payload missing or malformed | `error` for that id with
    `{"errors": [...]}` |

    Malformed as on graphql-transport-ws: not an object, `query` not a
    string, `variables` or `extensions` not an object or null,
    `operationName` not a string or null. The id is echoed as sent. Nothing
    starts and the id stays free; before any init the bad `start` does not
    run `on_connect`. The well-formed payloads next to them (null where
    allowed) are accepted and handed to the application unchanged."""
    message: dict[str, Any] = {"type": "start", "id": op_id}
    if payload is not _ABSENT:
        message["payload"] = payload
    conn, _ = connection_in(state)
    outputs = conn.receive_frame(dumps(message))
    if accepted is None:
        assert_one_operation_error(outputs, op_id)
        assert not conn.is_active(op_id)
        assert_still_works(conn, state)
        return
    if state == "fresh":
        assert outputs == [ConnectionInitReceived(None, implicit=True)]
        outputs = conn.acknowledge()[1:]
    variables, operation_name, extensions = accepted
    assert outputs == [
        OperationRequested(
            Subscribe(
                id=op_id,
                payload=payload,
                query=payload["query"],
                variables=variables,
                operation_name=operation_name,
                extensions=extensions,
            )
        )
    ]


SYNTAX_ERROR: dict[str, Any] = {
    "message": "Syntax Error: Expected Name, found <EOF>.",
    "locations": [{"line": 1, "column": 8}],
}
VALIDATION_ERRORS: list[dict[str, Any]] = [
    {
        "message": "Cannot query field 'nope' on type 'Query'.",
        "locations": [{"line": 1, "column": 3}],
    },
    {"message": "Unknown operation named 'Missing'."},
]


@pytest.mark.parametrize("op_id", ["q", 3])
@pytest.mark.parametrize(
    "errors",
    [pytest.param([SYNTAX_ERROR], id="syntax"), pytest.param(VALIDATION_ERRORS, id="validation")],
)
def test_start_whose_document_has_syntax_error_or_fails_validation_answers_data_then_complete(
    op_id: OperationId, errors: list[dict[str, Any]]
) -> None:
    """| `start` whose document has a syntax error or fails validation | `data`
    with `{"data": null, "errors": [...]}`, then `complete` |

    Decision 4(b): never `error`. The machine's part: `send_document_errors`
    sends the `data` with every error in the order given, then one
    `complete`; the id has ended and another operation is untouched."""
    conn = connection("acked")
    start(conn, op_id, "query {")
    start(conn, "other")
    assert conn.send_document_errors(op_id, errors) == [
        Send({"type": "data", "id": op_id, "payload": {"data": None, "errors": errors}}),
        complete_message(op_id),
    ]
    assert conn.send_result("other", RESULT) == [data_message("other", RESULT)]
    assert_operation_ended(conn, op_id)


@pytest.mark.parametrize("op_id", ["op", 4])
def test_on_operation_raises_answers_error_with_errors_payload(op_id: OperationId) -> None:
    """| `on_operation` raises | `error` for that id with `{"errors": [...]}` |

    The machine's part: `send_error` sends one `error` whose payload is
    `{"errors": <the list given>}` (not the bare list of graphql-transport-ws),
    no `complete`, and nothing follows for that id."""
    formatted = [{"message": "RuntimeError: denied", "extensions": {"code": "RuntimeError"}}]
    conn = connection("acked")
    start(conn, op_id)
    assert conn.send_error(op_id, formatted) == [
        Send({"type": "error", "id": op_id, "payload": {"errors": formatted}})
    ]
    assert_operation_ended(conn, op_id)


@pytest.mark.parametrize("op_id", ["s", 6])
@pytest.mark.parametrize("stopped_during_setup", [False, True])
def test_subscription_whose_subscribe_hook_raises_answers_data_without_complete(
    op_id: OperationId, stopped_during_setup: bool
) -> None:
    """| a subscription whose `subscribe` hook raises or returns a wrong type |
    `data` with `{"data": null, "errors": [{"message": "<Class>: <text>",
    "extensions": {"code": "<Class>"}}]}` and no `complete` (as the older
    release; users' tests expect it; the exception to the invariant) |

    The machine's part: `send_setup_errors` sends that one `data` and nothing
    else; the id is not registered, so a later `complete`, `stop` or result
    gives nothing and the id can be started again. Also when the client sent
    `stop` while the setup ran (decision 7: the setup failed, so the stop is
    answered by nothing more)."""
    formatted = [{"message": "RuntimeError: no way", "extensions": {"code": "RuntimeError"}}]
    conn = connection("acked")
    start(conn, op_id, SUBSCRIPTION)
    if stopped_during_setup:
        assert conn.receive_frame(stop_frame(op_id)) == [OperationStopRequested(op_id)]
    assert conn.send_setup_errors(op_id, formatted) == [
        Send({"type": "data", "id": op_id, "payload": {"data": None, "errors": formatted}})
    ]
    assert not conn.is_active(op_id)
    assert op_id not in conn.active_operations()
    assert_operation_ended(conn, op_id)


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
@pytest.mark.parametrize("op_id", ["m1", 11])
def test_start_of_query_or_mutation_answers_data_then_complete(
    result: dict[str, Any], op_id: OperationId
) -> None:
    """| `start` of a query or mutation | `data` with its result, then `complete` |

    The machine's part: `OperationRequested` with the parsed message, the
    result passed through unchanged as `data`, one `complete`, then nothing
    more for that id."""
    conn = connection("acked")
    payload: dict[str, Any] = {
        "query": "mutation M($v: Int) { set(v: $v) }",
        "variables": {"v": 1},
        "operationName": "M",
    }
    outputs = conn.receive_frame(dumps({"type": "start", "id": op_id, "payload": payload}))
    assert outputs == [
        OperationRequested(
            Subscribe(
                id=op_id,
                payload=payload,
                query=payload["query"],
                variables={"v": 1},
                operation_name="M",
            )
        )
    ]
    assert conn.is_active(op_id)
    assert conn.send_result(op_id, result) == [data_message(op_id, result)]
    assert conn.complete(op_id) == [complete_message(op_id)]
    assert conn.complete(op_id) == []
    assert conn.send_result(op_id, result) == []
    assert_operation_ended(conn, op_id)


def test_start_of_subscription_answers_data_per_notification() -> None:
    """| `start` of a subscription | `data` per notification |

    Several subscriptions at once (a string and an integer id), results
    interleaved, each going out as its own `data`; the subscription stays
    live between notifications, and ending one (`complete`, as for a
    server-side `unsubscribe`) leaves the other live."""
    conn = connection("acked")
    start(conn, "a", "subscription { onA }")
    start(conn, 2, "subscription { onB }")
    for n in range(3):
        for op_id in ("a", 2):
            result = {"data": {"n": n, "op": str(op_id)}}
            assert conn.send_result(op_id, result) == [data_message(op_id, result)]
            assert conn.is_active(op_id)
    assert conn.complete("a") == [complete_message("a")]
    assert conn.send_result("a", RESULT) == []
    assert conn.send_result(2, RESULT) == [data_message(2, RESULT)]
    assert conn.complete(2) == [complete_message(2)]
    assert conn.active_operations() == []


@pytest.mark.parametrize("op_id", ["s", 9])
@pytest.mark.parametrize("times", [1, 2, 5])
@pytest.mark.parametrize(
    "case", ["live", "being-set-up", "held-behind-init", "held-behind-implicit-init"]
)
def test_stop_for_live_subscription_once_or_many_times_answers_exactly_one_complete(
    case: str, times: int, op_id: OperationId
) -> None:
    """| `stop` for a live subscription (or one still being set up), once or
    many times | as on graphql-transport-ws: exactly one `complete` |

    The machine's part: one `OperationStopRequested` however many stops come;
    a notification still being executed is dropped; the application's
    `complete(id)` then sends exactly one `complete` (decision 8). A
    subscription whose `start` is held back behind a running `on_connect` is
    one being set up: its stops are kept in order with it, so the ack hands
    out its `OperationRequested` and then its `OperationStopRequested`, and
    it still ends with exactly one `complete`."""
    if case == "held-behind-init":
        conn = connection("pending")
        assert conn.receive_frame(start_frame(op_id, SUBSCRIPTION)) == []
    elif case == "held-behind-implicit-init":
        conn = ServerConnection(GRAPHQL_WS)
        assert conn.receive_frame(start_frame(op_id, SUBSCRIPTION)) == [
            ConnectionInitReceived(None, implicit=True)
        ]
    else:
        conn = connection("acked")
        start(conn, op_id, SUBSCRIPTION)
    if case == "live":
        assert conn.send_result(op_id, RESULT) == [data_message(op_id, RESULT)]

    answers = [conn.receive_frame(stop_frame(op_id)) for _ in range(times)]
    if case.startswith("held"):
        assert all(answer == [] for answer in answers)
        assert conn.acknowledge() == [
            Send(ACK),
            held(op_id, SUBSCRIPTION),
            OperationStopRequested(op_id),
        ]
    else:
        assert answers[0] == [OperationStopRequested(op_id)]
        assert all(answer == [] for answer in answers[1:])
    assert conn.send_result(op_id, {"data": {"late": True}}) == []
    assert conn.receive_frame(stop_frame(op_id)) == []
    assert conn.complete(op_id) == [complete_message(op_id)]
    for _ in range(times):
        assert conn.receive_frame(stop_frame(op_id)) == []
    assert conn.complete(op_id) == []
    assert_operation_ended(conn, op_id)


@pytest.mark.parametrize(
    "case",
    [
        "unknown-before-init",
        "unknown-while-pending",
        "unknown",
        "completed",
        "errored",
        "document-errored",
        "setup-errored",
        "other-running",
    ],
)
def test_stop_for_unknown_or_ended_id_answers_nothing(case: str) -> None:
    """| `stop` for an unknown or ended id | nothing |

    Also a `stop` whose id is missing or cannot name an operation. Ids are
    compared as sent: a `stop` for `"1"` does not stop the integer 1, nor a
    `stop` for `1.0` or `true`. An operation that runs ("y", and 1 when there
    is one) is untouched."""
    if case == "unknown-before-init":
        conn = connection("fresh")
    elif case == "unknown-while-pending":
        conn = connection("pending")
    else:
        conn = acked_with_running_operation()
    errors = [{"message": "e"}]
    if case in ("completed", "errored", "document-errored", "setup-errored"):
        start(conn, "x")
    if case == "completed":
        conn.complete("x")
    elif case == "errored":
        conn.send_error("x", errors)
    elif case == "document-errored":
        conn.send_document_errors("x", errors)
    elif case == "setup-errored":
        conn.send_setup_errors("x", errors)
    elif case == "other-running":
        start(conn, "y")
    for op_id in ("x", "X", "x ", "nope", "1", 2, 0, -1):
        assert conn.receive_frame(stop_frame(op_id)) == []
    for message in (
        {"type": "stop"},
        {"type": "stop", "id": None},
        {"type": "stop", "id": ""},
        {"type": "stop", "id": 1.0},
        {"type": "stop", "id": True},
        {"type": "stop", "id": [1]},
        {"type": "STOP", "payload": {}},
    ):
        assert conn.receive_frame(dumps(message)) == []
    assert not conn.closed
    if case == "other-running":
        assert conn.send_result("y", RESULT) == [data_message("y", RESULT)]
    if conn.is_active(1):
        assert conn.send_result(1, RESULT) == [data_message(1, RESULT)]
        assert conn.receive_frame(stop_frame(1)) == [OperationStopRequested(1)]
    if case == "unknown-while-pending":
        assert conn.acknowledge() == [Send(ACK)]  # nothing was held back


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
    """| `connection_terminate` | close 1000 |

    Nothing goes out before the close: no pending result, no held-back
    operation, no `complete` for the running one."""
    conn, op_ids = connection_in(state)
    assert_closes(conn, conn.receive_frame(dumps(message)), CloseCode.NORMAL_CLOSURE, *op_ids)
    assert int(CloseCode.NORMAL_CLOSURE) == 1000


def test_integer_ids_are_accepted_and_echoed_as_sent() -> None:
    """| integer ids | accepted and echoed as sent |

    In every message that carries an id: `data` and `complete` of a query,
    `data` of a subscription and the `complete` answering its `stop`, `error`
    from `send_error`, `data` + `complete` for document errors, `data` for
    setup errors, the `error` for a duplicate `start`, for a malformed
    payload and for an unknown type; also for operations held back behind
    the init. Integers stay integers on the wire (never `"1"`), zero and
    negative ones included, and the integer 1 and the string "1" are two
    different operations."""
    sent: list[Send] = []

    def take(outputs: list[Output]) -> list[Output]:
        sent.extend(output for output in outputs if isinstance(output, Send))
        return outputs

    conn = ServerConnection(GRAPHQL_WS)
    assert take(conn.receive_frame(start_frame(100))) == [
        ConnectionInitReceived(None, implicit=True)
    ]
    outputs = take(conn.acknowledge())
    assert outputs == [Send(ACK), held(100)]
    errors = [{"message": "e"}]
    big = 2**53 + 1
    for op_id in (1, "1", 2, 3, 4, 5, 0, -1, big):
        assert type(start(conn, op_id).id) is type(op_id)
    assert sorted(map(str, conn.active_operations())) == sorted(
        map(str, [100, 1, "1", 2, 3, 4, 5, 0, -1, big])
    )

    assert take(conn.send_result(100, RESULT)) == [data_message(100, RESULT)]
    assert take(conn.complete(100)) == [complete_message(100)]
    assert take(conn.send_result(1, RESULT)) == [data_message(1, RESULT)]
    assert take(conn.send_result("1", {"data": {"s": 1}})) == [
        data_message("1", {"data": {"s": 1}})
    ]
    assert take(conn.complete(1)) == [complete_message(1)]
    assert conn.is_active("1")  # the string "1" is another operation
    assert take(conn.receive_frame(stop_frame(2))) == [OperationStopRequested(2)]
    assert take(conn.complete(2)) == [complete_message(2)]
    assert take(conn.send_error(3, errors)) == [error_message(3, errors)]
    assert take(conn.send_document_errors(4, errors)) == [
        errors_as_data(4, errors),
        complete_message(4),
    ]
    assert take(conn.send_setup_errors(5, errors)) == [errors_as_data(5, errors)]
    assert_one_operation_error(take(conn.receive_frame(start_frame(0))), 0)
    assert_one_operation_error(take(conn.receive_frame('{"type":"start","id":-7}')), -7)
    assert take(conn.receive_frame('{"type":"foo","id":8}')) == [wrong_type(8, "FOO")]
    assert take(conn.send_result(-1, RESULT)) == [data_message(-1, RESULT)]
    assert take(conn.complete(big)) == [complete_message(big)]

    with_ids = [send.message for send in sent if "id" in send.message]
    assert len(with_ids) == 15
    for message in with_ids:
        if message["id"] == "1":
            continue
        assert type(message["id"]) is int, message
        assert f'"id": {message["id"]}' in json.dumps(message), message
    kinds = {message["type"] for message in with_ids}
    assert kinds == {"data", "complete", "error"}


# ------------------------------------------------ rules across the rows


def _reject(conn: ServerConnection) -> list[Output]:
    return conn.reject(REJECTION)


def _connection_lost(conn: ServerConnection) -> list[Output]:
    conn.connection_lost()
    return []


CLOSERS: list[Any] = [
    pytest.param("acked", lambda c: c.receive_frame("x" * 101), 1009, id="1009"),
    pytest.param("pending", _reject, 4000, id="4000-rejected-init"),
    pytest.param("implicitly-pending", _reject, 4000, id="4000-rejected-implicit-init"),
    pytest.param("fresh", lambda c: c.init_timeout(), 4408, id="4408"),
    pytest.param("acked", lambda c: c.receive_frame(TERMINATE), 1000, id="1000"),
    pytest.param(
        "implicitly-pending", lambda c: c.receive_frame(TERMINATE), 1000, id="1000-implicit"
    ),
    pytest.param("acked", lambda c: c.close(CloseCode.GOING_AWAY), 1001, id="1001"),
    pytest.param("acked", lambda c: c.close(CloseCode.INTERNAL_ERROR), 1011, id="1011"),
    pytest.param("implicitly-pending", _connection_lost, None, id="connection-lost-implicit"),
    pytest.param("acked", _connection_lost, None, id="connection-lost"),
]


@pytest.mark.parametrize(("state", "closer", "code"), CLOSERS)
def test_nothing_is_sent_after_a_close(
    state: State, closer: Callable[[ServerConnection], list[Output]], code: int | None
) -> None:
    """API.md decision 3: when the server closes it sends nothing else first
    (on legacy only the `connection_error` of a rejection, right before 4000),
    no pending result, no held-back operation; and after any close (or the
    client's disconnect) every call returns nothing."""
    conn, op_ids = connection_in(state)
    conn.max_message_size = 100
    if state == "implicitly-pending":
        assert conn.receive_frame(start_frame("h")) == []  # held back too
        op_ids += ("h",)
    if state == "acked":
        start(conn, "2")
        conn.receive_frame(stop_frame("2"))  # "2" is stopping
        op_ids += ("2",)
    outputs = closer(conn)
    if code is None:
        assert outputs == []
        assert_silent(conn, *op_ids)
    elif code == CloseCode.LEGACY_CONNECTION_ERROR:
        assert_closes(conn, outputs, code, *op_ids, sent_first=[connection_error(REJECTION)])
    else:
        assert_closes(conn, outputs, code, *op_ids)


def test_keepalive_sends_ka_only_after_ack() -> None:
    """Keep-alives on legacy are `{"type": "ka"}`, and only on an acknowledged
    connection: none before the init, none while the hook runs, none after a
    close. `acknowledge(keepalive=True)` sends the first one right after the
    ack; `acknowledge()` sends none."""
    conn = ServerConnection(GRAPHQL_WS)
    assert conn.keepalive() == []
    assert conn.receive_frame(INIT) == [ConnectionInitReceived(None)]
    assert conn.keepalive() == []
    assert conn.acknowledge() == [Send(ACK)]
    assert conn.keepalive() == [Send(KA)]
    assert conn.keepalive() == [Send(KA)]
    conn.close(CloseCode.NORMAL_CLOSURE)
    assert conn.keepalive() == []

    conn = implicitly_pending("d")
    assert conn.keepalive() == []
    assert conn.acknowledge(keepalive=True) == [Send(ACK), Send(KA), held("d")]
    assert conn.keepalive() == [Send(KA)]


def test_pongs_and_pings_are_unknown_types_not_keepalive_answers() -> None:
    """Legacy clients never answer `ka`, and `ping`/`pong` are not legacy
    messages: neither is ever read as a `pong` (no `PongReceived`), both are
    answered with the unknown-type `error` (decision 21: no pong tracking on
    legacy)."""
    conn = acked_with_running_operation()
    assert conn.keepalive() == [Send(KA)]
    assert conn.receive_frame('{"type": "pong"}') == [wrong_type(None, "PONG")]
    assert conn.receive_frame('{"type": "ka"}') == [wrong_type(None, "KA")]
    outputs = conn.receive_frame('{"type": "ping", "payload": {"t": 1}}')
    assert outputs == [wrong_type(None, "PING")]
    assert not any(isinstance(output, PongReceived) for output in outputs)


# ------------------------------------------------ the invariant, randomly


IDS: tuple[OperationId, ...] = (1, 2, "1", "a", 0)
APP_CALLS = ("send_result", "complete", "send_error", "send_document_errors", "send_setup_errors")


@dataclass
class Episode:
    """One accepted operation: from its `OperationRequested` to its end."""

    op_id: OperationId
    #: (what produced it, the message) for every message sent for it.
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: len(sent) when the client's first `stop` for it came, and when the
    #: machine asked the application to stop it.
    client_stopped_at: int | None = None
    stop_requested_at: int | None = None
    ended_by: str | None = None


class Ledger:
    """Accounts every output of a legacy connection to the operation it
    belongs to, and remembers what the client asked for each."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.acked = False
        self.open: dict[OperationId, Episode] = {}
        self.episodes: list[Episode] = []
        #: Ids of `start`s held back before the ack, and those of them the
        #: client then stopped (before starting that id again).
        self.held: set[OperationId] = set()
        self.held_stopped: set[OperationId] = set()
        self.rejected_starts = 0
        self.stray_errors = 0
        self.init_events = 0

    def start(self, op_id: OperationId, query: str) -> list[Output]:
        if not self.acked:
            self.held.add(op_id)
            self.held_stopped.discard(op_id)
        return self._account(self.conn.receive_frame(start_frame(op_id, query)), stray=False)

    def stop(self, op_id: OperationId) -> list[Output]:
        if op_id in self.open:
            episode = self.open[op_id]
            if episode.client_stopped_at is None:
                episode.client_stopped_at = len(episode.sent)
        elif op_id in self.held:
            self.held_stopped.add(op_id)
        outputs = self._account(self.conn.receive_frame(stop_frame(op_id)), stray=False)
        assert wire(outputs) == [], "a stop is answered by the application's complete"
        return outputs

    def stray(self, frame: str) -> list[Output]:
        """Not a well-formed `start` or `stop`: any `error` is not an operation's."""
        return self._account(self.conn.receive_frame(frame), stray=True)

    def acknowledge(self, keepalive: bool) -> list[Output]:
        """The ack replays held-back client messages: accounted as the client's."""
        self.acked = True
        outputs = self._account(self.conn.acknowledge(keepalive=keepalive), stray=False)
        assert outputs[0] == Send(ACK)
        self.held.clear()
        return outputs

    def app(self, method: str, op_id: OperationId) -> list[Output]:
        was_open = op_id in self.open
        if method == "send_result":
            outputs = self.conn.send_result(op_id, {"data": {"n": len(self.episodes)}})
        elif method == "complete":
            outputs = self.conn.complete(op_id)
        else:
            outputs = getattr(self.conn, method)(op_id, [{"message": method}])
        if not was_open:
            assert outputs == [], (method, op_id, outputs)
            return outputs
        episode = self.open[op_id]
        for output in outputs:
            assert isinstance(output, Send), outputs
            assert output.message["id"] == op_id
            assert type(output.message["id"]) is type(op_id)
            episode.sent.append((method, output.message))
        if not self.conn.is_active(op_id):
            episode.ended_by = method
            del self.open[op_id]
        else:
            assert method == "send_result", (method, op_id)
        return outputs

    def _account(self, outputs: list[Output], *, stray: bool) -> list[Output]:
        for output in outputs:
            if isinstance(output, ConnectionInitReceived):
                self.init_events += 1
                assert self.init_events == 1, "on_connect must run once"
            elif isinstance(output, OperationRequested):
                assert output.id not in self.open, f"{output.id!r} accepted twice"
                episode = Episode(output.id)
                if output.id in self.held_stopped:  # stopped while held back
                    episode.client_stopped_at = 0
                    self.held_stopped.discard(output.id)
                self.open[output.id] = episode
                self.episodes.append(episode)
            elif isinstance(output, OperationStopRequested):
                episode = self.open[output.id]
                assert episode.stop_requested_at is None, "one stop request per operation"
                episode.stop_requested_at = len(episode.sent)
            elif isinstance(output, Send):
                message = output.message
                if message["type"] in ("connection_ack", "ka", "connection_error"):
                    continue
                assert message["type"] == "error", message
                if stray:
                    self.stray_errors += 1
                else:  # the rejection of a `start` whose id is live
                    assert message["id"] in self.open, message
                    self.rejected_starts += 1
            else:
                raise AssertionError(f"unexpected output {output!r}")
        for op_id in self.open:
            assert self.conn.is_active(op_id), f"a client message ended {op_id!r}"
        return outputs


@pytest.mark.parametrize("seed", range(40))
def test_every_accepted_operation_ends_with_exactly_one_complete_or_error(seed: int) -> None:
    """PROTOCOL.md section 4: every operation id the server accepted ends with
    exactly one `complete` or one `error`; the one exception is a subscription
    whose `subscribe` hook failed (`send_setup_errors`): one `data` with the
    errors and nothing after it.

    A seeded random run of `start`s (some held back behind the init), `stop`s
    (some for held-back starts), the application's calls (on live, stopping,
    ended and unknown ids) and stray messages, with ids that are integers and
    strings ("1" and 1 both). At the end the application completes what still
    runs. Every message for an id is accounted to the operation it belongs
    to; then each operation must have exactly one ending message, as its last
    message; and an operation the client stopped must have been stopped (one
    `OperationStopRequested`) with no result sent after the client's `stop`."""
    rng = random.Random(seed)
    conn = ServerConnection(GRAPHQL_WS)
    ledger = Ledger(conn)

    def client_step() -> None:
        roll = rng.random()
        op_id = rng.choice(IDS)
        if roll < 0.55:
            ledger.start(op_id, rng.choice((QUERY, SUBSCRIPTION)))
        elif roll < 0.85:
            ledger.stop(op_id)
        elif roll < 0.9:
            ledger.stray(dumps({"type": rng.choice(("ping", "complete", "foo")), "id": op_id}))
        elif roll < 0.95:
            ledger.stray(
                rng.choice(
                    ("{", "[]", '{"type":"stop"}', '{"type":"start"}', '{"type":"start","id":1}')
                )
            )
        else:
            ledger.stray(INIT)

    # Before the ack: an explicit init or none (then the first start is one).
    if rng.random() < 0.5:
        ledger.stray(INIT)
    for _ in range(rng.randrange(8)):
        client_step()
    if not conn.init_received:
        ledger.stray(INIT)
    ledger.acknowledge(keepalive=rng.random() < 0.5)

    for _ in range(300):
        if rng.random() < 0.45:
            client_step()
        else:
            ledger.app(rng.choice(APP_CALLS), rng.choice(IDS))
        if rng.random() < 0.05:
            assert conn.keepalive() == [Send(KA)]
    for op_id in list(ledger.open):
        assert ledger.app("complete", op_id) == [complete_message(op_id)]

    assert not conn.closed
    assert conn.active_operations() == []
    assert ledger.open == {}
    assert ledger.init_events == 1
    assert len(ledger.episodes) >= 20
    for episode in ledger.episodes:
        endings = [m for _, m in episode.sent if m["type"] in ("complete", "error")]
        last_method, last = episode.sent[-1]
        assert last_method == episode.ended_by, episode
        if episode.ended_by == "send_setup_errors":
            assert endings == [], episode
            assert last == errors_as_data(episode.op_id, [{"message": last_method}]).message
        else:
            assert len(endings) == 1, episode
            assert last is endings[0], episode
        if episode.client_stopped_at is not None:
            assert episode.stop_requested_at is not None, f"the client's stop was lost: {episode}"
            assert episode.stop_requested_at <= episode.client_stopped_at, episode
            after_stop = episode.sent[episode.client_stopped_at :]
            assert all(method != "send_result" for method, _ in after_stop), episode
    ended_by = {episode.ended_by for episode in ledger.episodes}
    assert len(ended_by) >= 3, ended_by


def test_pong_timeout_is_ignored_on_legacy() -> None:
    """Decision 21: legacy clients never answer `ka`, so a missing pong never closes."""
    conn = ServerConnection(GRAPHQL_WS)
    conn.receive_frame(json.dumps({"type": "connection_init"}))
    conn.acknowledge()
    assert conn.pong_timeout() == []
    assert not conn.closed
