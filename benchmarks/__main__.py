"""``python -m benchmarks``: run the scenarios, ours against the bare consumer, and print figures.

    python -m benchmarks                          # every scenario, 3 runs each
    python -m benchmarks --scenario fanout-memory --runs 5
    python -m benchmarks --quick --runs 1         # smoke size, in-memory only

See ``benchmarks/__init__.py`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import SPARE_FILES, raise_open_files_limit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Seconds a server gets to answer ``/bench/stats`` after it is started.
START_TIMEOUT = 60.0
#: Seconds one run of the load generator may take.
RUN_TIMEOUT = 900.0
KINDS = ("ours", "bare")
#: The last line of a traceback in a server log.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


# --------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Target:
    """A goal, measured and reported, never asserted."""

    text: str
    met: Callable[[float, float, float], bool]  # (ours, bare, ratio) -> met


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    digits: int
    target: Target | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    mode: str
    layer: str
    options: dict[str, Any]
    metrics: tuple[Metric, ...]
    #: Options of the smoke size; None: not part of ``--quick``.
    quick: dict[str, Any] | None = None

    def connections(self, quick: bool) -> int:
        options = self.quick if quick and self.quick is not None else self.options
        return int(options.get("subscribers", options.get("connections", 0)))


def at_least(factor: float) -> Target:
    return Target(f">= {factor:g}x bare", lambda ours, bare, ratio: ratio >= factor)


def at_most(factor: float) -> Target:
    return Target(f"<= {factor:g}x bare", lambda ours, bare, ratio: ratio <= factor)


def absolute_max(limit: float, unit: str) -> Target:
    return Target(f"<= {limit:g} {unit}", lambda ours, bare, ratio: ours <= limit)


def fanout_metrics(throughput: Target | None, p99: Target | None) -> tuple[Metric, ...]:
    return (
        Metric("notifications_per_s", "notifications/s", 0, throughput),
        Metric("p50_ms", "p50 latency, ms", 1),
        Metric("p99_ms", "p99 latency, ms", 1, p99),
        Metric("max_ms", "max latency, ms", 1),
        Metric("server_cpu_us_per_notification", "server CPU per notification, us", 1),
        Metric("client_cpu_share", "load generator CPU share", 2),
    )


QUERY_METRICS = (
    Metric("queries_per_s", "queries/s (4 connections, one at a time each)", 0),
    Metric("p50_ms", "p50 round trip, ms", 2),
    Metric("p99_ms", "p99 round trip, ms", 2),
)

SCENARIOS = (
    Scenario(
        "fanout-memory",
        "Fan-out, 200 subscribers x 100 events, in-memory layer (mutations over WebSocket)",
        "fanout",
        "memory",
        {"subscribers": 200, "events": 100},
        fanout_metrics(at_least(1.0), at_most(1.0)),
        quick={"subscribers": 5, "events": 5},
    ),
    Scenario(
        "fanout-redis",
        "Fan-out, 200 subscribers x 100 events, Redis (broadcast from a separate process)",
        "fanout",
        "redis",
        {"subscribers": 200, "events": 100},
        fanout_metrics(at_least(1.0), at_most(1.0)),
    ),
    Scenario(
        "fanout-redis-2000",
        "Fan-out, 2,000 subscribers x 10 events, Redis (broadcast from a separate process)",
        "fanout",
        "redis",
        {"subscribers": 2000, "events": 10},
        fanout_metrics(at_least(2.0), None),
    ),
    Scenario(
        "query-small",
        "Small query `{ value }`: server CPU per query (2,000 queries)",
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
        "Large query (100 objects x 5 fields): server CPU per query (1,000 queries)",
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
        "Server memory, 1,000 connections: idle, then one subscription each (in-memory layer)",
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
        "connections-5000",
        "5,000 subscribed connections, one broadcast, Redis (from a separate process)",
        "fanout",
        "redis",
        {"subscribers": 5000, "events": 1},
        (
            Metric("p50_ms", "p50 latency, ms", 0),
            Metric("p99_ms", "p99 latency, ms", 0, absolute_max(2000, "ms")),
            Metric("max_ms", "max latency, ms", 0),
            Metric("connect_seconds", "seconds to open and subscribe all", 1),
        ),
    ),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


# ------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process this run started (in its own session), politely, then for sure."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
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
        for _ in range(count):
            port = free_port()
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
    scenario: Scenario, kind: str, options: dict[str, Any], server: Server, env: dict[str, str]
) -> dict[str, Any]:
    """One run of the load generator against ``server``; its JSON result."""
    command = [sys.executable, "-m", "benchmarks.load", scenario.mode, "--kind", kind]
    command += ["--port", str(server.port), "--layer", scenario.layer]
    for name, value in options.items():
        command += [f"--{name}", str(value)]
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
    log_lines = tail(server.log, 400).splitlines()
    errors = [line for line in log_lines if line.startswith(("ERROR", "CRITICAL"))]
    if errors:
        # The exceptions themselves: the last line of each traceback.
        raised = sorted({line for line in log_lines if EXCEPTION_LINE.match(line)})
        figures["notes"] = [
            f"server logged {len(errors)} errors, e.g. {errors[0]!r}",
            *(f"server raised: {line}" for line in raised[:3]),
        ]
    return figures


# ------------------------------------------------------------------- redis


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


# ------------------------------------------------------------------ figures


@dataclass
class Outcome:
    scenario: Scenario
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def median(self, kind: str, key: str) -> float:
        values = [run[key] for run in self.runs[kind] if isinstance(run.get(key), (int, float))]
        return statistics.median(values) if values else float("nan")

    def notes(self) -> list[str]:
        return [
            f"{self.scenario.name} {kind} run {number}: {note}"
            for kind in KINDS
            for number, run in enumerate(self.runs[kind], 1)
            for note in run.get("notes", [])
        ]

    def failures(self) -> list[str]:
        return [
            f"{self.scenario.name} {kind} run {number}: {problem}"
            for kind in KINDS
            for number, run in enumerate(self.runs[kind], 1)
            for problem in run.get("problems", [])
        ]


def number(value: float, digits: int) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def rows(outcome: Outcome) -> list[list[str]]:
    table = []
    for metric in outcome.scenario.metrics:
        ours = outcome.median("ours", metric.key)
        bare = outcome.median("bare", metric.key)
        ratio = ours / bare if bare else float("nan")
        target = ""
        if metric.target is not None:
            met = metric.target.met(ours, bare, ratio)
            target = f"{metric.target.text}: {'met' if met else 'NOT met'}"
        table.append(
            [
                metric.label,
                number(ours, metric.digits),
                number(bare, metric.digits),
                "n/a" if ratio != ratio else f"{number(ratio, 2)}x",
                target,
            ]
        )
    checks = {}
    for kind in KINDS:
        failed = sum(1 for run in outcome.runs[kind] if not run.get("ok"))
        checks[kind] = "ok" if not failed else f"FAILED in {failed} runs"
    label = "checks: nothing lost, duplicated, reordered"
    table.append([label, checks["ours"], checks["bare"], "", ""])
    return table


def markdown(table: list[list[str]]) -> str:
    header = ["metric", "ours", "bare", "ours/bare", "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines)


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
    for name in ("channels", "channels-redis", "graphql-core", "graphene", "uvicorn", "websockets"):
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
        description="Our consumer against a bare Channels consumer, under the same load.",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(BY_NAME),
        help="run only this scenario (repeatable); default: all",
    )
    parser.add_argument("--runs", type=int, default=3, help="alternated runs per consumer")
    parser.add_argument(
        "--quick", action="store_true", help="smoke size (5 subscribers x 5 events), in-memory only"
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    chosen = [BY_NAME[name] for name in args.scenario] if args.scenario else list(SCENARIOS)
    if args.quick:
        chosen = [scenario for scenario in chosen if scenario.quick is not None]
    if any(scenario.layer == "redis" for scenario in chosen):
        reason = redis_answers(args.redis_url)
        if reason is not None:
            print(
                f"NOTE: Redis at {args.redis_url} does not answer ({reason}); "
                "skipping the Redis scenarios."
            )
            chosen = [scenario for scenario in chosen if scenario.layer != "redis"]
    if not chosen:
        print("Nothing to run.")
        return 0
    open_files = max(scenario.connections(args.quick) for scenario in chosen) + SPARE_FILES
    raise_open_files_limit(open_files)

    started = time.monotonic()
    print(f"{datetime.date.today().isoformat()}; {machine()}")
    print(f"runs: {args.runs} per consumer, alternated ours/bare; figures are medians")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="cgws-bench-") as logdir:
        for scenario in chosen:
            options = scenario.quick if args.quick and scenario.quick else scenario.options
            size = ", ".join(f"{name} {value}" for name, value in options.items())
            print(
                f"\n== {scenario.name}: {scenario.title}"
                + (f" [quick: {size}]" if args.quick else "")
            )
            print(f"   load average before: {load_average()}")
            outcome = Outcome(scenario)
            for run in range(1, args.runs + 1):
                env = {
                    **os.environ,
                    "BENCH_LAYER": scenario.layer,
                    "BENCH_REDIS_URL": args.redis_url,
                    # A prefix of this run alone: nothing is shared with other runs,
                    # and every key expires by itself.
                    "BENCH_REDIS_PREFIX": f"cgws-bench-{uuid.uuid4().hex[:10]}:",
                    "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
                    "PYTHONUNBUFFERED": "1",
                }
                need = scenario.connections(args.quick) + SPARE_FILES
                # One fresh server per consumer, started together to save time;
                # the one not being driven sits idle meanwhile.
                with running_servers(len(KINDS), env, need, Path(logdir)) as servers:
                    for kind, server in zip(KINDS, servers, strict=True):
                        figures = run_load(scenario, kind, options, server, env)
                        outcome.runs[kind].append(figures)
                        print(f"  run {run} {summary_line(kind, figures, scenario.metrics)}")
            print(markdown(rows(outcome)))
            outcomes.append(outcome)

    print(f"\n== summary (medians of {args.runs} runs; {time.monotonic() - started:.0f} s in all)")
    for outcome in outcomes:
        print(f"\n{outcome.scenario.name}: {outcome.scenario.title}")
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
