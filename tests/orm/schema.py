"""A graphene-django schema over ``tests.orm.models``, written as a Django team writes one.

Every resolver that touches the database is a plain sync function doing plain
ORM calls (no ``database_sync_to_async``): with the consumer's default
``sync_code_in_thread`` they run in Django's sync thread. A few async
resolvers (``asyncPost``, ``asyncAuthors``, ``asyncEcho``) make documents that
mix both: their values' nested fields follow foreign keys in the thread.

- ``posts``: ``DjangoListField`` of every post; ``authors``: a plain list from
  a sync resolver; ``allPosts``: ``DjangoConnectionField`` with relay paging;
- ``createPost``: saves a post (a sync mutation) and broadcasts it on commit
  to ``onNewPost(author)``, whose sync ``publish`` returns the model instance
  and whose sync ``subscribe``/``unsubscribed`` query and write the database;
- ``onPostChange(authorId)``: fed by ``broadcast_model_changes`` on every save
  and delete of a ``Post`` (see ``connect_model_changes``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import graphene
from django.db import transaction
from graphene import relay
from graphene_django import DjangoConnectionField, DjangoListField, DjangoObjectType

import channels_graphql_ws

from .models import Author, HookEvent, Post, Tag


class TagType(DjangoObjectType):
    class Meta:
        model = Tag
        fields = ("id", "name")


class AuthorType(DjangoObjectType):
    class Meta:
        model = Author
        fields = ("id", "name", "posts")

    # The reverse foreign key as a DjangoListField (a query per author).
    posts = DjangoListField(lambda: PostType)
    # Which thread completed this object: proof of where sync code ran.
    thread = graphene.String()

    @staticmethod
    def resolve_thread(root: Author, info: graphene.ResolveInfo) -> str:
        return threading.current_thread().name


class PostType(DjangoObjectType):
    """A post: ``author`` follows the foreign key, ``tags`` the many-to-many."""

    class Meta:
        model = Post
        fields = ("id", "title", "author", "tags")


class PostNode(DjangoObjectType):
    """The relay node of a post, for ``DjangoConnectionField``."""

    class Meta:
        model = Post
        fields = ("title", "author", "tags")
        interfaces = (relay.Node,)


class HookEventType(DjangoObjectType):
    class Meta:
        model = HookEvent
        fields = ("kind", "author")


class Query(graphene.ObjectType):
    node = relay.Node.Field()
    posts = DjangoListField(PostType)
    all_posts = DjangoConnectionField(PostNode)
    authors = graphene.List(graphene.NonNull(AuthorType))
    post_count = graphene.Int()
    hook_events = graphene.List(graphene.NonNull(HookEventType), author=graphene.String())
    async_post = graphene.Field(PostType, title=graphene.String(required=True))
    async_authors = graphene.List(graphene.NonNull(AuthorType))
    async_echo = graphene.String(text=graphene.String(required=True))
    loop_thread = graphene.String()

    @staticmethod
    def resolve_authors(root: None, info: graphene.ResolveInfo) -> Any:
        return Author.objects.order_by("name")

    @staticmethod
    def resolve_post_count(root: None, info: graphene.ResolveInfo) -> int:
        return Post.objects.count()

    @staticmethod
    def resolve_hook_events(
        root: None, info: graphene.ResolveInfo, author: str | None = None
    ) -> Any:
        events = HookEvent.objects.all()
        return events if author is None else events.filter(author=author)

    @staticmethod
    async def resolve_async_post(root: None, info: graphene.ResolveInfo, title: str) -> Post:
        # Django's async ORM on the loop; the nested fields then need the thread.
        return await Post.objects.aget(title=title)

    @staticmethod
    async def resolve_async_authors(root: None, info: graphene.ResolveInfo) -> list[Author]:
        await asyncio.sleep(0)
        return [author async for author in Author.objects.order_by("name")]

    @staticmethod
    async def resolve_async_echo(root: None, info: graphene.ResolveInfo, text: str) -> str:
        await asyncio.sleep(0)
        return text

    @staticmethod
    async def resolve_loop_thread(root: None, info: graphene.ResolveInfo) -> str:
        return threading.current_thread().name


class OnNewPost(channels_graphql_ws.Subscription):
    """New posts of an author; every hook is sync and uses the ORM."""

    post = graphene.Field(PostType)

    class Arguments:
        author = graphene.String(required=True)

    @staticmethod
    def subscribe(root: None, info: graphene.ResolveInfo, author: str) -> list[str]:
        # An unknown author refuses the subscription (Author.DoesNotExist).
        Author.objects.get(name=author)
        HookEvent.objects.create(kind="subscribe", author=author)
        return [author]

    @staticmethod
    def publish(payload: Post, info: graphene.ResolveInfo, author: str) -> OnNewPost:
        # The payload is the model instance the mutation broadcast; its
        # `author` and `tags` are read from the database as the fields ask.
        return OnNewPost(post=payload)

    @staticmethod
    def unsubscribed(root: None, info: graphene.ResolveInfo, author: str) -> None:
        HookEvent.objects.create(kind="unsubscribed", author=author)


class OnPostChange(channels_graphql_ws.Subscription):
    """Every save and delete of an author's posts (``broadcast_model_changes``)."""

    change = graphene.String()
    title = graphene.String()
    author = graphene.String()

    class Arguments:
        author_id = graphene.ID(required=True)

    @staticmethod
    def subscribe(root: None, info: graphene.ResolveInfo, author_id: str) -> list[int]:
        return [int(author_id)]

    @staticmethod
    def publish(payload: dict[str, Any], info: graphene.ResolveInfo, author_id: str) -> Any:
        post = payload["post"]
        # `post.author` follows the foreign key: one query, in the sync thread.
        return OnPostChange(change=payload["change"], title=post.title, author=post.author.name)


def connect_model_changes() -> Any:
    """Broadcast every change of a post to its author's ``onPostChange`` subscribers."""
    return OnPostChange.broadcast_model_changes(
        Post,
        group=lambda post: post.author_id,
        payload=lambda post, change: {"post": post, "change": change},
    )


class CreatePost(graphene.Mutation):
    """Save a post with its tags and tell the author's ``onNewPost`` subscribers."""

    class Arguments:
        title = graphene.String(required=True)
        author = graphene.String(required=True)
        tags = graphene.List(graphene.NonNull(graphene.String), default_value=())

    post = graphene.Field(PostType)

    @staticmethod
    def mutate(
        root: None, info: graphene.ResolveInfo, title: str, author: str, tags: list[str] | None
    ) -> CreatePost:
        with transaction.atomic():
            writer, _ = Author.objects.get_or_create(name=author)
            post = Post.objects.create(title=title, author=writer)
            post.tags.set([Tag.objects.get_or_create(name=name)[0] for name in tags or ()])
            OnNewPost.broadcast_on_commit(group=author, payload=post)
        return CreatePost(post=post)


class Mutation(graphene.ObjectType):
    create_post = CreatePost.Field()


class Subscription(graphene.ObjectType):
    on_new_post = OnNewPost.Field()
    on_post_change = OnPostChange.Field()


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
