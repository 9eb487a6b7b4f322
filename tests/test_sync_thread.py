"""``sync_thread``: sync resolvers and hooks in Django's sync thread, batched hops.

The ORM is real (``tests.orm`` on a SQLite file): a query on the event loop
raises ``SynchronousOnlyOperation``, so every result below that holds
database rows proves the sync code ran off the loop. Hops are counted with
the running loop's batcher.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import graphene
import pytest
from django.db import connection
from graphql import ExecutionResult, MiddlewareManager, parse

from channels_graphql_ws import sync_thread, thread_execution
from channels_graphql_ws.execution import FAST_PATH_AVAILABLE
from tests.orm.models import Author, Post, Tag
from tests.orm.schema import schema as orm_schema

pytestmark = pytest.mark.usefixtures("orm_db")

GRAPHQL_SCHEMA = orm_schema.graphql_schema


@pytest.fixture
def rows(orm_db: None) -> None:
    """Two authors, three posts, two tags (made before the loop runs)."""
    ada = Author.objects.create(name="ada")
    bob = Author.objects.create(name="bob")
    red, blue = Tag.objects.create(name="red"), Tag.objects.create(name="blue")
    Post.objects.create(title="one", author=ada).tags.set([red, blue])
    Post.objects.create(title="two", author=ada).tags.set([blue])
    Post.objects.create(title="three", author=bob)


async def run(query: str, *, middleware: Any = None, **variables: Any) -> ExecutionResult:
    return await thread_execution.execute_in_sync_thread(
        GRAPHQL_SCHEMA,
        parse(query),
        operation_name=None,
        variables=variables or None,
        context=None,
        middleware=middleware,
    )


def hops() -> int:
    return sync_thread.batcher().hops


AUTHORS = "{ authors { name posts { title tags { name } } } }"
AUTHORS_DATA = {
    "authors": [
        {
            "name": "ada",
            "posts": [
                {"title": "one", "tags": [{"name": "red"}, {"name": "blue"}]},
                {"title": "two", "tags": [{"name": "blue"}]},
            ],
        },
        {"name": "bob", "posts": [{"title": "three", "tags": []}]},
    ]
}


# ------------------------------------------------------------ all sync


@pytest.mark.usefixtures("rows")
async def test_sync_resolvers_use_the_orm_in_one_hop():
    before = hops()
    result = await run(AUTHORS)
    assert result.errors is None, result.errors
    assert result.data == AUTHORS_DATA
    assert hops() - before == 1


@pytest.mark.usefixtures("rows")
async def test_on_the_loop_a_query_fails_as_django_says():
    """What the thread prevents (and what the setting switched off gives).

    (graphql-core 3.3 iterates a QuerySet asynchronously, through Django's own
    hop, so a count shows it on every version.)
    """
    result = await thread_execution.execute(
        GRAPHQL_SCHEMA,
        parse("{ postCount }"),
        operation_name=None,
        variables=None,
        context=None,
        middleware=None,
        sync_thread=False,
    )
    assert result.data == {"postCount": None}
    assert "async context" in result.errors[0].message


@pytest.mark.usefixtures("rows")
async def test_django_list_field_and_connection_field_with_relay_paging():
    first = await run(
        "{ posts { title author { name } } "
        "allPosts(first: 2) { edges { cursor node { title author { name } } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    assert first.errors is None, first.errors
    assert [p["title"] for p in first.data["posts"]] == ["one", "two", "three"]
    page = first.data["allPosts"]
    assert [e["node"] for e in page["edges"]] == [
        {"title": "one", "author": {"name": "ada"}},
        {"title": "two", "author": {"name": "ada"}},
    ]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await run(
        "query Rest($after: String) { allPosts(first: 2, after: $after) "
        "{ edges { node { title } } pageInfo { hasNextPage } } }",
        after=page["pageInfo"]["endCursor"],
    )
    assert rest.errors is None, rest.errors
    assert rest.data["allPosts"] == {
        "edges": [{"node": {"title": "three"}}],
        "pageInfo": {"hasNextPage": False},
    }


async def test_concurrent_operations_submitted_in_one_iteration_share_one_hop():
    Author_names = [f"writer {n}" for n in range(20)]
    await sync_thread.run_in_sync_thread(
        lambda: Author.objects.bulk_create(Author(name=name) for name in Author_names)
    )
    before = hops()
    results = await asyncio.gather(*(run("{ postCount authors { name } }") for _ in range(20)))
    assert hops() - before == 1
    for result in results:
        assert result.errors is None, result.errors
        assert [a["name"] for a in result.data["authors"]] == sorted(Author_names)


async def test_resolver_errors_stay_graphql_errors():
    result = await run('{ asyncPost(title: "missing") { title } postCount }')
    assert result.data == {"asyncPost": None, "postCount": 0}
    assert "does not exist" in result.errors[0].message


# --------------------------------------------------------------- mixed


@pytest.mark.usefixtures("rows")
async def test_async_resolvers_stay_on_the_loop_and_sync_ones_do_not():
    loop_thread = threading.current_thread().name
    result = await run("{ loopThread authors { thread } }")
    assert result.errors is None, result.errors
    assert result.data["loopThread"] == loop_thread
    sync_threads = {author["thread"] for author in result.data["authors"]}
    assert len(sync_threads) == 1
    assert loop_thread not in sync_threads


@pytest.mark.usefixtures("rows")
async def test_a_mixed_document_follows_relations_of_async_values_in_the_thread():
    before = hops()
    result = await run(
        '{ asyncPost(title: "one") { title author { name } tags { name } } '
        'asyncAuthors { name thread posts { title } } asyncEcho(text: "hi") postCount }'
    )
    assert result.errors is None, result.errors
    assert result.data["asyncPost"] == {
        "title": "one",
        "author": {"name": "ada"},
        "tags": [{"name": "red"}, {"name": "blue"}],
    }
    assert [a["name"] for a in result.data["asyncAuthors"]] == ["ada", "bob"]
    assert result.data["asyncAuthors"][0]["thread"] != threading.current_thread().name
    assert result.data["asyncEcho"] == "hi"
    assert result.data["postCount"] == 3
    # The start (postCount is sync), then the completions of asyncPost's and
    # asyncAuthors' values: the two resolve in the same iterations, so they
    # share hops; never one hop per field or per author. graphql-core 3.3
    # (the middleware mechanism) hops once per level of nesting instead.
    assert 2 <= hops() - before <= (3 if FAST_PATH_AVAILABLE else 6)


@pytest.mark.usefixtures("rows")
async def test_an_all_async_root_starts_on_the_loop():
    before = hops()
    result = await run('{ asyncEcho(text: "a") loopThread }')
    assert result.errors is None
    assert hops() == before  # nothing sync: no hop at all
    result = await run('{ asyncPost(title: "two") { title author { name } } }')
    assert result.data == {"asyncPost": {"title": "two", "author": {"name": "ada"}}}
    # Only the completion of the model instance (3.3: its fields, then the author's).
    assert hops() - before == (1 if FAST_PATH_AVAILABLE else 2)


@pytest.mark.usefixtures("rows")
async def test_user_middleware_sync_and_async_around_sync_resolvers():
    seen: list[str] = []

    def sync_middleware(next_, root, info, **args):
        if info.path.prev is None:
            seen.append(info.field_name)
        return next_(root, info, **args)

    async def async_middleware(next_, root, info, **args):
        # Calls the resolver on the loop: the guard sends sync ones to the thread.
        value = next_(root, info, **args)
        if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
            value = await value
        return value

    for middleware in ([sync_middleware], [async_middleware, sync_middleware]):
        seen.clear()
        result = await run(AUTHORS, middleware=MiddlewareManager(*middleware))
        assert result.errors is None, result.errors
        assert result.data == AUTHORS_DATA
        assert seen == ["authors"]


# ------------------------------------------------------------ the batcher


async def test_each_caller_gets_its_own_result_or_exception_in_order():
    order: list[int] = []

    def work(n: int) -> int:
        order.append(n)
        if n == 2:
            raise ValueError("two")
        return n * 10

    batcher = sync_thread.batcher()
    before = batcher.hops
    outcomes = await asyncio.gather(
        *(batcher.run(work, n) for n in range(5)), return_exceptions=True
    )
    assert batcher.hops - before == 1
    assert order == [0, 1, 2, 3, 4]
    assert outcomes[:2] == [0, 10] and outcomes[3:] == [30, 40]
    assert isinstance(outcomes[2], ValueError) and str(outcomes[2]) == "two"


async def test_calls_run_in_one_thread_that_is_not_the_loop_and_see_their_context():
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")

    async def call(value: str) -> tuple[str, str]:
        variable.set(value)
        return await sync_thread.run_in_sync_thread(
            lambda: (variable.get(), threading.current_thread().name)
        )

    outcomes = await asyncio.gather(call("a"), call("b"))
    assert [value for value, _ in outcomes] == ["a", "b"]
    threads = {thread for _, thread in outcomes}
    assert len(threads) == 1 and threading.current_thread().name not in threads


async def test_a_caller_cancelled_before_its_turn_is_skipped():
    ran: list[str] = []
    batcher = sync_thread.batcher()
    keep = asyncio.ensure_future(batcher.run(ran.append, "kept"))
    drop = asyncio.ensure_future(batcher.run(ran.append, "dropped"))
    await asyncio.sleep(0)  # both submitted, the hop not yet made
    drop.cancel()
    await keep
    assert ran == ["kept"]
    assert drop.cancelled()


async def test_old_connections_are_closed_around_every_hop():
    """With CONN_MAX_AGE = 0 (the default) no hop leaves a connection open."""

    def query_and_report() -> bool:
        was_closed = connection.connection is None
        Author.objects.count()
        assert connection.connection is not None
        return was_closed

    assert await sync_thread.run_in_sync_thread(query_and_report) is True
    assert await sync_thread.run_in_sync_thread(query_and_report) is True
    assert await sync_thread.run_in_sync_thread(lambda: connection.connection is None)


# --------------------------------------------------------------- hooks


async def test_call_hook_runs_plain_functions_in_the_thread_and_async_ones_on_the_loop():
    loop_thread = threading.current_thread().name

    def sync_hook(value: int) -> tuple[int, str]:
        return value + Author.objects.count(), threading.current_thread().name

    async def async_hook(value: int) -> tuple[int, str]:
        return value, threading.current_thread().name

    class AsyncCallable:
        async def __call__(self, value: int) -> tuple[int, str]:
            return value, threading.current_thread().name

    def returns_awaitable(value: int) -> Any:
        return async_hook(value)

    count, thread = await sync_thread.call_hook(sync_hook, 1)
    assert (count, thread != loop_thread) == (1, True)
    assert await sync_thread.call_hook(async_hook, 2) == (2, loop_thread)
    assert await sync_thread.call_hook(AsyncCallable(), 3) == (3, loop_thread)
    assert await sync_thread.call_hook(returns_awaitable, 4) == (4, loop_thread)
    # Off: everything on the loop, as before the setting existed.
    with pytest.raises(Exception, match="async context"):
        await sync_thread.call_hook(sync_hook, 5, sync_thread=False)
    assert (
        await sync_thread.call_hook(lambda: threading.current_thread().name, sync_thread=False)
        == loop_thread
    )


async def test_a_hook_exception_reaches_the_caller():
    def failing() -> None:
        Author.objects.get(name="nobody")

    with pytest.raises(Author.DoesNotExist):
        await sync_thread.call_hook(failing)


# ------------------------------------------------- where fields are decided


class Plain(graphene.ObjectType):
    value = graphene.Int()
    computed = graphene.Int()

    @staticmethod
    def resolve_computed(root, info):
        return Author.objects.count()


class PlainQuery(graphene.ObjectType):
    plain = graphene.Field(Plain)
    plain_list = graphene.List(Plain)
    numbers = graphene.List(graphene.Int)

    @staticmethod
    async def resolve_plain(root, info):
        return Plain(value=1)

    @staticmethod
    async def resolve_plain_list(root, info):
        return [Plain(value=n) for n in range(50)]

    @staticmethod
    async def resolve_numbers(root, info):
        # A lazy iterable from an async resolver: iterated in the thread.
        return Author.objects.values_list("id", flat=True)


PLAIN_SCHEMA = graphene.Schema(query=PlainQuery).graphql_schema


async def plain(query: str) -> ExecutionResult:
    return await thread_execution.execute_in_sync_thread(
        PLAIN_SCHEMA,
        parse(query),
        operation_name=None,
        variables=None,
        context=None,
        middleware=None,
    )


async def test_values_needing_no_sync_code_complete_on_the_loop_without_a_hop():
    before = hops()
    result = await plain("{ plain { value } plainList { value } }")
    assert result.errors is None
    assert result.data["plainList"][49] == {"value": 49}
    assert hops() == before


async def test_a_list_of_objects_with_a_sync_field_completes_in_one_hop():
    Author.objects  # noqa: B018 - the table exists (orm_db)
    before = hops()
    result = await plain("{ plainList { value computed } }")
    assert result.errors is None, result.errors
    assert result.data["plainList"][3] == {"value": 3, "computed": 0}
    assert hops() - before == 1


async def test_a_lazy_iterable_from_an_async_resolver_is_iterated_in_the_thread():
    ids = await sync_thread.run_in_sync_thread(
        lambda: [Author.objects.create(name=n).id for n in ("x", "y")]
    )
    result = await plain("{ numbers }")
    assert result.errors is None, result.errors
    assert sorted(result.data["numbers"]) == sorted(ids)


async def test_hops_go_to_the_thread_database_sync_to_async_uses():
    from asgiref.sync import SyncToAsync
    from channels.db import database_sync_to_async

    loop = asyncio.get_running_loop()
    ours = await sync_thread.run_in_sync_thread(
        lambda: (threading.get_ident(), SyncToAsync.threadlocal.main_event_loop)
    )
    theirs = await database_sync_to_async(threading.get_ident)()
    # The same thread, which knows the loop it serves (for `async_to_sync` there).
    assert ours == (theirs, loop)
    assert sync_thread._plain_sync_thread(loop) is SyncToAsync.single_thread_executor


def test_under_async_to_sync_hops_run_in_the_sync_thread_above():
    from asgiref.sync import async_to_sync

    async def hop() -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        return (
            await sync_thread.run_in_sync_thread(threading.get_ident),
            sync_thread._plain_sync_thread(loop) is None,
        )

    # As `sync_to_async` would: back in the calling thread (where a test's
    # transaction lives), through asgiref.
    assert async_to_sync(hop)() == (threading.get_ident(), True)
