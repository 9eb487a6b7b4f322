"""Databases, servers and a small two-subprotocol client for the ORM end-to-end tests.

PostgreSQL is the machine's (127.0.0.1:5432, user ``postgres``, trust
authentication): each session makes a throwaway database and drops it after.
Without a reachable PostgreSQL its tests fail under CI (``CI`` set) and are
skipped elsewhere. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets

from ..e2e.support import SERVER_START_TIMEOUT, Server, _stop, _wait_until_listening, free_port

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.orm.server_settings"
APP = "tests.orm.server_app:application"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
#: What the servers' connections call themselves (server_settings.APPLICATION_NAME).
SERVER_APPLICATION_NAME = "cgws-orm-server"

#: Seconds any single wait on the network may take.
STEP_TIMEOUT = 15.0
#: Seconds ``migrate`` may take.
MIGRATE_TIMEOUT = 120.0

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


# -------------------------------------------------------------- databases


@dataclass
class Database:
    kind: str  # "sqlite" or "postgres"
    name: str  # the file or the database name

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "CGWS_TEST_DB": self.kind,
            "CGWS_TEST_DB_NAME": self.name,
            "PYTHONUNBUFFERED": "1",
        }

    def pg_dsn(self) -> str:
        return f"host=127.0.0.1 port=5432 user=postgres dbname={self.name} connect_timeout=5"


def require_postgres() -> None:
    """Fail under CI, skip elsewhere, when PostgreSQL does not answer."""
    try:
        with psycopg.connect(PG_ADMIN_DSN) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        reason = f"PostgreSQL at 127.0.0.1:5432 is unreachable ({error}); these tests need it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@contextlib.contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    name = f"cgws_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(database: Database) -> None:
    command = [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=database.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"migrate failed ({database.kind}):\n{result.stdout}\n{result.stderr}")


def server_connections(database: Database) -> int:
    """The servers' open connections to ``database``, as PostgreSQL counts them."""
    with psycopg.connect(database.pg_dsn()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (database.name, SERVER_APPLICATION_NAME),
        ).fetchone()
    assert row is not None
    return int(row[0])


# ---------------------------------------------------------------- servers


def _server_command(name: str, port: int) -> list[str]:
    executable = str(Path(sys.executable).parent / name)
    if name == "daphne":
        return [executable, "-b", "127.0.0.1", "-p", str(port), APP]
    return [executable, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", APP]


@contextlib.contextmanager
def running_server(name: str, database: Database, log: Path) -> Iterator[Server]:
    """``tests.orm.server_app`` served by ``name`` on ``database``; always stopped after."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            _server_command(name, port),
            cwd=ROOT,
            env=database.env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = Server(name, port, log, process)
        try:
            _wait_until_listening(server)
            yield server
        finally:
            _stop(process)


#: pytest-timeout of a test: a server start and the test itself.
TEST_TIMEOUT = SERVER_START_TIMEOUT + MIGRATE_TIMEOUT + 60


# ----------------------------------------------------------------- client


class GraphqlSocket:
    """One WebSocket speaking either subprotocol, with just what the tests need."""

    def __init__(self, socket: Any, subprotocol: str) -> None:
        self.socket = socket
        self.subprotocol = subprotocol
        self.result_type = "next" if subprotocol == TRANSPORT_WS else "data"

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        """The next message that is not a keep-alive (a ``ping`` is answered)."""
        while True:
            message: dict[str, Any] = json.loads(
                await asyncio.wait_for(self.socket.recv(), STEP_TIMEOUT)
            )
            if message["type"] == "ping":
                await self.send({"type": "pong"})
            elif message["type"] not in ("pong", "ka"):
                return message

    async def start(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        kind = "subscribe" if self.subprotocol == TRANSPORT_WS else "start"
        payload: dict[str, Any] = {"query": query, "variables": variables or {}}
        await self.send({"type": kind, "id": op_id, "payload": payload})

    async def stop(self, op_id: str) -> None:
        kind = "complete" if self.subprotocol == TRANSPORT_WS else "stop"
        await self.send({"type": kind, "id": op_id})

    async def result(self, op_id: str) -> dict[str, Any]:
        message = await self.receive()
        assert message.get("id") == op_id and message["type"] == self.result_type, message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def completed(self, op_id: str) -> None:
        message = await self.receive()
        assert message == {"type": "complete", "id": op_id}, message

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        op_id = uuid.uuid4().hex
        await self.start(op_id, query, variables)
        payload = await self.result(op_id)
        await self.completed(op_id)
        return payload

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Start a subscription and wait until it is live (the server confirms it)."""
        op_id = uuid.uuid4().hex
        await self.start(op_id, query, variables)
        assert await self.result(op_id) == {"data": None}
        return op_id


@contextlib.asynccontextmanager
async def graphql_socket(server: Server, subprotocol: str) -> AsyncIterator[GraphqlSocket]:
    async with websockets.connect(
        server.url(), subprotocols=[subprotocol], open_timeout=STEP_TIMEOUT
    ) as socket:
        assert socket.subprotocol == subprotocol
        client = GraphqlSocket(socket, subprotocol)
        await client.send({"type": "connection_init", "payload": {}})
        assert (await client.receive())["type"] == "connection_ack"
        yield client
