"""A plain Python process that broadcasts to ``OnEvent``: no server, no event loop.

    python -m tests.redis.broadcaster burst ROOM COUNT [--user-seq N] [--unsubscribe]

sends events 1 to COUNT to ROOM with synchronous ``OnEvent.broadcast`` calls
(event ``--user-seq`` carries an unsaved ``User(id=3, username="u3")``), then
``OnEvent.unsubscribe(group=ROOM)`` if asked, and exits 0.

    python -m tests.redis.broadcaster serve

prints ``ready`` and then reads commands from stdin, one per line, answering
each with one line: ``send ROOM SEQ`` -> ``ok SEQ`` or ``error SEQ <exception>``;
``unsubscribe ROOM`` -> ``ok ROOM`` or ``error ROOM <exception>``. A layer
failure is reported, not fatal, so a test can retry while Redis is down.

The channel layer comes from the environment (see ``server_settings``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.redis.server_settings")


def event(seq: int, user: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"seq": seq, "text": f"event {seq}"}
    if user is not None:
        payload["user"] = user
    return payload


def burst(room: str, count: int, user_seq: int | None, unsubscribe: bool) -> None:
    from django.contrib.auth.models import User

    from tests.redis.schema import OnEvent

    for seq in range(1, count + 1):
        user = User(id=3, username="u3") if seq == user_seq else None
        # No running loop here: each call sends before it returns.
        assert OnEvent.broadcast(group=room, payload=event(seq, user)) is None
    if unsubscribe:
        assert OnEvent.unsubscribe(group=room) is None


def serve() -> None:
    from tests.redis.schema import OnEvent

    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        tag = words[-1]
        try:
            if words[0] == "send":
                room = words[1]
                OnEvent.broadcast(group=room, payload=event(int(words[2])))
            elif words[0] == "unsubscribe":
                room = words[1]
                OnEvent.unsubscribe(group=room)
            else:
                raise ValueError(f"unknown command {line!r}")
        except Exception as error:
            print(f"error {tag} {type(error).__name__}: {error}", flush=True)
        else:
            print(f"ok {tag}", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.redis.broadcaster")
    commands = parser.add_subparsers(dest="command", required=True)
    burst_parser = commands.add_parser("burst")
    burst_parser.add_argument("room")
    burst_parser.add_argument("count", type=int)
    burst_parser.add_argument("--user-seq", type=int, default=None)
    burst_parser.add_argument("--unsubscribe", action="store_true")
    commands.add_parser("serve")
    args = parser.parse_args(argv)

    import django

    django.setup()
    if args.command == "burst":
        burst(args.room, args.count, args.user_seq, args.unsubscribe)
    else:
        serve()


if __name__ == "__main__":
    main(sys.argv[1:])
