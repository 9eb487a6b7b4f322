"""A client that stops reading cannot grow the server's queues, nor hold up other clients.

uvicorn serves ``tests.e2e.slow_reader_app`` with ``--ws websockets`` (and
with ``--ws websockets-sansio``, what ``--ws auto`` picks): its ASGI ``send``
waits while the socket's write buffer is above its high-water mark, so the
notifier of a subscription whose client stopped reading waits there, and
broadcasts pile up in that subscription's notification queue, which keeps
only the newest ``QUEUE_LIMIT`` and logs a warning for each one it drops.
(daphne's ``send`` never waits: it buffers without limit, so there the
server's memory grows with what a stalled client does not read. The README
says so.)

The slow client subscribes, then stops reading: its websockets library
stops taking data from the socket after one frame (``max_queue=1``), and the
socket's receive buffer is small, so TCP's window closes soon. A good client
subscribes as well and reads everything; a broadcaster sends big random
payloads through a mutation, a window at a time, never more ahead of the good
client than its queue holds, and asks the server for the state of every
subscription queue after each window, until the slow subscription's queue
has been full for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from .slow_reader_app import QUEUE_LIMIT
from .support import (
    PYTHON_TEST_TIMEOUT,
    ROOT,
    Server,
    _stop,
    _venv_script,
    _wait_until_listening,
    free_port,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PYTHON_TEST_TIMEOUT)]

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
#: uvicorn's WebSocket implementations on top of ``websockets``: the legacy one
#: the issue names, and the Sans-I/O one uvicorn's ``--ws auto`` picks today.
UVICORN_WS = ["websockets", "websockets-sansio"]

#: The size of the random text each broadcast carries.
BLOB_SIZE = 2_048
#: Broadcasts sent after the slow subscription's queue was first seen full
#: (the kernel's socket buffers take a few MB before that happens).
AFTER_FULL = 500
#: Broadcasts after which a queue that never filled up fails the test.
MAX_BROADCASTS = 20_000
#: Broadcasts per mutation; the broadcaster waits for the good client to have
#: them all before sending the next window, so the good client's queue never
#: holds more than this (below ``QUEUE_LIMIT``): it must lose nothing.
WINDOW = 20
#: The slow client's socket receive buffer, in bytes (the kernel may round it up).
SLOW_RECEIVE_BUFFER = 4096
#: Seconds any single wait on the network may take before the test fails.
STEP_TIMEOUT = 10.0

SUBSCRIBE_QUERY = "subscription { onBlob { seq blob } }"
BLAST_MUTATION = "mutation Blast($start: Int!, $count: Int!, $size: Int!) {" + (
    " blast(start: $start, count: $count, size: $size) { sent } }"
)
QUEUES_QUERY = "query { queues { operationId length limit dropped } }"


# ---------------------------------------------------------------- server


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"VmRSS missing from /proc/{pid}/status")


@contextlib.contextmanager
def running_uvicorn(ws: str, log: Path) -> Iterator[Server]:
    """uvicorn with the ``ws`` WebSocket protocol on a free port; always stopped afterwards.

    Its keep-alive pings are set far apart: a client that stops reading
    never answers them, and uvicorn would close it after some 40 s.
    """
    executable = _venv_script("uvicorn")
    if executable is None:
        pytest.fail("`uvicorn` is not installed; it comes with the `test` extra.")
    port = free_port()
    command = [
        executable,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ws",
        ws,
        "--ws-ping-interval",
        "600",
        "tests.e2e.slow_reader_app:application",
    ]
    # The app configures Django itself.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = Server(f"uvicorn --ws {ws}", port, log, process)
        try:
            _wait_until_listening(server)
            yield server
        finally:
            _stop(process)


@pytest.fixture(scope="module", params=UVICORN_WS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Named ``server`` so that the e2e conftest shows its log next to a failure."""
    ws: str = request.param
    log = tmp_path_factory.mktemp(f"slow-reader-{ws}-log") / "uvicorn.log"
    with running_uvicorn(ws, log) as running:
        yield running


# ---------------------------------------------------------------- clients


class Peer:
    """Raw frames of one subprotocol over a ``websockets`` connection."""

    def __init__(self, ws: ClientConnection, subprotocol: str) -> None:
        assert ws.subprotocol == subprotocol
        self.ws = ws
        self.legacy = subprotocol == LEGACY_WS
        self.result_type = "data" if self.legacy else "next"

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), STEP_TIMEOUT))
        return message

    async def init(self) -> None:
        await self.send({"type": "connection_init", "payload": {}})
        assert (await self.receive())["type"] == "connection_ack"

    async def start(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        kind = "start" if self.legacy else "subscribe"
        await self.send({"type": kind, "id": op_id, "payload": payload})

    async def subscribe(self, op_id: str) -> None:
        """Subscribe to ``onBlob``; return once the confirmation says it is live."""
        await self.start(op_id, SUBSCRIBE_QUERY)
        confirmation = {"type": self.result_type, "id": op_id, "payload": {"data": None}}
        assert await self.receive() == confirmation

    async def execute(self, op_id: str, query: str, **variables: Any) -> Any:
        """Run a query or mutation; its ``data`` (with no errors), after ``complete``."""
        await self.start(op_id, query, variables or None)
        result = await self.receive()
        assert result["type"] == self.result_type and result["id"] == op_id, result
        assert set(result["payload"]) == {"data"}, result
        assert await self.receive() == {"type": "complete", "id": op_id}
        return result["payload"]["data"]

    def seq_of(self, message: dict[str, Any], op_id: str) -> int:
        """The ``seq`` of an ``onBlob`` notification for ``op_id`` (checked whole)."""
        assert message["type"] == self.result_type and message["id"] == op_id, message
        blob = message["payload"]["data"]["onBlob"]
        assert len(blob["blob"]) == BLOB_SIZE, message
        seq: int = blob["seq"]
        return seq


async def connect(server: Server, subprotocol: str, **kwargs: Any) -> Peer:
    ws = await websockets.connect(
        server.url(), subprotocols=[subprotocol], open_timeout=STEP_TIMEOUT, **kwargs
    )
    peer = Peer(ws, subprotocol)
    await peer.init()
    return peer


async def connect_slow_reader(server: Server, subprotocol: str) -> Peer:
    """A client whose socket buffers little and whose library buffers one frame."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connecting, so the TCP window is negotiated for the small buffer.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RECEIVE_BUFFER)
    sock.setblocking(False)
    await asyncio.wait_for(
        asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port)), STEP_TIMEOUT
    )
    return await connect(
        server, subprotocol, sock=sock, max_queue=1, compression=None, ping_interval=None
    )


class Reader:
    """Reads the good client's notifications as they come, in a task."""

    def __init__(self, peer: Peer, op_id: str) -> None:
        self.peer = peer
        self.op_id = op_id
        self.seqs: list[int] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            message = json.loads(await self.peer.ws.recv())
            self.seqs.append(self.peer.seq_of(message, self.op_id))

    async def wait_for(self, count: int) -> None:
        """Wait until ``count`` notifications arrived (or the reading failed)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while len(self.seqs) < count:
            if self.task.done():
                self.task.result()  # raises what went wrong
                raise AssertionError("The good client stopped reading.")
            assert time.monotonic() < deadline, f"{len(self.seqs)} of {count} arrived"
            await asyncio.sleep(0.002)


def queue_of(state: dict[str, Any], op_id: str) -> dict[str, Any]:
    """The queue of subscription ``op_id`` in a ``queues`` answer."""
    found = [queue for queue in state["queues"] if queue["operationId"] == op_id]
    assert len(found) == 1, (op_id, state)
    return found[0]


def log_lines(server: Server, since: int = 0) -> list[str]:
    """The server log's lines from byte offset ``since`` on."""
    with server.log.open("rb") as log:
        log.seek(since)
        return log.read().decode(errors="replace").splitlines()


def drop_warnings(server: Server, op_id: str) -> list[str]:
    """The server log's warnings about dropped notifications of subscription ``op_id``."""
    pattern = re.compile(
        rf"^WARNING channels_graphql_ws\.broadcast Subscription {re.escape(repr(op_id))}: "
        r"notification queue is full"
    )
    return [line for line in log_lines(server) if pattern.match(line)]


def library_errors(server: Server, since: int) -> list[str]:
    """ERROR records of the library in the server log from byte offset ``since`` on."""
    return [
        line for line in log_lines(server, since) if line.startswith("ERROR channels_graphql_ws")
    ]


class Scenario:
    """A stalled slow subscriber, a good one that reads everything, and a broadcaster."""

    def __init__(self, server: Server, slow_subprotocol: str, good_subprotocol: str) -> None:
        self.server = server
        self.subprotocols = (slow_subprotocol, good_subprotocol)
        self.slow_id, self.good_id = f"slow-{slow_subprotocol}", f"good-{good_subprotocol}"
        self.peers: list[Peer] = []
        #: Broadcasts sent so far, and the slow queue's length seen after each window.
        self.sent = 0
        self.slow_lengths: list[int] = []
        self.slow_is_connected = True

    async def __aenter__(self) -> Scenario:
        slow_subprotocol, good_subprotocol = self.subprotocols
        self.slow = await connect_slow_reader(self.server, slow_subprotocol)
        self.peers.append(self.slow)
        self.good = await connect(self.server, good_subprotocol)
        self.peers.append(self.good)
        self.broadcaster = await connect(self.server, TRANSPORT_WS)
        self.peers.append(self.broadcaster)
        await self.slow.subscribe(self.slow_id)
        # From here on the slow client reads nothing (until a test says so).
        await self.good.subscribe(self.good_id)
        self.reader = Reader(self.good, self.good_id)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.reader.task.cancel()
        for peer in self.peers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(peer.ws.close(), STEP_TIMEOUT)

    async def queues(self) -> dict[str, Any]:
        return await self.broadcaster.execute(f"queues-{self.sent}", QUEUES_QUERY)  # type: ignore[no-any-return]

    async def blast_window(self) -> dict[str, Any]:
        """Broadcast one window, see the good client get it, return the queues' state."""
        data = await self.broadcaster.execute(
            f"blast-{self.sent}", BLAST_MUTATION, start=self.sent, count=WINDOW, size=BLOB_SIZE
        )
        assert data == {"blast": {"sent": WINDOW}}
        self.sent += WINDOW
        # The good client has everything so far, whatever the slow one does.
        await self.reader.wait_for(self.sent)
        state = await self.queues()
        if self.slow_is_connected:
            slow_queue = queue_of(state, self.slow_id)
            assert slow_queue["limit"] == QUEUE_LIMIT
            self.slow_lengths.append(slow_queue["length"])
        return state

    async def stall_slow_reader(self, after_full: int) -> int:
        """Broadcast until the slow queue has been full for ``after_full`` broadcasts.

        Returns the broadcasts sent when it was first seen full.
        """
        full_at = None
        while full_at is None or self.sent - full_at < after_full:
            assert self.sent < MAX_BROADCASTS, f"The slow queue never filled: {self.slow_lengths}"
            await self.blast_window()
            if full_at is None and self.slow_lengths[-1] == QUEUE_LIMIT:
                full_at = self.sent
        return full_at


# ------------------------------------------------------------------ tests

SUBPROTOCOL_PAIRS = pytest.mark.parametrize(
    ("slow_subprotocol", "good_subprotocol"),
    [(TRANSPORT_WS, LEGACY_WS), (LEGACY_WS, TRANSPORT_WS)],
    ids=["slow-transport-ws", "slow-legacy"],
)


@SUBPROTOCOL_PAIRS
async def test_a_client_that_stops_reading_is_bounded_and_holds_up_no_one(
    server, slow_subprotocol, good_subprotocol
):
    log_start = server.log.stat().st_size
    async with Scenario(server, slow_subprotocol, good_subprotocol) as scenario:
        rss_before = vm_rss_kib(server.process.pid)
        full_at = await scenario.stall_slow_reader(AFTER_FULL)
        rss_after = vm_rss_kib(server.process.pid)
        sent, slow_lengths = scenario.sent, scenario.slow_lengths

        # The good client got every notification, once, in order, and dropped nothing.
        assert scenario.reader.seqs == list(range(sent))
        final = await scenario.queues()
        good_queue = queue_of(final, scenario.good_id)
        assert good_queue["dropped"] == 0 and good_queue["length"] == 0
        assert drop_warnings(server, scenario.good_id) == []

        # The slow subscription's queue never held more than its limit.
        assert max(slow_lengths) <= QUEUE_LIMIT
        dropped = queue_of(final, scenario.slow_id)["dropped"]
        assert dropped > 0
        # One warning in the server log per dropped notification.
        assert len(drop_warnings(server, scenario.slow_id)) == dropped
        print(
            f"\n{server.name}, slow reader on {slow_subprotocol}: queue lengths seen up to "
            f"{max(slow_lengths)} (limit {QUEUE_LIMIT}), full after {full_at} broadcasts, "
            f"{dropped} of {sent} dropped; server RSS {rss_before} KiB before the "
            f"broadcasts, {rss_after} KiB after"
        )

        # Reading again, the slow client gets the rest: in order, no duplicate,
        # the newest last, and exactly what was not dropped.
        slow, slow_id = scenario.slow, scenario.slow_id
        seqs = [slow.seq_of(await slow.receive(), slow_id)]
        while seqs[-1] != sent - 1:
            seqs.append(slow.seq_of(await slow.receive(), slow_id))
        assert seqs == sorted(set(seqs)) and seqs[0] == 0
        assert len(seqs) + dropped == sent
    assert library_errors(server, log_start) == []


@SUBPROTOCOL_PAIRS
async def test_a_stalled_client_that_vanishes_leaves_no_subscription_and_logs_no_error(
    server, slow_subprotocol, good_subprotocol
):
    """The connection of a stalled client is reset: its notifier fails in ``send``.

    That is an ordinary disconnect: the subscription goes, nothing is sent on
    the dead socket, no ERROR is logged, and the others' notifications flow on.
    """
    async with Scenario(server, slow_subprotocol, good_subprotocol) as scenario:
        await scenario.stall_slow_reader(after_full=WINDOW)
        log_start = server.log.stat().st_size
        scenario.slow.ws.transport.abort()  # a reset, as when the client's host goes away
        scenario.slow_is_connected = False

        deadline = time.monotonic() + STEP_TIMEOUT
        while any(
            q["operationId"] == scenario.slow_id for q in (await scenario.queues())["queues"]
        ):
            assert time.monotonic() < deadline, "The stalled subscription outlived its client."
            await asyncio.sleep(0.05)
        for _ in range(3):
            state = await scenario.blast_window()
            assert queue_of(state, scenario.good_id)["dropped"] == 0
        assert scenario.reader.seqs == list(range(scenario.sent))
        assert library_errors(server, log_start) == []
