"""GraphQL schema of the example: a greeting and an in-process counter."""

import threading

import graphene

_counter_lock = threading.Lock()
_counter = 0


class Query(graphene.ObjectType):
    """Read-only fields."""

    hello = graphene.String(name=graphene.String(default_value="world"))
    counter = graphene.Int()

    @staticmethod
    def resolve_hello(root: object, info: graphene.ResolveInfo, name: str) -> str:
        return f"Hello, {name}!"

    @staticmethod
    def resolve_counter(root: object, info: graphene.ResolveInfo) -> int:
        return _counter


class Increment(graphene.Mutation):
    """Add `by` to the counter and return the new value."""

    class Arguments:
        by = graphene.Int(default_value=1)

    value = graphene.Int()

    @staticmethod
    def mutate(root: object, info: graphene.ResolveInfo, by: int) -> "Increment":
        global _counter
        # Resolvers may run in worker threads.
        with _counter_lock:
            _counter += by
            return Increment(value=_counter)


class Mutation(graphene.ObjectType):
    """Fields that change state."""

    increment = Increment.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)
