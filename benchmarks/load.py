"""The load generator: separate processes that drive the servers over real WebSockets.

    python -m benchmarks.load fanout --kind ours --ports 8765 --layer memory \
        --subscribers 200 --events 100 --clients 2

Modes (each prints one JSON object as its last line of stdout):

- ``fanout``: the coordinator. It starts ``--clients`` subscriber processes
  (mode ``part``), which share the N subscribers between them and spread
  their connections over the servers of ``--ports``; each subscribes and
  waits for the confirmation (then it is live). Then events 1..E are sent:
  as mutations on one more connection (in-memory layer) or by a separate
  broadcasting process (Redis); all back to back (a burst), or with
  ``--step`` one at a time, the next once every subscriber has the previous
  one. Each event carries its send time; every receipt records its latency.
  Reports the servers' CPU per notification (the headline), notifications/s
  (received / (last receipt - first send)), p50/p99/max latency, with
  ``--step`` the time until the last subscriber has each broadcast
  (p50/p99 over the broadcasts), the load generator's CPU (its busiest
  process's share of a core: near 1.0 means the client was the limit), the
  servers' resident memory per subscribed connection, with
  ``--redis-stats`` the Redis commands per broadcast, and checks that every
  subscriber got exactly 1..E in order.
- ``part``: one subscriber process of ``fanout`` (JSON lines on stdout,
  commands on stdin; not for direct use).
- ``queries``: a few connections run queries one after another (after a
  warm-up); reports the server's CPU per query and the client's view.
- ``memory``: opens N idle connections, then subscribes on each; reports the
  server's resident-memory growth per idle connection and per subscription.

Server CPU and memory come from each server's ``/bench/stats`` (see
``benchmarks.app``): ``time.process_time()`` of the server process, all
threads. Connections never negotiate compression, so the figures are those
of the consumers, not of zlib.
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
    KINDS,
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
#: Seconds without any progress (a connection made, a notification received)
#: after which the run stops and whatever is missing counts as lost.
STALL_TIMEOUT = 20.0
#: Connections opened at the same time, per process.
CONNECT_CONCURRENCY = 100
#: Seconds the server gets to settle before a memory reading.
SETTLE = 1.0
#: Seconds between two progress lines of a subscriber process.
PROGRESS_INTERVAL = 0.5
#: Connections per server that subscribe and leave before anything is measured.
WARM_UP_CONNECTIONS = 5
#: A per-connection memory figure needs this many connections and this much
#: resident-memory growth (KiB); below either it is noise (pages, allocator
#: arenas) and reported as not measured.
MIN_RSS_CONNECTIONS = 100
MIN_RSS_GROWTH_KIB = 256

#: Bytes a line of a subscriber process may have (its final report is long).
FINAL_LINE_LIMIT = 1 << 28

CONFIRMATION = {"type": "next", "id": SUBSCRIPTION_ID, "payload": {"data": None}}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def emit(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


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


async def all_stats(ports: list[int], collect: bool = False) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(server_stats(port, collect) for port in ports)))


def cpu_delta(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> float:
    """Seconds of CPU all servers used between two readings."""
    return sum(
        float(late["cpu"]) - float(early["cpu"]) for early, late in zip(before, after, strict=True)
    )


class RedisCommandCounter:
    """Reads ``INFO commandstats`` (commands run by scripts included) over one connection.

    One connection for both readings, so the only command of ours between
    them is the first reading's ``INFO`` (a new connection would add its
    handshake).
    """

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    async def calls(self) -> dict[str, int]:
        stats = await asyncio.to_thread(self.client.info, "commandstats")
        return {
            name.removeprefix("cmdstat_"): int(values["calls"]) for name, values in stats.items()
        }

    def close(self) -> None:
        self.client.close()


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


async def subscribed(url: str) -> ClientConnection:
    ws = await open_connection(url)
    await subscribe(ws)
    return ws


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


def urls_of(kind: str, ports: list[int]) -> list[str]:
    return [f"ws://127.0.0.1:{port}/{kind}/" for port in ports]


async def stdin_reader() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


# ------------------------------------------- a subscriber process (``part``)


@dataclass
class Receipts:
    """What one process's subscribers received, and when."""

    subscribers: int
    events: int
    seqs: list[list[int]]
    latencies: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    closed_early: int = 0
    received: int = 0
    first_sent: float = float("inf")
    last_received: float = 0.0
    #: Per event: subscribers that have it, the last receipt, its send time.
    per_seq_count: list[int] = field(default_factory=list)
    per_seq_last: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.per_seq_count = [0] * (self.events + 1)
        self.per_seq_last = [0.0] * (self.events + 1)

    @property
    def expected_total(self) -> int:
        return self.subscribers * self.events

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
                    if not 1 <= seq <= self.events:
                        raise KeyError("seq")
                except (KeyError, TypeError):
                    self.unexpected.append(str(text)[:300])
                    continue
                seqs.append(seq)
                latencies.append(now - sent)
                self.first_sent = min(self.first_sent, sent)
                self.last_received = now
                self.received += 1
                self.per_seq_last[seq] = now
                self.per_seq_count[seq] += 1
                if self.per_seq_count[seq] == self.subscribers:
                    emit({"seq": seq, "sent": sent, "last": now})
                if self.received >= self.expected_total:
                    self.done.set()
        except ConnectionClosed:
            pass
        if not self.done.is_set():
            self.closed_early += 1


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


async def part(args: argparse.Namespace) -> None:
    """One process's share of the subscribers; ``fanout`` drives it over stdin/stdout.

    Out: ``{"connected": n}`` (progress), ``{"ready": seconds}``,
    ``{"received": n}`` (progress), ``{"seq", "sent", "last"}`` once all its
    subscribers have an event, ``{"complete": true}``, ``{"final": {...}}``,
    or ``{"error": text}`` and the end. In: ``start`` (the measured window
    begins), ``stop`` (report now), ``close``.
    """
    try:
        await _part(args)
    except (Problem, OSError, ConnectionClosed, asyncio.TimeoutError) as error:
        emit({"error": f"{type(error).__name__}: {error}"})


async def _part(args: argparse.Namespace) -> None:
    commands = await stdin_reader()
    urls = urls_of(args.kind, args.ports)
    count = args.subscribers
    connected = 0

    async def one(index: int) -> ClientConnection:
        nonlocal connected
        ws = await subscribed(urls[(args.first + index) % len(urls)])
        connected += 1
        return ws

    async def report_connections() -> None:
        shown = 0
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            if connected != shown:
                shown = connected
                emit({"connected": shown})

    started = time.monotonic()
    reporter = asyncio.ensure_future(report_connections())
    try:
        sockets = await many(count, one)
    finally:
        reporter.cancel()
    receipts = Receipts(count, args.events, [[] for _ in range(count)])
    readers = [asyncio.ensure_future(receipts.read(ws, index)) for index, ws in enumerate(sockets)]
    emit({"ready": time.monotonic() - started})

    if (await commands.readline()).strip() != b"start":
        raise Problem("Expected `start`.")
    cpu = time.process_time()
    window_start = time.time()

    async def report_receipts() -> None:
        shown = 0
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            if receipts.received != shown:
                shown = receipts.received
                emit({"received": shown})

    async def announce_completion() -> None:
        await receipts.done.wait()
        emit({"complete": True})

    reporter = asyncio.ensure_future(report_receipts())
    completion = asyncio.ensure_future(announce_completion())
    if (await commands.readline()).strip() != b"stop":
        raise Problem("Expected `stop`.")
    cpu = time.process_time() - cpu
    reporter.cancel()
    completion.cancel()
    window_end = receipts.last_received if receipts.done.is_set() else time.time()
    checks = check_order(receipts.seqs, args.events)
    emit(
        {
            "final": {
                "received": receipts.received,
                "expected": receipts.expected_total,
                "first_sent": receipts.first_sent if receipts.received else None,
                "last_received": receipts.last_received,
                "latencies": [round(latency, 6) for latency in receipts.latencies],
                "checks": checks,
                "unexpected": receipts.unexpected[:3],
                "unexpected_count": len(receipts.unexpected),
                "closed_early": receipts.closed_early,
                "cpu_seconds": cpu,
                "wall_seconds": max(window_end - window_start, 1e-9),
            }
        }
    )
    await commands.readline()  # `close`, or the end of stdin
    await close_all(sockets)
    for reader in readers:
        reader.cancel()


# ------------------------------------------------------- fan-out: publishers


class MutationPublisher:
    """Events as mutations over one more WebSocket (in-memory layer)."""

    def __init__(self, url: str, events: int) -> None:
        self.url = url
        self.events = events
        self.sent = 0
        self.answers: list[dict[str, Any]] = []
        self.all_answered = asyncio.Event()

    async def prepare(self) -> None:
        self.ws = await open_connection(self.url)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                self.answers.append(json.loads(text))
                if len(self.answers) >= 2 * self.sent:
                    self.all_answered.set()

    async def fire(self, count: int) -> None:
        """Send the next ``count`` events back to back."""
        for _ in range(count):
            self.sent += 1
            self.all_answered.clear()
            variables = {"seq": self.sent, "sent": time.time()}
            message = {
                "type": "subscribe",
                "id": f"m{self.sent}",
                "payload": {"query": MUTATION, "variables": variables},
            }
            await self.ws.send(json.dumps(message))

    async def finish(self) -> list[str]:
        if self.sent:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.all_answered.wait(), STALL_TIMEOUT)
        problems = []
        wanted = []
        for seq in range(1, self.sent + 1):
            wanted.append({"type": "next", "id": f"m{seq}", "payload": {"data": {"fire": True}}})
            wanted.append({"type": "complete", "id": f"m{seq}"})
        key = json.dumps
        if sorted(map(key, self.answers)) != sorted(map(key, wanted)):
            odd = [answer for answer in self.answers if answer not in wanted][:3]
            problems.append(
                f"mutations: {len(self.answers)} answers of {len(wanted)} expected; odd: {odd}"
            )
        if self.sent < self.events:
            problems.append(f"only {self.sent} of {self.events} events were sent")
        self.reader.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        return problems


class ProcessPublisher:
    """Events from ``benchmarks.broadcaster``, a separate process (Redis layer)."""

    def __init__(self, kind: str, events: int) -> None:
        self.kind = kind
        self.events = events
        self.sent = 0

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

    async def fire(self, count: int) -> None:
        """Have the broadcaster send the next ``count`` events (all of them: a burst)."""
        assert self.process.stdin is not None
        if self.sent + count >= self.events and self.sent == 0:
            self.process.stdin.write(b"burst\n")
        else:
            self.process.stdin.write(b"next\n" * count)
        self.sent += count
        await self.process.stdin.drain()

    async def finish(self) -> list[str]:
        assert self.process.stdout is not None
        if self.sent < self.events:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
            return [f"only {self.sent} of {self.events} events were sent"]
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT)
            code = await asyncio.wait_for(self.process.wait(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            self.process.kill()
            return ["the broadcaster did not finish"]
        if line.strip() != b"done" or code != 0:
            return [f"the broadcaster failed ({code}): {line!r}"]
        return []


# ------------------------------------------------------ fan-out: coordinator


class Stalled(Exception):
    """Nothing progressed for ``STALL_TIMEOUT`` seconds."""


class Parts:
    """The subscriber processes, and everything they report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.processes: list[asyncio.subprocess.Process] = []
        self.readers: list[asyncio.Task[None]] = []
        self.lines: asyncio.Queue[tuple[int, dict[str, Any] | None]] = asyncio.Queue()
        self.ready: dict[int, float] = {}
        self.complete: set[int] = set()
        self.finals: dict[int, dict[str, Any]] = {}
        self.ended: set[int] = set()
        #: Per event: how many processes have it everywhere, and the last receipt.
        self.seq_parts: dict[int, int] = {}
        self.seq_last: dict[int, float] = {}
        self.seq_sent: dict[int, float] = {}
        self.problems: list[str] = []

    async def start(self) -> None:
        args = self.args
        clients = max(1, min(args.clients, args.subscribers))
        first = 0
        for index in range(clients):
            count = args.subscribers // clients + (1 if index < args.subscribers % clients else 0)
            command = [sys.executable, "-m", "benchmarks.load", "part", "--kind", args.kind]
            command += ["--ports", ",".join(map(str, args.ports)), "--layer", args.layer]
            command += ["--subscribers", str(count), "--first", str(first)]
            command += ["--events", str(args.events)]
            first += count
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                # A final line holds every latency the process recorded.
                limit=FINAL_LINE_LIMIT,
            )
            self.processes.append(process)
            self.readers.append(asyncio.ensure_future(self._read(index, process)))

    async def _read(self, index: int, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                await self.lines.put((index, None))
                return
            await self.lines.put((index, json.loads(line)))

    async def until(self, done: Callable[[], bool], timeout: float = STALL_TIMEOUT) -> None:
        """Handle reports until ``done()``; ``Stalled`` if none came for ``timeout`` seconds."""
        while not done():
            try:
                index, message = await asyncio.wait_for(self.lines.get(), timeout)
            except asyncio.TimeoutError:
                raise Stalled from None
            self._note(index, message)

    def _note(self, index: int, message: dict[str, Any] | None) -> None:
        if message is None:
            self.ended.add(index)
            if index not in self.finals and not self.problems:
                self.problems.append(f"subscriber process {index} ended early")
        elif "ready" in message:
            self.ready[index] = message["ready"]
        elif "seq" in message:
            seq = message["seq"]
            self.seq_parts[seq] = self.seq_parts.get(seq, 0) + 1
            self.seq_last[seq] = max(self.seq_last.get(seq, 0.0), message["last"])
            self.seq_sent[seq] = message["sent"]
        elif "complete" in message:
            self.complete.add(index)
        elif "final" in message:
            self.finals[index] = message["final"]
        elif "error" in message:
            self.problems.append(f"subscriber process {index}: {message['error']}")

    def all_(self, collection: Any) -> Callable[[], bool]:
        return lambda: len(collection) + len(self.ended - set(collection)) >= len(self.processes)

    def everywhere(self, seq: int) -> Callable[[], bool]:
        return lambda: self.seq_parts.get(seq, 0) >= len(self.processes) or bool(self.ended)

    async def tell(self, command: bytes) -> None:
        for process in self.processes:
            if process.stdin is not None and process.returncode is None:
                with contextlib.suppress(ConnectionError):
                    process.stdin.write(command)
                    await process.stdin.drain()

    async def close(self) -> None:
        await self.tell(b"close\n")
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 90)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


async def warm_up(urls: list[str]) -> None:
    """Every code path and cache of a subscription is loaded before anything is measured."""
    sockets = await many(
        WARM_UP_CONNECTIONS * len(urls), lambda index: subscribed(urls[index % len(urls)])
    )
    await close_all(sockets)
    await asyncio.sleep(0.2)


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    urls = urls_of(args.kind, args.ports)
    await warm_up(urls)
    base = await all_stats(args.ports, collect=True)
    publisher: MutationPublisher | ProcessPublisher
    if args.layer == "memory":
        publisher = MutationPublisher(urls[0], args.events)
    else:
        publisher = ProcessPublisher(args.kind, args.events)
    await publisher.prepare()
    parts = Parts(args)
    await parts.start()
    problems: list[str] = []
    try:
        await parts.until(parts.all_(parts.ready))
    except Stalled:
        problems.append(f"connecting stalled: {len(parts.ready)} subscriber processes ready")
    if parts.problems or problems:
        await parts.close()
        await publisher.finish()
        return {"problems": problems + parts.problems}
    connect_seconds = max(parts.ready.values())
    log(f"  {args.subscribers} subscriptions live in {connect_seconds:.1f} s")
    live = await all_stats(args.ports, collect=True)
    growth = sum(late["rss_kib"] - early["rss_kib"] for early, late in zip(base, live, strict=True))
    before = await all_stats(args.ports)
    counter = RedisCommandCounter(args.redis_url) if args.redis_stats else None
    calls_before = await counter.calls() if counter is not None else {}
    client_cpu = time.process_time()
    await parts.tell(b"start\n")
    fired_at = time.time()
    try:
        if args.step:
            for seq in range(1, args.events + 1):
                await publisher.fire(1)
                await parts.until(parts.everywhere(seq))
                if parts.ended:
                    break
        else:
            await publisher.fire(args.events)
            await parts.until(parts.all_(parts.complete))
    except Stalled:
        problems.append(f"stalled after {publisher.sent} of {args.events} events were sent")
    client_cpu = time.process_time() - client_cpu
    after = await all_stats(args.ports)
    calls_after = await counter.calls() if counter is not None else {}
    if counter is not None:
        counter.close()
    await parts.tell(b"stop\n")
    try:
        await parts.until(parts.all_(parts.finals), STEP_TIMEOUT)
    except Stalled:
        problems.append("a subscriber process did not report")
    problems += await publisher.finish()
    await parts.close()
    problems += parts.problems

    finals = list(parts.finals.values())
    received = sum(final["received"] for final in finals)
    checks = {"lost": 0, "duplicated": 0, "reordered": 0, "unexpected": 0, "closed_early": 0}
    for final in finals:
        for name in ("lost", "duplicated", "reordered"):
            checks[name] += final["checks"][name]
        checks["unexpected"] += final["unexpected_count"]
        checks["closed_early"] += final["closed_early"]
    # Subscriber processes that never reported lost everything they had.
    checks["lost"] += args.subscribers * args.events - sum(f["expected"] for f in finals)
    problems += [f"{name}: {count}" for name, count in checks.items() if count]
    problems += [f"unexpected frame: {text}" for final in finals for text in final["unexpected"]][
        :3
    ]
    sent_times = [final["first_sent"] for final in finals if final["first_sent"] is not None]
    first_sent = min([*sent_times, fired_at])
    last_received = max([final["last_received"] for final in finals] or [fired_at])
    elapsed = max(last_received - first_sent, 1e-9)
    latencies = sorted(latency for final in finals for latency in final["latencies"])
    # Per broadcast: until the last subscriber has it (meaningful one at a time).
    until_last_by_seq = [
        parts.seq_last[seq] - parts.seq_sent[seq]
        for seq in sorted(parts.seq_last)
        if parts.seq_parts.get(seq) == len(parts.processes)
    ]
    until_last = sorted(until_last_by_seq)
    part_cpu = [final["cpu_seconds"] for final in finals]
    busiest = max((final["cpu_seconds"] / final["wall_seconds"] for final in finals), default=0.0)
    result: dict[str, Any] = {
        "notifications": received,
        "expected": args.subscribers * args.events,
        "broadcasts": publisher.sent,
        "servers": len(args.ports),
        "server_cpu_us_per_notification": cpu_delta(before, after) / max(received, 1) * 1e6,
        "notifications_per_s": received / elapsed,
        "seconds": elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "client_processes": len(parts.processes),
        "client_cpu_share": busiest,
        "client_cpu_us_per_notification": (client_cpu + sum(part_cpu)) / max(received, 1) * 1e6,
        "connect_seconds": connect_seconds,
        "server_rss_kib": sum(stats["rss_kib"] for stats in live),
        "kib_per_connection": per_connection_kib(growth, args.subscribers),
        "checks": checks,
        "problems": problems,
    }
    if args.step:
        result["until_last_p50_ms"] = percentile(until_last, 0.50) * 1000
        result["until_last_p99_ms"] = percentile(until_last, 0.99) * 1000
        result["until_last_ms"] = [round(seconds * 1000, 1) for seconds in until_last_by_seq]
    if args.redis_stats and publisher.sent:
        calls = {
            name: count - calls_before.get(name, 0)
            for name, count in calls_after.items()
            if count != calls_before.get(name, 0)
        }
        # Our first reading is not the servers' work.
        calls["info"] = calls.get("info", 0) - 1
        result["redis_commands_per_broadcast"] = sum(calls.values()) / publisher.sent
        result["redis_commands"] = {name: count for name, count in calls.items() if count}
    return result


# ----------------------------------------------------------------- queries


async def queries(args: argparse.Namespace) -> dict[str, Any]:
    (url,) = urls_of(args.kind, args.ports[:1])
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
    (port,) = args.ports[:1]
    before = await server_stats(port)
    client_cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(
        *(run(ws, f"q{index}-", per_connection) for index, ws in enumerate(sockets))
    )
    wall = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    after = await server_stats(port)
    await close_all(sockets)
    total = per_connection * len(sockets)
    ordered = sorted(latencies)
    return {
        "queries": total,
        "server_cpu_us_per_query": (after["cpu"] - before["cpu"]) / total * 1e6,
        "queries_per_s": total / wall,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "client_processes": 1,
        "client_cpu_share": client_cpu / max(wall, 1e-9),
        "problems": problems[:5],
    }


# ------------------------------------------------------------------ memory


def per_connection_kib(growth: int, count: int) -> float | None:
    """Resident-memory growth per connection; None where RSS cannot tell."""
    if count < MIN_RSS_CONNECTIONS or growth < MIN_RSS_GROWTH_KIB:
        return None
    return growth / count


async def memory(args: argparse.Namespace) -> dict[str, Any]:
    (url,) = urls_of(args.kind, args.ports[:1])
    (port,) = args.ports[:1]
    # Warm-up: every code path and cache of a connection and a subscription
    # is loaded before the baseline.
    warm = await many(20, lambda index: open_connection(url))
    await asyncio.gather(*(subscribe(ws) for ws in warm))
    await close_all(warm)
    await asyncio.sleep(args.settle)
    base = await server_stats(port, collect=True)
    sockets = await many(args.connections, lambda index: open_connection(url))
    await asyncio.sleep(args.settle)
    idle = await server_stats(port, collect=True)
    await many(len(sockets), lambda index: subscribe(sockets[index]))
    await asyncio.sleep(args.settle)
    active = await server_stats(port, collect=True)
    await close_all(sockets)
    count = len(sockets)
    return {
        "connections": count,
        "base_rss_kib": base["rss_kib"],
        "kib_per_idle_connection": per_connection_kib(idle["rss_kib"] - base["rss_kib"], count),
        "kib_per_subscription": per_connection_kib(active["rss_kib"] - idle["rss_kib"], count),
        "problems": [],
    }


# -------------------------------------------------------------------- main

MODES = {"fanout": fanout, "queries": queries, "memory": memory}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    try:
        result = await MODES[args.mode](args)
    except (Problem, OSError, ConnectionClosed, asyncio.TimeoutError) as error:
        result = {"problems": [f"{type(error).__name__}: {error}"]}
    result["ok"] = not result["problems"]
    return result


def ports(text: str) -> list[int]:
    return [int(port) for port in text.split(",")]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("mode", choices=sorted([*MODES, "part"]))
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--ports", type=ports, required=True, help="comma-separated")
    parser.add_argument("--layer", choices=["memory", "redis"], default="memory")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--clients", type=int, default=1, help="subscriber processes")
    parser.add_argument("--step", action="store_true", help="one broadcast at a time")
    parser.add_argument("--first", type=int, default=0, help="(part) index of its first subscriber")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--redis-stats", action="store_true", help="read INFO commandstats around the broadcasts"
    )
    parser.add_argument("--query", choices=["small", "large"], default="small")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--settle", type=float, default=SETTLE)
    args = parser.parse_args(argv)
    if args.layer == "memory" and len(args.ports) > 1 and args.mode == "fanout":
        parser.error("the in-memory layer reaches one server only: give one port")
    return args


def run(argv: list[str]) -> None:
    args = parse(argv)
    if args.mode == "part":
        need = args.subscribers
    elif args.mode == "fanout":
        need = WARM_UP_CONNECTIONS * len(args.ports) + 1
    else:
        need = args.connections
    raise_open_files_limit(need + SPARE_FILES)
    os.environ.setdefault("BENCH_LAYER", args.layer)
    try:
        import uvloop
    except ImportError:
        runner: Callable[[Any], Any] = asyncio.run
    else:
        runner = uvloop.run
    if args.mode == "part":
        runner(part(args))
        return
    print(json.dumps(runner(main(args))), flush=True)


if __name__ == "__main__":
    run(sys.argv[1:])
