"""Fixtures of the ORM end-to-end tests: a database of each kind, each server on it."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from ..e2e.support import SERVERS, Server
from .support import (
    Database,
    migrate,
    require_postgres,
    running_server,
    throwaway_postgres_database,
)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated SQLite file, then a migrated throwaway PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("orm-sqlite") / "orm.sqlite3"
        database = Database("sqlite", str(path))
        migrate(database)
        yield database
        return
    require_postgres()
    with throwaway_postgres_database() as name:
        database = Database("postgres", name)
        migrate(database)
        yield database


@pytest.fixture(scope="session", params=SERVERS)
def orm_server(
    request: pytest.FixtureRequest, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``tests.orm.server_app`` on ``database``, served by daphne, then uvicorn."""
    name: str = request.param
    log = tmp_path_factory.mktemp(f"orm-{name}-{database.kind}") / f"{name}.log"
    with running_server(name, database, log) as server:
        yield server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Show the server's log next to a failing test."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("orm_server")
    if report.failed and isinstance(server, Server):
        report.sections.append((f"{server.name} log (tail)", server.log_tail()))
