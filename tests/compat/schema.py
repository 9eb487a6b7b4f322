"""The schema the compatibility tests serve, written the way a user of 1.0.0rc7 would."""

from __future__ import annotations

import asyncio

import graphene


class Query(graphene.ObjectType):
    """Plain fields, a failing one, a slow one and a few that look at the context."""

    hello = graphene.String(name=graphene.String(default_value="world"))
    fail = graphene.String(reason=graphene.String(default_value="Resolver went wrong!"))
    slow = graphene.String(seconds=graphene.Float(default_value=0.1))
    scope_path = graphene.String()
    scope_header = graphene.String(name=graphene.String(required=True))
    hits = graphene.Int()
    note_seen_before = graphene.Boolean()
    operation_name = graphene.String()
    operation_id = graphene.String()
    channel_name = graphene.String()

    @staticmethod
    def resolve_hello(root, info, name):
        return f"Hello, {name}!"

    @staticmethod
    def resolve_fail(root, info, reason):
        raise RuntimeError(reason)

    @staticmethod
    async def resolve_slow(root, info, seconds):
        await asyncio.sleep(seconds)
        return f"Slept {seconds} s."

    @staticmethod
    def resolve_scope_path(root, info):
        return info.context.channels_scope["path"]

    @staticmethod
    def resolve_scope_header(root, info, name):
        wanted = name.encode()
        for key, value in info.context.channels_scope["headers"]:
            if key == wanted:
                return value.decode()
        return None

    @staticmethod
    def resolve_hits(root, info):
        # Counted in the connection's scope, so the count outlives the operation.
        scope = info.context.channels_scope
        scope["compat_hits"] = scope.get("compat_hits", 0) + 1
        return scope["compat_hits"]

    @staticmethod
    def resolve_note_seen_before(root, info):
        # Whether an earlier operation's context write leaked into this one.
        seen = "note" in info.context
        info.context.note = "written by an operation"
        return seen

    @staticmethod
    def resolve_operation_name(root, info):
        return info.context.graphql_operation_name

    @staticmethod
    def resolve_operation_id(root, info):
        return str(info.context.graphql_operation_id)

    @staticmethod
    def resolve_channel_name(root, info):
        return info.context.channel_name


class SetGreeting(graphene.Mutation):
    """A mutation echoing its argument back, upper-cased."""

    class Arguments:
        text = graphene.String(required=True)

    greeting = graphene.String()

    @staticmethod
    def mutate(root, info, text):
        return SetGreeting(greeting=text.upper())


class Mutation(graphene.ObjectType):
    set_greeting = SetGreeting.Field()


SCHEMA = graphene.Schema(query=Query, mutation=Mutation)
