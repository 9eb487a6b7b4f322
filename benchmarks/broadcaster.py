"""The separate broadcasting process of the Redis scenarios.

    BENCH_LAYER=redis BENCH_REDIS_PREFIX=... python -m benchmarks.broadcaster ours 100

Sets Django up, opens its Redis connection, prints ``ready`` and reads
commands from stdin:

- ``burst``: sends every remaining event back to back;
- ``next``: sends the next event only (one broadcast at a time: the load
  generator says ``next`` once every subscriber has the previous one).

Events are 1..COUNT, each stamped with the wall-clock time it is sent. After
the last one it prints ``done``. How each server's events are sent:

- ``ours``: ``OnEvent.broadcast_async(payload={"seq", "sent"})`` (what an
  application process does with the library);
- ``bare``: ``group_send`` to ``BARE_GROUP`` of the event as JSON text,
  encoded once (what a hand-written Channels application does);
- ``floor``: ``group_send`` to ``FLOOR_GROUP`` of the event as it is (the
  floor encodes it once per receiving process).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


async def run(kind: str, count: int) -> None:
    from channels.layers import get_channel_layer

    from .common import BARE_EVENT_TYPE, BARE_GROUP, FLOOR_EVENT_TYPE, FLOOR_GROUP, event_text
    from .schema import OnEvent

    layer = get_channel_layer()

    async def send(seq: int) -> None:
        sent = time.time()
        if kind == "ours":
            await OnEvent.broadcast_async(payload={"seq": seq, "sent": sent})
        elif kind == "bare":
            await layer.group_send(
                BARE_GROUP, {"type": BARE_EVENT_TYPE, "text": event_text(seq, sent)}
            )
        else:
            await layer.group_send(
                FLOOR_GROUP, {"type": FLOOR_EVENT_TYPE, "event": {"seq": seq, "sent": sent}}
            )

    # Opens the connection pool now, so the first event does not pay for it.
    await layer.group_send("bench-warm-up", {"type": "warm.up"})
    print("ready", flush=True)
    seq = 0
    while seq < count:
        line = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if line == "burst":
            while seq < count:
                seq += 1
                await send(seq)
        elif line == "next":
            seq += 1
            await send(seq)
        else:
            raise SystemExit(f"Expected `burst` or `next`, got {line!r}.")
    print("done", flush=True)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("ours", "bare", "floor"):
        raise SystemExit("usage: python -m benchmarks.broadcaster ours|bare|floor COUNT")
    import django

    django.setup()
    asyncio.run(run(argv[0], int(argv[1])))


if __name__ == "__main__":
    main(sys.argv[1:])
