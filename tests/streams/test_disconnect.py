"""A client killed mid-stream: the server notices at once and ends everything of it.

daphne and uvicorn each tell the application with ``http.disconnect`` (uvicorn
never cancels it; daphne would only kill it ten seconds later), so seeing
``unsubscribed``, the group left, ``on_disconnect`` and the stream's tasks
gone well within two seconds shows the consumer reads ``http.disconnect``
while it streams.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid

import pytest

from tests.e2e.support import PYTHON_TEST_TIMEOUT, ROOT, Server

from .support import EVENTS, MULTIPART, ON_MESSAGE, probe, until_listening

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PYTHON_TEST_TIMEOUT)]

#: Seconds the server may take to end a killed client's subscription.
NOTICE_WITHIN = 2.0


@pytest.mark.parametrize("accept", [EVENTS, MULTIPART], ids=["sse", "multipart"])
async def test_a_killed_client_ends_its_subscription_within_two_seconds(
    server: Server, accept: str
) -> None:
    room = f"killed-{uuid.uuid4().hex}"
    baseline = await probe(server, room)
    body = json.dumps({"query": ON_MESSAGE, "variables": {"room": room}})
    # The path with a keep-alive every 0.2 s: it must stop with the client.
    command = [sys.executable, "-m", "tests.streams.hold_stream", str(server.port)]
    client = subprocess.Popen(
        [*command, "/graphql-ping/", accept, body],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(client.stdout.readline), 10)
        assert line.strip() == "open"
        live = await until_listening(server, room)
        assert live["tasks"] > baseline["tasks"]
        assert live["unsubscribed"] == 0
    finally:
        client.kill()
        client.wait(10)
    killed_at = time.monotonic()

    while True:
        found = await probe(server, room)
        elapsed = time.monotonic() - killed_at
        ended = (
            found["unsubscribed"] == 1
            and not found["listening"]
            and len(found["disconnects"]) == len(baseline["disconnects"]) + 1
            and found["tasks"] <= baseline["tasks"]
        )
        if ended or elapsed > NOTICE_WITHIN:
            break
        await asyncio.sleep(0.05)
    assert ended, f"after {elapsed:.2f} s: {found} (before: {baseline})"
    assert found["disconnects"][-1] == 1001
    print(f"{server.name}: the killed client's subscription ended after {elapsed:.2f} s")
    # Nothing keeps running for it: the task count stays at the baseline.
    await asyncio.sleep(0.5)
    assert (await probe(server, room))["tasks"] <= baseline["tasks"]
