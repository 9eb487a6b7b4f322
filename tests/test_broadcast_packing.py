"""A broadcast payload is checked at the call, even when a queryset must wait for a thread.

On an event loop Django refuses queries, so a payload holding a queryset not
evaluated yet is packed in a worker thread just before the send. Everything
else in it is checked at the call all the same: a value that cannot travel
raises ``TypeError`` there, whether it comes before or after the queryset.
"""

from __future__ import annotations

import asyncio
import decimal

import graphene
import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.contenttypes.models import ContentType
from django.db import OperationalError, connection

import channels_graphql_ws
from channels_graphql_ws import serializer


class Packed(channels_graphql_ws.Subscription):
    value = graphene.Int()

    @staticmethod
    def publish(payload, info):
        return Packed(value=1)


async def listen() -> tuple[object, str]:
    """A channel in the default group of ``Packed``, to read what the layer gets."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(Packed._group_name(), channel)
    return layer, channel


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"types": ContentType.objects.all(), "bad": object()}, "payload['bad']"),
        ([ContentType.objects.all(), (1, {object()})], "payload[1][1][0]"),
        ((ContentType.objects.all(), {"ok": decimal.Decimal(1), "x": [object()]}), "['x'][0]"),
    ],
    ids=["dict", "list", "tuple"],
)
async def test_an_unpackable_value_after_a_queryset_raises_at_the_call(payload, where):
    layer, channel = await listen()
    with pytest.raises(TypeError, match="Cannot pack a value of type 'object'") as raised:
        Packed.broadcast(payload=payload)
    assert where in str(raised.value)
    with pytest.raises(TypeError):
        await Packed.broadcast_async(payload=payload)
    # Nothing went out.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.2)


def test_check_queries_nothing_and_passes_what_pack_accepts():
    payload = {"types": ContentType.objects.all(), "n": (1, {2}), "d": decimal.Decimal("1.5")}
    serializer.check(payload)  # no table: any query would fail
    with pytest.raises(TypeError, match=r"a key of payload"):
        serializer.check({object(): ContentType.objects.all()})


def _create_table() -> None:
    with connection.schema_editor() as editor:
        editor.create_model(ContentType)
    ContentType.objects.create(id=1, app_label="shop", model="order")


def _drop_table() -> None:
    ContentType.objects.clear_cache()
    with connection.schema_editor() as editor:
        editor.delete_model(ContentType)


async def test_a_queryset_on_the_loop_is_evaluated_in_a_thread_and_arrives():
    layer, channel = await listen()
    # The thread that packs is Django's sync thread, with its own in-memory database.
    await sync_to_async(_create_table, thread_sensitive=True)()
    try:
        await Packed.broadcast_async(payload={"types": ContentType.objects.all(), "n": 2})
    finally:
        await sync_to_async(_drop_table, thread_sensitive=True)()
    message = await asyncio.wait_for(layer.receive(channel), 5)
    payload = serializer.unpack(message["payload"])
    assert [(row.pk, row.model) for row in payload["types"]] == [(1, "order")]
    assert payload["n"] == 2


async def test_a_database_error_while_evaluating_fails_the_send_not_the_call():
    task = Packed.broadcast(payload={"types": ContentType.objects.all()})
    assert task is not None  # no table in the sync thread: the query fails there
    with pytest.raises(OperationalError):
        await task
