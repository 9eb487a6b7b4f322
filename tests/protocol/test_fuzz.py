"""Property-based fuzzing of the protocol layer, both subprotocols (issue 6).

Random and mutated frames, alone and in sequences interleaved with the calls
the consumer makes (``acknowledge``/``reject`` after ``ConnectionInitReceived``,
results and endings for requested operations, ``complete`` after a stop,
keep-alives, the init and pong timers), go into a ``ServerConnection``. Two
oracles look at every call:

* ``Model`` is PROTOCOL.md section 4 as a small reference machine, written
  from the tables (not from ``server.py``): for every input it predicts the
  answer, exactly where the table fixes it (pongs, acks, results, the legacy
  "Wrong message type" error), by its shape where the table leaves the text
  open, and as a set of close codes where two rows apply to one frame.
* ``Monitor`` checks what the issue lists on the outputs alone: no exception;
  only ``Send``, ``Close`` and events; nothing after a ``Close``; close codes
  from the subprotocol's table and reasons that fit a close frame; every
  ``Send`` a JSON object (strict JSON: no ``Infinity``) with a type the
  server side of its subprotocol may send; at most one ending (``complete``
  or ``error``) per accepted operation, nothing for it after that, no result
  after the client's stop; and at the end exactly one ending for each
  operation (legacy setup errors excepted, as the table says).

``tests/fuzz_long_run.py`` drives the same ``Session`` with a seeded, purely
random mutational generator for a million frames and more; the last test here
runs a short stretch of it so that it keeps working. Hypothesis runs
derandomized and without an example database, so CI is reproducible.
"""

from __future__ import annotations

import json
import math
import random
import reprlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_graphql_ws.protocol import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    Close,
    ConnectionInitReceived,
    OperationRequested,
    OperationStopRequested,
    Output,
    PongReceived,
    Send,
    ServerConnection,
    Subscribe,
)

SUBPROTOCOLS = (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)
BOTH = pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)

#: Every close code PROTOCOL.md section 4 gives the protocol layer, per
#: subprotocol (4406 is the consumer's: the layer exists only once a
#: subprotocol was chosen).
CLOSE_CODES: dict[str, frozenset[int]] = {
    GRAPHQL_TRANSPORT_WS: frozenset({1000, 1009, 1011, 4400, 4401, 4403, 4408, 4409, 4429}),
    GRAPHQL_WS: frozenset({1000, 1009, 4000, 4408}),
}
#: Message types the server side of each subprotocol sends.
SERVER_TYPES: dict[str, frozenset[str]] = {
    GRAPHQL_TRANSPORT_WS: frozenset(
        {"connection_ack", "next", "error", "complete", "ping", "pong"}
    ),
    GRAPHQL_WS: frozenset(
        {"connection_ack", "connection_error", "ka", "data", "error", "complete"}
    ),
}
#: RFC 6455: a close frame has room for 123 bytes of reason.
MAX_CLOSE_REASON_BYTES = 123
#: The consumer encodes an answer further down the stack than the layer
#: decoded the frame it answers; a ``Send`` must still encode with this many
#: more Python frames on the stack than the call that produced it.
ENCODE_HEADROOM = 50
#: Frames nested at least this deep may be refused as "not JSON": ``json``
#: gives up somewhere (it depends on the recursion limit and the stack depth
#: of the call), and a server may well set a lower limit of its own. For them
#: the table's answer for "not JSON" and its answer for the decoded message
#: are both accepted.
GRAY_NESTING = 32
#: The shallowest nesting the "deep" frames draw.
DEEP_NESTING = 400
#: The deepest nesting drawn: past the limit Hypothesis raises the recursion
#: limit to while it runs a test (about 2,000 frames over the stack depth).
MAX_NESTING = 2100

APP_CALLS = (
    "send_result",
    "send_confirmation",
    "complete",
    "send_error",
    "send_document_errors",
    "send_setup_errors",
)
#: Operation ids the client sends most often: a few, so ids collide.
ID_POOL: tuple[Any, ...] = ("1", "2", "op-é", 1, 2, 0)
QUERIES = (
    "{ hello }",
    "query Q { hello }",
    "mutation M { increment { value } }",
    "subscription S { onA }",
    "{",
    "",
    "query A { hello } query B { hello }",
)
TRANSPORT_TYPES = ("connection_init", "ping", "pong", "subscribe", "complete")
LEGACY_TYPES = ("connection_init", "start", "stop")
ALL_TYPES = (
    *TRANSPORT_TYPES,
    "start",
    "stop",
    "connection_terminate",
    "next",
    "error",
    "data",
    "ka",
    "connection_ack",
    "connection_error",
)
WRONG_TYPE_MESSAGE = "Exception: Wrong message type '{}'!"

_short = reprlib.Repr()
_short.maxstring = 160
_short.maxother = 160
_short.maxlevel = 4


def short(value: object) -> str:
    """A repr that stays readable (and finite) for huge or deeply nested values."""
    if isinstance(value, Send):
        return f"Send({_short.repr(value.message)})"
    if isinstance(value, (ConnectionInitReceived, PongReceived)):
        return f"{type(value).__name__}({_short.repr(value.payload)})"
    return _short.repr(value)


# ------------------------------------------------------------ JSON helpers


def loads(text: str, parse_float: Callable[[str], Any] = float) -> Any:
    """JSON as the tables mean it: ``NaN`` and ``Infinity`` are not JSON."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse, parse_float=parse_float)


def decode(text: str, depth: int) -> tuple[Any, bool]:
    """``loads`` whatever the stack depth (``depth``: the text's nesting), and
    whether a number overflowed to infinity (``1e999`` is valid JSON text)."""
    overflow = False

    def parse_float(number: str) -> float:
        nonlocal overflow
        value = float(number)
        overflow = overflow or value in (math.inf, -math.inf)
        return value

    limit = sys.getrecursionlimit()
    if depth >= GRAY_NESTING:
        sys.setrecursionlimit(max(limit, depth + 2000))
    try:
        return loads(text, parse_float), overflow
    finally:
        sys.setrecursionlimit(limit)


def same_json(a: object, b: object) -> bool:
    """Equal as JSON values, types included (1, 1.0, true and "1" all differ).

    Iterative, so values nested as deep as ``json`` decodes compare too.
    """
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            assert isinstance(y, dict)
            if x.keys() != y.keys():
                return False
            stack.extend((x[key], y[key]) for key in x)
        elif isinstance(x, list):
            assert isinstance(y, list)
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif x != y:
            return False
    return True


def nesting(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped)."""
    if text.count("[") + text.count("{") < GRAY_NESTING:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def encodes_with_headroom(message: object, levels: int = ENCODE_HEADROOM) -> str:
    """``json.dumps`` (strict: no NaN or Infinity) with ``levels`` more frames on the stack."""
    if levels:
        return encodes_with_headroom(message, levels - 1)
    return json.dumps(message, allow_nan=False)


def is_operation_id(value: object, *, legacy: bool) -> bool:
    """A non-empty string; on legacy also an integer (not a boolean)."""
    if isinstance(value, str):
        return value != ""
    return legacy and isinstance(value, int) and not isinstance(value, bool)


def payload_is_valid(payload: object) -> bool:
    """A subscribe/start payload the table accepts."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return False
    return (
        isinstance(payload.get("variables"), (dict, type(None)))
        and isinstance(payload.get("extensions"), (dict, type(None)))
        and isinstance(payload.get("operationName"), (str, type(None)))
    )


# ------------------------------------------------------------ expectations


@dataclass(frozen=True)
class ExpectSend:
    """Exactly this message."""

    message: dict[str, Any]


@dataclass(frozen=True)
class ExpectShape:
    """A message whose type and id are fixed and whose payload passes ``check``."""

    type: str
    id: Any = None
    has_id: bool = False
    check: Callable[[Any], bool] = lambda payload: True


@dataclass(frozen=True)
class ExpectClose:
    """A close with any of these codes (two table rows may apply to one frame)."""

    codes: frozenset[int]


Expectation = ExpectSend | ExpectShape | ExpectClose | Output


def errors_payload(payload: object, message: str | None = None) -> bool:
    """A legacy ``error`` payload: ``{"errors": [<formatted error>, ...]}``."""
    if not isinstance(payload, dict) or list(payload) != ["errors"]:
        return False
    errors = payload["errors"]
    if not isinstance(errors, list) or not errors:
        return False
    if not all(isinstance(e, dict) and isinstance(e.get("message"), str) for e in errors):
        return False
    return message is None or (len(errors) == 1 and errors[0]["message"] == message)


def message_payload(payload: object) -> bool:
    """A legacy ``connection_error`` payload: ``{"message": ...}``."""
    return isinstance(payload, dict) and isinstance(payload.get("message"), str)


def matches(expected: Expectation, actual: Output) -> bool:
    if isinstance(expected, ExpectClose):
        return isinstance(actual, Close) and actual.code in expected.codes
    if isinstance(expected, ExpectSend):
        return isinstance(actual, Send) and same_json(actual.message, expected.message)
    if isinstance(expected, ExpectShape):
        if not isinstance(actual, Send):
            return False
        message = actual.message
        keys = {"type", "payload", "id"} if expected.has_id else {"type", "payload"}
        return (
            message.keys() == keys
            and message["type"] == expected.type
            and (not expected.has_id or same_json(message["id"], expected.id))
            and expected.check(message["payload"])
        )
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, OperationRequested):
        assert isinstance(actual, OperationRequested)
        mine, theirs = expected.message, actual.message
        return all(
            same_json(getattr(mine, name), getattr(theirs, name))
            for name in ("id", "payload", "query", "variables", "operation_name", "extensions")
        )
    if isinstance(expected, OperationStopRequested):
        assert isinstance(actual, OperationStopRequested)
        return same_json(actual.id, expected.id)
    if isinstance(expected, ConnectionInitReceived):
        assert isinstance(actual, ConnectionInitReceived)
        return actual.implicit == expected.implicit and same_json(actual.payload, expected.payload)
    assert isinstance(expected, PongReceived) and isinstance(actual, PongReceived)
    return same_json(actual.payload, expected.payload)


def all_match(expected: list[Expectation], actual: list[Output]) -> bool:
    return len(expected) == len(actual) and all(map(matches, expected, actual))


# ------------------------------------------------------------ the model


class Model:
    """PROTOCOL.md section 4 as a reference machine: what each input must produce."""

    def __init__(self, subprotocol: str, max_size: int | None) -> None:
        self.legacy = subprotocol == GRAPHQL_WS
        self.max_size = max_size
        self.state = "waiting"  # waiting, pending (the hook runs), acked, closed
        #: Accepted operations still active: "running", or "stopping" after a stop.
        self.ops: dict[Any, str] = {}
        #: Legacy starts and stops that came before the ack, in order.
        self.held: list[tuple[str, Any]] = []
        #: transport-ws: subscribes reusing an id whose stop is under way, in
        #: order, each with "stopped" once the client stopped it too.
        self.reuses: dict[Any, list[tuple[Subscribe, bool]]] = {}

    def snapshot(self) -> tuple[Any, ...]:
        reuses = {op_id: list(queue) for op_id, queue in self.reuses.items()}
        return self.state, dict(self.ops), list(self.held), reuses

    def restore(self, snapshot: tuple[Any, ...]) -> None:
        self.state, ops, held, reuses = snapshot
        self.ops, self.held = dict(ops), list(held)
        self.reuses = {op_id: list(queue) for op_id, queue in reuses.items()}

    def _close(self, *codes: int) -> list[Expectation]:
        self.state = "closed"
        self.ops.clear()
        self.held.clear()
        self.reuses.clear()
        return [ExpectClose(frozenset(codes))]

    def _may_reuse(self, op_id: Any) -> bool:
        """transport-ws: the id is free from the client's own stop on."""
        waiting = self.reuses.get(op_id, [])
        return (
            not self.legacy
            and self.ops.get(op_id) == "stopping"
            and all(stopped for _, stopped in waiting)
        )

    def _release(self, op_id: Any) -> list[Expectation]:
        """What waited for ``op_id`` to end starts now (stopped again if the client said so)."""
        waiting = self.reuses.get(op_id)
        if not waiting:
            return []
        message, stopped = waiting.pop(0)
        if not waiting:
            del self.reuses[op_id]
        self.ops[op_id] = "stopping" if stopped else "running"
        expected: list[Expectation] = [OperationRequested(message)]
        if stopped:
            expected.append(OperationStopRequested(op_id))
        return expected

    # -------------------------------------------------- client input

    def frame(self, frame: str | bytes, actual: list[Output]) -> list[Expectation]:
        """Predict the answer to a frame; ``actual`` only picks between two table rows."""
        if self.state == "closed":
            return []
        if isinstance(frame, bytes):
            too_big = self.max_size is not None and len(frame) > self.max_size
            return self._close(1009) if too_big else self._not_a_message()
        if self.max_size is not None and (
            len(frame.encode("utf-8", "surrogatepass")) > self.max_size
        ):
            return self._close(1009)
        depth = nesting(frame)
        try:
            value, overflow = decode(frame, depth)
        except (ValueError, RecursionError):
            return self._not_a_message()
        if depth >= GRAY_NESTING or overflow:
            # Deep nesting, or a number past the float range (RFC 8259 lets a
            # parser limit both): "not JSON" is a fair answer too. Take it if
            # that is what came, else the answer for the decoded message.
            before = self.snapshot()
            garbage = self._not_a_message()
            if all_match(garbage, actual):
                return garbage
            self.restore(before)
        return self.message(value)

    def _not_a_message(self) -> list[Expectation]:
        """Binary, not JSON: 4400, or legacy ``connection_error`` (stays open)."""
        if self.legacy:
            return [ExpectShape("connection_error", check=message_payload)]
        return self._close(4400)

    def message(self, value: object) -> list[Expectation]:
        if self.state == "closed":
            return []
        if not isinstance(value, dict):
            return self._not_a_message()
        kinds = LEGACY_KINDS if self.legacy else TRANSPORT_KINDS
        raw_type = value.get("type")
        kind = kinds.get(raw_type.lower()) if isinstance(raw_type, str) else None
        if kind is None:
            return self._bad_type(value)
        if kind == "connection_terminate":
            return self._close(1000)
        if kind == "connection_init":
            return self._connection_init(value.get("payload"))
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if "payload" in value:
                pong["payload"] = value["payload"]
            return [ExpectSend(pong)]
        if kind == "pong":
            return [PongReceived(value.get("payload"))]
        if kind == "complete":
            return self._stop(value.get("id"))
        return self._subscribe(value)

    def _bad_type(self, value: dict[str, Any]) -> list[Expectation]:
        if not self.legacy:
            return self._close(4400)
        raw_type, raw_id = value.get("type"), value.get("id")
        echo = raw_id if is_operation_id(raw_id, legacy=True) else None
        if isinstance(raw_type, str):
            text = WRONG_TYPE_MESSAGE.format(raw_type.upper())
            return [ExpectShape("error", echo, True, lambda p: errors_payload(p, text))]
        prefix = WRONG_TYPE_MESSAGE.split("'")[0]
        return [
            ExpectShape(
                "error",
                echo,
                True,
                lambda p: errors_payload(p) and p["errors"][0]["message"].startswith(prefix),
            )
        ]

    def _connection_init(self, payload: Any) -> list[Expectation]:
        if self.state != "waiting":
            if self.legacy:
                return [ExpectShape("connection_error", check=message_payload)]
            return self._close(4429)
        self.state = "pending"
        return [ConnectionInitReceived(payload)]

    def _stop(self, op_id: Any) -> list[Expectation]:
        if not is_operation_id(op_id, legacy=self.legacy):
            return [] if self.legacy else self._close(4400)
        if self.held:
            self.held.append(("stop", op_id))
            return []
        return self._stop_valid(op_id)

    def _stop_valid(self, op_id: Any) -> list[Expectation]:
        waiting = self.reuses.get(op_id)
        if waiting and not waiting[-1][1]:
            waiting[-1] = (waiting[-1][0], True)
            return []
        if self.ops.get(op_id) != "running":
            return []
        self.ops[op_id] = "stopping"
        return [OperationStopRequested(op_id)]

    def _subscribe(self, value: dict[str, Any]) -> list[Expectation]:
        op_id, payload = value.get("id"), value.get("payload")
        id_ok = is_operation_id(op_id, legacy=self.legacy)
        payload_ok = payload_is_valid(payload)
        if self.legacy:
            if not id_ok:
                return [ExpectShape("error", None, True, errors_payload)]
            if not payload_ok:
                return [ExpectShape("error", op_id, True, errors_payload)]
        else:
            codes = set()
            if not (id_ok and payload_ok):
                codes.add(4400)
            if self.state != "acked":
                codes.add(4401)
            elif id_ok and op_id in self.ops and not self._may_reuse(op_id):
                codes.add(4409)
            if codes:
                return self._close(*codes)
        assert isinstance(payload, dict)
        message = Subscribe(
            id=op_id,
            payload=payload,
            query=payload["query"],
            variables=payload.get("variables"),
            operation_name=payload.get("operationName"),
            extensions=payload.get("extensions"),
        )
        if self.state == "acked":
            return self._start(message)
        # Legacy: a start before the ack waits for it; before any init it is one.
        self.held.append(("start", message))
        if self.state == "waiting":
            self.state = "pending"
            return [ConnectionInitReceived(None, implicit=True)]
        return []

    def _start(self, message: Subscribe) -> list[Expectation]:
        if message.id in self.ops and not self.legacy:  # reused while stopping
            self.reuses.setdefault(message.id, []).append((message, False))
            return []
        if message.id in self.ops:  # legacy only: transport-ws closed 4409 above
            return [ExpectShape("error", message.id, True, errors_payload)]
        self.ops[message.id] = "running"
        return [OperationRequested(message)]

    # -------------------------------------------------- the application

    def acknowledge(self, payload: dict[str, Any] | None, keepalive: bool) -> list[Expectation]:
        if self.state != "pending":
            return []
        self.state = "acked"
        ack: dict[str, Any] = {"type": "connection_ack"}
        if payload is not None:
            ack["payload"] = payload
        expected: list[Expectation] = [ExpectSend(ack)]
        if keepalive and self.legacy:
            expected.append(ExpectSend({"type": "ka"}))
        held, self.held = self.held, []
        for what, item in held:
            expected += self._start(item) if what == "start" else self._stop_valid(item)
        return expected

    def reject(self, error: dict[str, Any] | None) -> list[Expectation]:
        if self.state != "pending":
            return []
        if not self.legacy:
            return self._close(4403)
        if error is None:
            sent: Expectation = ExpectShape("connection_error", check=message_payload)
        else:
            sent = ExpectSend({"type": "connection_error", "payload": error})
        return [sent, *self._close(4000)]

    def app(self, method: str, op_id: Any, data: Any) -> list[Expectation]:
        """``send_result``, ``complete``, ... for ``op_id`` (``data``: result or errors)."""
        state = self.ops.get(op_id)
        result_type = "data" if self.legacy else "next"
        if self.state == "closed" or state is None:
            return []
        if method == "send_result":
            if state != "running":
                return []
            return [ExpectSend({"type": result_type, "id": op_id, "payload": data})]
        if method == "send_confirmation":
            return [ExpectSend({"type": result_type, "id": op_id, "payload": data})]
        del self.ops[op_id]
        return self._ending(method, op_id, data) + self._release(op_id)

    def _ending(self, method: str, op_id: Any, data: Any) -> list[Expectation]:
        if method == "complete":
            return [ExpectSend({"type": "complete", "id": op_id})]
        error_payload = {"errors": data} if self.legacy else data
        error = ExpectSend({"type": "error", "id": op_id, "payload": error_payload})
        if method == "send_error" or not self.legacy:
            return [error]
        as_result = ExpectSend(
            {"type": "data", "id": op_id, "payload": {"data": None, "errors": data}}
        )
        if method == "send_document_errors":
            return [as_result, ExpectSend({"type": "complete", "id": op_id})]
        assert method == "send_setup_errors", method
        return [as_result]

    def keepalive(self) -> list[Expectation]:
        if self.state != "acked":
            return []
        return [ExpectSend({"type": "ka" if self.legacy else "ping"})]

    def init_timeout(self) -> list[Expectation]:
        return self._close(4408) if self.state == "waiting" else []

    def pong_timeout(self) -> list[Expectation]:
        if self.state != "acked" or self.legacy:
            return []
        return self._close(1011)

    def connection_lost(self) -> None:
        self.state = "closed"
        self.ops.clear()
        self.held.clear()
        self.reuses.clear()


TRANSPORT_KINDS = {name: name for name in (*TRANSPORT_TYPES, "connection_terminate")}
LEGACY_KINDS = {
    "connection_init": "connection_init",
    "connection_terminate": "connection_terminate",
    "start": "subscribe",
    "stop": "complete",
}


# ------------------------------------------------------------ the monitor


@dataclass
class Episode:
    """One accepted operation, from its ``OperationRequested`` to its end."""

    op_id: Any
    sent: list[dict[str, Any]] = field(default_factory=list)
    endings: int = 0
    stop_requested: bool = False
    setup_failed: bool = False


class Monitor:
    """The issue's invariants, checked on the outputs alone."""

    def __init__(self, subprotocol: str) -> None:
        self.subprotocol = subprotocol
        self.legacy = subprotocol == GRAPHQL_WS
        self.closed = False
        self.init_events = 0
        self.acks = 0
        self.open: dict[Any, Episode] = {}
        self.ended: list[Episode] = []
        #: Every id the machine accepted, in order: the application's calls pick from it.
        self.requested_ids: list[Any] = []
        #: Outputs seen, by kind ("close 4400", "send next", "OperationRequested").
        self.counts: Counter[str] = Counter()

    def observe(self, outputs: list[Output], call: str) -> None:
        """Check one call's outputs; ``call`` is the method that returned them."""
        assert isinstance(outputs, list), outputs
        from_client = call in ("receive_frame", "receive_message", "acknowledge")
        for output in outputs:
            assert not self.closed, f"{call} output {short(output)} after the close"
            self.counts[label(output)] += 1
            if isinstance(output, Close):
                self._close(output)
            elif isinstance(output, Send):
                self._send(output.message, call, from_client=from_client)
            elif isinstance(output, ConnectionInitReceived):
                self.init_events += 1
                assert self.init_events == 1, "on_connect must run at most once"
            elif isinstance(output, OperationRequested):
                self._requested(output)
            elif isinstance(output, OperationStopRequested):
                episode = self.open.get(output.id)
                assert episode is not None, f"stop requested for {output.id!r}, not active"
                assert not episode.stop_requested, f"a second stop request for {output.id!r}"
                episode.stop_requested = True
            elif isinstance(output, PongReceived):
                assert not self.legacy, "the legacy subprotocol has no pong"
            else:
                raise AssertionError(f"{call} returned {short(output)}, not an output")

    def _close(self, close: Close) -> None:
        self.closed = True
        assert close.code in CLOSE_CODES[self.subprotocol], f"close code {close.code}"
        assert isinstance(close.reason, str), close
        reason = close.reason.encode("utf-8")  # strict: a close frame's reason is UTF-8
        assert len(reason) <= MAX_CLOSE_REASON_BYTES, close
        self.open.clear()  # a close ends every operation, with no message

    def _send(self, message: object, call: str, *, from_client: bool) -> None:
        assert isinstance(message, dict), message
        encodes_with_headroom(message)
        kind = message.get("type")
        assert kind in SERVER_TYPES[self.subprotocol], f"{kind!r} is not a server message"
        if kind == "connection_ack":
            self.acks += 1
            assert self.acks == 1, "a second connection_ack"
        if kind not in ("next", "data", "error", "complete"):
            assert "id" not in message, message
            return
        op_id = message["id"]
        if from_client:
            # Only the legacy subprotocol reports a client's mistake in a message.
            assert self.legacy and kind == "error", f"{call} sent {short(message)}"
            assert errors_payload(message["payload"]), message
            return
        episode = self.open.get(op_id)
        assert episode is not None, f"{call} sent {short(message)} for no active operation"
        assert type(op_id) is type(episode.op_id), "the id changed its JSON type"
        if kind in ("next", "data"):
            assert episode.endings == 0
            assert not (call == "send_result" and episode.stop_requested), (
                f"a result for {op_id!r} after the client stopped it"
            )
        else:
            episode.endings += 1
            assert episode.endings == 1, f"a second ending for {op_id!r}"
        if kind == "error":
            errors = message["payload"] if not self.legacy else message["payload"]["errors"]
            assert isinstance(errors, list) and errors, message
            assert all(isinstance(e, dict) and "message" in e for e in errors), message
        episode.sent.append(message)

    def _requested(self, output: OperationRequested) -> None:
        op_id = output.id
        assert is_operation_id(op_id, legacy=self.legacy), f"accepted id {op_id!r}"
        previous = self.open.get(op_id)
        if previous is not None and previous.endings == 1 and not self.legacy:
            # The id was reused while its stop was under way: the old
            # operation has just sent its one ending, the new one starts.
            del self.open[op_id]
            self.ended.append(previous)
        assert op_id not in self.open, f"{op_id!r} accepted while active"
        self.open[op_id] = Episode(op_id)
        self.requested_ids.append(op_id)

    def after_app_call(self, method: str, op_id: Any, conn: ServerConnection) -> None:
        """An operation the application call ended leaves the open ones."""
        episode = self.open.get(op_id)
        if episode is None or conn.is_active(op_id):
            return
        del self.open[op_id]
        if episode.endings == 0:
            assert self.legacy and method == "send_setup_errors", (method, episode)
            episode.setup_failed = True
        self.ended.append(episode)

    def check_final(self) -> None:
        """Every operation that ended (not cut by a close) ended exactly once."""
        assert self.closed or not self.open, f"still active: {list(self.open)}"
        for episode in self.ended:
            last = episode.sent[-1]
            if episode.setup_failed:  # legacy: `data` with the errors, nothing after
                assert episode.endings == 0 and last["type"] == "data", episode
            else:
                assert episode.endings == 1, episode
                assert last["type"] in ("complete", "error"), episode


def label(output: Output) -> str:
    """What kind of output this is, for counting."""
    if isinstance(output, Close):
        return f"close {output.code}"
    if isinstance(output, Send):
        return f"send {output.message.get('type')}"
    return type(output).__name__


# ------------------------------------------------------------ one connection


class Session:
    """A ``ServerConnection`` with its model and monitor, driven one step at a time."""

    def __init__(self, subprotocol: str, max_size: int | None = None) -> None:
        self.subprotocol = subprotocol
        self.conn = ServerConnection(subprotocol, max_message_size=max_size)
        self.model = Model(subprotocol, max_size)
        self.monitor = Monitor(subprotocol)
        self.frames = 0
        self.app_counter = 0
        #: Steps run so far: on a failure, the failing step's index.
        self.steps_done = 0

    def _check(self, label: str, expected: list[Expectation], actual: list[Output]) -> None:
        assert all_match(expected, actual), (
            f"{label}: expected {[short(e) for e in expected]}, got {[short(a) for a in actual]}"
        )
        model, conn = self.model, self.conn
        assert conn.closed == (model.state == "closed"), label
        assert conn.init_received == (model.state != "waiting"), label
        active = {(type(op_id), op_id) for op_id in conn.active_operations()}
        assert active == {(type(op_id), op_id) for op_id in model.ops}, label

    def frame(self, frame: str | bytes) -> list[Output]:
        self.frames += 1
        actual = self.conn.receive_frame(frame)
        self.monitor.observe(actual, "receive_frame")
        self._check(f"frame {short(frame)}", self.model.frame(frame, actual), actual)
        return actual

    def message(self, value: object) -> list[Output]:
        actual = self.conn.receive_message(value)
        self.monitor.observe(actual, "receive_message")
        self._check(f"message {short(value)}", self.model.message(value), actual)
        return actual

    def pick_id(self, index: int) -> Any:
        """An id the machine accepted (active, ending or ended), or an unknown one."""
        ids = self.monitor.requested_ids
        return ids[index % len(ids)] if ids and index >= 0 else "never-requested"

    def app(self, method: str, *args: Any) -> list[Output]:
        """One call the consumer makes; ids are picked with ``pick_id``."""
        conn, model = self.conn, self.model
        if method == "acknowledge":
            payload, keepalive = args
            actual = conn.acknowledge(payload, keepalive=keepalive)
            expected = model.acknowledge(payload, keepalive)
        elif method == "reject":
            actual, expected = conn.reject(args[0]), model.reject(args[0])
        elif method in APP_CALLS:
            op_id = self.pick_id(args[0])
            self.app_counter += 1
            if method in ("send_result", "send_confirmation"):
                data: Any = {"data": {"n": self.app_counter}}
            else:
                data = [{"message": f"{method} {self.app_counter}"}]
            call = getattr(conn, method)
            actual = call(op_id) if method == "complete" else call(op_id, data)
            expected = model.app(method, op_id, data)
            self.monitor.observe(actual, method)
            self.monitor.after_app_call(method, op_id, conn)
            self._check(f"{method}({op_id!r})", expected, actual)
            return actual
        elif method == "connection_lost":
            conn.connection_lost()
            model.connection_lost()
            self.monitor.closed = True
            self.monitor.open.clear()
            actual, expected = [], []
        else:
            actual, expected = getattr(conn, method)(), getattr(model, method)()
        self.monitor.observe(actual, method)
        self._check(method, expected, actual)
        return actual

    def step(self, step: tuple[Any, ...]) -> None:
        self.steps_done += 1
        what, *args = step
        if what == "frame":
            self.frame(args[0])
        elif what == "message":
            self.message(args[0])
        else:
            self.app(what, *args)

    def finish(self) -> None:
        """The consumer's end of the story: ack if pending, complete what runs."""
        if self.model.state == "pending":
            self.app("acknowledge", None, False)
        # Completing an operation starts what reused its id meanwhile, if anything.
        for _ in range(len(self.monitor.requested_ids) + 1):
            for op_id in self.conn.active_operations():
                self.app("complete", self.monitor.requested_ids.index(op_id))
        assert self.conn.active_operations() == []
        self.monitor.check_final()

    def run(self, steps: list[tuple[Any, ...]]) -> None:
        for step in steps:
            self.step(step)
        self.finish()


def prepared(subprotocol: str, state: str, max_size: int | None = None) -> Session:
    """A session that received nothing, an init (hook running), or was acked
    (``acked+ops``: with two running operations, one of them being stopped)."""
    session = Session(subprotocol, max_size)
    if state == "fresh":
        return session
    session.frame('{"type": "connection_init"}')
    if state == "pending":
        return session
    session.app("acknowledge", None, False)
    if state == "acked+ops":
        start, stop = ("start", "stop") if subprotocol == GRAPHQL_WS else ("subscribe", "complete")
        for op_id in ("1", "2"):
            session.frame(json.dumps({"type": start, "id": op_id, "payload": {"query": "{ a }"}}))
        session.frame(json.dumps({"type": stop, "id": "2"}))
    return session


STATES = ("fresh", "pending", "acked", "acked+ops")


# ------------------------------------------------------------ strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
pooled_ids = st.sampled_from(ID_POOL)
op_ids = st.one_of(
    pooled_ids,
    pooled_ids,
    pooled_ids,
    st.sampled_from(("", 1.0, True, None, [], {}, "\u00e9\U0001d11e", -(2**63))),
    json_values,
)
queries = st.one_of(st.sampled_from(QUERIES), st.sampled_from(QUERIES), st.text(max_size=20))
type_names = st.sampled_from(ALL_TYPES)
any_type = st.one_of(
    type_names,
    type_names.map(str.upper),
    type_names.map(str.title),
    st.text(max_size=12),
    json_scalars,
)


@st.composite
def operation_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A subscribe/start payload, valid unless mutated later."""
    payload: dict[str, Any] = {"query": draw(queries)}
    small_objects = st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=2)
    if draw(st.booleans()):
        payload["variables"] = draw(small_objects)
    if draw(st.booleans()):
        payload["operationName"] = draw(st.none() | st.sampled_from(("Q", "A", "B")))
    if draw(st.booleans()):
        payload["extensions"] = draw(small_objects)
    return payload


@st.composite
def messages(draw: st.DrawFn, subprotocol: str) -> dict[str, Any]:
    """A client message for ``subprotocol`` (or the other one), often mutated.

    Mutations: a key dropped, a value replaced by any JSON value, an extra
    key, a payload field of the wrong type, the type's case changed.
    """
    own = TRANSPORT_TYPES if subprotocol == GRAPHQL_TRANSPORT_WS else LEGACY_TYPES
    kind = draw(st.one_of(st.sampled_from(own), st.sampled_from(own), any_type))
    message: dict[str, Any] = {"type": kind}
    if kind in ("subscribe", "start", "complete", "stop") or draw(st.booleans()):
        message["id"] = draw(op_ids)
    if kind in ("subscribe", "start"):
        message["payload"] = draw(operation_payloads())
    elif draw(st.booleans()):
        message["payload"] = draw(json_values)
    for _ in range(draw(st.sampled_from((0, 0, 0, 1, 2)))):
        mutation = draw(st.sampled_from(("drop", "replace", "extra", "payload", "case")))
        if mutation == "drop" and message:
            del message[draw(st.sampled_from(sorted(message)))]
        elif mutation == "replace":
            message[draw(st.sampled_from(("type", "id", "payload")))] = draw(json_values)
        elif mutation == "extra":
            message[draw(st.text(max_size=6))] = draw(json_values)
        elif mutation == "payload" and isinstance(message.get("payload"), dict):
            key = draw(st.sampled_from(("query", "variables", "operationName", "extensions")))
            message["payload"][key] = draw(json_values)
        elif mutation == "case" and isinstance(message.get("type"), str):
            message["type"] = draw(st.sampled_from((str.upper, str.title, str.swapcase)))(
                message["type"]
            )
    return message


NON_JSON_VALUES = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e400", "[1e999]")
CORRUPTING_TEXT = ('"', "\\", "{", "}", "[", "]", ",", ":", " ", "\x00", "é", "\ud800", "NaN")
WIDE_CHARS = ("a", "é", "€", "\U0001d11e")


def dumps(message: object, ensure_ascii: bool = False) -> str:
    return json.dumps(message, ensure_ascii=ensure_ascii)


def deep_value(depth: int, shape: str) -> str:
    if shape == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def near_limit_frame(message: dict[str, Any], max_size: int, delta: int, char: str) -> str:
    """``message`` padded with ``char`` to ``max_size + delta`` UTF-8 bytes (or just over)."""
    padded = {**message, "pad": ""}
    base = len(dumps(padded).encode("utf-8", "surrogatepass"))
    room = max(0, max_size + delta - base)
    width = len(char.encode())
    padded["pad"] = char * (room // width) + "a" * (room % width)
    return dumps(padded)


@st.composite
def frames(draw: st.DrawFn, subprotocol: str, max_size: int | None) -> str | bytes:
    """One WebSocket frame: mostly JSON messages, then every kind of garbage."""
    how = draw(
        st.sampled_from(
            ("message",) * 8
            + ("value", "text", "binary", "bytes", "invalid-utf8", "non-json-number")
            + ("corrupted", "corrupted", "deep", "near-limit", "empty", "surrogate")
        )
    )
    if how == "value":
        return dumps(draw(json_values))
    if how == "text":
        return draw(st.text(max_size=30))
    if how == "binary":
        return draw(st.binary(max_size=30))
    if how == "empty":
        return draw(st.sampled_from(("", b"", " ", "null", "{}", "[]", '""', "0")))
    message = draw(messages(subprotocol))
    text = dumps(message, ensure_ascii=draw(st.booleans()))
    if how == "message":
        return text
    if how == "bytes":
        return text.encode()
    if how == "invalid-utf8":
        cut = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80")))
        return text.encode()[:cut] + junk + text.encode()[cut:]
    if how == "non-json-number":
        own = TRANSPORT_TYPES if subprotocol == GRAPHQL_TRANSPORT_WS else LEGACY_TYPES
        kind = draw(st.sampled_from(own) | st.sampled_from(ALL_TYPES))
        slot = draw(st.sampled_from(("payload", "id", "variables")))
        value = draw(st.sampled_from(NON_JSON_VALUES))
        if slot == "variables":
            payload = f'{{"query":"{{ a }}","variables":{{"x":{value}}}}}'
            return f'{{"type":"{kind}","id":"1","payload":{payload}}}'
        return f'{{"type":"{kind}","{slot}":{value}}}'
    if how == "corrupted":
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(("cut", "insert", "delete", "repeat")))
        if edit == "cut":
            return text[:at]
        if edit == "insert":
            return text[:at] + draw(st.sampled_from(CORRUPTING_TEXT)) + text[at:]
        if edit == "delete":
            return text[:at] + text[at + 1 :]
        return text[:at] + text[max(0, at - 5) : at] + text[at:]
    if how == "deep":
        depth = draw(st.integers(DEEP_NESTING, MAX_NESTING))
        nested = deep_value(depth, draw(st.sampled_from(("array", "object"))))
        kind = draw(st.sampled_from(ALL_TYPES))
        slot = draw(st.sampled_from(("payload", "payload", "id", "type", "extra")))
        # A repeated key ("type", "id") is legal JSON: the last one counts.
        return f'{{"type":"{kind}","id":"1","{slot}":{nested}}}'
    if how == "near-limit":
        limit = max_size if max_size is not None else 2000
        delta = draw(st.integers(-3, 3))
        return near_limit_frame(message, limit, delta, draw(st.sampled_from(WIDE_CHARS)))
    assert how == "surrogate"
    kind = draw(st.sampled_from((*ALL_TYPES, "\\ud800", "PING\\udfff")))
    op_id = draw(st.sampled_from(("\\ud800", "a\\udc00b", "\\ud83d\\ude00")))
    return f'{{"type":"{kind}","id":"{op_id}","payload":{{"query":"{{ a }}"}}}}'


@st.composite
def app_steps(draw: st.DrawFn) -> tuple[Any, ...]:
    what = draw(
        st.sampled_from(
            (
                "acknowledge",
                "acknowledge",
                "reject",
                *APP_CALLS,
                *APP_CALLS,
                "keepalive",
                "init_timeout",
                "pong_timeout",
                "connection_lost",
            )
        )
    )
    if what == "acknowledge":
        payload = draw(st.none() | st.dictionaries(st.text(max_size=4), json_values, max_size=2))
        return (what, payload, draw(st.booleans()))
    if what == "reject":
        return (what, draw(st.none() | st.just({"message": "Forbidden!"})))
    if what in APP_CALLS:
        return (what, draw(st.integers(-1, 7)))
    return (what,)


@st.composite
def calm_frames(draw: st.DrawFn, subprotocol: str) -> str:
    """A well-formed operation message: start (subscribe) or stop (complete) a pooled id."""
    legacy = subprotocol == GRAPHQL_WS
    op_id = draw(st.sampled_from(ID_POOL if legacy else ID_POOL[:3]))
    if draw(st.booleans()):
        kind = "start" if legacy else "subscribe"
        return dumps({"type": kind, "id": op_id, "payload": {"query": draw(queries)}})
    return dumps({"type": "stop" if legacy else "complete", "id": op_id})


def steps(
    subprotocol: str, max_size: int | None, *, calm: bool = False
) -> st.SearchStrategy[tuple[Any, ...]]:
    """One step: a frame (well-formed, or anything), a decoded message, or an
    application call. ``calm`` steps are well-formed frames and calls only,
    so a sequence gets deep into operations before anything closes it."""
    calm_steps = calm_frames(subprotocol).map(lambda frame: ("frame", frame))
    results = st.tuples(st.sampled_from(("send_result", "complete")), st.integers(0, 5))
    if calm:
        return st.one_of(calm_steps, calm_steps, app_steps(), results)
    frame_steps = frames(subprotocol, max_size).map(lambda frame: ("frame", frame))
    message_steps = st.one_of(messages(subprotocol), json_values).map(
        lambda value: ("message", value)
    )
    return st.one_of(calm_steps, frame_steps, frame_steps, app_steps(), results, message_steps)


max_sizes = st.sampled_from((None, 300, 4096))


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ------------------------------------------------------------ the tests


@st.composite
def single_frame_cases(draw: st.DrawFn) -> tuple[str, str, int | None, str | bytes]:
    """(subprotocol, state, max_size, frame)."""
    subprotocol = draw(st.sampled_from(SUBPROTOCOLS))
    max_size = draw(max_sizes)
    state = draw(st.sampled_from(STATES))
    return subprotocol, state, max_size, draw(frames(subprotocol, max_size))


@fuzz_settings(800)
@given(case=single_frame_cases())
def test_any_frame_in_any_state_gets_only_answers_of_the_table(
    case: tuple[str, str, int | None, str | bytes],
) -> None:
    """One random or mutated frame, in each state a connection can be in: the
    answer is the table's, the invariants hold, and the connection ends cleanly."""
    subprotocol, state, max_size, frame = case
    session = prepared(subprotocol, state, max_size)
    session.frame(frame)
    session.finish()


HANDSHAKE: list[tuple[Any, ...]] = [
    ("frame", '{"type":"connection_init"}'),
    ("acknowledge", None, False),
]


@st.composite
def sequence_cases(draw: st.DrawFn) -> tuple[str, int | None, list[tuple[Any, ...]]]:
    """(subprotocol, max_size, steps): mostly the handshake, well-formed steps, then any."""
    subprotocol = draw(st.sampled_from(SUBPROTOCOLS))
    max_size = draw(max_sizes)
    handshake = HANDSHAKE[: draw(st.sampled_from((0, 1, 2, 2, 2)))]
    calm = draw(st.lists(steps(subprotocol, max_size, calm=True), max_size=12))
    wild = draw(st.lists(steps(subprotocol, max_size), min_size=1, max_size=12))
    return subprotocol, max_size, [*handshake, *calm, *wild]


@fuzz_settings(300)
@given(case=sequence_cases())
def test_frame_sequences_with_application_calls_keep_every_invariant(
    case: tuple[str, int | None, list[tuple[Any, ...]]],
) -> None:
    """Sequences of frames, decoded messages and the consumer's calls (on
    accepted ids, mostly): every answer is the table's, nothing follows a
    close, every accepted operation ends once, and nothing follows its end."""
    subprotocol, max_size, steps = case
    Session(subprotocol, max_size).run(steps)


SURROGATE_SUBSCRIBE = '{"type":"subscribe","id":"\\ud800","payload":{"query":"{ a }"}}'
#: Frames the generators above reach by chance, pinned so they always run
#: (kept apart from the Hypothesis tests: a failing explicit example stops
#: Hypothesis before it generates anything).
EDGE_CASES: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
    "ping payload past the float range": (
        GRAPHQL_TRANSPORT_WS,
        [("frame", '{"type":"ping","payload":1e999}')],
    ),
    "ping payload with -1e999 inside": (
        GRAPHQL_TRANSPORT_WS,
        [("frame", '{"type":"ping","payload":{"a":[-1e999]}}')],
    ),
    "unknown type with a lone surrogate": (
        GRAPHQL_TRANSPORT_WS,
        [*HANDSHAKE, ("frame", '{"type":"x\\ud800"}')],
    ),
    "id with a lone surrogate reused while active": (
        GRAPHQL_TRANSPORT_WS,
        [*HANDSHAKE, ("frame", SURROGATE_SUBSCRIBE), ("frame", SURROGATE_SUBSCRIBE)],
    ),
    "legacy start with variables past the float range": (
        GRAPHQL_WS,
        [("frame", '{"type":"start","id":1,"payload":{"query":"{ a }","variables":{"x":1e999}}}')],
    ),
    "legacy unknown type with a lone surrogate": (
        GRAPHQL_WS,
        [("frame", '{"type":"\\udfffping","id":"\\ud800"}')],
    ),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_frames_get_only_answers_of_the_table(name: str) -> None:
    """The checks of the sequence test on frames pinned by name: numbers past
    the float range (which ``json`` decodes to infinity) and strings with
    lone surrogates (which JSON escapes can carry)."""
    subprotocol, steps = EDGE_CASES[name]
    Session(subprotocol).run(steps)


@st.composite
def valid_subscribes(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A well-formed subscribe/start: any valid id, payload fields, extra keys, type case."""
    op_id = draw(st.one_of(pooled_ids.filter(lambda i: isinstance(i, str)), st.text(min_size=1)))
    message: dict[str, Any] = {"type": draw(st.sampled_from((kind, kind.upper(), kind.title())))}
    message["id"] = op_id
    message["payload"] = draw(operation_payloads())
    extra = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=2))
    return {**extra, **message}


@fuzz_settings(200)
@given(state=st.sampled_from(("fresh", "pending")), message=valid_subscribes("subscribe"))
def test_transport_ws_any_subscribe_before_ack_closes_4401(
    state: str, message: dict[str, Any]
) -> None:
    """graphql-transport-ws: a well-formed `subscribe` before `connection_ack` closes 4401."""
    session = prepared(GRAPHQL_TRANSPORT_WS, state)
    outputs = session.frame(dumps(message))
    assert [type(o) for o in outputs] == [Close] and outputs[0].code == 4401, outputs


@fuzz_settings(200)
@given(
    state=st.sampled_from(("pending", "acked", "acked+ops")),
    init=st.fixed_dictionaries(
        {"type": st.sampled_from(("connection_init", "CONNECTION_INIT", "Connection_Init"))},
        optional={"payload": json_values, "id": op_ids},
    ),
)
def test_transport_ws_any_second_connection_init_closes_4429(
    state: str, init: dict[str, Any]
) -> None:
    """graphql-transport-ws: another `connection_init`, whatever it carries, closes 4429."""
    session = prepared(GRAPHQL_TRANSPORT_WS, state)
    outputs = session.frame(dumps(init))
    assert [type(o) for o in outputs] == [Close] and outputs[0].code == 4429, outputs


legacy_ids = st.one_of(pooled_ids, st.integers(), st.text(min_size=1), st.integers(-(2**80), 2**80))


@fuzz_settings(300)
@given(
    op_id=legacy_ids,
    how=st.sampled_from(("unknown type", "bad payload", "live id", "result", "stop")),
    kind=st.sampled_from(("ping", "subscribe", "complete", "x", "START ")),
)
def test_legacy_ids_are_echoed_with_their_json_type(op_id: Any, how: str, kind: str) -> None:
    """graphql-ws: an integer id comes back an integer, a string id a string,
    in rejections (unknown type, bad payload, live id) and in results."""
    session = prepared(GRAPHQL_WS, "acked")
    start = dumps({"type": "start", "id": op_id, "payload": {"query": "{ a }"}})
    if how == "unknown type":
        outputs = session.frame(dumps({"type": kind, "id": op_id}))
    elif how == "bad payload":
        outputs = session.frame(dumps({"type": "start", "id": op_id, "payload": {"query": 1}}))
    else:
        session.frame(start)
        if how == "live id":
            outputs = session.frame(start)
        elif how == "result":
            outputs = session.app("send_result", 0) + session.app("complete", 0)
        else:
            session.frame(dumps({"type": "stop", "id": op_id}))
            outputs = session.app("complete", 0)
    sent = [o.message for o in outputs if isinstance(o, Send)]
    assert sent, outputs
    for message in sent:
        assert type(message["id"]) is type(op_id) and message["id"] == op_id, message
    session.finish()


@BOTH
def test_every_answer_still_encodes_deeper_in_the_stack(subprotocol: str) -> None:
    """A sweep of nesting depths up to what ``json`` decodes at all, in every
    slot of every message type: whatever the layer answers must still be
    encodable (as strict JSON) further down the stack, where the consumer
    encodes it. (A pong echoing a payload nested as deep as the decoder
    allowed is not: see the report of issue 6.)"""
    limit = sys.getrecursionlimit()
    kinds = TRANSPORT_TYPES if subprotocol == GRAPHQL_TRANSPORT_WS else (*LEGACY_TYPES, "ping")
    for depth in range(limit - 200, limit + 5):
        for kind in kinds:
            session = prepared(subprotocol, "acked")
            session.frame(f'{{"type":"{kind}","id":"1","payload":{deep_value(depth, "array")}}}')
            session.finish()


# ---------------------------------------- the long run's generator, briefly


#: The types a calm session sends, weighted: operations mostly, a rare init.
CALM_TRANSPORT_TYPES = ("subscribe",) * 6 + ("complete",) * 3 + ("ping", "pong", "connection_init")
CALM_LEGACY_TYPES = ("start",) * 6 + ("stop",) * 3 + ("connection_init",)


class RandomSessions:
    """Random sessions of mutated frames and application calls, from a seed.

    The long run (``tests/fuzz_long_run.py``) uses it for a million frames;
    it is plain ``random`` so it is fast, and byte-level mutations of valid
    frames reach what the structured strategies above do not.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def json_value(self, depth: int = 0) -> Any:
        rng = self.rng
        roll = rng.random()
        if depth < 3 and roll < 0.15:
            return [self.json_value(depth + 1) for _ in range(rng.randrange(3))]
        if depth < 3 and roll < 0.3:
            return {self.text(4): self.json_value(depth + 1) for _ in range(rng.randrange(3))}
        return rng.choice(
            (
                None,
                True,
                False,
                0,
                -1,
                2**64,
                rng.randrange(-1000, 1000),
                rng.uniform(-1e6, 1e6),
                1.5e300,
                self.text(8),
                "",
            )
        )

    def text(self, size: int) -> str:
        alphabet = 'ab1 _-"\\{}[]é€\U0001d11e\x00\n\u2028\ufeff\ud800'
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randrange(size + 1)))

    def op_id(self, subprotocol: str, chaos: float) -> Any:
        if self.rng.random() >= chaos / 2:
            pool = ID_POOL if subprotocol == GRAPHQL_WS else (*ID_POOL[:3], "3", "4", "5")
            return self.rng.choice(pool)
        return self.rng.choice(("", 1.0, True, None, [], {}, -(2**63), "\ud800", self.text(5)))

    def message(self, subprotocol: str, chaos: float) -> dict[str, Any]:
        rng = self.rng
        own = CALM_TRANSPORT_TYPES if subprotocol == GRAPHQL_TRANSPORT_WS else CALM_LEGACY_TYPES
        roll = rng.random()
        if roll >= chaos / 2:
            kind: Any = rng.choice(own)
        elif roll >= chaos / 8:
            kind = rng.choice(ALL_TYPES)
        else:
            kind = rng.choice((self.text(6), None, 1, [], "PING", "Start", "connection_terminate"))
        message: dict[str, Any] = {"type": kind}
        if kind in ("subscribe", "start", "complete", "stop") or rng.random() < 0.2:
            message["id"] = self.op_id(subprotocol, chaos)
        if kind in ("subscribe", "start"):
            payload: dict[str, Any] = {"query": rng.choice(QUERIES)}
            for key in ("variables", "operationName", "extensions"):
                if rng.random() < 0.2:
                    valid = ("Q", "A", None) if key == "operationName" else ({"x": 1}, {}, None)
                    payload[key] = rng.choice(valid)
            message["payload"] = payload
        elif rng.random() < 0.3:
            message["payload"] = self.json_value()
        if rng.random() < chaos:
            self.mutate(message)
        return message

    def mutate(self, message: dict[str, Any]) -> None:
        rng = self.rng
        mutation = rng.randrange(5)
        if mutation == 0 and message:
            del message[rng.choice(list(message))]
        elif mutation == 1:
            message[rng.choice(("type", "id", "payload"))] = self.json_value()
        elif mutation == 2:
            message[self.text(5)] = self.json_value()
        elif mutation == 3 and isinstance(message.get("payload"), dict):
            key = rng.choice(("query", "variables", "operationName", "extensions"))
            message["payload"][key] = self.json_value()
        elif mutation == 4 and isinstance(message.get("type"), str):
            message["type"] = rng.choice((str.upper, str.title, str.swapcase))(message["type"])

    def frame(self, subprotocol: str, max_size: int | None, chaos: float) -> str | bytes:
        """A message of ``subprotocol``; with probability ``chaos`` a damaged one."""
        rng = self.rng
        text = dumps(self.message(subprotocol, chaos), ensure_ascii=rng.random() < 0.3)
        if rng.random() >= chaos:
            return text
        roll = rng.random()
        if roll < 0.4:  # text-level damage, a few edits
            chars = list(text)
            for _ in range(rng.randrange(1, 4)):
                at = rng.randrange(len(chars) + 1)
                edit = rng.randrange(3)
                if edit == 0:
                    chars.insert(at, rng.choice(CORRUPTING_TEXT))
                elif edit == 1 and chars:
                    del chars[min(at, len(chars) - 1)]
                else:
                    chars = chars[:at]
            return "".join(chars)
        if roll < 0.5:
            if rng.random() < 0.5:
                return text.encode("utf-8", "surrogatepass")
            return bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
        if roll < 0.6:
            kind = rng.choice(ALL_TYPES)
            return f'{{"type":"{kind}","payload":{rng.choice(NON_JSON_VALUES)}}}'
        if roll < 0.7:
            return dumps(self.json_value())
        if roll < 0.8 and max_size is not None:
            message = self.message(subprotocol, chaos)
            return near_limit_frame(message, max_size, rng.randint(-3, 3), rng.choice(WIDE_CHARS))
        if roll < 0.83:
            depth = rng.randint(DEEP_NESTING, sys.getrecursionlimit() + 10)
            kind = rng.choice(("ping", "connection_init", *ALL_TYPES))
            nested = deep_value(depth, rng.choice(("array", "object")))
            return f'{{"type":"{kind}","payload":{nested}}}'
        if roll < 0.9:
            return rng.choice(("", "null", "{}", "[]", "0", '"x"', " ", "\ufeff{}"))
        return text[: rng.randrange(len(text) + 1)]

    def app_step(self) -> tuple[Any, ...]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            return ("acknowledge", rng.choice((None, {"user": "u"})), rng.random() < 0.5)
        if roll < 0.24:
            return ("reject", rng.choice((None, {"message": "no"})))
        if roll < 0.95:
            return (rng.choice(APP_CALLS), rng.randrange(-1, 8))
        return (rng.choice(("keepalive", "init_timeout", "pong_timeout", "connection_lost")),)

    def sessions(self) -> Iterator[tuple[str, int | None, list[tuple[Any, ...]]]]:
        """Endless (subprotocol, max_size, steps) triples.

        Each session has its own level of chaos (how often a frame is
        damaged): calm ones get deep into operations, wild ones hammer
        the decoding.
        """
        rng = self.rng
        while True:
            subprotocol = rng.choice(SUBPROTOCOLS)
            max_size = rng.choice((None, 300, 4096))
            chaos = rng.choice((0.0, 0.02, 0.05, 0.2, 0.6))
            steps: list[tuple[Any, ...]] = []
            if rng.random() < 0.75:
                steps += [("frame", '{"type":"connection_init"}'), ("acknowledge", None, False)]
            for _ in range(rng.randrange(1, 60)):
                if rng.random() < 0.5:
                    steps.append(("frame", self.frame(subprotocol, max_size, chaos)))
                else:
                    steps.append(self.app_step())
            yield subprotocol, max_size, steps


def run_random_sessions(seed: int, frames: int) -> Counter[str]:
    """Run sessions from ``seed`` until ``frames`` frames went in; the outputs seen.

    The first failure raises, with the session's steps up to the failing one.
    """
    counts: Counter[str] = Counter()
    for number, (subprotocol, max_size, steps) in enumerate(RandomSessions(seed).sessions()):
        session = Session(subprotocol, max_size)
        try:
            session.run(steps)
        except Exception as failure:
            done = steps[: session.steps_done]
            raise AssertionError(
                f"seed {seed}, session {number} ({subprotocol}, max_size={max_size}), "
                f"step {session.steps_done}: {failure!r}\nsteps: {[short(s) for s in done]}"
            ) from failure
        counts.update(session.monitor.counts)
        counts["frames"] += session.frames
        counts["sessions"] += 1
        if counts["frames"] >= frames:
            return counts
    raise AssertionError("unreachable")


def test_random_mutation_sessions_of_the_long_run_keep_every_invariant() -> None:
    """A short, fixed-seed stretch of what ``tests/fuzz_long_run.py`` runs for
    a million frames, so the long run's generator keeps working and keeps
    reaching operations, stops and the table's closes."""
    counts = run_random_sessions(seed=6, frames=20_000)
    assert counts["frames"] >= 20_000
    for kind in ("OperationRequested", "OperationStopRequested", "send complete", "send error"):
        assert counts[kind] > 100, (kind, counts)
    for code in (1000, 1009, 4000, 4400, 4401, 4409, 4429):
        assert counts[f"close {code}"] > 0, (code, counts)
