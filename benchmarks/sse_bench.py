"""``python -m benchmarks.sse_bench``: fan-out to SSE subscribers beside WebSocket subscribers.

    python3 run.py bench --scenario sse                    # memory and Redis, 3 runs
    python3 run.py bench --scenario sse-memory --runs 5
    python3 run.py bench --scenario sse --quick            # 1 run, 5 subscribers x 5 events

The same server (``benchmarks.sse_app``: the library's consumer on
``/ours/`` over WebSocket and HTTP), the same events, two kinds of
subscribers: graphql-transport-ws sockets (``ws``), then SSE streams in
graphql-sse's distinct connections mode (``sse``), 200 of them x 100 events.
Each run starts a fresh uvicorn per transport; runs alternate ws, sse, ws,
sse... The load generator is ``benchmarks.sse_load``. Figures are medians;
the target (issue 17), reported and not asserted: SSE delivers at least
0.8x the notifications per second of WebSocket.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import SPARE_FILES, raise_open_files_limit

ROOT = Path(__file__).resolve().parent.parent
TRANSPORTS = ("ws", "sse")
SCENARIOS = {
    "sse-memory": ("in-memory layer, events as mutations over one more WebSocket", "memory"),
    "sse-redis": ("Redis, events broadcast from a separate process", "redis"),
}
SIZE = {"subscribers": 200, "events": 100}
QUICK_SIZE = {"subscribers": 5, "events": 5}
TARGET = 0.8
START_TIMEOUT = 60.0
METRICS = (
    ("notifications_per_s", "notifications/s", 0),
    ("p50_ms", "p50 latency, ms", 1),
    ("p99_ms", "p99 latency, ms", 1),
    ("server_cpu_us_per_notification", "server CPU per notification, us", 1),
    ("client_cpu_share", "load generator CPU share", 2),
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(env: dict[str, str], log: Path, open_files: int) -> Iterator[int]:
    """A fresh uvicorn serving ``benchmarks.sse_app``; always stopped."""
    port = free_port()
    code = (
        "import sys, uvicorn; from benchmarks.common import raise_open_files_limit; "
        f"raise_open_files_limit({open_files}); "
        f"uvicorn.run('benchmarks.sse_app:application', host='127.0.0.1', port={port}, "
        "lifespan='off', access_log=False, log_level='warning', backlog=8192)"
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        url = f"http://127.0.0.1:{port}/bench/stats"
        while True:
            if process.poll() is not None:
                raise SystemExit(f"The server exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):
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


def one_run(
    transport: str, layer: str, size: dict[str, int], folder: Path, redis_url: str
) -> dict[str, Any]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "BENCH_LAYER": layer,
        "BENCH_REDIS_URL": redis_url,
        "BENCH_REDIS_PREFIX": f"cgws-bench-sse-{uuid.uuid4().hex[:10]}:",
        "PYTHONUNBUFFERED": "1",
    }
    open_files = size["subscribers"] + SPARE_FILES
    log = folder / f"{transport}-{layer}-{uuid.uuid4().hex[:6]}.log"
    with server(env, log, open_files) as port:
        command = [sys.executable, "-m", "benchmarks.sse_load", "--transport", transport]
        command += ["--port", str(port), "--layer", layer]
        command += [f"--{name}={value}" for name, value in size.items()]
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
        )  # fmt: skip
    for line in result.stderr.splitlines():
        print(f"    {line}", flush=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        return {"ok": False, "problems": [f"load generator failed: {result.stdout[-1000:]}"]}
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def median(runs: list[dict[str, Any]], key: str) -> float:
    values = [run[key] for run in runs if isinstance(run.get(key), (int, float))]
    return statistics.median(values) if values else float("nan")


def table(runs: dict[str, list[dict[str, Any]]]) -> tuple[str, bool]:
    lines = ["| metric | ws | sse | sse/ws | target |", "|---|---|---|---|---|"]
    met = True
    for key, label, digits in METRICS:
        ws, sse = median(runs["ws"], key), median(runs["sse"], key)
        ratio = sse / ws if ws else float("nan")
        target = ""
        if key == "notifications_per_s":
            met = ratio >= TARGET
            target = f">= {TARGET:g}x ws: {'met' if met else 'NOT met'}"
        lines.append(
            f"| {label} | {ws:,.{digits}f} | {sse:,.{digits}f} | {ratio:.2f}x | {target} |"
        )
    checks = {t: "ok" if all(run.get("ok") for run in runs[t]) else "FAILED" for t in TRANSPORTS}
    lines.append(
        f"| checks: nothing lost, duplicated, reordered | {checks['ws']} | {checks['sse']} | | |"
    )
    return "\n".join(lines), met


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sse_bench")
    parser.add_argument("--scenario", action="append", choices=[*SCENARIOS, "sse"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    names = [n for n in (args.scenario or ["sse"]) for n in (SCENARIOS if n == "sse" else [n])]
    if args.quick:
        names = [name for name in names if SCENARIOS[name][1] == "memory"]
        args.runs = 1
    size = QUICK_SIZE if args.quick else SIZE
    raise_open_files_limit(size["subscribers"] + SPARE_FILES)
    failed = False
    with tempfile.TemporaryDirectory(prefix="cgws-bench-sse-") as folder:
        for name in dict.fromkeys(names):
            title, layer = SCENARIOS[name]
            print(f"\n== {name}: fan-out, {size['subscribers']} subscribers x "
                  f"{size['events']} events, {title}")  # fmt: skip
            runs: dict[str, list[dict[str, Any]]] = {t: [] for t in TRANSPORTS}
            for run in range(1, args.runs + 1):
                for transport in TRANSPORTS:
                    figures = one_run(transport, layer, size, Path(folder), args.redis_url)
                    runs[transport].append(figures)
                    rate = figures.get("notifications_per_s", float("nan"))
                    print(f"  run {run} {transport}: {rate:,.0f} notifications/s, "
                          f"problems: {figures.get('problems')}", flush=True)  # fmt: skip
            text, _ = table(runs)
            print(text)
            failed |= any(not run.get("ok") for t in TRANSPORTS for run in runs[t])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
