"""Everything that crosses the channel layer: group names, layer messages, sending.

A broadcast is packed where it is called (so a payload that cannot travel
fails in the caller's code, not in some background task) and then handed to
the layer. Sends started from one thread reach the layer in call order,
whether the caller is sync or async. The receiving side keeps one bounded
queue per subscription (``NotificationQueue``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.core.exceptions import SynchronousOnlyOperation

from . import serializer
from .log_budget import LogBudget

log = logging.getLogger(__name__)

#: Layer message types; the consumer has a handler of the same name for each.
BROADCAST = "broadcast"
UNSUBSCRIBE = "unsubscribe"

#: The prefix used until the consumer module registers its own source.
DEFAULT_GROUP_NAME_PREFIX = "GQLWS"


class ChannelLayerNotConfiguredError(RuntimeError):
    """Raised at the call when Django's ``CHANNEL_LAYERS`` names no layer."""


# -------------------------------------------------------------- group names

# Decision 11: the prefix is read from ``GraphqlWsConsumer.group_name_prefix``
# each time a name is computed. This module must not import the consumer, so
# the consumer module hands us a way to read it when it is imported.
_group_name_prefix: Callable[[], str] = lambda: DEFAULT_GROUP_NAME_PREFIX  # noqa: E731


def read_group_name_prefix_from(source: Callable[[], str]) -> None:
    """Make ``group_name`` read its prefix by calling ``source``."""
    global _group_name_prefix
    _group_name_prefix = source


def group_name(subscription_class: type, group: object = None) -> str:
    """The Channels group of ``subscription_class`` (and ``group``, if given).

    The hash keeps any user-given group within Channels' name rules and its
    100-character limit; the format is the older release's, so processes of
    both releases share groups during a rolling upgrade.
    """
    suffix = f"{subscription_class.__module__}.{subscription_class.__qualname__}"
    if group is not None:
        suffix += f"-{group}"
    return f"{_group_name_prefix()}-{_digest(suffix)}"


@functools.lru_cache(maxsize=4096)
def _digest(suffix: str) -> str:
    """A broadcast names its group every time; the names repeat, so the hash need not."""
    return hashlib.sha256(suffix.encode("utf-8")).hexdigest()


# ------------------------------------------------------------- the layer

_consumer_created = False
_warned_unreachable = False


def note_consumer_created() -> None:
    """Called by every consumer: this process can receive its own broadcasts."""
    global _consumer_created
    _consumer_created = True


def channel_layer() -> BaseChannelLayer:
    """The default channel layer, or a clear error when there is none."""
    layer = get_channel_layer()
    if layer is None:
        raise ChannelLayerNotConfiguredError(
            "Channel layer is not configured! Subscriptions and broadcasts need "
            "CHANNEL_LAYERS in the Django settings (channels.layers.InMemoryChannelLayer "
            "for one process, channels_redis for several)."
        )
    return layer


def _warn_if_nobody_can_listen(layer: BaseChannelLayer) -> None:
    """An in-memory layer only reaches consumers of this very process."""
    global _warned_unreachable
    if _consumer_created or _warned_unreachable or not isinstance(layer, InMemoryChannelLayer):
        return
    _warned_unreachable = True
    log.warning(
        "A broadcast was sent on an in-memory channel layer in a process that has "
        "no GraphqlWsConsumer, so it can reach no subscriber. Use a shared layer "
        "(channels_redis) to broadcast from other processes."
    )


def broadcast_message(group: str, packed_payload: bytes) -> dict[str, Any]:
    return {"type": BROADCAST, "group": group, "payload": packed_payload}


def unsubscribe_message(group: str) -> dict[str, Any]:
    return {"type": UNSUBSCRIBE, "group": group}


# ---------------------------------------------------------------- sending

# Per event loop, the last send scheduled from it: each new send waits for
# it, so sends reach the layer in the order they were called.
_last_send: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)
# Strong references to every send in flight: the loop keeps only weak ones.
_sends_in_flight: set[asyncio.Task[None]] = set()


def pack_now(payload: Any) -> bytes | None:
    """Pack ``payload`` at the call; None when it must be packed off the loop.

    Packing a model never queries the database, but a queryset is evaluated,
    which Django forbids on an event loop. Such a payload is still checked
    here, every value of it, so a value that cannot travel raises at the
    call wherever it sits; only the queries are left, done in a worker
    thread just before the send (still in call order), where a database
    error fails the send.
    """
    try:
        return serializer.pack(payload)
    except SynchronousOnlyOperation:
        serializer.check(payload)
        return None


def send(group: str, message: dict[str, Any], payload: Any = None) -> asyncio.Task[None] | None:
    """Send ``message`` to ``group``: scheduled on a running loop, else at once.

    With a running loop in this thread it returns the scheduled task (await it
    to know the layer took the message); without one, it sends synchronously
    and returns None. ``payload`` is packed into the message first when the
    caller could not pack it on the loop (see ``pack_now``).
    """
    layer = channel_layer()
    _warn_if_nobody_can_listen(layer)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        if "payload" in message and message["payload"] is None:
            message = {**message, "payload": serializer.pack(payload)}
        async_to_sync(layer.group_send)(group, message)
        return None
    previous = _last_send.get(loop)
    task = loop.create_task(_send_in_turn(previous, layer, group, message, payload))
    _last_send[loop] = task
    _sends_in_flight.add(task)
    task.add_done_callback(_send_finished)
    return task


async def send_async(group: str, message: dict[str, Any], payload: Any = None) -> None:
    """Send from async code, after any send this loop scheduled earlier."""
    task = send(group, message, payload)
    assert task is not None
    await task


async def _send_in_turn(
    previous: asyncio.Task[None] | None,
    layer: BaseChannelLayer,
    group: str,
    message: dict[str, Any],
    payload: Any,
) -> None:
    if previous is not None and not previous.done():
        # Its own failure is logged by its callback; ours must not depend on it.
        await asyncio.wait([previous])
    if "payload" in message and message["payload"] is None:
        packed = await sync_to_async(serializer.pack, thread_sensitive=True)(payload)
        message = {**message, "payload": packed}
    await layer.group_send(group, message)


def _send_finished(task: asyncio.Task[None]) -> None:
    _sends_in_flight.discard(task)
    if not task.cancelled() and task.exception() is not None and _send_failures.allow():
        log.error("A broadcast could not be sent to the channel layer.", exc_info=task.exception())


def send_after_commit(group: str, message: dict[str, Any], payload: Any = None) -> None:
    """``send`` for ``transaction.on_commit``: a failure is logged, never raised.

    The transaction has committed by then: raising would turn a saved write
    into an error for the caller (a view's 500, a retried task) and stop
    the other commit callbacks. A layer that is down is logged within the
    log budget, like any failed send.
    """
    try:
        send(group, message, payload)
    except Exception:
        if _send_failures.allow():
            log.exception(
                "A broadcast could not be sent to the channel layer after its transaction "
                "committed; the committed data is not affected."
            )


#: Failed sends of this process (scheduled ones and those after a commit).
_send_failures = LogBudget("broadcast failures")
