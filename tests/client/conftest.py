"""Fixtures of the client tests: a real daphne serving ``tests.client.app``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from channels_graphql_ws import GraphqlWsClient
from channels_graphql_ws.transport import GraphqlWsTransportAiohttp

from ..e2e.support import Server, _stop, _wait_until_listening, free_port

ROOT = Path(__file__).resolve().parents[2]

#: Seconds daphne gets to listen (a cold interpreter imports Django and graphene).
SERVER_START_TIMEOUT = 60.0
#: pytest-timeout of the client tests: the first one waits for daphne to start.
TEST_TIMEOUT = SERVER_START_TIMEOUT + 30


@pytest.fixture(scope="session")
def daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tests.client.app`` served by daphne on a free port of 127.0.0.1."""
    executable = shutil.which("daphne", path=str(Path(sys.executable).parent)) or shutil.which(
        "daphne"
    )
    if executable is None:
        pytest.fail("`daphne` is not installed; it comes with the `test` extra.")
    port = free_port()
    log = tmp_path_factory.mktemp("client-daphne") / "daphne.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.client.server_settings",
        "PYTHONUNBUFFERED": "1",
    }
    command = [executable, "-b", "127.0.0.1", "-p", str(port), "tests.client.app:application"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = Server("daphne", port, log, process)
        try:
            _wait_until_listening(server)
            yield server
        finally:
            _stop(process)


MakeClient = Callable[..., Awaitable[GraphqlWsClient]]


@pytest_asyncio.fixture
async def connect(daphne: Server) -> AsyncIterator[MakeClient]:
    """Connected and initialised clients of daphne; all disconnected at the end.

    ``await connect(subprotocol, path="/graphql/", init=True, cookies=None, headers=None)``
    """
    clients: list[GraphqlWsClient] = []

    async def make(
        subprotocol: str,
        path: str = "/graphql/",
        init: bool = True,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> GraphqlWsClient:
        transport = GraphqlWsTransportAiohttp(daphne.url(path), cookies=cookies, headers=headers)
        client = GraphqlWsClient(transport, subprotocol)
        clients.append(client)
        if init:
            await client.connect_and_init()
        return client

    yield make
    for client in clients:
        await client.finalize()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Show daphne's log next to a failing client test."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("daphne")
    if report.failed and isinstance(server, Server):
        report.sections.append(("daphne log (tail)", server.log_tail()))
