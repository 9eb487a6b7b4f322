"""The benchmark: our ``GraphqlWsConsumer`` against a bare Channels consumer, same load.

Run it from the repository root with the test extra installed::

    python -m benchmarks                        # every scenario, 3 alternated runs
    python -m benchmarks --scenario fanout-redis --runs 5
    python -m benchmarks --quick --runs 1       # smoke size, in-memory layer only

For every run a fresh uvicorn (``benchmarks.serve``) listens on 127.0.0.1
and serves ``benchmarks.app``: ``/ours/`` is the library's consumer with
``benchmarks.schema``; ``/bare/`` is ``benchmarks.bare.BareConsumer``, a plain
``AsyncJsonWebsocketConsumer`` that joins a Channels group per connection,
relays group messages as pre-encoded ``next`` frames and answers queries
with pre-encoded ``next`` + ``complete``. A separate load-generator process
(``benchmarks.load``, asyncio ``websockets``) drives it; runs alternate ours,
bare, ours, bare... and the figures printed are the medians, with the ratio
ours/bare and the target of each figure (targets are reported, not asserted).

Events reach both servers the same way: on the in-memory layer as
mutations over one more WebSocket, sent back to back; on Redis from a
separate broadcasting process (``benchmarks.broadcaster``). Layer capacity
is far above every burst. Every run checks that each subscriber got every
event exactly once and in order, and that no frame, answer or server log
line reported an error; any failure makes the command exit 1.

Scenarios (``--scenario NAME``):

- ``fanout-memory``, ``fanout-redis``: 200 subscribers x 100 events;
  ``fanout-redis-2000``: 2,000 subscribers. Notifications/s (received /
  (last receipt - first send)), latency p50/p99/max (send time in the
  payload vs receipt), server CPU per notification, and the load
  generator's CPU share (near 1.0 means the client, not the server, was the
  limit).
- ``query-small`` (``{ value }``), ``query-large`` (100 objects x 5 fields):
  server CPU per query, read from the server's ``/bench/stats`` around a
  batch after a warm-up.
- ``memory``: server resident memory per idle connection and per active
  subscription, 1,000 connections (RSS deltas after ``gc.collect``).
- ``connections-5000``: 5,000 subscribed connections, one broadcast; its
  latency p99 (target <= 2 s).

Redis is the shared one at 127.0.0.1:6379 (``--redis-url``): each run uses a
key prefix of its own and every key expires by itself; it is never flushed.
If Redis does not answer, the Redis scenarios are skipped with a note. The
open-files limit is raised in every process to what the largest scenario
needs; if the hard limit is lower the command fails, saying so.
"""
