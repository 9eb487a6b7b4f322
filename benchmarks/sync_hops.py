"""What running sync code in Django's sync thread costs: hops and microseconds per operation.

    python -m benchmarks.sync_hops [--seconds 1.0]

In-process and without a database, so only the hop machinery is measured:
each document runs with ``thread_execution.execute`` on (the default) and off
(everything on the loop), one operation at a time (latency) and 100 at once
(as 100 connections, or 100 subscribers of one broadcast, submit them).
Prints one line per case: microseconds per operation and hops per operation.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=[],
    )
    django.setup()

import graphene
from graphql import parse

from channels_graphql_ws import sync_thread, thread_execution


class Item(graphene.ObjectType):
    name = graphene.String()
    computed = graphene.String()

    @staticmethod
    def resolve_computed(root, info):
        return root.name.upper()


class Query(graphene.ObjectType):
    hello = graphene.String()
    count = graphene.Int()
    items = graphene.List(Item)
    async_item = graphene.Field(Item)
    async_items = graphene.List(Item)
    async_hello = graphene.String()

    @staticmethod
    def resolve_hello(root, info):
        return "hello"

    @staticmethod
    def resolve_count(root, info):
        return 3

    @staticmethod
    def resolve_items(root, info):
        return [Item(name=f"item {n}") for n in range(20)]

    @staticmethod
    async def resolve_async_item(root, info):
        return Item(name="async")

    @staticmethod
    async def resolve_async_items(root, info):
        return [Item(name=f"item {n}") for n in range(20)]

    @staticmethod
    async def resolve_async_hello(root, info):
        return "hello"


SCHEMA = graphene.Schema(query=Query).graphql_schema

CASES = {
    "all sync, small: { hello count }": "{ hello count }",
    "all sync, 20 objects": "{ items { name computed } }",
    "all async: { asyncHello }": "{ asyncHello }",
    "mixed, async object, plain fields": "{ asyncItem { name } }",
    "mixed, async object, a sync field": "{ asyncItem { name computed } }",
    "mixed, sync root + async object with a sync field": "{ hello asyncItem { computed } }",
    "mixed, 20 async-listed objects, a sync field": "{ asyncItems { name computed } }",
}


async def measure(
    query: str, in_thread: bool, concurrency: int, seconds: float
) -> tuple[float, float]:
    document = parse(query)

    async def one() -> None:
        result = await thread_execution.execute(
            SCHEMA,
            document,
            operation_name=None,
            variables=None,
            context=None,
            middleware=None,
            sync_thread=in_thread,
        )
        assert result.errors is None, result.errors

    batcher = sync_thread.batcher()
    await asyncio.gather(*(one() for _ in range(concurrency)))  # warm up
    hops_before, operations = batcher.hops, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        await asyncio.gather(*(one() for _ in range(concurrency)))
        operations += concurrency
    elapsed = time.perf_counter() - started
    return elapsed / operations * 1e6, (batcher.hops - hops_before) / operations


async def main(seconds: float) -> None:
    print(f"{'case':55} {'mode':9} {'conc':>4} {'us/op':>8} {'hops/op':>8}")
    for name, query in CASES.items():
        for in_thread in (False, True):
            for concurrency in (1, 100):
                micros, hops = await measure(query, in_thread, concurrency, seconds)
                mode = "thread" if in_thread else "loop"
                print(f"{name:55} {mode:9} {concurrency:>4} {micros:8.1f} {hops:8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_hops")
    parser.add_argument("--seconds", type=float, default=1.0, help="per case (default 1)")
    asyncio.run(main(parser.parse_args().seconds))
