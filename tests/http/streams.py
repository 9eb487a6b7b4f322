"""In-process streaming requests for the consumer tests, and the schema they use.

``StreamRequest`` drives one HTTP request through Channels'
``ApplicationCommunicator`` chunk by chunk (``HttpCommunicator`` waits for
the whole body, which a stream never finishes on its own).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import graphene
from channels.testing import ApplicationCommunicator

import channels_graphql_ws

#: Seconds any one step may take.
STEP = 5.0

EVENTS = "text/event-stream"
MULTIPART = "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json;q=0.9"

#: What the hooks saw, per test.
SEEN: dict[str, list[Any]] = {"subscribed": [], "unsubscribed": [], "operations": [], "gone": []}


class OnTick(channels_graphql_ws.Subscription):
    """Ticks broadcast to ``room``; records ``subscribe`` and ``unsubscribed``."""

    n = graphene.Int()

    class Arguments:
        room = graphene.String(required=True)

    @staticmethod
    def subscribe(root: None, info: Any, room: str) -> list[str]:
        SEEN["subscribed"].append(room)
        return [room]

    @staticmethod
    def publish(payload: Any, info: Any, room: str) -> OnTick:
        return OnTick(n=payload)

    @staticmethod
    def unsubscribed(root: None, info: Any, room: str) -> None:
        SEEN["unsubscribed"].append(room)


class Query(graphene.ObjectType):
    hello = graphene.String()

    @staticmethod
    def resolve_hello(root: Any, info: Any) -> str:
        return "world"


class Bump(graphene.Mutation):
    ok = graphene.Boolean()

    @staticmethod
    def mutate(root: Any, info: Any) -> Bump:
        return Bump(ok=True)


class Mutation(graphene.ObjectType):
    bump = Bump.Field()


class Subscription(graphene.ObjectType):
    on_tick = OnTick.Field()
    countdown = graphene.Int(start=graphene.Int(required=True))

    @staticmethod
    async def subscribe_countdown(root: Any, info: Any, start: int) -> AsyncIterator[int]:
        for value in range(start, -1, -1):
            yield value


SCHEMA = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
ON_TICK = "subscription T($room: String!) { onTick(room: $room) { n } }"


class StreamConsumer(channels_graphql_ws.GraphqlConsumer):
    schema = SCHEMA

    async def on_operation(self, op_id: Any, payload: Any) -> None:
        SEEN["operations"].append((op_id, payload))
        if payload.get("extensions", {}).get("refuse"):
            raise PermissionError("refused")

    async def on_disconnect(self, code: int) -> None:
        SEEN["gone"].append(code)


def reset_seen() -> None:
    for values in SEEN.values():
        values.clear()


class StreamRequest:
    """One HTTP request to a consumer; its response read as it comes."""

    def __init__(
        self,
        consumer: type,
        method: str,
        *,
        body: Any = b"",
        accept: str | None = EVENTS,
        headers: list[tuple[bytes, bytes]] | None = None,
        query_string: bytes = b"",
        scope: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        all_headers = list(headers or [])
        if body:
            all_headers.append((b"content-type", b"application/json"))
        if accept is not None:
            all_headers.append((b"accept", accept.encode()))
        self.body = body
        self.scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method,
            "path": "/graphql/",
            "raw_path": b"/graphql/",
            "query_string": query_string,
            "headers": all_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            **(scope or {}),
        }
        self.communicator = ApplicationCommunicator(consumer.as_asgi(), self.scope)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.received = b""
        self.ended = False

    async def start(self) -> StreamRequest:
        """Send the request; read the response head."""
        await self.communicator.send_input(
            {"type": "http.request", "body": self.body, "more_body": False}
        )
        start = await self.communicator.receive_output(STEP)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.headers = {name.decode(): value.decode() for name, value in start["headers"]}
        return self

    async def chunk(self, timeout: float = STEP) -> bytes:
        """The next body chunk."""
        message = await self.communicator.receive_output(timeout)
        assert message["type"] == "http.response.body", message
        self.received += message.get("body", b"")
        self.ended = not message.get("more_body", False)
        return bytes(message.get("body", b""))

    async def until(self, marker: bytes, timeout: float = STEP) -> bytes:
        """Read chunks until ``marker`` has arrived; everything received so far."""
        deadline = asyncio.get_running_loop().time() + timeout
        while marker not in self.received:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0 and not self.ended, (marker, self.received)
            await self.chunk(left)
        return self.received

    async def whole(self) -> bytes:
        """Read to the end of the response."""
        while not self.ended:
            await self.chunk()
        return self.received

    def json(self) -> Any:
        return json.loads(self.received)

    async def disconnect(self) -> None:
        """``http.disconnect`` (the client left, or the response is over); the app ends."""
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(STEP)

    async def nothing_more(self, timeout: float = 0.2) -> bool:
        return await self.communicator.receive_nothing(timeout)


def sse_events(raw: bytes) -> list[tuple[str, Any]]:
    """(event, data) per SSE event, data parsed as JSON ("" when empty); comments skipped."""
    found = []
    for block in raw.decode().split("\n\n"):
        fields = dict(
            line.split(":", 1) for line in block.split("\n") if line and not line.startswith(":")
        )
        if "event" in fields:
            data = fields.get("data", "").strip()
            found.append((fields["event"].strip(), json.loads(data) if data else ""))
    return found
