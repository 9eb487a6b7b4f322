"""The baseline: a bare Channels ``AsyncJsonWebsocketConsumer`` speaking just enough protocol.

What a Channels user would write by hand for the same traffic, with no
GraphQL at all: every frame it sends is pre-encoded text.

- ``connection_init`` -> ``connection_ack``; ``ping`` -> ``pong``;
- ``subscribe`` to the subscription: joins ``BARE_GROUP`` with the
  connection's own channel (what Channels users do), then sends the same
  confirmation ours does (``next`` with ``{"data": null}``);
- each group message: one ``next`` frame per subscription, built by string
  concatenation around the event text the sender encoded once;
- ``subscribe`` to the mutation: ``group_send`` of the event, then a
  pre-encoded ``next`` and ``complete``; to a query: a pre-encoded ``next``
  and ``complete`` (the large result is encoded once, at import);
- ``complete`` ends the subscription; disconnecting leaves the group.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .common import (
    BARE_EVENT_TYPE,
    BARE_GROUP,
    LARGE_RESULT,
    SMALL_RESULT,
    SUBPROTOCOL,
    event_text,
)

ACK = '{"type":"connection_ack"}'
PONG = '{"type":"pong"}'
SMALL_TEXT = json.dumps(SMALL_RESULT, separators=(",", ":"))
LARGE_TEXT = json.dumps(LARGE_RESULT, separators=(",", ":"))
FIRED_TEXT = '{"data":{"fire":true}}'


def _next(id_text: str, payload_text: str) -> str:
    return '{"type":"next","id":' + id_text + ',"payload":' + payload_text + "}"


def _complete(id_text: str) -> str:
    return '{"type":"complete","id":' + id_text + "}"


class BareConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each live subscription's frame prefix, by operation id.
        self._prefixes: dict[str, str] = {}

    async def connect(self) -> None:
        offered = self.scope.get("subprotocols") or []
        if SUBPROTOCOL not in offered:
            await self.close(4406)
            return
        await self.accept(SUBPROTOCOL)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "subscribe":
            await self._subscribe(content["id"], content["payload"])
        elif kind == "complete":
            await self._stop(content["id"])
        elif kind == "connection_init":
            await self.send(text_data=ACK)
        elif kind == "ping":
            await self.send(text_data=PONG)

    async def _subscribe(self, op_id: str, payload: dict[str, Any]) -> None:
        id_text = json.dumps(op_id)
        query: str = payload["query"]
        if query.startswith("subscription"):
            if not self._prefixes:
                await self.channel_layer.group_add(BARE_GROUP, self.channel_name)
            self._prefixes[op_id] = (
                '{"type":"next","id":' + id_text + ',"payload":{"data":{"onEvent":'
            )
            await self.send(text_data=_next(id_text, '{"data":null}'))
        elif query.startswith("mutation"):
            variables = payload["variables"]
            message = {
                "type": BARE_EVENT_TYPE,
                "text": event_text(variables["seq"], variables["sent"]),
            }
            await self.channel_layer.group_send(BARE_GROUP, message)
            await self.send(text_data=_next(id_text, FIRED_TEXT))
            await self.send(text_data=_complete(id_text))
        else:
            result = LARGE_TEXT if "items" in query else SMALL_TEXT
            await self.send(text_data=_next(id_text, result))
            await self.send(text_data=_complete(id_text))

    async def _stop(self, op_id: str) -> None:
        if self._prefixes.pop(op_id, None) is None:
            return
        if not self._prefixes:
            await self.channel_layer.group_discard(BARE_GROUP, self.channel_name)
        await self.send(text_data=_complete(json.dumps(op_id)))

    async def bench_event(self, message: dict[str, Any]) -> None:
        text = message["text"]
        for prefix in list(self._prefixes.values()):
            await self.send(text_data=prefix + text + "}}}")

    async def disconnect(self, code: int) -> None:
        if self._prefixes:
            self._prefixes.clear()
            await self.channel_layer.group_discard(BARE_GROUP, self.channel_name)
