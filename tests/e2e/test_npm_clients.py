"""The npm clients against daphne and uvicorn.

``graphql-ws`` 6 speaks graphql-transport-ws, ``subscriptions-transport-ws``
0.11 the legacy graphql-ws. Each test runs a scenario script under node (see
``js/``) and checks the JSON it prints: what the library itself reported
(results, errors, ack payloads, close events) and, for the legacy client,
the messages on the socket under it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .support import NODE_TEST_TIMEOUT, Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(NODE_TEST_TIMEOUT)]

Runner = Callable[..., dict[str, Any]]

FAIL_ERROR = {
    "message": "fail resolver says no",
    "locations": [{"line": 1, "column": 3}],
    "path": ["fail"],
}
VALIDATION_ERROR = {
    "message": "Cannot query field 'nope' on type 'Query'.",
    "locations": [{"line": 1, "column": 3}],
}


def op(query: str) -> dict[str, Any]:
    return {"query": query}


def only_result(outcome: dict[str, Any]) -> dict[str, Any]:
    """The single result of a query or mutation that completed normally."""
    assert outcome["error"] is None, outcome
    assert outcome["completed"], outcome
    assert len(outcome["results"]) == 1, outcome
    result: dict[str, Any] = outcome["results"][0]
    return result


# ------------------------------------------------------------ 1. results


def test_graphql_ws_query_and_mutation(server: Server, run_graphql_ws: Runner) -> None:
    out = run_graphql_ws(
        "execute",
        server.url(),
        connectionParams={"greet": True},
        operations=[
            op('{ hello(name: "graphql-ws") }'),
            op("{ hello }"),
            op("mutation { increment(by: 2) { value } }"),
            op("mutation { increment(by: 3) { value } }"),
            op("{ slow(seconds: 0.05) }"),
            {
                "query": "query Greet($who: String) { hello(name: $who) }",
                "variables": {"who": "variables"},
                "operationName": "Greet",
            },
        ],
    )
    assert out["events"]["connected"] == [{"welcome": True}]
    assert out["events"]["closed"] == []
    first, default, bump2, bump3, slow, named = (only_result(o) for o in out["operations"])
    assert first == {"data": {"hello": "Hello, graphql-ws!"}}
    assert default == {"data": {"hello": "Hello, world!"}}
    value = bump2["data"]["increment"]["value"]
    assert isinstance(value, int)
    assert bump3 == {"data": {"increment": {"value": value + 3}}}
    assert slow == {"data": {"slow": 0.05}}
    assert named == {"data": {"hello": "Hello, variables!"}}


def test_legacy_query_and_mutation(server: Server, run_legacy: Runner) -> None:
    out = run_legacy(
        "execute",
        server.url(),
        connectionParams={"greet": True},
        operations=[
            op('{ hello(name: "legacy") }'),
            op("{ hello }"),
            op("mutation { increment(by: 2) { value } }"),
            op("mutation { increment(by: 3) { value } }"),
            op("{ slow(seconds: 0.05) }"),
        ],
    )
    assert [c["error"] for c in out["connection"]] == [None]
    assert out["events"]["connected"] == [{"welcome": True}]
    assert out["events"]["disconnected"] == []
    first, default, bump2, bump3, slow = (only_result(o) for o in out["operations"])
    assert first == {"data": {"hello": "Hello, legacy!"}}
    assert default == {"data": {"hello": "Hello, world!"}}
    value = bump2["data"]["increment"]["value"]
    assert bump3 == {"data": {"increment": {"value": value + 3}}}
    assert slow == {"data": {"slow": 0.05}}
    assert out["closes"] == []


# ------------------------------------------------------------- 2. errors


def test_graphql_ws_errors(server: Server, run_graphql_ws: Runner) -> None:
    out = run_graphql_ws(
        "execute",
        server.url(),
        operations=[op("{ fail }"), op("{ nope }"), op("{ hello"), op("{ hello }")],
    )
    # No `greet`: the ack has no payload.
    assert out["events"]["connected"] == [None]
    resolver, invalid, syntax, after = out["operations"]
    assert only_result(resolver) == {"data": {"fail": None}, "errors": [FAIL_ERROR]}
    # A validation error ends the operation through sink.error with the errors array...
    assert invalid == {
        "results": [],
        "error": [VALIDATION_ERROR],
        "completed": False,
        "timedOut": False,
    }
    assert syntax["results"] == [] and not syntax["completed"], syntax
    assert len(syntax["error"]) == 1, syntax
    assert syntax["error"][0]["message"].startswith("Syntax Error"), syntax
    assert syntax["error"][0]["locations"] == [{"line": 1, "column": 8}], syntax
    # ...and the same socket goes on serving.
    assert only_result(after) == {"data": {"hello": "Hello, world!"}}
    assert out["events"]["connected"] == [None]
    assert out["events"]["closed"] == []


def test_legacy_errors(server: Server, run_legacy: Runner) -> None:
    out = run_legacy(
        "execute",
        server.url(),
        operations=[op("{ fail }"), op("{ nope }"), op("{ hello"), op("{ hello }")],
    )
    resolver, invalid, syntax, after = out["operations"]
    assert only_result(resolver) == {"data": {"fail": None}, "errors": [FAIL_ERROR]}
    # Legacy reports document errors as a result with `data: null`, then `complete`.
    assert only_result(invalid) == {"data": None, "errors": [VALIDATION_ERROR]}
    syntax_result = only_result(syntax)
    assert syntax_result["data"] is None
    assert [e["message"][:12] for e in syntax_result["errors"]] == ["Syntax Error"]
    assert only_result(after) == {"data": {"hello": "Hello, world!"}}
    on_wire = [(f["type"], f.get("id")) for f in out["frames"]]
    assert on_wire == [
        ("connection_ack", None),
        *[(kind, str(n)) for n in range(1, 5) for kind in ("data", "complete")],
    ]
    assert out["events"]["disconnected"] == []
    assert out["closes"] == []


# ---------------------------------------------------------- 3. rejection


def test_graphql_ws_rejected_by_on_connect(server: Server, run_graphql_ws: Runner) -> None:
    out = run_graphql_ws("connect", server.url(), connectionParams={"reject": True})
    assert out["events"]["connected"] == []
    assert [c["code"] for c in out["events"]["closed"]] == [4403]
    # retryAttempts: 0, so the close reaches the non-lazy error handler once.
    assert [e["code"] for e in out["events"]["nonLazyErrors"]] == [4403]


def test_legacy_rejected_by_on_connect(server: Server, run_legacy: Runner) -> None:
    out = run_legacy("connect", server.url(), connectionParams={"reject": True})
    [callback] = out["connection"]
    assert callback["error"] == {
        "message": "RuntimeError: Connection rejected!",
        "extensions": {"code": "RuntimeError"},
    }
    assert out["events"]["connected"] == []
    assert [f["type"] for f in out["frames"]] == ["connection_error"]
    assert [c["code"] for c in out["closes"]] == [4000]


# -------------------------------------------------------- 4. init timeout


def test_graphql_ws_init_timeout(server: Server, run_graphql_ws: Runner) -> None:
    # connectionParams takes 1.5 s; the endpoint allows 0.5 s for connection_init.
    out = run_graphql_ws("connect", server.url("/graphql-init/"), paramsDelayMs=1500, waitMs=5000)
    assert out["events"]["connected"] == []
    [closed] = out["events"]["closed"]
    assert closed["code"] == 4408
    # Closed by the server's timer, well before the client would have sent init.
    assert closed["t"] < 1500, closed


# -------------------------------------------------------- 5. keep-alive


def test_graphql_ws_ping_pong(server: Server, run_graphql_ws: Runner) -> None:
    """The client pings every 100 ms, the server every 200 ms; both answer."""
    out = run_graphql_ws(
        "execute",
        server.url("/graphql-ping/"),
        keepAlive=100,
        pauseMs=1000,
        operations=[op("{ hello }"), op('{ hello(name: "still here") }')],
    )
    first, second = out["operations"]
    assert only_result(first) == {"data": {"hello": "Hello, world!"}}
    assert only_result(second) == {"data": {"hello": "Hello, still here!"}}
    events = out["events"]
    assert events["connected"] == [None]
    assert events["closed"] == []

    client_pings = [p for p in events["pings"] if not p["received"]]
    server_pongs = [p for p in events["pongs"] if p["received"]]
    server_pings = [p for p in events["pings"] if p["received"]]
    client_pongs = [p for p in events["pongs"] if not p["received"]]
    # The client sends its next ping only after the pong for the last one.
    assert len(client_pings) >= 3, events
    assert len(server_pongs) >= len(client_pings) - 1, events
    # ~1 s at one ping per 0.2 s; the client answered each.
    assert len(server_pings) >= 3, events
    assert len(client_pongs) == len(server_pings), events
    assert all(p["payload"] is None for p in server_pings + server_pongs), events


def test_legacy_keepalive(server: Server, run_legacy: Runner) -> None:
    """`ka` every 0.2 s keeps the client's 0.6 s keep-alive timeout from firing."""
    out = run_legacy(
        "execute",
        server.url("/graphql-ping/"),
        timeout=600,
        pauseMs=1500,
        operations=[op("{ hello }"), op('{ hello(name: "still here") }')],
    )
    first, second = out["operations"]
    assert only_result(first) == {"data": {"hello": "Hello, world!"}}
    assert only_result(second) == {"data": {"hello": "Hello, still here!"}}
    assert out["events"]["disconnected"] == []
    assert out["closes"] == []
    frames = out["frames"]
    assert [f["type"] for f in frames[:2]] == ["connection_ack", "ka"]
    kas = [f for f in frames if f["type"] == "ka"]
    # 1.5 s at one ka per 0.2 s, plus the one right after the ack.
    assert len(kas) >= 5, frames
    assert all(set(f) == {"type", "t"} for f in kas), kas
