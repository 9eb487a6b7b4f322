"""Fixtures of the HTTP end-to-end tests: ``tests.http.server_app`` on daphne and uvicorn."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from tests.e2e.support import (
    SERVERS,
    Node,
    Server,
    attach_server_log,
    node_for_tests,
    running_server,
)


@pytest.fixture(scope="session", params=SERVERS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The HTTP test app served by daphne, then by uvicorn, each with a database of its own."""
    name: str = request.param
    folder = tmp_path_factory.mktemp(f"http-{name}")
    with running_server(
        name,
        folder / f"{name}.log",
        app="tests.http.server_app:application",
        settings="tests.http.server_settings",
        env={"HTTP_E2E_DB": str(folder / "db.sqlite3")},
    ) as running:
        yield running


@pytest.fixture(scope="session")
def node() -> Node:
    """node and npm with ``tests/e2e/js`` installed; missing node fails under CI."""
    return node_for_tests()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Show the server's log next to a failing test."""
    outcome = yield
    report = outcome.get_result()
    attach_server_log(item, report)
