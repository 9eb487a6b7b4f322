"""Processes and clients of the Redis tests: servers, a redis-server, a broadcaster.

Everything is bounded in time, and every process started here is stopped
here (its whole process group). The shared Redis is only ever read and
written under the session's own prefix: never stopped, never flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets
from channels.layers import BaseChannelLayer, channel_layers, get_channel_layer
from django.test import override_settings

from ..e2e.support import free_port, tail

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.redis.server_settings"
APP = "tests.redis.server_app:application"

#: Seconds a server or a redis-server gets to listen.
START_TIMEOUT = 30.0
#: Seconds any single wait on the network or on a process may take.
STEP_TIMEOUT = 10.0

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

ON_EVENT = (
    "subscription OnEvent($room: String!) { onEvent(room: $room) { seq text username userModel } }"
)


def layer_env(kind: str, url: str, prefix: str) -> dict[str, str]:
    """The environment of a process that uses the test layer (see ``server_settings``)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "CGWS_TEST_LAYER": kind,
        "CGWS_TEST_REDIS_URL": url,
        "CGWS_TEST_REDIS_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
    }


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} before listening:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on port {port} within {START_TIMEOUT} s:\n{tail(log)}")


def _stop(process: subprocess.Popen[Any]) -> None:
    """End a process started in its own session, and its group: politely, then for sure.

    The grace period is short: the tests check nothing about a shutdown, and a
    server may wait on an application instance that is slow to end.
    """
    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _venv_script(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed; it comes with the `test` extra.")
    return found


# ------------------------------------------------------- in-process layer


@contextlib.contextmanager
def default_layer(config: dict[str, Any]) -> Iterator[BaseChannelLayer]:
    """Make ``config`` the default channel layer for the block; restore the old one after."""
    saved = dict(channel_layers.backends)
    try:
        with override_settings(CHANNEL_LAYERS={"default": config}):
            channel_layers.backends.clear()
            layer = get_channel_layer()
            assert layer is not None
            yield layer
    finally:
        channel_layers.backends.clear()
        channel_layers.backends.update(saved)


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """A running ASGI server (daphne or uvicorn) serving ``tests.redis.server_app``."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql/"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def server_command(name: str, port: int) -> list[str]:
    executable = _venv_script(name)
    if name == "daphne":
        return [executable, "-b", "127.0.0.1", "-p", str(port), APP]
    return [executable, "--host", "127.0.0.1", "--port", str(port), "--no-access-log", APP]


@contextlib.contextmanager
def running_servers(names: list[str], env: dict[str, str], logdir: Path) -> Iterator[list[Server]]:
    """Start every server in ``names`` at once, each on a free port; always stop them."""
    servers: list[Server] = []
    try:
        for name in names:
            port = free_port()
            log = logdir / f"{name}-{port}.log"
            servers.append(Server(name, port, log, _spawn(server_command(name, port), env, log)))
        for server in servers:
            _wait_listening(server.port, server.process, server.name, server.log)
        yield servers
    finally:
        for server in servers:
            _stop(server.process)


# ------------------------------------------------------------ redis-server


class OwnRedis:
    """A redis-server of the test's own on a free port, stopped and restarted at will.

    Nothing is saved to disk, so a restart comes back empty, as after a crash
    of a Redis that persists nothing.
    """

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            reason = "redis-server is not installed (Debian package redis-server)"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
        self.executable = executable
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None, "already running"
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        # Appending keeps the log of an earlier run of this server.
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_listening(self.port, self.process, "redis-server", self.log)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


# ------------------------------------------------------------ broadcaster


def broadcaster_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.redis.broadcaster", *args]


def run_burst(env: dict[str, str], *args: str) -> None:
    """Run ``broadcaster burst ...`` to its end; fail the test if it fails."""
    try:
        result = subprocess.run(
            broadcaster_command("burst", *args),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"The broadcaster ran over {START_TIMEOUT} s: {timeout.stderr!r}")
    assert result.returncode == 0, f"broadcaster failed:\n{result.stdout}\n{result.stderr}"


class Broadcaster:
    """``broadcaster serve`` as a process the test sends commands to, one at a time."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._stderr = log.open("wb")
        self.process = subprocess.Popen(
            broadcaster_command("serve"),
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._answer(START_TIMEOUT) == "ready"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put("")

    def _answer(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"The broadcaster did not answer within {timeout} s:\n{tail(self.log)}")
        if not line:
            pytest.fail(f"The broadcaster exited:\n{tail(self.log)}")
        return line

    def command(self, line: str) -> str:
        """Send one command; return its answer line (``ok ...`` or ``error ...``)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._answer(STEP_TIMEOUT)

    async def send(self, room: str, seq: int) -> bool:
        """Broadcast event ``seq`` to ``room``; whether the layer took it."""
        answer = await asyncio.to_thread(self.command, f"send {room} {seq}")
        assert answer.startswith((f"ok {seq}", f"error {seq} ")), answer
        return answer == f"ok {seq}"

    async def unsubscribe(self, room: str) -> None:
        answer = await asyncio.to_thread(self.command, f"unsubscribe {room}")
        assert answer == f"ok {room}", answer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        _stop(self.process)
        self._stderr.close()


# ---------------------------------------------------------------- clients


def kinds(subprotocol: str) -> tuple[str, str]:
    """The message types that start an operation and carry a result."""
    return ("subscribe", "next") if subprotocol == TRANSPORT_WS else ("start", "data")


def event_value(seq: int, user: bool = False) -> dict[str, Any]:
    """The ``onEvent`` result of event ``seq`` as ``schema.OnEvent.publish`` makes it."""
    return {
        "seq": seq,
        "text": f"event {seq}",
        "username": "u3" if user else None,
        "userModel": "auth.User" if user else None,
    }


@dataclass
class Socket:
    """A raw WebSocket client of a server: frames in order, read by a background task."""

    subprotocol: str
    ws: Any
    frames: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                self.frames.put_nowait(json.loads(text))
        finally:
            self.closed.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self.frames.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"Nothing arrived within {timeout} s (closed: {self.closed.is_set()}, "
                f"close code: {self.ws.close_code})."
            ) from None

    async def subscribe(self, op_id: str, room: str) -> None:
        """Start ``onEvent(room)`` and wait for the confirmation: then it is live."""
        start, result = kinds(self.subprotocol)
        payload = {"query": ON_EVENT, "variables": {"room": room}}
        await self.send({"type": start, "id": op_id, "payload": payload})
        assert await self.receive() == {"type": result, "id": op_id, "payload": {"data": None}}

    def event(self, op_id: str, seq: int, user: bool = False) -> dict[str, Any]:
        """The frame that carries event ``seq`` to subscription ``op_id``."""
        _, result = kinds(self.subprotocol)
        return {
            "type": result,
            "id": op_id,
            "payload": {"data": {"onEvent": event_value(seq, user)}},
        }

    async def assert_query_works(self, op_id: str = "hello") -> None:
        """A query gets its result and ``complete`` next: nothing else comes first."""
        start, result = kinds(self.subprotocol)
        await self.send({"type": start, "id": op_id, "payload": {"query": "{ hello }"}})
        assert await self.receive() == {
            "type": result,
            "id": op_id,
            "payload": {"data": {"hello": "world"}},
        }
        assert await self.receive() == {"type": "complete", "id": op_id}

    def assert_open(self) -> None:
        assert not self.closed.is_set(), f"The server closed the socket ({self.ws.close_code})."


@contextlib.asynccontextmanager
async def connected(url: str, subprotocol: str) -> Any:
    """A ``Socket`` connected and acknowledged (``connection_init`` sent, ack read)."""
    ws = await asyncio.wait_for(websockets.connect(url, subprotocols=[subprotocol]), STEP_TIMEOUT)
    sock = Socket(subprotocol, ws)
    sock.reader = asyncio.create_task(sock._read())
    try:
        assert ws.subprotocol == subprotocol
        await sock.send({"type": "connection_init"})
        assert await sock.receive() == {"type": "connection_ack"}
        yield sock
    finally:
        await ws.close()
        sock.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sock.reader
