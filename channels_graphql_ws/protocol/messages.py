"""The client messages the server understands, and turning a raw frame into one.

Everything a client can send ends up here as either one typed message or a
``Malformed`` value that says what was wrong with it. Nothing raises: the
server decides what a malformed frame is answered with, per subprotocol.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: What identifies an operation: a string on graphql-transport-ws; the legacy
#: subprotocol also accepts integers and echoes them back as integers.
OperationId = str | int


class MessageKind(enum.Enum):
    """What a client message means, whatever the subprotocol calls it."""

    CONNECTION_INIT = "connection_init"
    CONNECTION_TERMINATE = "connection_terminate"
    PING = "ping"
    PONG = "pong"
    SUBSCRIBE = "subscribe"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class ConnectionInit:
    """``connection_init``; ``payload`` is whatever JSON the client sent, or None."""

    payload: Any = None


@dataclass(frozen=True, slots=True)
class ConnectionTerminate:
    """``connection_terminate``: the client asks the server to close."""


@dataclass(frozen=True, slots=True)
class Ping:
    """``ping``; ``has_payload`` tells an absent payload from ``null``."""

    payload: Any = None
    has_payload: bool = False


@dataclass(frozen=True, slots=True)
class Pong:
    """``pong``, solicited or not."""

    payload: Any = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``subscribe`` (legacy ``start``): run one GraphQL operation.

    ``payload`` is the message's payload object as received, for the
    application's ``on_operation`` hook; the other fields are its checked parts.
    """

    id: OperationId
    payload: dict[str, Any]
    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Complete:
    """``complete`` (legacy ``stop``): the client stops one operation."""

    id: OperationId


ClientMessage = ConnectionInit | ConnectionTerminate | Ping | Pong | Subscribe | Complete


class Fault(enum.Enum):
    """Why a frame is not a message we can act on."""

    TOO_BIG = "frame is over the size limit"
    NOT_TEXT = "binary frame"
    NOT_JSON = "frame is not JSON"
    NOT_OBJECT = "message is not a JSON object"
    BAD_TYPE = "message type is missing, not a string or unknown"
    BAD_ID = "operation id is missing or not valid"
    BAD_PAYLOAD = "operation payload is missing or malformed"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A frame that is not a valid client message.

    ``type`` and ``id`` keep what could be read of the message, so that an
    answer can echo them (the legacy subprotocol does).
    """

    fault: Fault
    detail: str
    type: str | None = None
    id: OperationId | None = None
    kind: MessageKind | None = None


def parse_frame(
    frame: str | bytes,
    *,
    kinds: Mapping[str, MessageKind],
    max_size: int | None,
    integer_ids: bool,
) -> ClientMessage | Malformed:
    """Decode one WebSocket frame and check it against one subprotocol.

    ``kinds`` maps the subprotocol's lower-cased type names to their meaning;
    ``max_size`` is in bytes (None: no limit); ``integer_ids`` admits integer
    operation ids as the legacy subprotocol does.
    """
    if isinstance(frame, (bytes, bytearray)):
        if max_size is not None and len(frame) > max_size:
            return Malformed(Fault.TOO_BIG, f"{len(frame)} bytes")
        return Malformed(Fault.NOT_TEXT, "binary frames are not part of the protocol")
    if max_size is not None and _utf8_size_over(frame, max_size):
        return Malformed(Fault.TOO_BIG, f"over {max_size} bytes")
    try:
        decoded = _DECODER.decode(frame)
    except (ValueError, RecursionError) as error:
        # RecursionError: deeply nested arrays must not take the consumer down.
        return Malformed(Fault.NOT_JSON, type(error).__name__)
    # Each level of nesting takes two characters at least: a short frame
    # cannot be too deep, and most frames are short.
    may_be_deep = len(frame) > 2 * MAX_NESTING
    return parse_message(decoded, kinds=kinds, integer_ids=integer_ids, may_be_deep=may_be_deep)


def parse_message(
    message: object,
    *,
    kinds: Mapping[str, MessageKind],
    integer_ids: bool,
    may_be_deep: bool = True,
) -> ClientMessage | Malformed:
    """Check an already decoded JSON value; see ``parse_frame``."""
    if not isinstance(message, dict):
        return Malformed(Fault.NOT_OBJECT, type(message).__name__)
    if may_be_deep and _nested_deeper_than(message, MAX_NESTING):
        # What we echo (a ping payload) or pass on must still encode, a few
        # stack frames deeper than it was decoded.
        return Malformed(Fault.NOT_JSON, f"nested deeper than {MAX_NESTING} levels")
    raw_type = message.get("type")
    raw_id = message.get("id")
    echo_id = raw_id if _is_id(raw_id, integer_ids=True) else None
    if not isinstance(raw_type, str):
        return Malformed(Fault.BAD_TYPE, "no string 'type'", None, echo_id)
    kind = kinds.get(raw_type.lower())
    if kind is None:
        return Malformed(Fault.BAD_TYPE, f"unknown type {raw_type!r}", raw_type, echo_id)

    payload = message.get("payload")
    if kind is MessageKind.CONNECTION_INIT:
        return ConnectionInit(payload)
    if kind is MessageKind.PING:
        return Ping(payload, "payload" in message)
    if kind is MessageKind.PONG:
        return Pong(payload)
    if kind is MessageKind.CONNECTION_TERMINATE:
        return ConnectionTerminate()

    if not _is_id(raw_id, integer_ids=integer_ids):
        return Malformed(Fault.BAD_ID, f"bad id {raw_id!r}"[:100], raw_type, echo_id, kind)
    assert raw_id is not None  # _is_id() said so; narrows the type
    if kind is MessageKind.COMPLETE:
        return Complete(raw_id)
    problem = _payload_problem(payload)
    if problem:
        return Malformed(Fault.BAD_PAYLOAD, problem, raw_type, raw_id, kind)
    assert isinstance(payload, dict)  # _payload_problem() said so
    return Subscribe(
        id=raw_id,
        payload=payload,
        query=payload["query"],
        variables=payload.get("variables"),
        operation_name=payload.get("operationName"),
        extensions=payload.get("extensions"),
    )


#: Deepest nesting of arrays and objects accepted in a message.
MAX_NESTING = 100


def _nested_deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects more than ``limit`` deep (no recursion)."""
    level: list[object] = [value]
    for _ in range(limit + 1):
        inner: list[object] = []
        for item in level:
            if isinstance(item, dict):
                inner.extend(item.values())
            elif isinstance(item, list):
                inner.extend(item)
        if not inner:
            return False
        level = inner
    return True


def _finite_float(text: str) -> float:
    """JSON numbers beyond float range would come back as ``inf``: refuse them."""
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text[:20]}")
    return number


def _reject_non_json_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are Python's extensions, not JSON: refuse them."""
    raise ValueError(f"{name} is not JSON")


# One decoder for every frame: ``json.loads`` with options builds a new one
# per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_non_json_constant, parse_float=_finite_float)


def _is_id(value: object, *, integer_ids: bool) -> bool:
    if isinstance(value, str):
        return value != ""
    return integer_ids and isinstance(value, int) and not isinstance(value, bool)


def _payload_problem(payload: object) -> str:
    """Say what is wrong with a subscribe payload, or return '' if nothing is."""
    if not isinstance(payload, dict):
        return "'payload' must be an object"
    if not isinstance(payload.get("query"), str):
        return "'payload.query' must be a string"
    for key in ("variables", "extensions"):
        if not isinstance(payload.get(key), (dict, type(None))):
            return f"'payload.{key}' must be an object or null"
    if not isinstance(payload.get("operationName"), (str, type(None))):
        return "'payload.operationName' must be a string or null"
    return ""


def _utf8_size_over(text: str, limit: int) -> bool:
    """Whether ``text`` takes more than ``limit`` bytes in UTF-8.

    Most frames are decided by their length alone (1 to 4 bytes a character),
    so only frames near the limit are encoded to be measured.
    """
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


#: Built once: ``json.dumps`` with an option builds a new encoder per call,
#: and every frame and shared notification result passes through here.
_strict_json = json.JSONEncoder(allow_nan=False).encode


def encode_message(message: Mapping[str, Any]) -> str:
    """A server message as JSON text every client can parse.

    ``NaN`` and ``Infinity`` are not JSON: browsers and the npm clients
    fail on a frame holding them, so such a value raises ``ValueError``
    here and the operation ends with an ``error`` instead.
    """
    return _strict_json(message)
