"""``python -m benchmarks.nasty_documents``: one client sends costly documents, another pings.

The attacker sends, one at a time and each made new to the document cache,
the costliest documents the default limits let through (graphql-core's
validation is quadratic in selections sharing a response name: repeated
fields, repeated objects, many fragments, a fragment chain, conflicting
aliases) and one size over each, plus the longest alias list the token
limit admits. Meanwhile a second connection of the same uvicorn process
measures ``ping`` -> ``pong`` round trips. Before the attack it measures
them idle: the reference for what the attack costs the other connection
(for pings the bare consumer would answer like ours does idle: there is
no GraphQL in a ping).

Target (issue 15): the 99th percentile under attack under 50 ms. Each run
is a fresh uvicorn serving the e2e tests' app (``tests/e2e/server_app``,
default limits); medians of the runs are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import websockets
from graphql import parse

from channels_graphql_ws import execution

ROOT = Path(__file__).resolve().parent.parent
TRANSPORT_WS = "graphql-transport-ws"
#: Round trips measured while the attack runs.
PINGS = 400
#: Seconds between two pings.
PING_INTERVAL = 0.02
#: Seconds any single wait on the network may take.
STEP_TIMEOUT = 30.0
#: The target for the 99th percentile under attack, ms.
P99_TARGET = 50.0


def largest(make: Callable[[int], str], fits: Callable[[str], bool]) -> int:
    """The largest ``n`` for which ``make(n)`` still fits (``fits`` must be monotone)."""
    low, high = 1, 2
    while fits(make(high)):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fits(make(middle)):
            low = middle
        else:
            high = middle
    return low


def under_cost(query: str) -> bool:
    document = parse(query)
    return execution.validation_cost(document, 10**9) <= execution.DEFAULT_MAX_VALIDATION_COST


def under_tokens(query: str) -> bool:
    # One token more for the comment that makes each document new.
    return execution.count_tokens(query) + 1 <= execution.DEFAULT_MAX_DOCUMENT_TOKENS


def repeated_fields(n: int) -> str:
    return "{" + " hello" * n + "}"


def repeated_objects(n: int) -> str:
    return "{" + " __schema { types { name } }" * n + "}"


def many_fragments(n: int) -> str:
    spreads = " ".join(f"...F{i}" for i in range(n))
    return "{" + spreads + "}" + "".join(f" fragment F{i} on Query {{ hello }}" for i in range(n))


def fragment_chain(n: int) -> str:
    chain = "".join(f" fragment C{i} on Query {{ ...C{i + 1} }}" for i in range(n))
    return "{ ...C0 }" + chain + f" fragment C{n} on Query {{ hello }}"


def conflicting_aliases(n: int) -> str:
    return "{" + " ".join(f'v: hello(name: "{i}")' for i in range(n)) + "}"


def long_alias_list(n: int) -> str:
    return "{" + " ".join(f"a{i}: __typename" for i in range(n)) + "}"


def attack_documents() -> list[tuple[str, str]]:
    """Each kind at the largest size the defaults accept, and one size over them."""
    kinds: list[tuple[str, Callable[[int], str], Callable[[str], bool]]] = [
        ("repeated fields", repeated_fields, under_cost),
        ("repeated objects", repeated_objects, under_cost),
        ("many fragments", many_fragments, under_cost),
        ("fragment chain", fragment_chain, under_cost),
        ("conflicting aliases", conflicting_aliases, under_cost),
        ("long alias list", long_alias_list, under_tokens),
    ]
    documents = []
    for name, make, fits in kinds:
        n = largest(make, fits)
        documents.append((name, make(n)))
        documents.append((f"{name} (over)", make(n * 2)))
    return documents


class Peer:
    """A raw graphql-transport-ws connection."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(
            await asyncio.wait_for(self.socket.recv(), STEP_TIMEOUT)
        )
        return message

    async def init(self) -> None:
        await self.send({"type": "connection_init"})
        assert (await self.receive())["type"] == "connection_ack"


async def attack(peer: Peer, documents: list[tuple[str, str]], outcomes: dict[str, int]) -> None:
    """Send every document again and again, each time made new to the cache, one at a time.

    ``outcomes`` counts, per kind, the error codes of the answers (None for
    graphql-core's own errors) or ``ran``.
    """
    for number in itertools.count():
        name, query = documents[number % len(documents)]
        # A comment of its own makes each new to the document cache, as
        # varying the text any other way would.
        unique = f"# {number}\n{query}"
        op_id = str(number)
        await peer.send({"type": "subscribe", "id": op_id, "payload": {"query": unique}})
        while True:
            message = await peer.receive()
            if message.get("id") != op_id:
                continue
            if message["type"] == "error":
                codes = {(e.get("extensions") or {}).get("code") for e in message["payload"]}
                key = f"{name}: " + ",".join(sorted(str(code) for code in codes))
                outcomes[key] = outcomes.get(key, 0) + 1
                break
            if message["type"] == "complete":
                outcomes[f"{name}: ran"] = outcomes.get(f"{name}: ran", 0) + 1
                break


async def probe(peer: Peer, pings: int) -> list[float]:
    """Milliseconds of ``pings`` ping -> pong round trips, ``PING_INTERVAL`` apart."""
    round_trips = []
    for _ in range(pings):
        started = time.perf_counter()
        await peer.send({"type": "ping"})
        while (await peer.receive())["type"] != "pong":
            pass
        round_trips.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PING_INTERVAL)
    return round_trips


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def measure(url: str, pings: int = PINGS) -> dict[str, Any]:
    """Idle round trips, then round trips under attack, against the server at ``url``."""
    documents = attack_documents()
    async with (
        websockets.connect(url, subprotocols=[TRANSPORT_WS], max_size=None) as attacker_ws,
        websockets.connect(url, subprotocols=[TRANSPORT_WS]) as prober_ws,
    ):
        attacker, prober = Peer(attacker_ws), Peer(prober_ws)
        await attacker.init()
        await prober.init()
        idle = await probe(prober, 20)
        outcomes: dict[str, int] = {}
        attacking = asyncio.create_task(attack(attacker, documents, outcomes))
        try:
            await asyncio.sleep(1)  # the attack is under way
            round_trips = await probe(prober, pings)
        finally:
            attacking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await attacking
    return {"idle": idle, "attack": round_trips, "outcomes": outcomes, "documents": documents}


def report(result: dict[str, Any]) -> str:
    idle, round_trips = result["idle"], result["attack"]
    return (
        f"ping->pong idle p50 {percentile(idle, 0.5):.1f} ms; under attack: "
        f"p50 {percentile(round_trips, 0.5):.1f} ms, p99 {percentile(round_trips, 0.99):.1f} ms, "
        f"max {max(round_trips):.1f} ms, mean {statistics.mean(round_trips):.1f} ms "
        f"over {len(round_trips)} pings; documents: {sorted(result['outcomes'].items())}"
    )


# ------------------------------------------------------------------ runs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _uvicorn(log: Path) -> Iterator[str]:
    """A fresh uvicorn serving the e2e tests' app on a free port; its WebSocket URL."""
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.e2e.server_settings"}
    command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
    command.append("tests.e2e.server_app:application")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"uvicorn did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield f"ws://127.0.0.1:{port}/graphql/"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nasty_documents")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pings", type=int, default=PINGS)
    args = parser.parse_args(argv)
    p50s, p99s, idles = [], [], []
    with tempfile.TemporaryDirectory() as workdir:
        for number in range(1, args.runs + 1):
            with _uvicorn(Path(workdir) / f"uvicorn-{number}.log") as url:
                result = asyncio.run(measure(url, args.pings))
            print(f"run {number}: {report(result)}", flush=True)
            idles.append(percentile(result["idle"], 0.5))
            p50s.append(percentile(result["attack"], 0.5))
            p99s.append(percentile(result["attack"], 0.99))
    p99 = statistics.median(p99s)
    verdict = "met" if p99 < P99_TARGET else "NOT met"
    print(
        f"\nNasty documents, one uvicorn process, medians of {args.runs} runs: ping->pong "
        f"idle p50 {statistics.median(idles):.1f} ms; under attack p50 "
        f"{statistics.median(p50s):.1f} ms, p99 {p99:.1f} ms "
        f"(runs: {', '.join(f'{value:.1f}' for value in p99s)}); "
        f"target p99 < {P99_TARGET:g} ms: {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
