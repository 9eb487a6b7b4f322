"""Fixtures of the end-to-end tests: real ASGI servers and the npm clients."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from .support import (
    SERVERS,
    Node,
    Server,
    attach_server_log,
    node_for_tests,
    run_node_script,
    running_server,
)


@pytest.fixture(scope="session", params=SERVERS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``tests.e2e.server_app`` served by daphne, then by uvicorn, each on a free port."""
    name: str = request.param
    log = tmp_path_factory.mktemp(f"{name}-log") / f"{name}.log"
    with running_server(name, log) as running:
        yield running


@pytest.fixture(scope="session")
def node() -> Node:
    """node and npm with ``tests/e2e/js`` installed; missing node fails under CI."""
    return node_for_tests()


@pytest.fixture
def run_graphql_ws(node: Node) -> Callable[..., dict[str, Any]]:
    """Run a scenario of ``js/run_graphql_ws.mjs`` (npm ``graphql-ws``)."""

    def run(scenario: str, url: str, **args: Any) -> dict[str, Any]:
        return run_node_script(node, "run_graphql_ws.mjs", scenario, url, args)

    return run


@pytest.fixture
def run_legacy(node: Node) -> Callable[..., dict[str, Any]]:
    """Run a scenario of ``js/run_legacy.mjs`` (npm ``subscriptions-transport-ws``)."""

    def run(scenario: str, url: str, **args: Any) -> dict[str, Any]:
        return run_node_script(node, "run_legacy.mjs", scenario, url, args)

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Show the server's log next to a failing end-to-end test."""
    outcome = yield
    report = outcome.get_result()
    attach_server_log(item, report)
