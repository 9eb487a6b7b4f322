"""Shared pieces of the consumer tests: a thin client over WebsocketCommunicator.

(The public helpers of ``channels_graphql_ws.testing`` are tested on their
own; these tests want raw frames in and decoded messages out.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import graphene
from channels.testing import WebsocketCommunicator

import channels_graphql_ws

TRANSPORT_WS = "graphql-transport-ws"


class Client:
    """Raw graphql-transport-ws traffic with a consumer, plus a few shortcuts."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def connect(self) -> tuple[bool, Any]:
        return await self.communicator.connect(timeout=5)

    async def connect_and_init(self, payload: Any = None) -> dict[str, Any]:
        connected, _ = await self.connect()
        assert connected
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.send(message)
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        return ack

    async def send(self, message: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None, **extra: Any
    ) -> None:
        payload: dict[str, Any] = {"query": query, **extra}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"type": "subscribe", "id": op_id, "payload": payload})

    async def execute(self, op_id: str, query: str, **kwargs: Any) -> dict[str, Any]:
        """Run one query; return its ``next`` payload after checking ``complete``."""
        await self.subscribe(op_id, query, **kwargs)
        result = await self.receive()
        assert result["type"] == "next" and result["id"] == op_id, result
        assert await self.receive() == {"type": "complete", "id": op_id}
        return result["payload"]

    async def assert_closed(self, code: int, timeout: float = 5) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.close", output
        assert output.get("code") == code, output
        return output

    async def assert_no_messages(self, timeout: float = 0.2) -> None:
        assert await self.communicator.receive_nothing(timeout), "unexpected message"

    async def disconnect(self) -> None:
        await self.communicator.disconnect(timeout=5)


class Query(graphene.ObjectType):
    hello = graphene.String(name=graphene.String(default_value="world"))
    fail = graphene.String()
    slow = graphene.String(seconds=graphene.Float(required=True))
    context_keys = graphene.List(graphene.String)
    context_value = graphene.String(key=graphene.String(required=True))

    @staticmethod
    def resolve_hello(root: Any, info: Any, name: str) -> str:
        return f"Hello, {name}!"

    @staticmethod
    def resolve_fail(root: Any, info: Any) -> str:
        raise RuntimeError("resolver failed")

    @staticmethod
    async def resolve_slow(root: Any, info: Any, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @staticmethod
    def resolve_context_keys(root: Any, info: Any) -> list[str]:
        return sorted(info.context._asdict())

    @staticmethod
    def resolve_context_value(root: Any, info: Any, key: str) -> str:
        return repr(info.context._asdict().get(key))


class Increment(graphene.Mutation):
    class Arguments:
        by = graphene.Int(default_value=1)

    value = graphene.Int()

    COUNTER = [0]

    @staticmethod
    def mutate(root: Any, info: Any, by: int) -> Increment:
        Increment.COUNTER[0] += by
        return Increment(value=Increment.COUNTER[0])


class Mutation(graphene.ObjectType):
    increment = Increment.Field()


SCHEMA = graphene.Schema(query=Query, mutation=Mutation)


def consumer_class(**settings: Any) -> type[channels_graphql_ws.GraphqlWsConsumer]:
    """A fresh consumer subclass with the test schema and the given settings."""
    attrs = {"schema": SCHEMA, **settings}
    return type("TestConsumer", (channels_graphql_ws.GraphqlWsConsumer,), attrs)
