"""``python -m benchmarks.http_bench``: GraphQL over HTTP, ours beside three other servers.

    python3 run.py bench --scenario http              # small and large, 3 runs
    python3 run.py bench --scenario http-small --runs 5 --seconds 10
    python3 run.py bench --scenario http --quick      # 1 run of 1 s each

Four ways to answer the same POSTed query (``benchmarks.http_app``), each
in a fresh uvicorn process of its own per run: ``ours`` (``GraphqlConsumer``
over HTTP), ``bare`` (a Channels ``AsyncHttpConsumer`` sending pre-encoded
JSON, no GraphQL), ``graphene`` (graphene-django's ``GraphQLView``, same
Graphene schema) and ``strawberry`` (Strawberry's ``GraphQLHTTPConsumer``,
the same schema in Strawberry). The load comes from ``wrk`` (Debian
package ``wrk``), 20 keep-alive connections on one thread, after a warm-up.
Every server's answer is checked once before it is loaded, and every
response under load must be a 2xx.

Figures per run: requests/s (wrk's), server CPU per request (the server's
``time.process_time`` around the load, divided by wrk's request count), and
wrk's own CPU share (near 1.0: the load generator was the limit). The
tables show medians of the runs, alternated kind by kind, with ratios;
targets (issue 18) are reported, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import LARGE_QUERY, LARGE_RESULT, SMALL_QUERY, SMALL_RESULT

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("ours", "bare", "graphene", "strawberry")
SCENARIOS = {
    "http-small": ("Small query `{ value }`", SMALL_QUERY, SMALL_RESULT),
    "http-large": ("Large query (100 objects x 5 fields)", LARGE_QUERY, LARGE_RESULT),
}
START_TIMEOUT = 60.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def uvicorn_server(log: Path) -> Any:
    """A fresh uvicorn serving ``benchmarks.http_app`` on a free port; always stopped."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.http_settings",
        "BENCH_LAYER": "memory",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        *(sys.executable, "-m", "uvicorn", "benchmarks.http_app:application"),
        *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
        *("--no-access-log", "--log-level", "warning"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise SystemExit(f"The server exited:\n{log.read_text()[-3000:]}")
            try:
                stats(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    message = f"The server did not start:\n{log.read_text()[-3000:]}"
                    raise SystemExit(message) from None
                time.sleep(0.05)
        yield port
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue


def stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/stats", timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def check_answer(port: int, kind: str, query: str, expected: Any) -> None:
    """One request by hand: the server must answer exactly the expected result."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/{kind}/",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        got = json.loads(response.read())
    if got != expected:
        raise SystemExit(f"{kind} answered {str(got)[:300]}, not {str(expected)[:300]}")


def wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, Any]:
    """One wrk run; its requests, requests/s, non-2xx and socket errors, and its CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=False, timeout=seconds + 60,
    )  # fmt: skip
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed: {result.stdout}\n{result.stderr}")
    out = result.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "requests": requests,
        "requests_per_s": rate,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
        "client_cpu_share": cpu / wall,
    }


def post_script(folder: Path, query: str) -> Path:
    script = folder / f"post-{abs(hash(query))}.lua"
    body = json.dumps({"query": query})
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def one_run(
    kind: str, scenario: str, folder: Path, seconds: int, warmup: int, connections: int
) -> dict[str, Any]:
    _, query, expected = SCENARIOS[scenario]
    script = post_script(folder, query)
    with uvicorn_server(folder / f"{kind}-{scenario}.log") as port:
        check_answer(port, kind, query, expected)
        url = f"http://127.0.0.1:{port}/{kind}/"
        wrk(url, script, warmup, connections)
        before = stats(port)
        figures = wrk(url, script, seconds, connections)
        after = stats(port)
    figures["server_cpu_us_per_request"] = (
        (after["cpu"] - before["cpu"]) / max(figures["requests"], 1) * 1e6
    )
    return figures


@dataclass(frozen=True)
class Target:
    text: str
    holds: bool


def targets(medians: dict[str, dict[str, float]]) -> list[Target]:
    """Issue 18's bars for the small query."""
    ours = medians["ours"]
    found = []
    for kind, factor in (("graphene", 4.0), ("strawberry", 2.0)):
        ratio = ours["requests_per_s"] / medians[kind]["requests_per_s"]
        found.append(Target(f"requests/s >= {factor:g}x {kind}: {ratio:.2f}x", ratio >= factor))
    cpu = ours["server_cpu_us_per_request"] / medians["bare"]["server_cpu_us_per_request"]
    found.append(Target(f"CPU per request <= 1.5x bare: {cpu:.2f}x", cpu <= 1.5))
    return found


def table(medians: dict[str, dict[str, float]]) -> str:
    ours = medians["ours"]
    bare_cpu = medians["bare"]["server_cpu_us_per_request"]
    lines = [
        "| server | requests/s | ours / it | server CPU per request, us | it / bare (CPU) "
        "| wrk CPU share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in KINDS:
        figures = medians[kind]
        lines.append(
            f"| {kind} | {figures['requests_per_s']:,.0f} "
            f"| {ours['requests_per_s'] / figures['requests_per_s']:.2f}x "
            f"| {figures['server_cpu_us_per_request']:,.0f} "
            f"| {figures['server_cpu_us_per_request'] / bare_cpu:.2f}x "
            f"| {figures['client_cpu_share']:.2f} |"
        )
    return "\n".join(lines)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("channels", "graphene", "graphql-core", "graphene-django", "strawberry-graphql",
                 "uvicorn", "uvloop", "httptools"):  # fmt: skip
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    found.append((wrk_version.stdout or wrk_version.stderr).split("\n")[0].split(" [")[0])
    return ", ".join(found)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_bench")
    parser.add_argument("--scenario", action="append", choices=["http", *SCENARIOS])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="wrk's duration per run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of load before it")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1 run of 1 s per server")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (Debian's package).")
    if args.quick:
        args.runs, args.seconds, args.warmup = 1, 1, 1
    chosen = [s for s in SCENARIOS if not args.scenario or {"http", s} & set(args.scenario)]
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; {versions()}")
    print(
        f"one uvicorn process per run, wrk -t1 -c{args.connections} -d{args.seconds:g}s "
        f"after {args.warmup:g} s of warm-up; {args.runs} runs alternated; medians"
    )
    everything: dict[str, Any] = {}
    problems = []
    with tempfile.TemporaryDirectory(prefix="cgws-http-bench-") as folder:
        for scenario in chosen:
            title = SCENARIOS[scenario][0]
            print(f"\n== {scenario}: {title}, load average {os.getloadavg()[0]:.2f}")
            runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
            for number in range(1, args.runs + 1):
                for kind in KINDS:
                    figures = one_run(
                        kind, scenario, Path(folder), args.seconds, args.warmup, args.connections
                    )
                    runs[kind].append(figures)
                    print(
                        f"  run {number} {kind}: {figures['requests_per_s']:,.0f} requests/s, "
                        f"{figures['server_cpu_us_per_request']:,.0f} us CPU each, "
                        f"wrk CPU share {figures['client_cpu_share']:.2f}, "
                        f"non-2xx {figures['non_2xx']}, socket errors {figures['socket_errors']}",
                        flush=True,
                    )
                    if figures["non_2xx"] or figures["socket_errors"]:
                        problems.append(f"{scenario} {kind} run {number}: errors under load")
            medians = {
                kind: {
                    key: statistics.median(run[key] for run in runs[kind])
                    for key in ("requests_per_s", "server_cpu_us_per_request", "client_cpu_share")
                }
                for kind in KINDS
            }
            print(table(medians))
            if scenario == "http-small":
                for target in targets(medians):
                    print(f"  target {'met' if target.holds else 'NOT met'}: {target.text}")
            everything[scenario] = {"runs": runs, "medians": medians}
    if args.json is not None:
        args.json.write_text(json.dumps(everything, indent=1))
    if problems:
        print("\nCHECKS FAILED:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
