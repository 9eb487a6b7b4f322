"""The ASGI application of the benchmark's servers.

- ``ws://HOST/ours/``: ``benchmarks.schema.OursConsumer`` (the library);
- ``ws://HOST/bare/``: ``benchmarks.bare.BareConsumer`` (the baseline);
- ``ws://HOST/floor/``: ``benchmarks.floor.FloorConsumer`` (the lower bound);
- ``GET /bench/stats[?gc=1]``: the process's CPU seconds (all threads, user and
  system, from ``time.process_time``) and resident memory (``VmRSS``), as
  JSON; ``gc=1`` collects garbage first. The load generator reads it before
  and after a batch of work.

Each run starts its own server and drives only one of the three paths, so
the CPU and memory a run measures are that consumer's alone.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django

django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from .bare import BareConsumer  # noqa: E402
from .floor import FloorConsumer  # noqa: E402
from .schema import OursConsumer  # noqa: E402


def resident_kib() -> int:
    """This process's resident set size in KiB (``VmRSS``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("No VmRSS in /proc/self/status.")


def stats(collect: bool) -> dict[str, Any]:
    if collect:
        gc.collect()
    return {
        "pid": os.getpid(),
        "cpu": time.process_time(),
        "rss_kib": resident_kib(),
        "threads": threading.active_count(),
    }


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/bench/stats":
        status = 200
        body = json.dumps(stats(b"gc=1" in scope.get("query_string", b""))).encode()
    else:
        status, body = 404, b"{}"
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": URLRouter(
            [
                path("ours/", OursConsumer.as_asgi()),
                path("bare/", BareConsumer.as_asgi()),
                path("floor/", FloorConsumer.as_asgi()),
            ]
        ),
    }
)
