"""Real clients subscribing over HTTP streams to daphne and uvicorn.

- the npm ``graphql-sse`` client in distinct connections mode and in single
  connection mode (``retryAttempts: 0``: any non-2xx answer fails the run);
- Apollo Client 4's ``HttpLink`` subscription (multipart) under node.

Each runs ``broadcastScenario`` of ``tests/e2e/js/common.mjs``: N broadcasts,
received in order, then a server-side ``unsubscribe`` that completes it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.support import NODE_TEST_TIMEOUT, Node, Server, run_node_script

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(NODE_TEST_TIMEOUT)]

COUNT = 20


def assert_broadcasts_in_order_then_complete(outcome: dict[str, Any]) -> None:
    assert outcome["live"], outcome
    subscription = outcome["subscription"]
    # Apollo Client adds `__typename` to what it asks for.
    numbered = [
        {key: value for key, value in result["data"]["onMessage"].items() if key != "__typename"}
        for result in subscription["results"]
        if result.get("data", {}).get("onMessage", {}).get("text") != "ready"
    ]
    assert numbered == [{"text": f"message {seq}", "seq": seq} for seq in range(1, COUNT + 1)]
    assert subscription["error"] is None, subscription["error"]
    assert subscription["endedBeforeEndSent"] is False
    assert subscription["completed"] is True
    for message in outcome["messages"]:
        assert message["error"] is None, message


@pytest.mark.parametrize("single", [False, True], ids=["distinct", "single-connection"])
def test_graphql_sse_client_gets_broadcasts_in_order_and_completes_on_unsubscribe(
    node: Node, server: Server, single: bool
) -> None:
    args = {"room": f"sse-{uuid.uuid4().hex}", "count": COUNT, "singleConnection": single}
    outcome = run_node_script(node, "run_graphql_sse.mjs", "broadcast", server.http(), args)
    assert_broadcasts_in_order_then_complete(outcome)
    assert {event["event"] for event in outcome["events"]} == {"next", "complete"}
    if single:
        # One stream carried every operation, each event naming its own.
        assert outcome["connected"] == 1
        assert all(event["id"] for event in outcome["events"])


def test_apollo_client_httplink_subscription_over_multipart(node: Node, server: Server) -> None:
    args = {"room": f"apollo-{uuid.uuid4().hex}", "count": COUNT}
    outcome = run_node_script(node, "run_apollo_http.mjs", "broadcast", server.http(), args)
    assert_broadcasts_in_order_then_complete(outcome)
