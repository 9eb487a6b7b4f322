"""The per-process fan-out on the in-memory layer: copies and supervision.

- Each subscriber's ``publish`` gets a payload of its own (issue 15 item
  2): one that changes it cannot change what the next one sees.
- The fan-out's receiving task is supervised (item 7): if it ever fails,
  the failure is logged and it starts again, so the process does not
  silently stop receiving broadcasts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from typing import Any

import graphene
import pytest
from channels.layers import InMemoryChannelLayer

import channels_graphql_ws
from channels_graphql_ws import broadcast, notifications, serializer
from channels_graphql_ws.fanout import ProcessFanout
from tests.consumer.support import Client, consumer_class

pytestmark = pytest.mark.timeout(20)
_numbers = itertools.count()


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.payloads: list[Any] = []
        self.fail_first = fail_first

    def deliver(self, group: str, notification: notifications.Notification) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("a listener failed")
        self.payloads.append(notification.take())

    def end_group(self, group: str) -> None:
        pass


async def until(condition: Any, within: float = 2.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_the_receiving_task_is_restarted_after_a_failure(caplog: Any) -> None:
    layer = InMemoryChannelLayer()
    fanout = ProcessFanout(layer)
    failing, healthy = Recorder(fail_first=1), Recorder()
    group = f"g{uuid.uuid4().hex}"
    await fanout.join(group, failing)
    await fanout.join(group, healthy)
    try:
        with caplog.at_level(logging.ERROR, logger="channels_graphql_ws.fanout"):
            for n in range(3):
                await layer.group_send(
                    group, broadcast.broadcast_message(group, serializer.pack({"n": n}))
                )
                await asyncio.sleep(0.05)
        assert await until(lambda: len(healthy.payloads) >= 2)
        assert {"n": 2} in healthy.payloads and failing.payloads[-1] == {"n": 2}
        assert fanout.restarts >= 1
        assert any("restarting" in record.getMessage() for record in caplog.records)
    finally:
        await fanout.leave(group, failing)
        await fanout.leave(group, healthy)


def test_notifications_give_each_taker_its_own_payload() -> None:
    payload = {"author": "ann", "tags": ["a"]}
    notification = notifications.Notification(
        serializer.pack(payload), serializer.unpack(serializer.pack(payload))
    )
    first, second = notification.take(), notification.take()
    first.pop("author")
    first["tags"].append("b")
    assert second == {"author": "ann", "tags": ["a"]}
    assert notification.take() == payload


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_publish_that_changes_its_payload_does_not_change_the_next_subscribers(
    subprotocol: str,
) -> None:
    name = f"Posted{next(_numbers)}"

    def publish(payload: Any, info: Any) -> dict[str, Any]:
        author = payload.pop("author", "<gone>")
        return {"author": author}

    sub = type(
        name,
        (channels_graphql_ws.Subscription,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "author": graphene.String(),
            "publish": staticmethod(publish),
        },
    )
    root = type(f"{name}Root", (graphene.ObjectType,), {"on_post": sub.Field()})

    class Query(graphene.ObjectType):
        hello = graphene.String()

    cls = consumer_class(schema=graphene.Schema(query=Query, subscription=root))
    from channels.testing import WebsocketCommunicator

    clients = [
        Client(WebsocketCommunicator(cls.as_asgi(), "/graphql/", subprotocols=[subprotocol]))
        for _ in range(3)
    ]
    kind = "subscribe" if subprotocol == "graphql-transport-ws" else "start"
    try:
        for client in clients:
            await client.connect_and_init()
            for op_id in ("a", "b"):  # two subscriptions on one connection too
                await client.send(
                    {
                        "type": kind,
                        "id": op_id,
                        "payload": {"query": "subscription { onPost { author } }"},
                    }
                )
        await asyncio.sleep(0.1)
        await sub.broadcast_async(payload={"author": "ann"})
        for client in clients:
            for _ in range(2):
                message = await client.receive()
                assert message["payload"] == {"data": {"onPost": {"author": "ann"}}}, message
    finally:
        for client in clients:
            await client.disconnect()
