"""A long fuzzing run of the protocol layer (issue 6).

    python tests/fuzz_long_run.py --frames 1000000 [--seed N] [--stop-at-first]

Drives ``channels_graphql_ws.protocol.ServerConnection`` directly (pure, no
asyncio) with random and mutated frames and sequences interleaved with the
application's calls, from ``RandomSessions`` in ``tests/protocol/test_fuzz.py``,
and checks every call with the same reference model and invariant monitor as
the CI fuzz tests there (``Session``). Prints progress, then a summary: frames,
sessions, time, frames/s, what the server answered, and every distinct
failure with the seed, session and step to replay it (``--replay SESSION``
prints that session's steps and its traceback). Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "protocol"))

from test_fuzz import RandomSessions, Session, short


def failure_signature(failure: BaseException) -> str:
    """Where a failure came from (the check's line), so repeats count as one."""
    frames = traceback.extract_tb(failure.__traceback__)
    ours = [frame for frame in frames if frame.filename.endswith("test_fuzz.py")]
    where = f"{ours[-1].name}:{ours[-1].lineno}" if ours else "?"
    # Numbers that vary between occurrences ("position 15") become N.
    first_line = re.sub(r"(?<![\w\\-])\d+\b", "N", (str(failure).splitlines() or [""])[0])
    if len(first_line) > 90:
        first_line = first_line[:90] + "..."
    return f"{type(failure).__name__} at {where}: {first_line}"


def replay(seed: int, number: int) -> int:
    """Print one session's steps, then run it with a full traceback."""
    for index, (subprotocol, max_size, steps) in enumerate(RandomSessions(seed).sessions()):
        if index < number:
            continue
        print(f"seed {seed}, session {number}: {subprotocol}, max_message_size={max_size}")
        for step_number, step in enumerate(steps, 1):
            print(f"  {step_number:3d} {step!r}"[:2000])
        session = Session(subprotocol, max_size)
        try:
            session.run(steps)
        except Exception:
            print(f"failed at step {session.steps_done}:")
            traceback.print_exc()
            return 1
        print("passed")
        return 0
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames to send")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sessions")
    parser.add_argument("--stop-at-first", action="store_true", help="stop at the first failure")
    parser.add_argument("--replay", type=int, metavar="SESSION", help="replay one session")
    args = parser.parse_args(argv)
    if args.replay is not None:
        return replay(args.seed, args.replay)

    counts: Counter[str] = Counter()
    per_subprotocol: Counter[str] = Counter()
    failures: dict[str, list[Any]] = {}  # signature -> [count, first session, step, text]
    frames = sessions = 0
    started = last_report = time.monotonic()
    print(f"fuzzing the protocol layer: {args.frames:,} frames, seed {args.seed}", flush=True)
    for number, (subprotocol, max_size, steps) in enumerate(RandomSessions(args.seed).sessions()):
        session = Session(subprotocol, max_size)
        try:
            session.run(steps)
        except Exception as failure:
            signature = failure_signature(failure)
            if signature in failures:
                failures[signature][0] += 1
            else:
                step = steps[session.steps_done - 1] if session.steps_done else None
                failures[signature] = [1, number, session.steps_done, short(step)]
                print(f"FAILURE in session {number}: {signature}", flush=True)
        frames += session.frames
        sessions += 1
        per_subprotocol[subprotocol] += session.frames
        counts.update(session.monitor.counts)
        if failures and args.stop_at_first:
            break
        now = time.monotonic()
        if now - last_report >= 10:
            last_report = now
            rate = frames / (now - started)
            print(f"  {frames:,} frames, {sessions:,} sessions, {rate:,.0f} frames/s", flush=True)
        if frames >= args.frames:
            break
    elapsed = time.monotonic() - started

    print()
    print("summary")
    print(f"  frames:   {frames:,} ({', '.join(f'{k} {v:,}' for k, v in per_subprotocol.items())})")
    print(f"  sessions: {sessions:,}")
    print(f"  time:     {elapsed:.1f} s")
    print(f"  rate:     {frames / elapsed:,.0f} frames/s")
    print("  answers:  " + ", ".join(f"{kind} {n:,}" for kind, n in sorted(counts.items())))
    failed_sessions = sum(entry[0] for entry in failures.values())
    if not failures:
        print("  result:   no failure")
        return 0
    print(f"  result:   {failed_sessions:,} failed sessions, {len(failures)} distinct failures:")
    for signature, (count, number, step_number, step) in failures.items():
        print(f"    {count:,}x {signature}")
        print(f"       first: session {number}, step {step_number}: {step}")
        print(f"       replay: python tests/fuzz_long_run.py --seed {args.seed} --replay {number}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
