"""The load generator of the SSE fan-out benchmark: WebSocket or SSE subscribers, same events.

    python -m benchmarks.sse_load --transport sse --port 8765 --layer memory \
        --subscribers 200 --events 100

``ws`` subscribers are ``benchmarks.load``'s (graphql-transport-ws over
``websockets``); ``sse`` subscribers each POST the same subscription with
``Accept: text/event-stream`` on a raw HTTP/1.1 connection and parse the
events themselves (light, so the client is not the limit). Events come as
in ``benchmarks.load``: mutations over one more WebSocket (in-memory layer)
or a separate broadcasting process (Redis). Prints one JSON object: the
figures of ``benchmarks.load``'s fan-out, with the same checks (every
subscriber gets 1..E exactly once, in order).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

from .common import SPARE_FILES, SUBSCRIPTION, percentile, raise_open_files_limit
from .load import (
    STEP_TIMEOUT,
    MutationPublisher,
    Problem,
    ProcessPublisher,
    Receipts,
    check_order,
    close_all,
    log,
    many,
    open_connection,
    server_stats,
    subscribe,
)

CONFIRMATION = b'event: next\ndata: {"data": null}\n\n'


class SseSubscriber:
    """One SSE stream of ``onEvent``, read from a raw connection (chunked transfer coding)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = b""

    @classmethod
    async def open(cls, port: int, path: str) -> SseSubscriber:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps({"query": SUBSCRIPTION}).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        subscriber = cls(reader, writer)
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT)
        if not status.startswith(b"HTTP/1.1 200"):
            raise Problem(f"The stream was refused: {status[:200]!r}.")
        while CONFIRMATION not in subscriber.buffer:
            await asyncio.wait_for(subscriber.read_chunk(), STEP_TIMEOUT)
        subscriber.buffer = subscriber.buffer.split(CONFIRMATION, 1)[1]
        return subscriber

    async def read_chunk(self) -> bool:
        size_line = await self.reader.readline()
        if not size_line:
            return False
        size = int(size_line.strip() or b"0", 16)
        data = await self.reader.readexactly(size + 2)
        if size == 0:
            return False
        self.buffer += data[:-2]
        return True

    async def read(self, receipts: Receipts, index: int) -> None:
        """Every ``next`` event into ``receipts``, as ``Receipts.read`` does for sockets."""
        seqs = receipts.seqs[index]
        try:
            while await self.read_chunk():
                now = time.time()
                *events, self.buffer = self.buffer.split(b"\n\n")
                for event in events:
                    if event.startswith(b":"):
                        continue
                    try:
                        name, data = event.split(b"\n", 1)
                        if name != b"event: next":
                            raise KeyError(name)
                        found = json.loads(data[len(b"data: ") :])["data"]["onEvent"]
                        seq, sent = found["seq"], found["sent"]
                    except (KeyError, ValueError, TypeError):
                        receipts.unexpected.append(event.decode(errors="replace")[:300])
                        continue
                    seqs.append(seq)
                    receipts.latencies.append(now - sent)
                    receipts.first_sent = min(receipts.first_sent, sent)
                    receipts.last_received = now
                    receipts.received += 1
                    if receipts.received >= receipts.expected_total:
                        receipts.done.set()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        if not receipts.done.is_set():
            receipts.closed_early += 1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{args.port}/ours/"
    publisher: MutationPublisher | ProcessPublisher
    if args.layer == "memory":
        publisher = MutationPublisher(url, args.events)
    else:
        publisher = ProcessPublisher("ours", args.events)
    await publisher.prepare()
    receipts = Receipts(args.subscribers, args.events, [[] for _ in range(args.subscribers)])
    started = time.monotonic()
    sockets: list[Any] = []
    streams: list[SseSubscriber] = []
    if args.transport == "ws":

        async def socket(index: int) -> Any:
            ws = await open_connection(url)
            await subscribe(ws)
            return ws

        sockets = await many(args.subscribers, socket)
        readers = [asyncio.ensure_future(receipts.read(ws, i)) for i, ws in enumerate(sockets)]
    else:
        streams = await many(
            args.subscribers, lambda index: SseSubscriber.open(args.port, "/ours/")
        )
        readers = [asyncio.ensure_future(s.read(receipts, i)) for i, s in enumerate(streams)]
    connect_seconds = time.monotonic() - started
    log(f"  {args.subscribers} {args.transport} subscriptions live in {connect_seconds:.1f} s")
    before = await server_stats(args.port)
    client_cpu = time.process_time()
    fired_at = time.time()
    await publisher.fire(args.events)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(receipts.done.wait(), STEP_TIMEOUT)
    client_cpu = time.process_time() - client_cpu
    after = await server_stats(args.port)
    problems = await publisher.finish()
    await close_all(sockets)
    for stream in streams:
        stream.close()
    for reader in readers:
        reader.cancel()

    checks = check_order(receipts.seqs, args.events)
    checks["unexpected"] = len(receipts.unexpected)
    checks["closed_early"] = receipts.closed_early
    problems += [f"{name}: {count}" for name, count in checks.items() if count]
    problems += [f"unexpected event: {text}" for text in receipts.unexpected[:3]]
    elapsed = max(receipts.last_received - min(receipts.first_sent, fired_at), 1e-9)
    latencies = sorted(receipts.latencies)
    return {
        "ok": not problems,
        "notifications": receipts.received,
        "notifications_per_s": receipts.received / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "server_cpu_us_per_notification": (after["cpu"] - before["cpu"])
        / max(receipts.received, 1)
        * 1e6,
        "client_cpu_share": client_cpu / max(time.time() - fired_at, 1e-9),
        "checks": checks,
        "problems": problems,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sse_load")
    parser.add_argument("--transport", choices=("ws", "sse"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--layer", choices=("memory", "redis"), required=True)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args(argv)
    raise_open_files_limit(args.subscribers + SPARE_FILES)
    print(json.dumps(asyncio.run(fanout(args))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
