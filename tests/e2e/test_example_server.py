"""End to end: run the README's demo command for real and use the example chat as a client.

`python3 run.py example` creates `.venv/example` (pip install on the first run),
builds the GraphiQL page (`npm ci` and esbuild, when the sources changed),
migrates the SQLite database and execs daphne. The tests then use the example
over real HTTP and real WebSockets, on both subprotocols where it matters.

`example_server` and `ChatClient` are also used by `test_graphiql_browser.py`.
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
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The first run creates a virtualenv, pip-installs into it and runs `npm ci`.
STARTUP_TIMEOUT = 400.0
#: Seconds one message may take to arrive.
RECEIVE_TIMEOUT = 10.0
SUBPROTOCOLS = ("graphql-transport-ws", "graphql-ws")
#: Not a default argument: `None` is a payload too (`{"payload": null}`).
NO_PAYLOAD = object()

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(STARTUP_TIMEOUT + 60)]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ExampleServer:
    """A running `python3 run.py example` and where to reach it."""

    port: int
    log: Path
    startup_seconds: float

    def http(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _wait_until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"`run.py example` exited with {proc.returncode} before serving:\n{tail(log)}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"Port {port} not open after {STARTUP_TIMEOUT} s:\n{tail(log)}")


@contextlib.contextmanager
def example_server(log: Path) -> Iterator[ExampleServer]:
    """Start `python3 run.py example --port <free>` in its own process group; always kill it.

    Runs the command exactly as the README gives it, with the `python3` on
    PATH, so that the virtualenv, the page build and the migration are tested
    as a user gets them.
    """
    port = _free_port()
    python = shutil.which("python3") or sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
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
            _wait_until_listening(proc, port, log)
            yield ExampleServer(port, log, time.monotonic() - started)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


class ChatClient:
    """A small GraphQL WebSocket client over aiohttp, for either subprotocol.

    It sends what it is told and checks each answer's type and id, so a test
    reads as the conversation it expects. Keep-alives (`ping`, legacy `ka`)
    are skipped; a `ping` is answered with `pong`, as clients must.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, subprotocol: str) -> None:
        self.ws = ws
        self.subprotocol = subprotocol
        self.ack_payload: Any = None

    @property
    def legacy(self) -> bool:
        return self.subprotocol == "graphql-ws"

    async def receive(self) -> dict[str, Any]:
        """The next message that is not a keep-alive."""
        while True:
            msg = await self.ws.receive(timeout=RECEIVE_TIMEOUT)
            assert msg.type == aiohttp.WSMsgType.TEXT, f"Expected a text frame, got {msg!r}"
            data: dict[str, Any] = json.loads(msg.data)
            if data["type"] == "ping":
                await self.ws.send_json({"type": "pong"})
            elif data["type"] not in ("pong", "ka"):
                return data

    async def init(self, payload: Any = NO_PAYLOAD) -> None:
        """Send `connection_init` and expect `connection_ack`; keep its payload."""
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not NO_PAYLOAD:
            message["payload"] = payload
        await self.ws.send_json(message)
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        self.ack_payload = ack.get("payload")

    async def start(self, op_id: str, query: str) -> None:
        kind = "start" if self.legacy else "subscribe"
        await self.ws.send_json({"type": kind, "id": op_id, "payload": {"query": query}})

    async def result(self, op_id: str) -> dict[str, Any]:
        """The payload of the next `next` (legacy `data`) message, which must be for `op_id`."""
        message = await self.receive()
        assert message["type"] == ("data" if self.legacy else "next"), message
        assert message["id"] == op_id, message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def complete(self, op_id: str) -> None:
        assert await self.receive() == {"type": "complete", "id": op_id}

    async def execute(self, query: str) -> dict[str, Any]:
        """Run a query or mutation: its data, after checking it has no errors."""
        op_id = uuid.uuid4().hex
        await self.start(op_id, query)
        payload = await self.result(op_id)
        await self.complete(op_id)
        assert not payload.get("errors"), payload
        data: dict[str, Any] = payload["data"]
        return data

    async def subscribe(self, op_id: str, query: str) -> None:
        """Start a subscription and wait for its confirmation: it is live after that."""
        await self.start(op_id, query)
        assert await self.result(op_id) == {"data": None}


@contextlib.asynccontextmanager
async def chat_client(
    session: aiohttp.ClientSession,
    server: ExampleServer,
    subprotocol: str = "graphql-transport-ws",
    payload: Any = NO_PAYLOAD,
) -> AsyncIterator[ChatClient]:
    """A connected and acknowledged `ChatClient` on the example's `/graphql/`."""
    url = f"ws://127.0.0.1:{server.port}/graphql/"
    async with session.ws_connect(url, protocols=[subprotocol]) as ws:
        assert ws.protocol == subprotocol
        client = ChatClient(ws, subprotocol)
        await client.init(payload)
        yield client


def _unique(prefix: str) -> str:
    """A chat room or text no other test (or earlier run on this database) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _subscription(chatroom: str) -> str:
    return f'subscription {{ onNewChatMessage(chatroom: "{chatroom}") {{ chatroom text sender }} }}'


def _send(chatroom: str, text: str) -> str:
    return (
        f'mutation {{ sendChatMessage(chatroom: "{chatroom}", text: "{text}") '
        "{ message { chatroom text sender } } }"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    """One example server for this module's tests (starting one takes seconds)."""
    log = tmp_path_factory.mktemp("run-example") / "run-example.log"
    with example_server(log) as running:
        # Shown with a failure of the module's first test; the log tells what
        # the server said.
        print(f"`run.py example` served after {running.startup_seconds:.1f} s; log: {log}")
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def test_root_serves_the_graphiql_page_with_its_built_bundle(
    server: ExampleServer, session: aiohttp.ClientSession
) -> None:
    async with session.get(server.http("/")) as response:
        assert response.status == 200
        page = await response.text()
    assert '<script type="module" src="/static/graphiql/main.js">' in page
    assert '<link rel="stylesheet" href="/static/graphiql/main.css">' in page
    # The bundle and Monaco's workers, which workers.js loads beside main.js.
    for name, kind in [
        ("main.js", "javascript"),
        ("main.css", "css"),
        ("editor.worker.js", "javascript"),
        ("json.worker.js", "javascript"),
        ("graphql.worker.js", "javascript"),
    ]:
        async with session.get(server.http(f"/static/graphiql/{name}")) as response:
            assert response.status == 200, name
            assert kind in response.headers["Content-Type"], (name, response.headers)
            assert len(await response.read()) > 1000, name


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_message_reaches_the_rooms_other_subscribers_but_not_its_sender(
    server: ExampleServer, session: aiohttp.ClientSession, subprotocol: str
) -> None:
    kittens, puppies = _unique("kittens"), _unique("puppies")
    async with (
        chat_client(session, server, subprotocol) as alice,
        chat_client(session, server, subprotocol) as bob,
        chat_client(session, server, subprotocol) as carol,
    ):
        await alice.subscribe("a", _subscription(kittens))
        await bob.subscribe("b", _subscription(kittens))
        await carol.subscribe("c", _subscription(puppies))

        sent = await bob.execute(_send(kittens, "bob-1"))
        assert sent == {
            "sendChatMessage": {
                "message": {"chatroom": kittens, "text": "bob-1", "sender": "anonymous"}
            }
        }
        assert await alice.result("a") == {
            "data": {
                "onNewChatMessage": {"chatroom": kittens, "text": "bob-1", "sender": "anonymous"}
            }
        }
        await alice.execute(_send(kittens, "alice-1"))
        await alice.execute(_send(puppies, "alice-2"))
        # Bob's first notification is Alice's message: his own was skipped.
        assert (await bob.result("b"))["data"]["onNewChatMessage"]["text"] == "alice-1"
        # Carol's first is the puppies message: other rooms do not reach her.
        assert (await carol.result("c"))["data"]["onNewChatMessage"] == {
            "chatroom": puppies,
            "text": "alice-2",
            "sender": "anonymous",
        }

        history = await carol.execute(f'{{ history(chatroom: "{kittens}") {{ text sender }} }}')
        assert history == {
            "history": [
                {"text": "bob-1", "sender": "anonymous"},
                {"text": "alice-1", "sender": "anonymous"},
            ]
        }


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_login_mutation_logs_the_connection_in(
    server: ExampleServer, session: aiohttp.ClientSession, subprotocol: str
) -> None:
    async with chat_client(session, server, subprotocol) as client:
        assert client.ack_payload == {"user": None}
        assert await client.execute("{ me }") == {"me": None}

        wrong = await client.execute('mutation { login(username: "alice", password: "x") { ok } }')
        assert wrong == {"login": {"ok": False}}
        assert await client.execute("{ me }") == {"me": None}

        right = await client.execute(
            'mutation { login(username: "alice", password: "alice") { ok user token } }'
        )
        assert right["login"]["ok"] is True
        assert right["login"]["user"] == "alice"
        assert right["login"]["token"]
        assert await client.execute("{ me }") == {"me": "alice"}
        room = _unique("login")
        sent = await client.execute(_send(room, "hi"))
        assert sent["sendChatMessage"]["message"]["sender"] == "alice"


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_token_in_connection_init_payload_logs_the_connection_in(
    server: ExampleServer, session: aiohttp.ClientSession, subprotocol: str
) -> None:
    async with chat_client(session, server, subprotocol) as first:
        login = await first.execute(
            'mutation { login(username: "bob", password: "bob") { token } }'
        )
    token = login["login"]["token"]

    async with chat_client(session, server, subprotocol, payload={"token": token}) as client:
        assert client.ack_payload == {"user": "bob"}
        assert await client.execute("{ me }") == {"me": "bob"}


async def test_bad_token_in_connection_init_payload_is_rejected_with_4403(
    server: ExampleServer, session: aiohttp.ClientSession
) -> None:
    url = f"ws://127.0.0.1:{server.port}/graphql/"
    async with session.ws_connect(url, protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"token": "forged"}})
        closed = await ws.receive(timeout=RECEIVE_TIMEOUT)
        assert closed.type == aiohttp.WSMsgType.CLOSE, closed
        assert closed.data == 4403


async def test_bad_token_is_answered_with_connection_error_on_legacy_subprotocol(
    server: ExampleServer, session: aiohttp.ClientSession
) -> None:
    url = f"ws://127.0.0.1:{server.port}/graphql/"
    async with session.ws_connect(url, protocols=["graphql-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"token": "forged"}})
        error = await ws.receive(timeout=RECEIVE_TIMEOUT)
        assert json.loads(error.data)["type"] == "connection_error", error
        closed = await ws.receive(timeout=RECEIVE_TIMEOUT)
        assert closed.type == aiohttp.WSMsgType.CLOSE, closed


async def test_operations_pass_through_the_logging_middleware(
    server: ExampleServer, session: aiohttp.ClientSession
) -> None:
    room = _unique("middleware")
    async with chat_client(session, server) as client:
        await client.execute(f'{{ history(chatroom: "{room}") {{ text }} }}')
        await client.execute(_send(room, "logged"))
    # daphne writes the example's log lines to the same output as run.py.
    deadline = asyncio.get_running_loop().time() + RECEIVE_TIMEOUT
    wanted = ["query history (user: anonymous)", "mutation sendChatMessage (user: anonymous)"]
    while not all(line in tail(server.log, 400) for line in wanted):
        assert asyncio.get_running_loop().time() < deadline, tail(server.log)
        await asyncio.sleep(0.1)
