"""The cycle collector's pauses: what keeps objects out of full collections.

A full collection stops every thread while it walks all tracked objects,
so whatever lingers in the oldest generation (reference cycles waiting to
be found, documents kept by a memo, the process's start-up objects) makes
every connection of the process wait longer, and more often.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref

import graphene
import pytest
from graphql import parse

from channels_graphql_ws import collector, execution, thread_execution
from channels_graphql_ws.execution import DocumentCache, DocumentLimits


class Item(graphene.ObjectType):
    value = graphene.Int()


class Query(graphene.ObjectType):
    value = graphene.Int()
    item = graphene.Field(Item)
    slow = graphene.Int()

    @staticmethod
    def resolve_value(root: None, info: graphene.ResolveInfo) -> int:
        return 1

    @staticmethod
    def resolve_item(root: None, info: graphene.ResolveInfo) -> dict[str, int]:
        return {"value": 2}

    @staticmethod
    async def resolve_slow(root: None, info: graphene.ResolveInfo) -> int:
        return 3


SCHEMA = graphene.Schema(query=Query).graphql_schema


def test_validating_a_costly_document_leaves_no_reference_cycles():
    # graphql-core 3.2.14's overlapping-fields memo is a web of cycles:
    # about 40,000 objects for this document, found only by the collector.
    query = "{" + " item { value }" * 180 + "}"
    gc.collect()
    gc.disable()
    try:
        prepared = execution.prepare_document(SCHEMA, query)
        assert prepared.document is not None
        # What is left: graphql-core's visitors, a few hundred objects.
        assert gc.collect() < 1000
    finally:
        gc.enable()


@pytest.mark.parametrize("sync_thread", [True, False])
async def test_executing_a_document_keeps_no_part_of_it_alive(sync_thread):
    # Memos of execution (which thread a field runs in, how a leaf is read)
    # used to keep up to 4,096 documents each, past the document cache's bounds.
    document = parse("{ value item { value } slow }")
    result = await thread_execution.execute(
        SCHEMA,
        document,
        operation_name=None,
        variables=None,
        context=None,
        middleware=None,
        sync_thread=sync_thread,
    )
    assert result.errors is None and result.data == {"value": 1, "item": {"value": 2}, "slow": 3}
    kept = [weakref.ref(document), weakref.ref(document.definitions[0])]
    del document
    gc.collect()
    assert [ref() for ref in kept] == [None, None]


def test_memos_still_answer_for_a_living_document():
    document = parse("{ value }")
    assert thread_execution.starts_on_loop(SCHEMA, document, None) is False
    verdicts = thread_execution._root_verdicts.get(SCHEMA, document)
    assert verdicts == {None: False}
    # Another document of equal text is another entry: identity, not equality.
    twin = parse("{ value }")
    assert thread_execution._root_verdicts.get(SCHEMA, twin) is not verdicts


async def test_the_worker_prepares_with_the_collector_paused(monkeypatch):
    seen: list[bool] = []
    original = DocumentCache.prepare

    def prepare(self, *args, **kwargs):
        seen.append(gc.isenabled())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DocumentCache, "prepare", prepare)
    cache = DocumentCache()
    assert (await cache.prepare_async(SCHEMA, "{ value }", DocumentLimits())).document
    assert seen == [False] and gc.isenabled()
    # A process that turned the collector off keeps it off.
    gc.disable()
    try:
        await cache.prepare_async(SCHEMA, "{ item { value } }", DocumentLimits())
        assert seen == [False, False] and not gc.isenabled()
    finally:
        gc.enable()


def test_collector_paused_restores_the_collector_after_an_error():
    with pytest.raises(ZeroDivisionError), collector.collector_paused():
        assert not gc.isenabled()
        1 / 0  # noqa: B018
    assert gc.isenabled()


FREEZE_CHECK = textwrap.dedent(
    """
    import asyncio, gc, sys, weakref
    import django
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    )
    django.setup()
    import graphene
    from channels.testing import WebsocketCommunicator
    import channels_graphql_ws

    class Query(graphene.ObjectType):
        value = graphene.Int()

    class Consumer(channels_graphql_ws.GraphqlWsConsumer):
        schema = graphene.Schema(query=Query)
        freeze_startup_objects = sys.argv[1] == "on"
        instances = []

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            Consumer.instances.append(weakref.ref(self))

    async def connect_once():
        communicator = WebsocketCommunicator(
            Consumer.as_asgi(), "/", subprotocols=["graphql-transport-ws"]
        )
        connected, _ = await communicator.connect()
        assert connected
        await communicator.disconnect()

    freezes = []
    real_freeze = gc.freeze
    gc.freeze = lambda: (freezes.append(1), real_freeze())[1]
    before = gc.get_freeze_count()
    asyncio.run(connect_once())
    after_first = gc.get_freeze_count()
    asyncio.run(connect_once())
    gc.collect()
    alive = sum(1 for ref in Consumer.instances if ref() is not None)
    print(before, after_first, len(freezes), alive)
    """
)


@pytest.mark.parametrize("setting", ["on", "off"])
def test_the_first_connection_freezes_the_start_up_objects_once(setting):
    # Then the consumer was made, so it was not frozen with them.
    # In a process of its own: freezing is for the whole process.
    result = subprocess.run(
        [sys.executable, "-c", FREEZE_CHECK, setting],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after_first, freezes, alive = map(int, result.stdout.split())
    assert before == 0
    # The first consumer was made after the freeze: it went with its connection.
    assert alive == 0
    if setting == "on":
        assert after_first > 10_000  # modules, Django, Graphene, the schema
        assert freezes == 1  # once per process
    else:
        assert after_first == freezes == 0
