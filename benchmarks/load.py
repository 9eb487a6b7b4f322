"""The load generator: a separate process that drives one server over real WebSockets.

    python -m benchmarks.load fanout --kind ours --port 8765 --layer memory \
        --subscribers 200 --events 100

Modes (each prints one JSON object as its last line of stdout):

- ``fanout``: opens N connections, each subscribes and waits for the
  confirmation (then it is live), then events 1..E are sent: as pipelined
  mutations on one more connection (in-memory layer) or by a separate
  broadcasting process (Redis). Each event carries its send time; every
  receipt records its latency. Reports notifications/s (received /
  (last receipt - first send)), p50/p99/max latency, the server's CPU per
  notification, and checks that every subscriber got exactly 1..E in order.
- ``queries``: a few connections run queries one after another (after a
  warm-up); reports the server's CPU per query and the client's view.
- ``memory``: opens N idle connections, then subscribes on each; reports the
  server's resident-memory growth per idle connection and per subscription.

Server CPU and memory come from the server's ``/bench/stats`` (see
``benchmarks.app``). Connections never negotiate compression, so the figures
are those of the consumers, not of zlib.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .common import (
    LARGE_QUERY,
    LARGE_RESULT,
    MUTATION,
    SMALL_QUERY,
    SMALL_RESULT,
    SPARE_FILES,
    SUBPROTOCOL,
    SUBSCRIPTION,
    SUBSCRIPTION_ID,
    percentile,
    raise_open_files_limit,
)

#: Seconds one handshake step (connect, ack, confirmation, answer) may take.
STEP_TIMEOUT = 120.0
#: Seconds without a single notification after which the rest count as lost.
STALL_TIMEOUT = 20.0
#: Connections opened at the same time.
CONNECT_CONCURRENCY = 100
#: Seconds the server gets to settle before a memory reading.
SETTLE = 1.0

CONFIRMATION = {"type": "next", "id": SUBSCRIPTION_ID, "payload": {"data": None}}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Problem(Exception):
    """Something the run must report as a failure."""


# ---------------------------------------------------------------- plumbing


async def server_stats(port: int, collect: bool = False) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/bench/stats" + ("?gc=1" if collect else "")

    def fetch() -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=STEP_TIMEOUT) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    return await asyncio.to_thread(fetch)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    text = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    message: dict[str, Any] = json.loads(text)
    return message


async def open_connection(url: str) -> ClientConnection:
    """A connection with ``connection_init`` sent and ``connection_ack`` read."""
    ws = await connect(
        url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
        open_timeout=STEP_TIMEOUT,
        close_timeout=5,
    )
    await ws.send('{"type":"connection_init"}')
    ack = await receive(ws)
    if ack.get("type") != "connection_ack":
        raise Problem(f"Expected connection_ack, got {ack!r}.")
    return ws


async def subscribe(ws: ClientConnection) -> None:
    """Start the subscription and wait for its confirmation: then it is live."""
    message = {"type": "subscribe", "id": SUBSCRIPTION_ID, "payload": {"query": SUBSCRIPTION}}
    await ws.send(json.dumps(message))
    confirmation = await receive(ws)
    if confirmation != CONFIRMATION:
        raise Problem(f"Expected the confirmation, got {confirmation!r}.")


async def many(count: int, make: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """``make(0..count-1)``, at most ``CONNECT_CONCURRENCY`` at a time, in index order."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index: int) -> Any:
        async with gate:
            return await make(index)

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def close_all(sockets: list[ClientConnection]) -> None:
    async def close(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close()

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(many(len(sockets), lambda index: close(sockets[index])), 60)


# ----------------------------------------------------------------- fan-out


@dataclass
class Receipts:
    """What the subscribers received, and when."""

    expected_total: int
    seqs: list[list[int]]
    latencies: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    closed_early: int = 0
    received: int = 0
    first_sent: float = float("inf")
    last_received: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self, ws: ClientConnection, index: int) -> None:
        seqs = self.seqs[index]
        latencies = self.latencies
        try:
            async for text in ws:
                now = time.time()
                message = json.loads(text)
                try:
                    event = message["payload"]["data"]["onEvent"]
                    seq, sent = event["seq"], event["sent"]
                    if message["type"] != "next" or message["id"] != SUBSCRIPTION_ID:
                        raise KeyError("type")
                except (KeyError, TypeError):
                    self.unexpected.append(str(text)[:300])
                    continue
                seqs.append(seq)
                latencies.append(now - sent)
                self.first_sent = min(self.first_sent, sent)
                self.last_received = now
                self.received += 1
                if self.received >= self.expected_total:
                    self.done.set()
        except ConnectionClosed:
            pass
        if not self.done.is_set():
            self.closed_early += 1

    async def wait(self) -> None:
        """Until everything arrived, or nothing more did for ``STALL_TIMEOUT`` seconds."""
        seen = -1
        while not self.done.is_set() and self.received != seen:
            seen = self.received
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.done.wait(), STALL_TIMEOUT)


def check_order(seqs: list[list[int]], events: int) -> dict[str, int]:
    """Lost, duplicated and out-of-order notifications over all subscribers."""
    lost = duplicated = reordered = 0
    expected = set(range(1, events + 1))
    for got in seqs:
        distinct = set(got)
        lost += len(expected - distinct)
        duplicated += len(got) - len(distinct)
        reordered += sum(1 for before, after in itertools.pairwise(got) if after <= before)
    return {"lost": lost, "duplicated": duplicated, "reordered": reordered}


class MutationPublisher:
    """Events as mutations over one more WebSocket, sent back to back (in-memory layer)."""

    def __init__(self, url: str, events: int) -> None:
        self.url = url
        self.events = events
        self.answers: list[dict[str, Any]] = []
        self.all_answered = asyncio.Event()

    async def prepare(self) -> None:
        self.ws = await open_connection(self.url)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                self.answers.append(json.loads(text))
                if len(self.answers) >= 2 * self.events:
                    self.all_answered.set()

    async def fire(self) -> None:
        for seq in range(1, self.events + 1):
            variables = {"seq": seq, "sent": time.time()}
            message = {
                "type": "subscribe",
                "id": f"m{seq}",
                "payload": {"query": MUTATION, "variables": variables},
            }
            await self.ws.send(json.dumps(message))

    async def finish(self) -> list[str]:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.all_answered.wait(), STALL_TIMEOUT)
        problems = []
        wanted = []
        for seq in range(1, self.events + 1):
            wanted.append({"type": "next", "id": f"m{seq}", "payload": {"data": {"fire": True}}})
            wanted.append({"type": "complete", "id": f"m{seq}"})
        key = json.dumps
        if sorted(map(key, self.answers)) != sorted(map(key, wanted)):
            odd = [answer for answer in self.answers if answer not in wanted][:3]
            problems.append(
                f"mutations: {len(self.answers)} answers of {len(wanted)} expected; odd: {odd}"
            )
        self.reader.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        return problems


class ProcessPublisher:
    """Events from ``benchmarks.broadcaster``, a separate process (Redis layer)."""

    def __init__(self, kind: str, events: int) -> None:
        self.kind = kind
        self.events = events

    async def prepare(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.broadcaster",
            self.kind,
            str(self.events),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT)
        if line.strip() != b"ready":
            raise Problem(f"The broadcaster did not start: {line!r}.")

    async def fire(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()

    async def finish(self) -> list[str]:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT)
            code = await asyncio.wait_for(self.process.wait(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            self.process.kill()
            return ["the broadcaster did not finish"]
        if line.strip() != b"done" or code != 0:
            return [f"the broadcaster failed ({code}): {line!r}"]
        return []


async def fanout(args: argparse.Namespace, url: str) -> dict[str, Any]:
    publisher: MutationPublisher | ProcessPublisher
    if args.layer == "memory":
        publisher = MutationPublisher(url, args.events)
    else:
        publisher = ProcessPublisher(args.kind, args.events)
    await publisher.prepare()
    receipts = Receipts(
        expected_total=args.subscribers * args.events,
        seqs=[[] for _ in range(args.subscribers)],
    )
    started = time.monotonic()

    async def subscriber(index: int) -> ClientConnection:
        ws = await open_connection(url)
        await subscribe(ws)
        return ws

    sockets = await many(args.subscribers, subscriber)
    connect_seconds = time.monotonic() - started
    log(f"  {args.subscribers} subscriptions live in {connect_seconds:.1f} s")
    readers = [asyncio.ensure_future(receipts.read(ws, index)) for index, ws in enumerate(sockets)]
    before = await server_stats(args.port)
    client_cpu = time.process_time()
    fired_at = time.time()
    await publisher.fire()
    await receipts.wait()
    client_cpu = time.process_time() - client_cpu
    after = await server_stats(args.port)
    problems = await publisher.finish()
    await close_all(sockets)
    for reader in readers:
        reader.cancel()

    checks = check_order(receipts.seqs, args.events)
    checks["unexpected"] = len(receipts.unexpected)
    checks["closed_early"] = receipts.closed_early
    problems += [f"{name}: {count}" for name, count in checks.items() if count]
    problems += [f"unexpected frame: {text}" for text in receipts.unexpected[:3]]
    first_sent = min(receipts.first_sent, fired_at)
    elapsed = max(receipts.last_received - first_sent, 1e-9)
    latencies = sorted(receipts.latencies)
    return {
        "notifications": receipts.received,
        "expected": receipts.expected_total,
        "notifications_per_s": receipts.received / elapsed,
        "seconds": elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "server_cpu_us_per_notification": (after["cpu"] - before["cpu"])
        / max(receipts.received, 1)
        * 1e6,
        "client_cpu_share": client_cpu / max(time.time() - fired_at, 1e-9),
        "connect_seconds": connect_seconds,
        "checks": checks,
        "problems": problems,
    }


# ----------------------------------------------------------------- queries


async def queries(args: argparse.Namespace, url: str) -> dict[str, Any]:
    query, expected = (
        (LARGE_QUERY, LARGE_RESULT) if args.query == "large" else (SMALL_QUERY, SMALL_RESULT)
    )
    sockets = await many(args.connections, lambda index: open_connection(url))
    latencies: list[float] = []
    problems: list[str] = []

    async def run(ws: ClientConnection, prefix: str, count: int) -> None:
        for number in range(count):
            op_id = f"{prefix}{number}"
            started = time.perf_counter()
            message = {"type": "subscribe", "id": op_id, "payload": {"query": query}}
            await ws.send(json.dumps(message))
            result, complete = await receive(ws), await receive(ws)
            latencies.append(time.perf_counter() - started)
            if result != {"type": "next", "id": op_id, "payload": expected} or complete != {
                "type": "complete",
                "id": op_id,
            }:
                problems.append(f"query {op_id}: {str(result)[:200]} / {complete}")

    per_connection = max(1, args.queries // args.connections)
    warm_up = max(1, per_connection // 10)
    await asyncio.gather(*(run(ws, f"w{index}-", warm_up) for index, ws in enumerate(sockets)))
    latencies.clear()
    before = await server_stats(args.port)
    started = time.perf_counter()
    await asyncio.gather(
        *(run(ws, f"q{index}-", per_connection) for index, ws in enumerate(sockets))
    )
    wall = time.perf_counter() - started
    after = await server_stats(args.port)
    await close_all(sockets)
    total = per_connection * len(sockets)
    ordered = sorted(latencies)
    return {
        "queries": total,
        "server_cpu_us_per_query": (after["cpu"] - before["cpu"]) / total * 1e6,
        "queries_per_s": total / wall,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "problems": problems[:5],
    }


# ------------------------------------------------------------------ memory


async def memory(args: argparse.Namespace, url: str) -> dict[str, Any]:
    # Warm-up: every code path and cache of a connection and a subscription
    # is loaded before the baseline.
    warm = await many(20, lambda index: open_connection(url))
    await asyncio.gather(*(subscribe(ws) for ws in warm))
    await close_all(warm)
    await asyncio.sleep(args.settle)
    base = await server_stats(args.port, collect=True)
    sockets = await many(args.connections, lambda index: open_connection(url))
    await asyncio.sleep(args.settle)
    idle = await server_stats(args.port, collect=True)
    await many(len(sockets), lambda index: subscribe(sockets[index]))
    await asyncio.sleep(args.settle)
    active = await server_stats(args.port, collect=True)
    await close_all(sockets)
    count = len(sockets)
    return {
        "connections": count,
        "base_rss_kib": base["rss_kib"],
        "kib_per_idle_connection": (idle["rss_kib"] - base["rss_kib"]) / count,
        "kib_per_subscription": (active["rss_kib"] - idle["rss_kib"]) / count,
        "problems": [],
    }


# -------------------------------------------------------------------- main

MODES = {"fanout": fanout, "queries": queries, "memory": memory}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{args.port}/{args.kind}/"
    try:
        result = await MODES[args.mode](args, url)
    except (Problem, OSError, ConnectionClosed, asyncio.TimeoutError) as error:
        result = {"problems": [f"{type(error).__name__}: {error}"]}
    result["ok"] = not result["problems"]
    return result


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--kind", choices=["ours", "bare"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--layer", choices=["memory", "redis"], default="memory")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--query", choices=["small", "large"], default="small")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--settle", type=float, default=SETTLE)
    return parser.parse_args(argv)


def run(argv: list[str]) -> None:
    args = parse(argv)
    raise_open_files_limit(max(args.subscribers, args.connections) + SPARE_FILES)
    os.environ.setdefault("BENCH_LAYER", args.layer)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(main(args))
    else:
        result = uvloop.run(main(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    run(sys.argv[1:])
