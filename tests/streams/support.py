"""What the stream tests say to a server besides the stream under test."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.e2e.support import Server

EVENTS = "text/event-stream"
MULTIPART = (
    "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,"
    "application/graphql-response+json,application/json;q=0.9"
)
ON_MESSAGE = "subscription OnMessage($room: String) { onMessage(room: $room) { text seq } }"


async def graphql(server: Server, query: str, **variables: Any) -> Any:
    """A query or mutation over plain HTTP; its ``data``."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(server.http(), json={"query": query, "variables": variables}) as response,
    ):
        result = await response.json()
    assert "errors" not in result, result
    return result["data"]


async def send(server: Server, room: str, seq: int, text: str | None = None) -> None:
    query = "mutation($room: String!, $text: String!, $seq: Int!) "
    query += "{ sendMessage(room: $room, text: $text, seq: $seq) { ok } }"
    await graphql(server, query, room=room, text=text or f"message {seq}", seq=seq)


async def end_room(server: Server, room: str) -> None:
    await graphql(server, "mutation($room: String!) { endRoom(room: $room) { ok } }", room=room)


async def probe(server: Server, room: str) -> dict[str, Any]:
    data = await graphql(server, "query($room: String!) { probe(room: $room) }", room=room)
    found: dict[str, Any] = json.loads(data["probe"])
    return found


async def until_listening(server: Server, room: str, subscribers: int = 1) -> dict[str, Any]:
    """Wait until ``subscribers`` subscriptions of ``room`` are live on the server."""
    for _ in range(500):
        found = await probe(server, room)
        if found["subscribed"] >= subscribers and found["listening"]:
            await asyncio.sleep(0.05)  # the group join follows subscribe()
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{room} never got {subscribers} live subscriptions: {found}")


def sse_blocks(raw: bytes) -> list[list[str]]:
    """The lines of every SSE block (an event or a comment), in order."""
    return [block.split("\n") for block in raw.decode().split("\n\n") if block]
