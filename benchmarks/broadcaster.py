"""The separate broadcasting process of the Redis scenarios.

    BENCH_LAYER=redis BENCH_REDIS_PREFIX=... python -m benchmarks.broadcaster ours 100

Sets Django up, opens its Redis connection, prints ``ready``, waits for a
line ``go`` on stdin, then sends events 1..COUNT back to back, each stamped
with the wall-clock time it is sent, and prints ``done``:

- ``ours``: ``OnEvent.broadcast_async(payload={"seq", "sent"})`` (what an
  application process does with the library);
- ``bare``: ``group_send`` to ``BARE_GROUP`` of the event as JSON text,
  encoded once (what a hand-written Channels application does).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


async def run(kind: str, count: int) -> None:
    from channels.layers import get_channel_layer

    from .common import BARE_EVENT_TYPE, BARE_GROUP, event_text
    from .schema import OnEvent

    layer = get_channel_layer()
    # Opens the connection pool now, so the first event does not pay for it.
    await layer.group_send("bench-warm-up", {"type": "warm.up"})
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit(f"Expected `go`, got {line!r}.")
    for seq in range(1, count + 1):
        sent = time.time()
        if kind == "ours":
            await OnEvent.broadcast_async(payload={"seq": seq, "sent": sent})
        else:
            await layer.group_send(
                BARE_GROUP, {"type": BARE_EVENT_TYPE, "text": event_text(seq, sent)}
            )
    print("done", flush=True)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("ours", "bare"):
        raise SystemExit("usage: python -m benchmarks.broadcaster ours|bare COUNT")
    import django

    django.setup()
    asyncio.run(run(argv[0], int(argv[1])))


if __name__ == "__main__":
    main(sys.argv[1:])
