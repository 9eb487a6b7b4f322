"""Where graphql-sse's single connection reservations live: visible to every process.

A reservation (PUT) is made on one process, its stream (GET) may open on
another, and its operations (POST, DELETE) may land on a third, so the
state they share cannot be a dict in one process (the reference server's
mistake, graphql-sse #112). With channels_redis's ``RedisChannelLayer``
it lives in Redis, through the layer's own connections, under the layer's
prefix: one hash per reservation (its owner, whether its stream is open)
and one set of running operation ids, both expiring. Each check-and-change
is one Lua script, so two processes never both open one stream or both
start one operation id. Tokens are never stored: keys hold their SHA-256.

With the in-memory layer (one process) the same state is a dict; with any
other layer, too, and a warning says that single connection mode then
works only while one process serves.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Seconds a reservation waits for its stream (PUT to GET).
RESERVATION_SECONDS = 300
#: Seconds an open stream's keys live unrefreshed (a process that dies
#: leaves nothing behind for longer); the stream refreshes them every
#: ``REFRESH_SECONDS``.
OPEN_SECONDS = 60
REFRESH_SECONDS = 20


class Outcome(enum.Enum):
    DONE = enum.auto()
    NOT_FOUND = enum.auto()  # no reservation, or another owner's
    CONFLICT = enum.auto()  # the stream is already open / the id already runs


def digest(token: str) -> str:
    """What keys and channel names hold instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def route_channel(token: str) -> str:
    """The layer channel that carries a reservation's operations to its stream.

    A plain name (no ``!``): with ``RedisChannelLayer`` any process may
    receive it, and it keeps what is sent before the stream opens.
    """
    return "graphql-sse." + digest(token)


class Reservations(Protocol):
    async def reserve(self, token: str, owner: str) -> None: ...
    async def open(self, token: str, owner: str) -> Outcome: ...
    async def exists(self, token: str, owner: str) -> bool: ...
    async def add_operation(self, token: str, owner: str, op_id: str) -> Outcome: ...
    async def remove_operation(self, token: str, op_id: str) -> None: ...
    async def refresh(self, token: str) -> None: ...
    async def release(self, token: str) -> None: ...


# ------------------------------------------------------------------- memory


@dataclass
class _Entry:
    owner: str
    expires_at: float
    opened: bool = False
    operations: set[str] = field(default_factory=set)


class MemoryReservations:
    """The reservations of this process alone (the in-memory layer's processes)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def _get(self, token: str, owner: str | None = None) -> _Entry | None:
        key = digest(token)
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at < time.monotonic():
            del self._entries[key]
            entry = None
        if entry is None or (owner is not None and entry.owner != owner):
            return None
        return entry

    def __len__(self) -> int:
        return len(self._entries)

    async def reserve(self, token: str, owner: str) -> None:
        now = time.monotonic()
        for key, entry in list(self._entries.items()):
            if entry.expires_at < now:
                del self._entries[key]
        self._entries[digest(token)] = _Entry(owner, now + RESERVATION_SECONDS)

    async def open(self, token: str, owner: str) -> Outcome:
        entry = self._get(token, owner)
        if entry is None:
            return Outcome.NOT_FOUND
        if entry.opened:
            return Outcome.CONFLICT
        entry.opened = True
        entry.expires_at = time.monotonic() + OPEN_SECONDS
        return Outcome.DONE

    async def exists(self, token: str, owner: str) -> bool:
        return self._get(token, owner) is not None

    async def add_operation(self, token: str, owner: str, op_id: str) -> Outcome:
        entry = self._get(token, owner)
        if entry is None:
            return Outcome.NOT_FOUND
        if op_id in entry.operations:
            return Outcome.CONFLICT
        entry.operations.add(op_id)
        return Outcome.DONE

    async def remove_operation(self, token: str, op_id: str) -> None:
        entry = self._get(token)
        if entry is not None:
            entry.operations.discard(op_id)

    async def refresh(self, token: str) -> None:
        entry = self._get(token)
        if entry is not None:
            entry.expires_at = time.monotonic() + OPEN_SECONDS

    async def release(self, token: str) -> None:
        self._entries.pop(digest(token), None)


# -------------------------------------------------------------------- Redis

_OPEN = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner ~= ARGV[1] then return 0 end
if redis.call('HSETNX', KEYS[1], 'open', '1') == 0 then return 2 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_ADD_OPERATION = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner or owner ~= ARGV[1] then return 0 end
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return 2 end
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end
return 1
"""

_OUTCOMES = {0: Outcome.NOT_FOUND, 1: Outcome.DONE, 2: Outcome.CONFLICT}


class RedisReservations:
    """The reservations in Redis, through a ``RedisChannelLayer``'s connections."""

    def __init__(self, layer: Any) -> None:
        self._layer = layer

    def _keys(self, token: str) -> tuple[Any, str, str]:
        key = f"{self._layer.prefix}graphql-sse:{digest(token)}"
        connection = self._layer.connection(self._layer.consistent_hash(key))
        return connection, key, key + ":operations"

    async def reserve(self, token: str, owner: str) -> None:
        connection, key, _ = self._keys(token)
        async with connection.pipeline(transaction=True) as pipe:
            pipe.hset(key, "owner", owner)
            pipe.expire(key, RESERVATION_SECONDS)
            await pipe.execute()

    async def open(self, token: str, owner: str) -> Outcome:
        connection, key, _ = self._keys(token)
        found = await connection.eval(_OPEN, 1, key, owner, OPEN_SECONDS)
        return _OUTCOMES[int(found)]

    async def exists(self, token: str, owner: str) -> bool:
        connection, key, _ = self._keys(token)
        found = await connection.hget(key, "owner")
        return found is not None and found.decode() == owner

    async def add_operation(self, token: str, owner: str, op_id: str) -> Outcome:
        connection, key, operations = self._keys(token)
        found = await connection.eval(_ADD_OPERATION, 2, key, operations, owner, op_id)
        return _OUTCOMES[int(found)]

    async def remove_operation(self, token: str, op_id: str) -> None:
        connection, _, operations = self._keys(token)
        await connection.srem(operations, op_id)

    async def refresh(self, token: str) -> None:
        connection, key, operations = self._keys(token)
        async with connection.pipeline(transaction=True) as pipe:
            pipe.expire(key, OPEN_SECONDS)
            pipe.expire(operations, OPEN_SECONDS)
            await pipe.execute()

    async def release(self, token: str) -> None:
        connection, key, operations = self._keys(token)
        await connection.delete(key, operations)


# ---------------------------------------------------------------- choosing

_memory = MemoryReservations()
_warned = False


def reservations_for(layer: Any) -> Reservations:
    """Redis for channels_redis's core layer; this process's memory otherwise."""
    global _warned
    kind = type(layer)
    if kind.__module__.startswith("channels_redis.core") and hasattr(layer, "connection"):
        return RedisReservations(layer)
    if not _warned and not kind.__module__.startswith("channels.layers"):
        _warned = True
        log.warning(
            "graphql-sse single connection mode keeps its reservations in this process: "
            "with %s it works only while one process serves. Use channels_redis's "
            "RedisChannelLayer to serve it from several.",
            kind.__name__,
        )
    return _memory
