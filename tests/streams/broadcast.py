"""Broadcast to ``onMessage`` from a process of its own (no server, no event loop).

    python -m tests.streams.broadcast ROOM COUNT [--unsubscribe]

sends messages 1 to COUNT (``{"text": "message N", "seq": N}``) to ROOM with
synchronous ``OnMessage.broadcast`` calls, then ``OnMessage.unsubscribe``
if asked. The layer comes from the environment (``server_settings``).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.streams.server_settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("room")
    parser.add_argument("count", type=int)
    parser.add_argument("--unsubscribe", action="store_true")
    options = parser.parse_args()

    from tests.streams.server_app import OnMessage

    for seq in range(1, options.count + 1):
        # No running loop here: each call has sent when it returns.
        OnMessage.broadcast(group=options.room, payload={"text": f"message {seq}", "seq": seq})
    if options.unsubscribe:
        OnMessage.unsubscribe(group=options.room)


if __name__ == "__main__":
    main()
