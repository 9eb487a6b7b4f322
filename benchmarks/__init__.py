"""The benchmark: our ``GraphqlWsConsumer`` against a bare Channels consumer and a floor, same load.

Run it from the repository root with the test extra installed::

    python -m benchmarks                        # the everyday scenarios, 3 alternated runs
    python -m benchmarks --scenario fanout-redis --runs 5
    python -m benchmarks --scenario scale-redis-4x --runs 1
    python -m benchmarks --quick --runs 1       # smoke size, in-memory only, judges nothing

For every run fresh uvicorn processes (``benchmarks.serve``) listen on
127.0.0.1 and serve ``benchmarks.app``, one (or, in the scale scenarios,
four) per server measured:

- ``/ours/``: the library's consumer with ``benchmarks.schema``;
- ``/bare/``: ``benchmarks.bare.BareConsumer``, a plain
  ``AsyncJsonWebsocketConsumer`` as a Channels user writes it: it joins a
  Channels group per connection, relays group messages as pre-encoded
  ``next`` frames and answers queries with pre-encoded ``next`` + ``complete``;
- ``/floor/``: ``benchmarks.floor.FloorConsumer``, the least this stack
  allows: one group membership per process, each event's JSON encoded once
  per process, per subscriber only the frame text with its id spliced in and
  one ``websocket.send``.

Separate load-generator processes (``benchmarks.load``, asyncio
``websockets``) drive them: a coordinator, and for the fan-out scenarios
several subscriber processes sharing the subscribers, so the client is never
the limit; the busiest one's CPU share is printed (near 1.0 would mean the
client was the limit). Runs alternate ours, bare, floor, ours... and the
figures printed are the medians, with the ratios ours/bare and ours/floor
and the target of each figure (reported, not asserted; judged only on
full-size runs, and only when both sides were measured). The headline is the
servers' CPU per notification (per query for the query scenarios): every
server process's ``time.process_time()`` before and after, from its
``/bench/stats``, divided by what was delivered. Notifications per second
depend on how many cores the machine has free.

Events reach the servers the same way: on the in-memory layer as mutations
over one more WebSocket; on Redis from a separate broadcasting process
(``benchmarks.broadcaster``); all back to back, or in the scale scenarios one
at a time, the next once every subscriber has the previous one. Layer
capacity is far above every burst. Every run checks that each subscriber got
every event exactly once and in order, and that no frame, answer or server
log line reported an error; any failure makes the command exit 1.

Scenarios (``--scenario NAME``; without it, all but the last three):

- ``fanout-memory``, ``fanout-redis``: 200 subscribers x 100 events;
  ``fanout-redis-2000``: 2,000 subscribers x 10 events. Server CPU per
  notification, notifications/s (received / (last receipt - first send)),
  latency p50/p99/max (send time in the payload vs receipt), on Redis the
  Redis commands per broadcast, and the load generator's CPU.
- ``query-small`` (``{ value }``), ``query-large`` (100 objects x 5 fields):
  server CPU per query, after a warm-up.
- ``memory``: server resident memory per idle connection and per active
  subscription, 1,000 connections (RSS deltas after ``gc.collect``; a
  figure below what RSS can tell is reported as not measured).
- ``connections-10000``: 10,000 subscribed connections on one process, 10
  broadcasts one at a time, Redis: RSS per subscribed connection, time until
  the last subscriber has each broadcast (p50/p99), Redis commands.
- ``scale-redis-4x``: 4 server processes on Redis, 20,000 subscribers spread
  over them by 4 subscriber processes, 20 broadcasts one at a time: time
  until the last subscriber has each one (p50/p99) and Redis commands per
  broadcast; ``scale-redis-4x-400`` is the same with 400 subscribers, to
  show the commands do not grow with the subscribers.

Redis is a private ``redis-server`` started on a free port for the command
(nothing else uses it, so ``INFO commandstats`` deltas count the servers'
and the broadcaster's commands only, commands run by Lua scripts included);
without ``redis-server`` on PATH, or with ``--redis-url``, an existing Redis
is used, with a key prefix per run and every key expiring by itself, never
flushed, and commands are not counted. The open-files limit is raised in
every process to what it needs; if the hard limit is lower the command
fails, saying so.
"""
