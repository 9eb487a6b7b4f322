"""One table per subprotocol: names on the wire and how each situation is answered.

The state machine in ``server.py`` is the same for both subprotocols; every
place where they differ is a row here, so the two can be read side by side.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from .codes import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS, CloseCode
from .messages import Fault, MessageKind


class Situation(enum.Enum):
    """Something a client did (or failed to do) that needs a rule."""

    FRAME_TOO_BIG = enum.auto()
    NOT_JSON_OBJECT = enum.auto()  # binary, not JSON, or not a JSON object
    BAD_TYPE = enum.auto()  # type missing, not a string, or unknown here
    BAD_OPERATION_ID = enum.auto()  # subscribe/start without a valid id
    BAD_COMPLETE_ID = enum.auto()  # complete/stop without a valid id
    BAD_PAYLOAD = enum.auto()  # subscribe/start with a malformed payload
    REPEATED_INIT = enum.auto()
    OPERATION_BEFORE_ACK = enum.auto()
    DUPLICATE_ID = enum.auto()  # subscribe/start with an id still active
    ID_REUSED_WHILE_STOPPING = enum.auto()  # its old operation's stop is under way
    CONNECTION_REJECTED = enum.auto()  # the application refused the init
    DOCUMENT_ERRORS = enum.auto()  # syntax or validation errors
    SETUP_ERRORS = enum.auto()  # a subscription's subscribe() hook failed
    PONG_TIMEOUT = enum.auto()  # our keep-alive ping got no pong in time


class Reply(enum.Enum):
    """An answer that is not just a close code."""

    IGNORE = enum.auto()
    CONNECTION_ERROR = enum.auto()  # legacy connection_error, socket stays open
    CONNECTION_ERROR_AND_CLOSE = enum.auto()  # connection_error, then close 4000
    OPERATION_ERROR = enum.auto()  # an `error` message for the id, which ends
    ERRORS_AS_RESULT_AND_COMPLETE = enum.auto()  # `data` with errors, `complete`
    ERRORS_AS_RESULT = enum.auto()  # `data` with errors, nothing after it
    IMPLICIT_INIT = enum.auto()  # run the init first, then the operation
    RUN_AFTER_OLD_ENDS = enum.auto()  # the old operation's `complete` first, then this


Answer = CloseCode | Reply


@dataclass(frozen=True)
class Dialect:
    """Everything that makes one subprotocol differ from the other."""

    subprotocol: str
    #: Lower-cased incoming type names and what they mean.
    kinds: Mapping[str, MessageKind]
    integer_ids: bool
    result_type: str
    keepalive_type: str
    #: Send one keep-alive right after the ack (legacy ``ka``).
    keepalive_after_ack: bool
    #: Whether an `error` message's payload is the bare list of errors.
    error_payload_is_list: bool
    answers: Mapping[Situation, Answer]

    def answer(self, situation: Situation) -> Answer:
        return self.answers[situation]


TRANSPORT_WS = Dialect(
    subprotocol=GRAPHQL_TRANSPORT_WS,
    kinds={
        "connection_init": MessageKind.CONNECTION_INIT,
        "connection_terminate": MessageKind.CONNECTION_TERMINATE,
        "ping": MessageKind.PING,
        "pong": MessageKind.PONG,
        "subscribe": MessageKind.SUBSCRIBE,
        "complete": MessageKind.COMPLETE,
    },
    integer_ids=False,
    result_type="next",
    keepalive_type="ping",
    keepalive_after_ack=False,
    error_payload_is_list=True,
    answers={
        Situation.FRAME_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
        Situation.NOT_JSON_OBJECT: CloseCode.BAD_REQUEST,
        Situation.BAD_TYPE: CloseCode.BAD_REQUEST,
        Situation.BAD_OPERATION_ID: CloseCode.BAD_REQUEST,
        Situation.BAD_COMPLETE_ID: CloseCode.BAD_REQUEST,
        Situation.BAD_PAYLOAD: CloseCode.BAD_REQUEST,
        Situation.REPEATED_INIT: CloseCode.TOO_MANY_INIT_REQUESTS,
        Situation.OPERATION_BEFORE_ACK: CloseCode.UNAUTHORIZED,
        Situation.DUPLICATE_ID: CloseCode.SUBSCRIBER_ALREADY_EXISTS,
        # The id is free from the client's `complete` on (the reference server).
        Situation.ID_REUSED_WHILE_STOPPING: Reply.RUN_AFTER_OLD_ENDS,
        Situation.CONNECTION_REJECTED: CloseCode.FORBIDDEN,
        Situation.DOCUMENT_ERRORS: Reply.OPERATION_ERROR,
        Situation.SETUP_ERRORS: Reply.OPERATION_ERROR,
        Situation.PONG_TIMEOUT: CloseCode.INTERNAL_ERROR,
    },
)

LEGACY_WS = Dialect(
    subprotocol=GRAPHQL_WS,
    kinds={
        "connection_init": MessageKind.CONNECTION_INIT,
        "connection_terminate": MessageKind.CONNECTION_TERMINATE,
        "start": MessageKind.SUBSCRIBE,
        "stop": MessageKind.COMPLETE,
    },
    integer_ids=True,
    result_type="data",
    keepalive_type="ka",
    keepalive_after_ack=True,
    error_payload_is_list=False,
    answers={
        Situation.FRAME_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
        Situation.NOT_JSON_OBJECT: Reply.CONNECTION_ERROR,
        Situation.BAD_TYPE: Reply.OPERATION_ERROR,
        Situation.BAD_OPERATION_ID: Reply.OPERATION_ERROR,
        Situation.BAD_COMPLETE_ID: Reply.IGNORE,
        Situation.BAD_PAYLOAD: Reply.OPERATION_ERROR,
        Situation.REPEATED_INIT: Reply.CONNECTION_ERROR,
        Situation.OPERATION_BEFORE_ACK: Reply.IMPLICIT_INIT,
        Situation.DUPLICATE_ID: Reply.OPERATION_ERROR,
        Situation.ID_REUSED_WHILE_STOPPING: Reply.OPERATION_ERROR,
        Situation.CONNECTION_REJECTED: Reply.CONNECTION_ERROR_AND_CLOSE,
        Situation.DOCUMENT_ERRORS: Reply.ERRORS_AS_RESULT_AND_COMPLETE,
        Situation.SETUP_ERRORS: Reply.ERRORS_AS_RESULT,
        # Legacy clients never answer `ka`, so silence proves nothing.
        Situation.PONG_TIMEOUT: Reply.IGNORE,
    },
)

DIALECTS: Mapping[str, Dialect] = {
    TRANSPORT_WS.subprotocol: TRANSPORT_WS,
    LEGACY_WS.subprotocol: LEGACY_WS,
}


#: How each kind of malformed frame is looked up in a dialect's table.
FAULT_SITUATIONS: Mapping[Fault, Situation] = {
    Fault.TOO_BIG: Situation.FRAME_TOO_BIG,
    Fault.NOT_TEXT: Situation.NOT_JSON_OBJECT,
    Fault.NOT_JSON: Situation.NOT_JSON_OBJECT,
    Fault.NOT_OBJECT: Situation.NOT_JSON_OBJECT,
    Fault.BAD_TYPE: Situation.BAD_TYPE,
    Fault.BAD_PAYLOAD: Situation.BAD_PAYLOAD,
}


def error_code(situation: Situation) -> str:
    """``extensions.code`` of an operation error answering a client's mistake."""
    # The older release reported every wrong message as a plain ``Exception``.
    return "Exception" if situation is Situation.BAD_TYPE else situation.name
