"""Every transport shares the per-process fan-out: one layer message per process per broadcast.

One uvicorn serves ``tests.streams.server_app`` on a redis-server of the
test's own, so ``INFO commandstats`` counts only what this test makes. A
broadcaster process sends bursts to a room; the server's fan-out counts the
broadcasts it dispatched (``probe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import websockets

from tests.e2e.support import ROOT, Server, running_server
from tests.streams.rawhttp import RawStream, open_stream
from tests.streams.support import EVENTS, MULTIPART, ON_MESSAGE, probe, until_listening

from .support import OwnRedis

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

#: Broadcasts per burst; SSE subscribers in the crowded burst.
BURST = 30
CROWD = 20


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("fanout-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def env(own_redis: OwnRedis) -> dict[str, str]:
    return {
        "CGWS_TEST_LAYER": "core",
        "CGWS_TEST_REDIS_URL": own_redis.url,
        "CGWS_TEST_REDIS_PREFIX": "fanout:",
        "DJANGO_SETTINGS_MODULE": "tests.streams.server_settings",
    }


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("fanout") / "uvicorn.log"
    with running_server(
        "uvicorn",
        log,
        app="tests.streams.server_app:application",
        settings="tests.streams.server_settings",
        env=env,
    ) as running:
        yield running


def redis_commands(own_redis: OwnRedis) -> int:
    client = redis.Redis(port=own_redis.port)
    try:
        stats: dict[str, Any] = client.info("commandstats")
    finally:
        client.close()
    return sum(int(entry["calls"]) for entry in stats.values())


def burst(env: dict[str, str], room: str, count: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.streams.broadcast", room, str(count)],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=60,
    )


def subscription(room: str) -> dict[str, Any]:
    return {"query": ON_MESSAGE, "variables": {"room": room}}


def last_seq(count: int) -> bytes:
    return f'"seq": {count}}}'.encode()


async def sse_subscribers(server: Server, room: str, count: int) -> list[RawStream]:
    streams = []
    for _ in range(count):
        streams.append(
            await open_stream(
                server.port,
                "POST",
                "/graphql/",
                body=subscription(room),
                headers={"accept": EVENTS},
            )
        )
    await until_listening(server, room, subscribers=count)
    return streams


async def commands_per_broadcast(
    server: Server, own_redis: OwnRedis, env: dict[str, str], subscribers: int
) -> tuple[float, int]:
    """Redis commands per broadcast of a burst to ``subscribers`` SSE streams; dispatched."""
    room = f"crowd-{uuid.uuid4().hex}"
    streams = await sse_subscribers(server, room, subscribers)
    try:
        before = (await probe(server, room))["dispatched"]
        commands_before = redis_commands(own_redis)
        await asyncio.to_thread(burst, env, room, BURST)
        for stream in streams:
            await stream.until(last_seq(BURST))
        commands = redis_commands(own_redis) - commands_before
        dispatched = (await probe(server, room))["dispatched"] - before
        for stream in streams:
            for seq in range(1, BURST + 1):
                assert stream.body.count(f'"seq": {seq}}}'.encode()) == 1
    finally:
        for stream in streams:
            stream.close()
    return commands / BURST, dispatched


async def test_redis_commands_per_broadcast_do_not_grow_with_sse_subscribers(
    server: Server, own_redis: OwnRedis, env: dict[str, str]
) -> None:
    one, dispatched_one = await commands_per_broadcast(server, own_redis, env, 1)
    crowd, dispatched_crowd = await commands_per_broadcast(server, own_redis, env, CROWD)
    print(f"Redis commands per broadcast: {one:.2f} (1 SSE subscriber), {crowd:.2f} ({CROWD})")
    # One layer message per process per broadcast, however many subscribe.
    assert dispatched_one == dispatched_crowd == BURST
    assert crowd <= one + 0.5, (one, crowd)


async def test_one_broadcast_reaches_a_socket_an_sse_and_a_multipart_subscriber_once(
    server: Server, own_redis: OwnRedis, env: dict[str, str]
) -> None:
    room = f"mix-{uuid.uuid4().hex}"
    async with contextlib.AsyncExitStack() as stack:
        socket = await stack.enter_async_context(
            websockets.connect(server.url(), subprotocols=["graphql-transport-ws"])
        )
        await socket.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps({"type": "subscribe", "id": "ws", "payload": subscription(room)})
        )
        sse = await open_stream(
            server.port, "POST", "/graphql/", body=subscription(room), headers={"accept": EVENTS}
        )
        stack.callback(sse.close)
        parts = await open_stream(
            server.port,
            "POST",
            "/graphql/",
            body=subscription(room),
            headers={"accept": MULTIPART},
        )
        stack.callback(parts.close)
        await until_listening(server, room, subscribers=3)
        before = (await probe(server, room))["dispatched"]

        await asyncio.to_thread(burst, env, room, BURST)

        frames = [json.loads(await asyncio.wait_for(socket.recv(), 10)) for _ in range(BURST)]
        await sse.until(last_seq(BURST))
        await parts.until(last_seq(BURST))
        expected = [
            {"data": {"onMessage": {"text": f"message {seq}", "seq": seq}}}
            for seq in range(1, BURST + 1)
        ]
        assert [frame["payload"] for frame in frames] == expected
        for stream in (sse, parts):
            for seq in range(1, BURST + 1):
                assert stream.body.count(f'"seq": {seq}}}'.encode()) == 1
        assert (await probe(server, room))["dispatched"] - before == BURST
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(socket.recv(), 0.3)
