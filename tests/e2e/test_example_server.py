"""End to end: run the README's demo command for real and talk to it as a client.

`python3 run.py example` creates `.venv/example` (pip install on the first run),
migrates the SQLite database and execs daphne. The test then uses the example
over real HTTP and a real WebSocket speaking `graphql-transport-ws`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# The first run creates a virtualenv and pip-installs into it.
STARTUP_TIMEOUT = 240.0
RECEIVE_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _example_server(port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start `python3 run.py example` in its own process group; always kill it."""
    python = shutil.which("python3") or sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [python, "run.py", "example", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


async def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while loop.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"`run.py example` exited with {proc.returncode} before serving:\n" + _tail(log)
            )
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=1
            )
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.5)
            continue
        writer.close()
        await writer.wait_closed()
        return
    pytest.fail(f"Port {port} not open after {STARTUP_TIMEOUT} s:\n" + _tail(log))


async def _receive(ws: aiohttp.ClientWebSocketResponse[bool]) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECEIVE_TIMEOUT)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"Expected a text frame, got {msg!r}"
    data: dict[str, Any] = json.loads(msg.data)
    return data


async def _execute(
    ws: aiohttp.ClientWebSocketResponse[bool], op_id: str, query: str
) -> dict[str, Any]:
    """Run one operation; return the payload of its single `next` message."""
    await ws.send_json({"type": "subscribe", "id": op_id, "payload": {"query": query}})
    result = await _receive(ws)
    assert result["type"] == "next", result
    assert result["id"] == op_id, result
    assert await _receive(ws) == {"type": "complete", "id": op_id}
    payload: dict[str, Any] = result["payload"]
    assert not payload.get("errors"), payload
    return payload


@contextlib.asynccontextmanager
async def _graphql_ws(
    session: aiohttp.ClientSession, port: int
) -> AsyncIterator[aiohttp.ClientWebSocketResponse[bool]]:
    async with session.ws_connect(
        f"ws://127.0.0.1:{port}/graphql/", protocols=["graphql-transport-ws"]
    ) as ws:
        assert ws.protocol == "graphql-transport-ws"
        await ws.send_json({"type": "connection_init"})
        ack = await _receive(ws)
        assert ack["type"] == "connection_ack", ack
        yield ws


@pytest.mark.timeout(300)
async def test_readme_example_command_serves_http_and_graphql(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "run-example.log"
    with _example_server(port, log) as proc:
        await _wait_until_listening(proc, port, log)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    assert response.status == 200
                    assert "/graphql/" in await response.text()

                async with _graphql_ws(session, port) as ws:
                    hello = await _execute(ws, "1", '{ hello(name: "e2e") }')
                    assert hello["data"] == {"hello": "Hello, e2e!"}

                    default = await _execute(ws, "2", "{ hello }")
                    assert default["data"] == {"hello": "Hello, world!"}

                    before = await _execute(ws, "3", "{ counter }")
                    start = before["data"]["counter"]
                    assert isinstance(start, int)

                    bumped = await _execute(ws, "4", "mutation { increment(by: 2) { value } }")
                    assert bumped["data"] == {"increment": {"value": start + 2}}

                    after = await _execute(ws, "5", "{ counter }")
                    assert after["data"] == {"counter": start + 2}
        except BaseException:
            # Show what the server said next to the failure.
            print(_tail(log))
            raise
