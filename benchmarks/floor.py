"""The floor: a bare Channels consumer doing the least this stack allows per notification.

Where the bare consumer shows what a Channels user writes by hand, this one
shows how low a consumer on Channels + uvicorn can go, so our figures can be
read against a lower bound and not only against a peer:

- one group membership per process: the first subscription in the process
  joins ``FLOOR_GROUP`` with a channel of the process (``FloorHub``) and a
  single task receives from it; connections never join the group;
- each event arrives as its payload (``{"seq", "sent"}``, like ours) and its
  JSON is encoded once per process;
- per subscriber only the frame text (the subscription's pre-built
  ``{"type":"next","id":...`` prefix spliced before the encoded event) and
  one ``websocket.send`` straight to the ASGI server, awaited in that one
  task: no task wake-up, no consumer ``send`` wrappers, no per-subscriber
  encoding.

Client frames skip what Channels does before every handler (closing stale
database connections, a thread hop): the floor touches no database. Queries
and the mutation are answered with pre-encoded frames, as by the bare
consumer. Like every Channels consumer with a layer configured, each
connection still has its own layer channel; no notification passes through
it. The group membership lives as long as the process (one run, far
shorter than the layer's group expiry).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import BaseChannelLayer, get_channel_layer

from .common import FLOOR_EVENT_TYPE, FLOOR_GROUP, LARGE_RESULT, SMALL_RESULT, SUBPROTOCOL

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

ACK = '{"type":"connection_ack"}'
PONG = '{"type":"pong"}'
SMALL_TEXT = json.dumps(SMALL_RESULT, separators=(",", ":"))
LARGE_TEXT = json.dumps(LARGE_RESULT, separators=(",", ":"))
FIRED_TEXT = '{"data":{"fire":true}}'
#: What follows the id in every notification frame, up to the event itself.
EVENT_HEAD = ',"payload":{"data":{"onEvent":'


def _frame(text: str) -> dict[str, Any]:
    return {"type": "websocket.send", "text": text}


class FloorHub:
    """The process's one group membership and the subscribers it feeds."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        #: (connection, operation id) -> (the connection's ASGI send, frame prefix).
        self.subscribers: dict[tuple[object, str], tuple[Send, str]] = {}
        self._joined: asyncio.Task[None] | None = None

    async def add(self, key: tuple[object, str], send: Send, prefix: str) -> None:
        """Register a subscription once the process is in the group (joining if first)."""
        if self._joined is None:
            self._joined = asyncio.ensure_future(self._join())
        await self._joined
        self.subscribers[key] = (send, prefix)

    def remove(self, key: tuple[object, str]) -> bool:
        return self.subscribers.pop(key, None) is not None

    async def _join(self) -> None:
        channel = await self.layer.new_channel()
        await self.layer.group_add(FLOOR_GROUP, channel)
        # Runs as long as the process; held by the hub.
        self._receiver = asyncio.ensure_future(self._receive_forever(channel))

    async def _receive_forever(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Reported by the benchmark as a server error; keep serving.
                log.exception("The floor's layer receive failed.")
                await asyncio.sleep(0.1)
                continue
            if message.get("type") == FLOOR_EVENT_TYPE:
                await self._deliver(message["event"])

    async def _deliver(self, event: dict[str, Any]) -> None:
        tail = EVENT_HEAD + json.dumps(event, separators=(",", ":")) + "}}}"
        # A copy: subscriptions may come and go while a send waits.
        for key, (send, prefix) in list(self.subscribers.items()):
            try:
                await send(_frame(prefix + tail))
            except Exception:
                # The client is gone; its disconnect follows.
                self.subscribers.pop(key, None)


_hub: FloorHub | None = None


def hub() -> FloorHub:
    """The process's hub (uvicorn runs one event loop per process)."""
    global _hub
    if _hub is None:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("The floor consumer needs a channel layer.")
        _hub = FloorHub(layer)
    return _hub


class FloorConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ids: set[str] = set()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Straight to the handler: Channels' stale-connection check (a thread
        # hop per client frame) is for consumers that use the database.
        kind = message["type"]
        if kind == "websocket.receive":
            await self.websocket_receive(message)
        elif kind == "websocket.connect":
            await self.websocket_connect(message)
        elif kind == "websocket.disconnect":
            await self.websocket_disconnect(message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        offered = self.scope.get("subprotocols") or []
        if SUBPROTOCOL not in offered:
            await self.close(4406)
            return
        await self.accept(SUBPROTOCOL)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "{}")
        kind = message.get("type")
        send = self.base_send
        if kind == "subscribe":
            await self._subscribe(message["id"], message["payload"])
        elif kind == "complete":
            op_id = message["id"]
            if hub().remove((self, op_id)):
                self._ids.discard(op_id)
                await send(_frame('{"type":"complete","id":' + json.dumps(op_id) + "}"))
        elif kind == "connection_init":
            await send(_frame(ACK))
        elif kind == "ping":
            await send(_frame(PONG))

    async def _subscribe(self, op_id: str, payload: dict[str, Any]) -> None:
        send = self.base_send
        prefix = '{"type":"next","id":' + json.dumps(op_id)
        query: str = payload["query"]
        if query.startswith("subscription"):
            await hub().add((self, op_id), send, prefix)
            self._ids.add(op_id)
            await send(_frame(prefix + ',"payload":{"data":null}}'))
            return
        if query.startswith("mutation"):
            variables = payload["variables"]
            event = {"seq": variables["seq"], "sent": variables["sent"]}
            await self.channel_layer.group_send(
                FLOOR_GROUP, {"type": FLOOR_EVENT_TYPE, "event": event}
            )
            result = FIRED_TEXT
        else:
            result = LARGE_TEXT if "items" in query else SMALL_TEXT
        await send(_frame(prefix + ',"payload":' + result + "}"))
        await send(_frame('{"type":"complete","id":' + json.dumps(op_id) + "}"))

    async def disconnect(self, code: int) -> None:
        fan = hub()
        for op_id in self._ids:
            fan.remove((self, op_id))
        self._ids.clear()
