"""What every process of the benchmark shares: documents, data, limits, timing helpers.

Nothing here imports Django, so the orchestrator and the load generator
stay light; the servers and the broadcaster import it too, so both servers
answer the very same documents with the very same data.
"""

from __future__ import annotations

import json
import math
import resource
from typing import Any

#: The one subprotocol both servers are driven with.
SUBPROTOCOL = "graphql-transport-ws"

#: The operation id every subscriber uses for its one subscription.
SUBSCRIPTION_ID = "s"

SUBSCRIPTION = "subscription OnEvent { onEvent { seq sent } }"
MUTATION = "mutation Fire($seq: Int!, $sent: Float!) { fire(seq: $seq, sent: $sent) }"
SMALL_QUERY = "query Small { value }"
LARGE_QUERY = "query Large { items { id name price active tag } }"

#: The answer to ``SMALL_QUERY``.
VALUE = 42

#: The answer to ``LARGE_QUERY``: 100 objects of 5 fields.
ITEMS: list[dict[str, Any]] = [
    {
        "id": number,
        "name": f"item {number}",
        "price": number * 1.25,
        "active": number % 2 == 0,
        "tag": f"tag-{number % 7}",
    }
    for number in range(100)
]

#: Expected ``next`` payloads of the queries (what a client checks).
SMALL_RESULT = {"data": {"value": VALUE}}
LARGE_RESULT = {"data": {"items": ITEMS}}

#: The group the bare consumer's connections join (a plain Channels group).
BARE_GROUP = "bench-bare-events"
#: The group-message type of the bare consumer's events (handler ``bench_event``).
BARE_EVENT_TYPE = "bench.event"
#: The group the floor consumer's processes join, once each (``benchmarks.floor``).
FLOOR_GROUP = "bench-floor-events"
#: The group-message type of the floor's events: the payload, not its text.
FLOOR_EVENT_TYPE = "floor.event"

#: The servers measured, in the order every run drives them.
KINDS = ("ours", "bare", "floor")

#: Extra file descriptors a process needs beyond its sockets (libraries, logs, pipes).
SPARE_FILES = 256
#: Redis connections a server process may have in use at once (its pool's size).
REDIS_POOL_SIZE = 1000


def event_text(seq: int, sent: float) -> str:
    """An event as JSON text: encoded once, by whoever sends it."""
    return json.dumps({"seq": seq, "sent": sent}, separators=(",", ":"))


def raise_open_files_limit(need: int) -> int:
    """Make the soft RLIMIT_NOFILE at least ``need``; fail loudly if the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit(
            f"The benchmark needs {need} open files per process but the hard limit "
            f"(RLIMIT_NOFILE) is {hard}. Raise it (e.g. `ulimit -Hn {need}` as root, or "
            "`LimitNOFILE=` / limits.conf) or run smaller scenarios."
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted list (NaN when empty)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
