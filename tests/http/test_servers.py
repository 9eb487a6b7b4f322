"""GraphQL over HTTP against daphne and uvicorn, with real clients.

- the GraphQL-over-HTTP spec's audit suite (npm ``graphql-http``
  ``serverAudits``), every audit, plus the variable-coercion case it misses;
- Apollo Client 4's ``HttpLink`` under node and ``gql``'s aiohttp transport,
  each with a query and a mutation;
- one test per rule of decisions T6 (what HTTP runs and refuses) and T7
  (CORS), a session cookie, a login, a token from the Authorization header.

The server is ``tests.http.server_app``: one consumer class per path under
both ``"http"`` and ``"websocket"``, behind ``AuthMiddlewareStack``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp
import pytest
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport

from channels_graphql_ws.protocol.http import SUBSCRIPTION_HINT
from tests.e2e.support import NODE_TEST_TIMEOUT, Node, Server, run_node_script

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(NODE_TEST_TIMEOUT)]

STRICT = "application/graphql-response+json"
ALLOWED_ORIGIN = "http://allowed.example"


async def request(
    method: str,
    url: str,
    *,
    body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    """One request with a fresh session: status, headers, body (JSON when it is JSON)."""
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.request(method, url, data=data, headers=headers) as response,
    ):
        raw = await response.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return response.status, response.headers, parsed


async def graphql(server: Server, query: str, path: str = "/graphql/", **kwargs: Any) -> Any:
    status, _, body = await request("POST", server.http(path), body={"query": query}, **kwargs)
    assert status == 200, body
    return body


# --------------------------------------------------------- conformance


def test_graphql_http_audit_suite_passes_every_audit(server: Server, node: Node) -> None:
    out = run_node_script(node, "run_graphql_http.mjs", "audit", server.http())
    summary = [f"graphql-http 1.23.1 serverAudits on {server.name}: {out['total']} audits"]
    for level, counts in sorted(out["counts"].items()):
        summary.append(f"  {level}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    not_ok = [r for r in out["results"] if r["status"] != "ok"]
    summary += [f"  {r['id']} {r['status']}: {r['name']}: {r['reason']}" for r in not_ok]
    print("\n".join(summary))
    assert out["total"] == 61, summary
    assert not_ok == [], "\n".join(summary)


@pytest.mark.parametrize(("accept", "status"), [(STRICT, 400), ("application/json", 200)])
async def test_invalid_value_for_a_used_variable_is_a_request_error_without_data(
    server: Server, accept: str, status: int
) -> None:
    body = {"query": "query Q($name: String!) { hello(name: $name) }", "variables": {"name": 1}}
    got, headers, result = await request(
        "POST", server.http(), body=body, headers={"accept": accept}
    )
    assert got == status
    assert headers["content-type"] == f"{accept}; charset=utf-8"
    assert set(result) == {"errors"}, result
    assert "$name" in result["errors"][0]["message"]


# ------------------------------------------------------------ clients


def test_apollo_client_http_link_runs_a_query_and_a_mutation(server: Server, node: Node) -> None:
    operations = [
        {"query": 'query Greet { hello(name: "Apollo") }'},
        {
            "query": "mutation Bump($by: Int) { increment(by: $by) { value } }",
            "variables": {"by": 2},
            "mutation": True,
        },
        {"query": "query Broken { nope }"},
    ]  # fmt: skip
    for use_get in (False, True):
        out = run_node_script(
            node, "run_apollo_http.mjs", "execute", server.http(),
            {"operations": operations, "useGETForQueries": use_get},
        )  # fmt: skip
        greeting, bump, broken = out["operations"]
        assert greeting == {"data": {"hello": "Hello, Apollo!"}, "error": None}, out
        assert isinstance(bump["data"]["increment"]["value"], int), out
        assert bump["error"] is None, out
        # Apollo asks for graphql-response+json first: a validation error is a 400.
        assert broken["data"] is None, out
        assert "nope" in json.dumps(broken["error"]), out


async def test_gql_aiohttp_transport_runs_a_query_and_a_mutation(server: Server) -> None:
    transport = AIOHTTPTransport(url=server.http(), timeout=10)
    async with Client(transport=transport) as session:
        greeting = await session.execute(
            GraphQLRequest(
                "query Greet($n: String) { hello(name: $n) }", variable_values={"n": "gql"}
            )
        )
        first = await session.execute(GraphQLRequest("mutation { increment(by: 5) { value } }"))
        second = await session.execute(GraphQLRequest("mutation { increment(by: 5) { value } }"))
    assert greeting == {"hello": "Hello, gql!"}
    assert second["increment"]["value"] >= first["increment"]["value"] + 5


# ----------------------------------------------------------------- T6


async def test_t6_get_runs_queries_only_a_mutation_over_get_is_405_and_runs_nothing(
    server: Server,
) -> None:
    before = (await graphql(server, "{ counter }"))["data"]["counter"]
    query = "mutation { increment(by: 1000) { value } }"
    status, headers, body = await request(
        "GET", server.http() + "?" + aiohttp.helpers.quote(f"query={query}", safe="=")
    )
    assert (status, headers["allow"]) == (405, "POST"), body
    assert (await graphql(server, "{ counter }"))["data"]["counter"] < before + 1000
    status, _, body = await request("GET", server.http() + "?query=%7Bhello%7D")
    assert (status, body) == (200, {"data": {"hello": "Hello, world!"}})


FORM = b"query=mutation%7Bincrement%7Bvalue%7D%7D"
MULTIPART = (
    b'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n'
    b"mutation { increment { value } }\r\n--x--\r\n"
)
JSON_TEXT = b'{"query": "mutation { increment { value } }"}'


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/x-www-form-urlencoded", FORM),
        ("multipart/form-data; boundary=x", MULTIPART),
        ("text/plain", JSON_TEXT),
        (None, JSON_TEXT),
    ],
)
async def test_t6_post_takes_application_json_only(
    server: Server, content_type: str | None, data: bytes
) -> None:
    """What an HTML form can send (CSRF) is never run: 415."""
    before = (await graphql(server, "{ counter }"))["data"]["counter"]
    headers = {} if content_type is None else {"content-type": content_type}
    status, _, body = await request("POST", server.http(), data=data, headers=headers)
    assert status == 415, body
    assert (await graphql(server, "{ counter }"))["data"]["counter"] == before


async def test_t6_no_batching_an_array_body_is_400(server: Server) -> None:
    status, _, body = await request(
        "POST", server.http(), body=[{"query": "{ hello }"}, {"query": "{ me }"}]
    )
    assert status == 400
    assert "Batching" in body["errors"][0]["message"]


async def test_t6_body_over_max_message_size_is_413(server: Server) -> None:
    huge = {"query": "{ hello }", "variables": {"pad": "x" * 5000}}
    status, _, body = await request("POST", server.http("/graphql-small/"), body=huge)
    assert status == 413
    assert "1000 bytes" in body["errors"][0]["message"]
    status, _, _ = await request(
        "POST", server.http("/graphql-small/"), body={"query": "{ hello }"}
    )
    assert status == 200


def _chunked_post(server: Server, chunks: int, wait_before_last: bool) -> tuple[bytes, bool]:
    """POST ``chunks`` chunks of 600 bytes; the response, and whether it came early."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /graphql-small/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"258\r\n" + b" " * 600 + b"\r\n"
        for _ in range(chunks - 1):
            sock.sendall(chunk)
        early = False
        if wait_before_last:
            sock.settimeout(3)
            try:
                early = bool(sock.recv(1, socket.MSG_PEEK))
            except TimeoutError:
                early = False
            sock.settimeout(10)
        if not early:
            sock.sendall(chunk + b"0\r\n\r\n")
        return sock.recv(65536), early


def test_t6_body_over_max_message_size_is_refused_without_being_read_whole(
    server: Server,
) -> None:
    """No Content-Length: the body is counted as it arrives.

    uvicorn hands each chunk to the application, which answers 413 once 1000
    bytes are passed, before the client has sent the rest. daphne reads
    every body whole itself before it calls any application; there the
    answer is the same 413 once the body is in.
    """
    response, early = _chunked_post(server, chunks=4, wait_before_last=server.name == "uvicorn")
    assert response.startswith(b"HTTP/1.1 413"), response
    assert early is (server.name == "uvicorn")


async def test_t6_subscription_over_plain_http_is_4xx_naming_the_ways_to_subscribe(
    server: Server,
) -> None:
    status, _, body = await request(
        "POST", server.http(), body={"query": "subscription { countdown(start: 2) }"}
    )
    assert 400 <= status < 500
    message = body["errors"][0]["message"]
    assert message == SUBSCRIPTION_HINT
    for way in ("WebSocket", "Server-Sent Events", "multipart"):
        assert way in message


# ----------------------------------------------------------------- T7


async def test_t7_cors_is_off_by_default(server: Server) -> None:
    preflight = {"origin": ALLOWED_ORIGIN, "access-control-request-method": "POST"}
    status, headers, _ = await request("OPTIONS", server.http(), headers=preflight)
    assert status == 405
    assert "access-control-allow-origin" not in headers
    status, headers, _ = await request(
        "POST", server.http(), body={"query": "{ hello }"}, headers={"origin": ALLOWED_ORIGIN}
    )
    assert status == 200
    assert "access-control-allow-origin" not in headers


async def test_t7_listed_origin_gets_the_preflight_answer_a_browser_needs(server: Server) -> None:
    preflight = {
        "origin": ALLOWED_ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization",
    }
    status, headers, _ = await request("OPTIONS", server.http("/graphql-cors/"), headers=preflight)
    assert status == 204
    assert headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"]
    allowed = headers["access-control-allow-headers"]
    for name in ("content-type", "authorization", "x-graphql-event-stream-token"):
        assert name in allowed
    status, headers, body = await request(
        "POST", server.http("/graphql-cors/"), body={"query": "{ hello }"},
        headers={"origin": ALLOWED_ORIGIN},
    )  # fmt: skip
    assert (status, body) == (200, {"data": {"hello": "Hello, world!"}})
    assert headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert headers["access-control-allow-credentials"] == "true"


async def test_t7_unlisted_origin_gets_no_cors_answer(server: Server) -> None:
    evil = {"origin": "http://evil.example", "access-control-request-method": "POST"}
    status, headers, _ = await request("OPTIONS", server.http("/graphql-cors/"), headers=evil)
    assert status == 403
    assert "access-control-allow-origin" not in headers
    status, headers, _ = await request(
        "POST", server.http("/graphql-cors/"), body={"query": "{ hello }"},
        headers={"origin": "http://evil.example"},
    )  # fmt: skip
    assert "access-control-allow-origin" not in headers


# ------------------------------------------------ sessions and login


def session_cookie(headers: Any) -> str:
    [cookie] = [
        value for value in headers.getall("set-cookie", []) if value.startswith("sessionid=")
    ]
    return cookie.split(";", 1)[0]


async def test_session_cookie_keeps_state_between_requests(server: Server) -> None:
    status, headers, body = await request(
        "POST", server.http(), body={"query": 'mutation { remember(value: "kept") { ok } }'}
    )
    assert (status, body) == (200, {"data": {"remember": {"ok": True}}})
    cookie = session_cookie(headers)
    again = await graphql(server, "{ remembered }", headers={"cookie": cookie})
    assert again == {"data": {"remembered": "kept"}}
    assert await graphql(server, "{ remembered }") == {"data": {"remembered": None}}


async def test_login_in_a_mutation_sets_the_session_cookie_for_http_and_websocket(
    server: Server,
) -> None:
    login = 'mutation { login(username: "alice", password: "wonderland") { ok } }'
    status, headers, body = await request("POST", server.http(), body={"query": login})
    assert (status, body) == (200, {"data": {"login": {"ok": True}}})
    cookie = session_cookie(headers)
    assert await graphql(server, "{ me }", headers={"cookie": cookie}) == {"data": {"me": "alice"}}
    assert await graphql(server, "{ me }") == {"data": {"me": None}}
    # The same path, the same consumer class, over a WebSocket with that cookie.
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            server.url(), protocols=["graphql-transport-ws"], headers={"cookie": cookie}
        ) as ws,
    ):
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        await ws.send_json({"type": "subscribe", "id": "1", "payload": {"query": "{ me }"}})
        result = await ws.receive_json(timeout=10)
    assert result["payload"] == {"data": {"me": "alice"}}


async def test_wrong_password_sets_no_login(server: Server) -> None:
    login = 'mutation { login(username: "alice", password: "nope") { ok } }'
    status, headers, body = await request("POST", server.http(), body={"query": login})
    assert (status, body) == (200, {"data": {"login": {"ok": False}}})
    assert not [v for v in headers.getall("set-cookie", []) if v.startswith("sessionid=")]


async def test_token_from_the_authorization_header_authenticates(server: Server) -> None:
    login = 'mutation { login(username: "alice", password: "wonderland") { token } }'
    token = (await graphql(server, login))["data"]["login"]["token"]
    bearer = {"authorization": f"Bearer {token}"}
    assert await graphql(server, "{ me }", headers=bearer) == {"data": {"me": "alice"}}
    forged = {"authorization": "Bearer forged"}
    assert await graphql(server, "{ me }", headers=forged) == {"data": {"me": None}}


async def test_concurrent_requests_each_get_their_own_answer(server: Server) -> None:
    """Requests are independent consumers: many at once all get answers."""
    results = await asyncio.gather(
        *(graphql(server, f'{{ hello(name: "n{number}") }}') for number in range(20))
    )
    assert [r["data"]["hello"] for r in results] == [f"Hello, n{n}!" for n in range(20)]
