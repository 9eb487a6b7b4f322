"""``python -m benchmarks``: run the scenarios, ours against the bare and floor consumers.

    python -m benchmarks                          # the everyday scenarios, 3 runs each
    python -m benchmarks --scenario fanout-memory --runs 5
    python -m benchmarks --scenario scale-redis-4x --runs 1
    python -m benchmarks --quick --runs 1         # smoke size, in-memory only, judges nothing

See ``benchmarks/__init__.py`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .common import KINDS, REDIS_POOL_SIZE, SPARE_FILES, raise_open_files_limit

ROOT = Path(__file__).resolve().parent.parent
SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Seconds a server gets to answer ``/bench/stats`` after it is started.
START_TIMEOUT = 60.0
#: Seconds a stopped process gets to exit by itself.
STOP_GRACE = 5.0
#: Seconds one run of the load generator may take.
RUN_TIMEOUT = 1800.0
#: Clients a private redis-server accepts (the bare consumer's pools burst).
REDIS_MAX_CLIENTS = 10000
#: The last line of a traceback in a server log.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")
QUICK_BANNER = (
    "QUICK MODE (smoke size): these figures only show that the benchmark works. "
    "They are far too small to mean anything, and no target is judged."
)


# --------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Target:
    """A goal, measured and reported, never asserted.

    ``baseline`` names the server the figure is compared with (``check``
    then gets the ratio ours/baseline); None: ``check`` gets ours itself.
    """

    text: str
    baseline: str | None
    check: Callable[[float], bool]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    digits: int
    target: Target | None = None
    #: Whether ours/bare and ours/floor mean anything (not for client figures).
    compare: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str
    #: Formatted with the options of the size run, so a smoke run says its size.
    title: str
    mode: str
    layer: str
    options: dict[str, Any]
    #: The first is the headline.
    metrics: tuple[Metric, ...]
    #: Options of the smoke size; None: not part of ``--quick``.
    quick: dict[str, Any] | None = None
    #: Server processes per consumer (more than one: Redis only).
    servers: int = 1
    #: Part of a run without ``--scenario`` (the large ones take minutes).
    everyday: bool = True

    def size(self, quick: bool) -> dict[str, Any]:
        return self.quick if quick and self.quick is not None else self.options

    def heading(self, quick: bool) -> str:
        return self.title.format(servers=self.servers, **self.size(quick))

    def connections(self, quick: bool) -> int:
        options = self.size(quick)
        return int(options.get("subscribers", options.get("connections", 0)))

    def server_files(self, quick: bool) -> int:
        """Open files one server process needs: its share of sockets, Redis's pool."""
        share = math.ceil(self.connections(quick) / self.servers) + SPARE_FILES
        return share + (REDIS_POOL_SIZE if self.layer == "redis" else 0)


def at_least(factor: float, baseline: str = "bare") -> Target:
    return Target(f">= {factor:g}x {baseline}", baseline, lambda ratio: ratio >= factor)


def at_most(factor: float, baseline: str = "bare") -> Target:
    return Target(f"<= {factor:g}x {baseline}", baseline, lambda ratio: ratio <= factor)


def absolute_max(limit: float, unit: str) -> Target:
    return Target(f"<= {limit:g} {unit}", None, lambda ours: ours <= limit)


CPU_PER_NOTIFICATION = "server CPU per notification, us"
CLIENT_METRICS = (
    Metric("client_cpu_share", "load generator: busiest process's CPU share", 2, compare=False),
    Metric("client_processes", "load generator: processes", 0, compare=False),
)
CLIENT_CPU_PER_NOTIFICATION = Metric(
    "client_cpu_us_per_notification",
    "load generator: CPU per notification, all processes, us",
    1,
    compare=False,
)
REDIS_COMMANDS = Metric(
    "redis_commands_per_broadcast", "Redis commands per broadcast (private Redis)", 1
)


def fanout_metrics(
    throughput: Target | None, p99: Target | None, redis: bool
) -> tuple[Metric, ...]:
    return (
        Metric("server_cpu_us_per_notification", CPU_PER_NOTIFICATION, 1, at_most(1.5, "floor")),
        Metric("notifications_per_s", "notifications/s", 0, throughput),
        Metric("p50_ms", "p50 latency, ms", 1),
        Metric("p99_ms", "p99 latency, ms", 1, p99),
        Metric("max_ms", "max latency, ms", 1),
        *((REDIS_COMMANDS,) if redis else ()),
        CLIENT_CPU_PER_NOTIFICATION,
        *CLIENT_METRICS,
    )


def one_at_a_time_metrics(p99: Target | None) -> tuple[Metric, ...]:
    return (
        Metric("until_last_p50_ms", "until the last subscriber has it: p50, ms", 1),
        Metric("until_last_p99_ms", "until the last subscriber has it: p99, ms", 1, p99),
        REDIS_COMMANDS,
        Metric("server_cpu_us_per_notification", CPU_PER_NOTIFICATION, 1),
        Metric("kib_per_connection", "server RSS per subscribed connection, KiB", 1),
        Metric("connect_seconds", "seconds to open and subscribe all", 1),
        *CLIENT_METRICS,
    )


QUERY_METRICS = (
    Metric("queries_per_s", "queries/s (connections one query at a time each)", 0),
    Metric("p50_ms", "p50 round trip, ms", 2),
    Metric("p99_ms", "p99 round trip, ms", 2),
    *CLIENT_METRICS,
)

SCENARIOS = (
    Scenario(
        "fanout-memory",
        "Fan-out, {subscribers:,} subscribers x {events:,} events, in-memory layer "
        "(mutations over WebSocket)",
        "fanout",
        "memory",
        {"subscribers": 200, "events": 100, "clients": 2},
        fanout_metrics(at_least(1.0), at_most(1.0), redis=False),
        quick={"subscribers": 5, "events": 5, "clients": 2},
    ),
    Scenario(
        "fanout-memory-2000",
        "Fan-out, {subscribers:,} subscribers x {events:,} events, in-memory layer "
        "(mutations over WebSocket)",
        "fanout",
        "memory",
        {"subscribers": 2000, "events": 50, "clients": 2},
        fanout_metrics(at_least(1.0), None, redis=False),
    ),
    Scenario(
        "fanout-redis",
        "Fan-out, {subscribers:,} subscribers x {events:,} events, Redis "
        "(broadcast from a separate process)",
        "fanout",
        "redis",
        {"subscribers": 200, "events": 100, "clients": 2},
        fanout_metrics(at_least(1.0), at_most(1.0), redis=True),
    ),
    Scenario(
        "fanout-redis-2000",
        "Fan-out, {subscribers:,} subscribers x {events:,} events, Redis "
        "(broadcast from a separate process)",
        "fanout",
        "redis",
        {"subscribers": 2000, "events": 10, "clients": 2},
        fanout_metrics(at_least(2.0), None, redis=True),
    ),
    Scenario(
        "query-small",
        "Small query `{{ value }}`: server CPU per query ({queries:,} queries, "
        "{connections} connections)",
        "queries",
        "memory",
        {"query": "small", "queries": 2000, "connections": 4},
        (
            Metric("server_cpu_us_per_query", "server CPU per query, us", 1, at_most(1.3)),
            *QUERY_METRICS,
        ),
        quick={"query": "small", "queries": 40, "connections": 2},
    ),
    Scenario(
        "query-large",
        "Large query (100 objects x 5 fields): server CPU per query ({queries:,} queries, "
        "{connections} connections)",
        "queries",
        "memory",
        {"query": "large", "queries": 1000, "connections": 4},
        (
            Metric("server_cpu_us_per_query", "server CPU per query, us", 1, at_most(6.0)),
            *QUERY_METRICS,
        ),
        quick={"query": "large", "queries": 20, "connections": 2},
    ),
    Scenario(
        "memory",
        "Server memory, {connections:,} connections: idle, then one subscription each "
        "(in-memory layer)",
        "memory",
        "memory",
        {"connections": 1000},
        (
            Metric("kib_per_idle_connection", "RSS per idle connection, KiB", 1, at_most(1.1)),
            Metric(
                "kib_per_subscription",
                "RSS per active subscription, KiB",
                1,
                absolute_max(15, "KiB"),
            ),
        ),
        quick={"connections": 5, "settle": 0.1},
    ),
    Scenario(
        "connections-10000",
        "{subscribers:,} subscribed connections on one process, {events} broadcasts "
        "one at a time, Redis",
        "fanout",
        "redis",
        {"subscribers": 10000, "events": 10, "clients": 2, "step": True},
        (
            Metric("kib_per_connection", "server RSS per subscribed connection, KiB", 1),
            *(
                m
                for m in one_at_a_time_metrics(absolute_max(2000, "ms"))
                if m.key != "kib_per_connection"
            ),
        ),
        everyday=False,
    ),
    Scenario(
        "scale-redis-4x-400",
        "{subscribers:,} subscribers on {servers} server processes, {events} broadcasts "
        "one at a time, Redis",
        "fanout",
        "redis",
        {"subscribers": 400, "events": 20, "clients": 2, "step": True},
        one_at_a_time_metrics(None),
        servers=4,
        everyday=False,
    ),
    Scenario(
        "scale-redis-4x",
        "{subscribers:,} subscribers on {servers} server processes, {events} broadcasts "
        "one at a time, Redis",
        "fanout",
        "redis",
        {"subscribers": 20000, "events": 20, "clients": 4, "step": True},
        one_at_a_time_metrics(None),
        servers=4,
        everyday=False,
    ),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` different free ports: each is held until all are picked.

    Picked one after the other and released at once, the OS may hand out
    the same port twice; the second server then fails to bind while the
    first answers for both.
    """
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process this run started (in its own session), politely, then for sure.

    Its figures are taken by then, so the grace is short: uvicorn waits for
    every connection's task, and a Channels consumer whose layer read lost
    its cancellation (channels_redis on Python 3.10/3.11) never ends.
    """
    for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 15.0)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def running_servers(
    count: int, env: dict[str, str], open_files: int, logdir: Path
) -> Iterator[list[Server]]:
    """``count`` fresh ``benchmarks.serve`` processes, started together; always stopped."""
    servers: list[Server] = []
    try:
        for port in free_ports(count):
            log = logdir / f"server-{port}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "benchmarks.serve"),
                        *("--port", str(port), "--open-files", str(open_files)),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            servers.append(Server(port, process, log))
        for server in servers:
            wait_ready(server)
        yield servers
    finally:
        for server in servers:
            stop(server.process)


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    url = f"http://127.0.0.1:{server.port}/bench/stats"
    while True:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise SystemExit(f"A server exited with {code}:\n{tail(server.log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise SystemExit(f"A server did not answer in time:\n{tail(server.log)}") from None
            time.sleep(0.05)


def run_load(
    scenario: Scenario,
    kind: str,
    options: dict[str, Any],
    servers: list[Server],
    env: dict[str, str],
    redis: Redis,
) -> dict[str, Any]:
    """One run of the load generator against ``servers``; its JSON result."""
    command = [sys.executable, "-m", "benchmarks.load", scenario.mode, "--kind", kind]
    command += ["--ports", ",".join(str(server.port) for server in servers)]
    command += ["--layer", scenario.layer]
    for name, value in options.items():
        if value is True:
            command.append(f"--{name}")
        elif value is not False:
            command += [f"--{name}", str(value)]
    if scenario.layer == "redis":
        command += ["--redis-url", redis.url]
        if redis.private and scenario.mode == "fanout":
            command.append("--redis-stats")
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "problems": [f"the load generator ran over {RUN_TIMEOUT:g} s"]}
    for line in result.stderr.splitlines():
        print(f"    {line}", flush=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        return {
            "ok": False,
            "problems": [f"the load generator failed ({result.returncode})"],
            "output": result.stdout[-2000:],
        }
    figures: dict[str, Any] = json.loads(lines[-1])
    # Errors a server logged are reported, not failures by themselves: what
    # the client saw (loss, duplicates, order, frames) decides.
    notes = []
    for server in servers:
        log_lines = tail(server.log, 400).splitlines()
        errors = [line for line in log_lines if line.startswith(("ERROR", "CRITICAL"))]
        if errors:
            # The exceptions themselves: the last line of each traceback.
            raised = sorted({line for line in log_lines if EXCEPTION_LINE.match(line)})
            notes += [
                f"server :{server.port} logged {len(errors)} errors, e.g. {errors[0]!r}",
                *(f"server raised: {line}" for line in raised[:3]),
            ]
    if notes:
        figures["notes"] = notes
    return figures


# ------------------------------------------------------------------- redis


@dataclass
class Redis:
    url: str
    #: Started by this command for itself alone: its command counts are ours.
    private: bool


def redis_answers(url: str) -> str | None:
    """None if Redis at ``url`` answers PING; else why not."""
    parsed = urllib.parse.urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2
        ) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as error:
        return str(error)
    return None if answer.startswith(b"+PONG") else f"answered {answer!r}"


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[Redis | None]:
    """A redis-server of our own on a free port (None if there is no ``redis-server``).

    Nothing else uses it, so ``INFO commandstats`` counts our commands only;
    it keeps nothing on disk and is stopped at the end.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    log = workdir / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(binary, "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
                *("--maxclients", str(REDIS_MAX_CLIENTS)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while redis_answers(url) is not None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"The private redis-server did not start:\n{tail(log)}")
            time.sleep(0.05)
        yield Redis(url, private=True)
    finally:
        stop(process)


# ------------------------------------------------------------------ figures


@dataclass
class Outcome:
    scenario: Scenario
    kinds: tuple[str, ...]
    quick: bool
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runs = {kind: [] for kind in self.kinds}

    def median(self, kind: str, key: str) -> float:
        values = [
            run[key]
            for run in self.runs.get(kind, [])
            if isinstance(run.get(key), (int, float)) and not math.isnan(run[key])
        ]
        return statistics.median(values) if values else math.nan

    def paired_ratio(self, kind: str, baseline: str, key: str) -> float:
        """The median of run-by-run ``kind / baseline`` ratios.

        Runs alternate between the servers, so run N of each was measured
        minutes apart at most, while this shared machine's speed drifts by
        more than half between runs: a ratio within a pair moves far less
        than either figure. NaN unless both have as many runs, all measured.
        """
        ours, base = self.runs.get(kind, []), self.runs.get(baseline, [])
        if not ours or len(ours) != len(base):
            return math.nan
        ratios = []
        for mine, theirs in zip(ours, base, strict=True):
            a, b = mine.get(key), theirs.get(key)
            if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
                return math.nan
            if math.isnan(a) or math.isnan(b):
                return math.nan
            ratios.append(a / b)
        return statistics.median(ratios)

    def notes(self) -> list[str]:
        return [
            f"{self.scenario.name} {kind} run {number}: {note}"
            for kind in self.kinds
            for number, run in enumerate(self.runs[kind], 1)
            for note in run.get("notes", [])
        ]

    def failures(self) -> list[str]:
        return [
            f"{self.scenario.name} {kind} run {number}: {problem}"
            for kind in self.kinds
            for number, run in enumerate(self.runs[kind], 1)
            for problem in run.get("problems", [])
        ]


def number(value: float, digits: int) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio_text(ours: float, other: float) -> str:
    if math.isnan(ours) or math.isnan(other) or other == 0:
        return "n/a"
    return f"{number(ours / other, 2)}x"


def judge(metric: Metric, outcome: Outcome) -> str:
    """Met or not, only for a full-size figure measured on both sides."""
    target = metric.target
    if target is None:
        return ""
    if outcome.quick:
        return f"{target.text}: not judged (smoke size)"
    ours = outcome.median("ours", metric.key)
    if math.isnan(ours):
        return f"{target.text}: not judged (ours not measured)"
    detail = ""
    if target.baseline is None:
        value = ours
    else:
        base = outcome.median(target.baseline, metric.key)
        if math.isnan(base) or base == 0:
            return f"{target.text}: not judged ({target.baseline} not measured)"
        value = ours / base
        paired = outcome.paired_ratio("ours", target.baseline, metric.key)
        if not math.isnan(paired) and len(outcome.runs["ours"]) > 1:
            # Judged on the pairs; both figures are printed.
            detail = f" (paired runs' median {paired:.2f}x, medians' ratio {value:.2f}x)"
            value = paired
    return f"{target.text}: {'met' if target.check(value) else 'NOT met'}{detail}"


def rows(outcome: Outcome) -> list[list[str]]:
    table = []
    for metric in outcome.scenario.metrics:
        medians = {kind: outcome.median(kind, metric.key) for kind in KINDS}
        ours = medians["ours"]
        table.append(
            [
                metric.label,
                *(number(medians[kind], metric.digits) for kind in KINDS),
                ratio_text(ours, medians["bare"]) if metric.compare else "",
                ratio_text(ours, medians["floor"]) if metric.compare else "",
                judge(metric, outcome),
            ]
        )
    checks = {}
    for kind in KINDS:
        if kind not in outcome.kinds:
            checks[kind] = "not run"
            continue
        failed = sum(1 for run in outcome.runs[kind] if not run.get("ok"))
        checks[kind] = "ok" if not failed else f"FAILED in {failed} runs"
    label = "checks: nothing lost, duplicated, reordered"
    table.append([label, *(checks[kind] for kind in KINDS), "", "", ""])
    return table


def markdown(table: list[list[str]]) -> str:
    header = ["metric", *KINDS, "ours/bare", "ours/floor", "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines)


def headline(outcome: Outcome) -> str:
    """The scenario's first figure for every server, with ours/bare and ours/floor."""
    metric = outcome.scenario.metrics[0]
    medians = {kind: outcome.median(kind, metric.key) for kind in KINDS}
    values = ", ".join(f"{kind} {number(medians[kind], metric.digits)}" for kind in KINDS)
    ratios = (
        f"ours/bare {ratio_text(medians['ours'], medians['bare'])}, "
        f"ours/floor {ratio_text(medians['ours'], medians['floor'])}"
    )
    return f"{outcome.scenario.name}: {metric.label}: {values}; {ratios}"


def summary_line(kind: str, figures: dict[str, Any], metrics: tuple[Metric, ...]) -> str:
    parts = [
        f"{metric.label} {number(figures[metric.key], metric.digits)}"
        for metric in metrics
        if isinstance(figures.get(metric.key), (int, float))
    ]
    checks = figures.get("checks")
    if checks is not None:
        parts.append(
            "lost/dup/reordered "
            + "/".join(str(checks[k]) for k in ("lost", "duplicated", "reordered"))
        )
    parts.append("ok" if figures.get("ok") else f"PROBLEMS: {figures.get('problems')}")
    if figures.get("notes"):
        parts.append(f"notes: {figures['notes']}")
    return f"{kind}: " + ", ".join(parts)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in (
        "channels",
        "channels-redis",
        "redis",
        "graphql-core",
        "graphene",
        "uvicorn",
        "uvloop",
        "websockets",
    ):
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {versions()}"


# --------------------------------------------------------------------- main


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Our consumer against a bare Channels consumer and the floor consumer, "
            "under the same load. Without --scenario: the everyday scenarios ("
            + ", ".join(s.name for s in SCENARIOS if s.everyday)
            + "); the large ones ("
            + ", ".join(s.name for s in SCENARIOS if not s.everyday)
            + ") take minutes each and run only when named."
        ),
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(BY_NAME),
        help="run only this scenario (repeatable)",
    )
    parser.add_argument("--runs", type=int, default=3, help="alternated runs per server")
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="servers to drive, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke size (5 subscribers x 5 events), in-memory only; judges no target",
    )
    parser.add_argument(
        "--redis-url",
        help=(
            "use this Redis (keys of a prefix of their own, never flushed) instead of a "
            "private redis-server on a free port; Redis commands are then not counted"
        ),
    )
    parser.add_argument(
        "--events",
        type=int,
        help=(
            "events per run of the fan-out scenarios instead of their own count: a burst "
            "of 100 lasts a fraction of a second, where a shared machine's drift weighs most"
        ),
    )
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args(argv)
    if args.events is not None and (args.events < 1 or args.quick):
        parser.error("--events takes a positive count, and not with --quick")
    args.kinds = tuple(kind for kind in KINDS if kind in args.kinds.split(","))
    if "ours" not in args.kinds:
        parser.error("--kinds must include ours")
    return args


@contextlib.contextmanager
def redis_for(args: argparse.Namespace, needed: bool, workdir: Path) -> Iterator[Redis | None]:
    """The Redis of this command: the one named, else a private one, else the shared one."""
    if not needed:
        yield None
        return
    if args.redis_url:
        reason = redis_answers(args.redis_url)
        if reason is not None:
            print(f"NOTE: Redis at {args.redis_url} does not answer ({reason}).")
        yield Redis(args.redis_url, private=False) if reason is None else None
        return
    with private_redis(workdir) as redis:
        if redis is not None:
            yield redis
            return
    reason = redis_answers(SHARED_REDIS_URL)
    print(
        f"NOTE: no redis-server to start; using {SHARED_REDIS_URL}"
        + (f", which does not answer ({reason})." if reason else " (commands not counted).")
    )
    yield Redis(SHARED_REDIS_URL, private=False) if reason is None else None


def chosen_scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios of this command, at the size it asks for."""
    if args.scenario:
        chosen = [BY_NAME[name] for name in args.scenario]
    else:
        chosen = [scenario for scenario in SCENARIOS if scenario.everyday]
    if args.quick:
        chosen = [scenario for scenario in chosen if scenario.quick is not None]
    if args.events is not None:
        chosen = [
            replace(scenario, options={**scenario.options, "events": args.events})
            if "events" in scenario.options
            else scenario
            for scenario in chosen
        ]
    return chosen


def main(argv: list[str]) -> int:
    args = parse(argv)
    chosen = chosen_scenarios(args)
    if not chosen:
        print("Nothing to run.")
        return 0
    needs_redis = any(scenario.layer == "redis" for scenario in chosen)
    open_files = max(scenario.server_files(args.quick) for scenario in chosen)
    if needs_redis and not args.redis_url:
        open_files = max(open_files, REDIS_MAX_CLIENTS + SPARE_FILES)
    # Children inherit the limit (the private redis-server needs it); each
    # server and load process raises its own to what it needs.
    raise_open_files_limit(open_files)

    started = time.monotonic()
    print(f"{datetime.date.today().isoformat()}; {machine()}")
    print(
        f"load average at the start: {load_average()} "
        "(other programs on this machine share its cores)"
    )
    if args.quick:
        print(QUICK_BANNER)
    print(f"runs: {args.runs} per server, alternated {'/'.join(args.kinds)}; figures are medians")
    outcomes = []
    workdir = Path(tempfile.mkdtemp(prefix="cgws-bench-"))
    try:
        with redis_for(args, needs_redis, workdir) as redis:
            if needs_redis:
                if redis is None:
                    print("NOTE: no Redis; skipping the Redis scenarios.")
                    chosen = [scenario for scenario in chosen if scenario.layer != "redis"]
                else:
                    private = "a private redis-server" if redis.private else "shared"
                    print(f"Redis: {redis.url} ({private})")
            for scenario in chosen:
                assert redis is not None or scenario.layer != "redis"
                outcomes.append(run_scenario(scenario, args, redis, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.monotonic() - started
    print(f"\n== summary (medians of {args.runs} runs; {elapsed:.0f} s in all)")
    print(f"load average at the end: {load_average()}")
    if args.quick:
        print(QUICK_BANNER)
    print("\nHeadline figures:")
    for outcome in outcomes:
        print(f"  {headline(outcome)}")
    for outcome in outcomes:
        print(f"\n{outcome.scenario.name}: {outcome.scenario.heading(args.quick)}")
        print(markdown(rows(outcome)))
    notes = [note for outcome in outcomes for note in outcome.notes()]
    if notes:
        print("\nNotes (server logs):")
        for note in notes:
            print(f"  {note}")
    failures = [failure for outcome in outcomes for failure in outcome.failures()]
    if args.json is not None:
        args.json.write_text(
            json.dumps({o.scenario.name: o.runs for o in outcomes}, indent=1, default=str)
        )
    if failures:
        print("\nCHECKS FAILED:")
        for failure in failures:
            print(f"  {failure}")
        return 1
    print("\nAll checks passed: nothing lost, duplicated or reordered; no errors.")
    if args.quick:
        print("Smoke run: no target was judged.")
    return 0


def run_scenario(
    scenario: Scenario, args: argparse.Namespace, redis: Redis | None, workdir: Path
) -> Outcome:
    options = scenario.size(args.quick)
    print(f"\n== {scenario.name}: {scenario.heading(args.quick)}")
    if args.quick:
        print("   smoke size: judges nothing")
    print(f"   load average before: {load_average()}")
    outcome = Outcome(scenario, args.kinds, args.quick)
    for run in range(1, args.runs + 1):
        env = {
            **os.environ,
            "BENCH_LAYER": scenario.layer,
            "BENCH_REDIS_URL": redis.url if redis is not None else "",
            # A prefix of this run alone: nothing is shared with other runs,
            # and every key expires by itself.
            "BENCH_REDIS_PREFIX": f"cgws-bench-{uuid.uuid4().hex[:10]}:",
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "PYTHONUNBUFFERED": "1",
        }
        # Every server of the run starts at once, to save time; each kind's
        # are stopped once driven, so none idles beside the one measured.
        count = scenario.servers * len(args.kinds)
        with running_servers(count, env, scenario.server_files(args.quick), workdir) as servers:
            for index, kind in enumerate(args.kinds):
                mine = servers[index * scenario.servers : (index + 1) * scenario.servers]
                figures = run_load(scenario, kind, options, mine, env, redis or Redis("", False))
                for server in mine:
                    stop(server.process)
                outcome.runs[kind].append(figures)
                print(f"  run {run} {summary_line(kind, figures, scenario.metrics)}", flush=True)
    print(markdown(rows(outcome)))
    return outcome


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
