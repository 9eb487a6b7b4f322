"""Broadcasts across processes over a real Redis: two servers, one plain broadcaster.

daphne and uvicorn serve ``tests.redis.server_app`` on one Redis layer (the
core layer, then the pub/sub layer); a third process, with no server and no
event loop, broadcasts to ``OnEvent`` synchronously and then unsubscribes the
room. Each subscription is confirmed live before the broadcaster starts, so
nothing here waits on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .layers import BACKENDS
from .support import (
    LEGACY_WS,
    STEP_TIMEOUT,
    TRANSPORT_WS,
    Server,
    Socket,
    connected,
    layer_env,
    run_burst,
    running_servers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

#: Events per broadcaster run, and the one that carries a model instance.
COUNT = 30
USER_SEQ = 17
#: The subscribers' subprotocols on each server: both kinds on both servers.
SUBPROTOCOLS = {
    "daphne": [TRANSPORT_WS, LEGACY_WS, TRANSPORT_WS],
    "uvicorn": [LEGACY_WS, TRANSPORT_WS, LEGACY_WS],
}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def layer_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def env(layer_kind: str, redis_url: str, redis_prefix: str) -> dict[str, str]:
    return layer_env(layer_kind, redis_url, redis_prefix)


@pytest.fixture(scope="module")
def servers(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """daphne and uvicorn, both on the layer of ``env``."""
    logdir: Path = tmp_path_factory.mktemp("servers")
    with running_servers(["daphne", "uvicorn"], env, logdir) as running:
        yield running


async def collect_until_complete(
    sock: Socket, op_id: str, frames: list[dict[str, object]] | None = None
) -> list[dict[str, object]]:
    """Every frame for ``op_id`` up to and including its ``complete`` (into ``frames``)."""
    frames = [] if frames is None else frames
    while True:
        frame = await sock.receive()
        frames.append(frame)
        if frame == {"type": "complete", "id": op_id}:
            return frames


async def until_each_has(frames: list[list[dict[str, object]]], count: int) -> None:
    """Wait until every subscriber has received ``count`` frames."""
    deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT
    while any(len(received) < count for received in frames):
        assert asyncio.get_running_loop().time() < deadline, "events missing"
        await asyncio.sleep(0.02)


async def test_every_subscriber_of_both_servers_gets_every_broadcast_of_another_process_once(
    servers: list[Server], env: dict[str, str]
) -> None:
    room = f"room-{uuid.uuid4().hex}"
    async with contextlib.AsyncExitStack() as stack:
        subscribers: list[tuple[Socket, str]] = []
        for server in servers:
            for index, subprotocol in enumerate(SUBPROTOCOLS[server.name]):
                sock = await stack.enter_async_context(connected(server.url(), subprotocol))
                op_id = f"{server.name}-{index}"
                await sock.subscribe(op_id, room)
                subscribers.append((sock, op_id))

        so_far: list[list[dict[str, object]]] = [[] for _ in subscribers]
        collecting = [
            asyncio.create_task(collect_until_complete(sock, op_id, frames))
            for (sock, op_id), frames in zip(subscribers, so_far, strict=True)
        ]
        await asyncio.to_thread(run_burst, env, room, str(COUNT), "--user-seq", str(USER_SEQ))
        # A server `unsubscribe` drops what a subscriber has not sent yet
        # (decision 8), so it goes out once every event has arrived.
        await until_each_has(so_far, COUNT)
        await asyncio.to_thread(run_burst, env, room, "0", "--unsubscribe")
        received = await asyncio.wait_for(asyncio.gather(*collecting), STEP_TIMEOUT)

        for (sock, op_id), frames in zip(subscribers, received, strict=True):
            expected = [sock.event(op_id, seq, user=seq == USER_SEQ) for seq in range(1, COUNT + 1)]
            # In order, each exactly once, then exactly one `complete`.
            assert frames == [*expected, {"type": "complete", "id": op_id}], (op_id, frames)
        for sock, _ in subscribers:
            # Nothing was left behind the `complete`: the next frame is the query's.
            await sock.assert_query_works()
            sock.assert_open()
