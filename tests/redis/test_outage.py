"""A Redis outage costs the broadcasts sent during it, and nothing else.

uvicorn serves ``tests.redis.server_app`` on a redis-server of the test's own,
which the test stops in the middle of a stream of broadcasts and starts again
(empty: it saves nothing). While Redis is down the sockets stay open, queries
work and a new subscription can be made; once it is back, broadcasts reach
every subscriber again, the ones from before the outage and the one made
during it, and the server has logged the failure without a record per retry.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .layers import BACKENDS
from .support import (
    LEGACY_WS,
    TRANSPORT_WS,
    Broadcaster,
    OwnRedis,
    Server,
    Socket,
    connected,
    layer_env,
    running_servers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

#: Seconds Redis stays down: long enough for many retries of every kind.
OUTAGE = 3.0
#: Seconds the server gets, once Redis is back, before broadcasts must arrive again.
RECOVERY = 15.0
#: Seconds to wait for the frames of one broadcast.
ARRIVAL = 0.5
#: Broadcasts that must all arrive once the server has recovered.
AFTER_RECOVERY = 5
#: The server's own error records for the whole outage must stay below this:
#: each kind of failing layer operation is logged once in a while, not per retry.
MAX_ERROR_RECORDS = 10


@pytest.fixture(params=sorted(BACKENDS))
def layer_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(layer_kind: str, own_redis: OwnRedis, redis_prefix: str) -> dict[str, str]:
    return layer_env(layer_kind, own_redis.url, redis_prefix)


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    with running_servers(["uvicorn"], env, tmp_path) as [running]:
        yield running


@pytest.fixture
def broadcaster(env: dict[str, str], tmp_path: Path, server: Server) -> Iterator[Broadcaster]:
    running = Broadcaster(env, tmp_path / "broadcaster.log")
    try:
        yield running
    finally:
        running.close()


async def arrivals(socks: list[Socket], seq: int, within: float) -> dict[str, list[int]]:
    """The events that arrive, by operation id, until each operation has event ``seq``.

    Returns after ``within`` seconds at the latest; events of other numbers
    that arrive meanwhile are included (there should be none).
    """
    ops = {"a", "b", "c"}
    events: dict[str, list[int]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    readers = {asyncio.ensure_future(sock.frames.get()): sock for sock in socks}
    try:
        while not all(seq in events.get(op_id, ()) for op_id in ops):
            left = deadline - loop.time()
            if left <= 0:
                break
            done, _ = await asyncio.wait(readers, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            for reader in done:
                sock = readers.pop(reader)
                frame = reader.result()
                assert frame.get("type") in ("next", "data"), frame
                value = frame["payload"]["data"]["onEvent"]
                events.setdefault(frame["id"], []).append(value["seq"])
                readers[asyncio.ensure_future(sock.frames.get())] = sock
    finally:
        for reader in readers:
            reader.cancel()
    return events


def error_records(log: str) -> list[str]:
    """The library's own error records in a server log (``LEVEL logger: message`` lines)."""
    return re.findall(r"^(?:ERROR|CRITICAL) channels_graphql_ws\S*: .*$", log, re.MULTILINE)


async def test_subscriptions_outlive_a_redis_restart_and_get_the_broadcasts_after_it(
    server: Server, own_redis: OwnRedis, broadcaster: Broadcaster
) -> None:
    room, new_room = f"room-{uuid.uuid4().hex}", f"room-{uuid.uuid4().hex}"
    async with connected(server.url(), TRANSPORT_WS) as a, connected(server.url(), LEGACY_WS) as b:
        await a.subscribe("a", room)
        await b.subscribe("b", room)
        for seq in (1, 2, 3):
            assert await broadcaster.send(room, seq)
        for seq in (1, 2, 3):
            assert await a.receive() == a.event("a", seq)
            assert await b.receive() == b.event("b", seq)
        log_before = len(server.log_text())

        own_redis.stop()
        # Mid-stream: the broadcaster cannot reach Redis any more.
        assert not await broadcaster.send(room, 4)
        # The server keeps its sockets and serves what needs no layer.
        await a.assert_query_works()
        await b.assert_query_works()
        # A subscription to a group nobody in the process has joined yet.
        await b.subscribe("c", new_room)
        # Let every kind of retry run many times over.
        await asyncio.sleep(OUTAGE)
        a.assert_open()
        b.assert_open()
        await a.assert_query_works("hello-2")

        own_redis.start()
        seq = 100
        received: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        deadline = time.monotonic() + RECOVERY
        while True:
            seq += 1
            sent = await broadcaster.send(room, seq) and await broadcaster.send(new_room, seq)
            events = await arrivals([a, b], seq, ARRIVAL)
            for op_id, seqs in events.items():
                received[op_id] += seqs
            if sent and all(seq in events.get(op_id, ()) for op_id in received):
                break
            assert time.monotonic() < deadline, (
                f"Broadcasts did not reach every subscriber within {RECOVERY} s of "
                f"Redis coming back: {received}"
            )
        # Recovered: every broadcast now reaches every subscriber.
        for _ in range(AFTER_RECOVERY):
            seq += 1
            assert await broadcaster.send(room, seq)
            assert await broadcaster.send(new_room, seq)
            events = await arrivals([a, b], seq, ARRIVAL)
            for op_id, seqs in events.items():
                received[op_id] += seqs
            assert events == {"a": [seq], "b": [seq], "c": [seq]}, (seq, received)
        # Nothing twice, nothing out of order, nothing from the outage.
        for op_id, seqs in received.items():
            assert seqs == sorted(set(seqs)), (op_id, seqs)
            assert all(s > 100 for s in seqs), (op_id, seqs)
        a.assert_open()
        b.assert_open()

    errors = error_records(server.log_text()[log_before:])
    assert errors, "The outage left no error in the server log."
    assert len(errors) < MAX_ERROR_RECORDS, "\n".join(errors)
