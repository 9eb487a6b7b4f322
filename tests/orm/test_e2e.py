"""Django's ORM in resolvers, end to end: daphne and uvicorn, SQLite and PostgreSQL.

The servers serve ``tests.orm.schema`` with the consumer's defaults: every
resolver and hook that queries is a plain sync function, and nothing in the
schema calls ``database_sync_to_async``. Both subprotocols, through a raw
``websockets`` client. Every test uses authors of its own: the servers and
databases live for the whole session.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from ..e2e.support import Server
from .support import (
    LEGACY_WS,
    TEST_TIMEOUT,
    TRANSPORT_WS,
    Database,
    GraphqlSocket,
    graphql_socket,
    server_connections,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(TEST_TIMEOUT)]

SUBPROTOCOLS = pytest.mark.parametrize("subprotocol", [TRANSPORT_WS, LEGACY_WS])

CREATE_POST = (
    "mutation Create($title: String!, $author: String!, $tags: [String!]) "
    "{ createPost(title: $title, author: $author, tags: $tags) "
    "{ post { id title author { id name } } } }"
)
ON_NEW_POST = (
    "subscription OnNewPost($author: String!) "
    "{ onNewPost(author: $author) { post { title author { name } tags { name } } } }"
)
ON_POST_CHANGE = (
    "subscription Changes($authorId: ID!) "
    "{ onPostChange(authorId: $authorId) { change title author } }"
)
HOOK_EVENTS = "query Events($author: String) { hookEvents(author: $author) { kind } }"


def new_author() -> str:
    return f"author-{uuid.uuid4().hex[:12]}"


async def create_post(
    client: GraphqlSocket, author: str, title: str, tags: list[str] | None = None
) -> dict[str, Any]:
    result = await client.execute(CREATE_POST, {"title": title, "author": author, "tags": tags})
    assert "errors" not in result, result
    post: dict[str, Any] = result["data"]["createPost"]["post"]
    return post


@SUBPROTOCOLS
async def test_graphene_django_queries_and_a_sync_mutation(orm_server: Server, subprotocol: str):
    author = new_author()
    async with graphql_socket(orm_server, subprotocol) as client:
        for n in range(3):
            await create_post(client, author, f"{author} post {n}", tags=[f"{author}-t{n}"])
        result = await client.execute(
            "query Q($name: String!) { authors { name posts { title tags { name } } } "
            "asyncPost(title: $name) { title author { name } tags { name } } "
            "page: allPosts(first: 2) { edges { node { id title } } "
            "pageInfo { hasNextPage endCursor } } }",
            {"name": f"{author} post 1"},
        )
        assert "errors" not in result, result
        data = result["data"]
        mine = [entry for entry in data["authors"] if entry["name"] == author]
        assert mine == [
            {
                "name": author,
                "posts": [
                    {"title": f"{author} post {n}", "tags": [{"name": f"{author}-t{n}"}]}
                    for n in range(3)
                ],
            }
        ]
        # A mixed document: asyncPost is async, its nested fields follow
        # the foreign key and the many-to-many in the sync thread.
        assert data["asyncPost"] == {
            "title": f"{author} post 1",
            "author": {"name": author},
            "tags": [{"name": f"{author}-t1"}],
        }
        page = data["page"]
        assert len(page["edges"]) == 2 and page["pageInfo"]["hasNextPage"] is True
        rest = await client.execute(
            "query Rest($after: String) { allPosts(first: 2, after: $after) "
            "{ edges { node { id } } } }",
            {"after": page["pageInfo"]["endCursor"]},
        )
        assert "errors" not in rest, rest
        first_ids = {edge["node"]["id"] for edge in page["edges"]}
        rest_ids = {edge["node"]["id"] for edge in rest["data"]["allPosts"]["edges"]}
        # The next page: posts after the first two (this test made three).
        assert rest_ids and first_ids.isdisjoint(rest_ids)


@SUBPROTOCOLS
async def test_a_saved_model_reaches_a_subscriber_whose_hooks_query(
    orm_server: Server, subprotocol: str
):
    author = new_author()
    async with (
        graphql_socket(orm_server, subprotocol) as subscriber,
        graphql_socket(orm_server, subprotocol) as writer,
    ):
        await create_post(writer, author, f"{author} first")  # the author exists now
        sub_id = await subscriber.subscribe(ON_NEW_POST, {"author": author})
        events = await writer.execute(HOOK_EVENTS, {"author": author})
        assert events == {"data": {"hookEvents": [{"kind": "subscribe"}]}}

        await create_post(writer, author, f"{author} second", tags=["a", "b"])
        assert await subscriber.result(sub_id) == {
            "data": {
                "onNewPost": {
                    "post": {
                        "title": f"{author} second",
                        "author": {"name": author},
                        "tags": [{"name": "a"}, {"name": "b"}],
                    }
                }
            }
        }
        await subscriber.stop(sub_id)
        await subscriber.completed(sub_id)  # sent after `unsubscribed` ran
        events = await writer.execute(HOOK_EVENTS, {"author": author})
        assert events == {"data": {"hookEvents": [{"kind": "subscribe"}, {"kind": "unsubscribed"}]}}


def post_form(server: Server, path: str, fields: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=urllib.parse.urlencode(fields).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


@SUBPROTOCOLS
async def test_a_save_in_a_view_reaches_subscribers_only_when_committed(
    orm_server: Server, subprotocol: str
):
    author = new_author()
    async with graphql_socket(orm_server, subprotocol) as client:
        author_id = (await create_post(client, author, f"{author} seed"))["author"]["id"]
        sub_id = await client.subscribe(ON_POST_CHANGE, {"authorId": author_id})
        fields = {"author_id": author_id}
        rolled_back = await asyncio.to_thread(
            post_form, orm_server, "/posts/save/", {**fields, "title": "gone", "rollback": "1"}
        )
        assert rolled_back == {"saved": False}
        saved = await asyncio.to_thread(
            post_form, orm_server, "/posts/save/", {**fields, "title": "kept"}
        )
        assert saved["saved"] is True
        # The rolled-back save came first: had it been sent, it would be first.
        assert await client.result(sub_id) == {
            "data": {"onPostChange": {"change": "created", "title": "kept", "author": author}}
        }


# PostgreSQL only: SQLite has no server to count connections in.
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_no_database_connection_is_left_open(orm_server: Server, database: Database):
    """CONN_MAX_AGE = 0: after 1,000 queries and 1,000 notifications, no more connections."""
    assert database.kind == "postgres"
    author = new_author()
    async with (
        graphql_socket(orm_server, TRANSPORT_WS) as subscriber,
        graphql_socket(orm_server, TRANSPORT_WS) as client,
        graphql_socket(orm_server, LEGACY_WS) as writer,
    ):
        await create_post(writer, author, "seed")
        sub_id = await subscriber.subscribe(ON_NEW_POST, {"author": author})
        before = await settled_connections(database, at_most=None)

        async def queries(count: int) -> None:
            for _ in range(count):
                result = await client.execute("{ postCount }")
                assert result["data"]["postCount"] >= 1

        # 1,000 notifications: each a saving mutation (so 1,000 more queries)
        # whose broadcast the subscriber's sync `publish` completes from the
        # database; 1,000 plain queries alongside.
        async def notifications(count: int) -> None:
            for seq in range(count):
                await create_post(writer, author, f"n{seq}")

        async def receive(count: int) -> list[str]:
            titles = []
            for _ in range(count):
                result = await subscriber.result(sub_id)
                titles.append(result["data"]["onNewPost"]["post"]["title"])
                assert result["data"]["onNewPost"]["post"]["author"] == {"name": author}
            return titles

        reader = asyncio.ensure_future(receive(1000))
        await asyncio.gather(queries(1000), notifications(1000))
        titles = await asyncio.wait_for(reader, 120)
        assert titles == [f"n{seq}" for seq in range(1000)]
        after = await settled_connections(database, at_most=before)
        assert after <= before, (before, after)
        print(f"{orm_server.name}: server connections before {before}, after {after}")


async def settled_connections(database: Database, at_most: int | None) -> int:
    """The servers' connection count once it stops changing (backends end asynchronously)."""
    deadline = time.monotonic() + 10
    last = await asyncio.to_thread(server_connections, database)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        count = await asyncio.to_thread(server_connections, database)
        if count == last and (at_most is None or count <= at_most):
            return count
        last = count
    return last
