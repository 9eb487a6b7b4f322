"""Server shutdown: sockets close, and every subscription's ``unsubscribed`` runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess

import pytest
import websockets

from .support import ROOT, Server, _venv_script, _wait_until_listening, free_port

pytestmark = pytest.mark.e2e

#: uvicorn closes every socket with 1012 and then lets the applications end.
#: daphne drops the TCP connections and exits without waiting for them (the
#: README says so), so only uvicorn is tested here; the consumer's own part,
#: ending everything when its task is cancelled, is tested in-process.
CLOSE_CODE = 1012


def start(name: str, log_path) -> Server:
    port = free_port()
    app = "tests.e2e.shutdown_app:application"
    executable = _venv_script(name)
    assert executable is not None, f"{name} is missing"
    if name == "daphne":
        command = [executable, "-b", "127.0.0.1", "-p", str(port), app]
    else:
        command = [executable, "--host", "127.0.0.1", "--port", str(port), app]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.e2e.server_settings"}
    env["PYTHONUNBUFFERED"] = "1"
    out = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(name, port, log_path, process)
    _wait_until_listening(server)
    return server


async def subscribe(url: str, op_id: str):
    socket = await websockets.connect(url, subprotocols=["graphql-transport-ws"])
    await socket.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    payload = {"query": "subscription { onTick { tick } }"}
    await socket.send(json.dumps({"type": "subscribe", "id": op_id, "payload": payload}))
    confirmation = json.loads(await socket.recv())
    assert confirmation == {"type": "next", "id": op_id, "payload": {"data": None}}
    return socket


async def test_uvicorn_shutdown_closes_sockets_and_runs_unsubscribed(tmp_path):
    name = "uvicorn"
    log = tmp_path / f"{name}.log"
    server = start(name, log)
    try:
        sockets = [await subscribe(server.url(), f"s{index}") for index in range(3)]
        os.killpg(server.process.pid, signal.SIGTERM)
        for socket in sockets:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
            assert closed.value.rcvd is not None, log.read_text()
            assert closed.value.rcvd.code == CLOSE_CODE
        await asyncio.to_thread(server.process.wait, 20)
    finally:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
    output = log.read_text()
    for index in range(3):
        assert f"UNSUBSCRIBED s{index}" in output, output
    assert output.count("DISCONNECTED") == 3, output
