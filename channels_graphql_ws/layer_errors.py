"""A consumer's own layer channel, read through layer errors instead of failing on them.

Channels closes a socket (1011) when its consumer's channel read raises:
with Redis down, every socket of the process would go. The fan-out's own
reads retry the same way (``fanout.ProcessFanout``); this module serves
the consumers and the single-stream SSE transport.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .fanout import ERROR_LOG_INTERVAL, MAX_RETRY_DELAY, is_idle_timeout

log = logging.getLogger(__name__)

_last_layer_error_log = 0.0


async def receive_through_layer_errors(
    receive: Callable[[], Awaitable[Any]], must_stop: Callable[[], bool]
) -> Any:
    """Read a layer channel, waiting out layer errors instead of raising them.

    Channels closes a socket (1011) when its consumer's channel read
    raises: with Redis down, every socket of the process would go. Wrapped
    in this, a layer error only delays that channel. ``must_stop`` says
    when a failure ends the read instead (the consumer is going away).
    """
    global _last_layer_error_log
    delay = 0.05
    while True:
        try:
            return await receive()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if must_stop():
                raise asyncio.CancelledError() from error
            if is_idle_timeout(error):
                continue  # redis-py's socket timeout on an idle blocking read
            now = time.monotonic()
            if now - _last_layer_error_log >= ERROR_LOG_INTERVAL:
                _last_layer_error_log = now
                log.error(
                    "Channel layer receive failed (%s: %s); retrying.", type(error).__name__, error
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)


class LayerErrorsWaitedOut:
    """For a Channels consumer: a failing read of its own layer channel is retried.

    Channels reads the consumer's channel through ``channel_receive`` and
    closes the socket (1011) when that raises: with Redis down, every socket
    of the process would go. Wrapped, a layer error only delays that channel.
    """

    _disconnected: bool

    @property
    def channel_receive(self) -> Callable[[], Awaitable[Any]]:
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[Any]]) -> None:
        # Channels sets this to read the consumer's own layer channel and
        # closes the socket (1011) when it raises: wrapped, it waits out
        # layer errors instead.
        self._channel_receive = functools.partial(
            receive_through_layer_errors, receive, self._reading_must_stop
        )

    def _reading_must_stop(self) -> bool:
        """Whether a failed layer read should end instead of being retried.

        On Python 3.10 and 3.11 a cancellation can be lost inside the layer
        (``asyncio.wait_for`` in redis-py), and the read fails later instead:
        after the disconnect, or while the task is being cancelled, that
        failure ends the read.
        """
        if self._disconnected:
            return True
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+
        return bool(cancelling and cancelling())
