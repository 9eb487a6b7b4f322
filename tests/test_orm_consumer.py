"""Django's ORM through the consumer: graphene-django types, sync hooks, model broadcasts.

In-process (``channels_graphql_ws.testing``) against ``tests.orm.schema`` on
a SQLite file; the same schema is served by real servers in
``tests/orm/test_e2e.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import transaction

from channels_graphql_ws import sync_thread
from channels_graphql_ws.client import GraphqlWsResponseError
from channels_graphql_ws.testing import GraphqlWsClient
from tests.orm.models import Author, HookEvent, Post
from tests.orm.schema import OnNewPost, connect_model_changes, schema

pytestmark = pytest.mark.usefixtures("orm_db")

SUBPROTOCOLS = ["graphql-transport-ws", "graphql-ws"]

ON_NEW_POST = (
    "subscription OnNewPost($author: String!) "
    "{ onNewPost(author: $author) { post { title author { name } tags { name } } } }"
)
CREATE_POST = (
    "mutation Create($title: String!, $author: String!, $tags: [String!]) "
    "{ createPost(title: $title, author: $author, tags: $tags) { post { id title } } }"
)
ON_POST_CHANGE = (
    "subscription Changes($authorId: ID!) "
    "{ onPostChange(authorId: $authorId) { change title author } }"
)


@pytest.fixture(params=SUBPROTOCOLS)
def connect(graphql_ws_client: Any, request: pytest.FixtureRequest) -> Any:
    async def connect(**settings: Any) -> GraphqlWsClient:
        settings.setdefault("confirm_subscriptions", True)
        client: GraphqlWsClient = await graphql_ws_client(
            schema, subprotocol=request.param, **settings
        )
        client.transport.TIMEOUT = 10
        return client

    return connect


@pytest.fixture
def ada(orm_db: None) -> Author:
    return Author.objects.create(name="ada")


async def hook_events() -> list[tuple[str, str]]:
    return await sync_thread.run_in_sync_thread(
        lambda: list(HookEvent.objects.values_list("kind", "author"))
    )


async def test_sync_mutation_broadcasts_a_model_that_sync_publish_follows(connect, ada):
    subscriber, writer = await connect(), await connect()
    sub_id = await subscriber.subscribe(ON_NEW_POST, variables={"author": "ada"})
    assert await hook_events() == [("subscribe", "ada")]

    created = await writer.execute(
        CREATE_POST, {"title": "hello", "author": "ada", "tags": ["red", "blue"]}
    )
    assert created["data"]["createPost"]["post"]["title"] == "hello"
    # `publish` got the Post the mutation broadcast: its author and tags are
    # read from the database, in the sync thread.
    assert await subscriber.receive_next(sub_id) == {
        "data": {
            "onNewPost": {
                "post": {
                    "title": "hello",
                    "author": {"name": "ada"},
                    "tags": [{"name": "red"}, {"name": "blue"}],
                }
            }
        }
    }
    await subscriber.complete(sub_id)
    await subscriber.receive_complete(sub_id)
    assert await hook_events() == [("subscribe", "ada"), ("unsubscribed", "ada")]


async def test_a_subscribe_that_raises_on_a_missing_row_refuses_the_subscription(connect):
    client = await connect()
    op_id = await client.start(ON_NEW_POST, variables={"author": "nobody"})
    with pytest.raises(GraphqlWsResponseError, match="does not exist"):
        await client.receive(assert_id=op_id)


async def test_queries_with_graphene_django_fields(connect, ada):
    client = await connect()
    await client.execute(CREATE_POST, {"title": "one", "author": "ada", "tags": ["x"]})
    await client.execute(CREATE_POST, {"title": "two", "author": "ada"})
    result = await client.execute(
        "{ authors { name posts { title tags { name } } } "
        "allPosts(first: 1) { edges { node { title } } pageInfo { hasNextPage } } postCount }"
    )
    assert result == {
        "data": {
            "authors": [
                {
                    "name": "ada",
                    "posts": [
                        {"title": "one", "tags": [{"name": "x"}]},
                        {"title": "two", "tags": []},
                    ],
                }
            ],
            "allPosts": {"edges": [{"node": {"title": "one"}}], "pageInfo": {"hasNextPage": True}},
            "postCount": 2,
        }
    }


async def test_a_broadcast_costs_one_hop_for_all_subscribers_of_the_process(connect, ada):
    subscribers = [await connect() for _ in range(10)]
    ids = [
        await client.subscribe(ON_NEW_POST, variables={"author": "ada"}) for client in subscribers
    ]
    post = await sync_thread.run_in_sync_thread(lambda: Post.objects.create(title="t", author=ada))
    batcher = sync_thread.batcher()
    hops_before, calls_before = batcher.hops, batcher.calls
    await OnNewPost.broadcast_async(group="ada", payload=post)
    for client, op_id in zip(subscribers, ids, strict=True):
        result = await client.receive_next(op_id)
        assert result["data"]["onNewPost"]["post"]["author"] == {"name": "ada"}
    assert batcher.hops - hops_before == 1
    assert batcher.calls - calls_before == 10


async def test_model_changes_reach_subscribers_only_when_committed(connect, ada):
    disconnect = connect_model_changes()
    try:
        client = await connect()
        sub_id = await client.subscribe(ON_POST_CHANGE, variables={"authorId": str(ada.id)})

        def save(title: str, rollback: bool = False) -> Post:
            try:
                with transaction.atomic():
                    post = Post.objects.create(title=title, author=ada)
                    if rollback:
                        raise RuntimeError("roll back")
            except RuntimeError:
                pass
            return post

        await asyncio.to_thread(save, "rolled back", rollback=True)
        post = await asyncio.to_thread(save, "kept")
        assert await client.receive_next(sub_id) == {
            "data": {"onPostChange": {"change": "created", "title": "kept", "author": "ada"}}
        }
        post.title = "renamed"
        await asyncio.to_thread(post.save)
        await asyncio.to_thread(post.delete)
        assert [(await client.receive_next(sub_id))["data"]["onPostChange"] for _ in range(2)] == [
            {"change": "updated", "title": "renamed", "author": "ada"},
            {"change": "deleted", "title": "renamed", "author": "ada"},
        ]
        await client.assert_no_messages(attempts=3, interval=0.05)
    finally:
        disconnect()
    await asyncio.to_thread(Post.objects.create, title="after disconnect", author=ada)
    await client.assert_no_messages(attempts=3, interval=0.05)


async def test_with_the_setting_off_sync_resolvers_run_on_the_loop(connect, ada):
    client = await connect(sync_code_in_thread=False)
    with pytest.raises(GraphqlWsResponseError, match="async context"):
        await client.execute("{ postCount }")
    result = await client.execute('{ asyncEcho(text: "still fine") }')
    assert result == {"data": {"asyncEcho": "still fine"}}
