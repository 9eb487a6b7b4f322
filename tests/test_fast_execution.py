"""``FastExecutionContext`` gives exactly stock graphql-core's results and errors."""

from __future__ import annotations

import asyncio
import decimal
import enum

import graphene
import pytest
from graphql import execute, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from channels_graphql_ws.execution import FAST_PATH_AVAILABLE, FastExecutionContext, is_awaitable

# The shortcut extends graphql-core 3.2's ExecutionContext; with 3.3 (a new
# executor) the library runs stock ``execute`` and there is nothing to compare.
pytestmark = pytest.mark.skipif(
    not FAST_PATH_AVAILABLE, reason="graphql-core without the 3.2 ExecutionContext"
)


class Color(enum.Enum):
    RED = 1


GrapheneColor = graphene.Enum.from_enum(Color)


class Thing:
    """An object source: attributes, a property that fails, a method."""

    def __init__(self, **values):
        self.__dict__.update(values)

    @property
    def broken(self):
        raise RuntimeError("property failed")


class Item(graphene.ObjectType):
    id = graphene.Int()
    required_id = graphene.Int(required=True)
    name = graphene.String()
    price = graphene.Float()
    active = graphene.Boolean()
    ident = graphene.ID()
    amount = graphene.Decimal()
    color = graphene.Field(GrapheneColor)
    tags = graphene.List(graphene.String)
    broken = graphene.String()
    greeting = graphene.String(name=graphene.String(default_value="you"))
    child = graphene.Field(lambda: Item)
    later = graphene.String()

    @staticmethod
    def resolve_greeting(root, info, name):
        return f"hi {name}"

    @staticmethod
    async def resolve_later(root, info):
        await asyncio.sleep(0)
        return "later"


class Query(graphene.ObjectType):
    items = graphene.List(Item)
    things = graphene.List(Item)

    @staticmethod
    def resolve_items(root, info):
        return info.context["items"]

    @staticmethod
    def resolve_things(root, info):
        return [Thing(**item) for item in info.context["items"]]


SCHEMA = graphene.Schema(query=Query).graphql_schema

FIELDS = "id requiredId name price active ident amount color tags broken greeting"
QUERIES = [
    f"{{ items {{ {FIELDS} child {{ id name }} }} }}",
    f"{{ things {{ {FIELDS} }} }}",
    "{ items { a: id b: id ...F } } fragment F on Item { name price }",
    '{ items { id @skip(if: true) name @include(if: false) greeting(name: "x") } }',
    "query($skip: Boolean!) { items { id @skip(if: $skip) name } }",
]


def run(query, items, *, fast, middleware=None, variables=None):
    kwargs = {}
    if fast:
        kwargs = {"execution_context_class": FastExecutionContext, "is_awaitable": is_awaitable}
    result = execute(
        SCHEMA,
        parse(query),
        context_value={"items": items},
        variable_values=variables,
        middleware=middleware,
        **kwargs,
    )
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result.data, [error.formatted for error in result.errors or ()]


def assert_same(query, items, **kwargs):
    assert run(query, items, fast=True, **kwargs) == run(query, items, fast=False, **kwargs)


ORDINARY = {"id": 1, "required_id": 2, "name": "n", "price": 1.5, "active": True, "ident": 7}

ODD_VALUES = [
    {"id": None, "required_id": None},  # null in a non-null field: an error
    {"id": 2**40, "price": float("nan")},  # not representable: serialize raises
    {"id": "12", "name": 5, "price": 3, "active": 0, "ident": 1.0},  # coerced or refused
    {"id": True, "amount": decimal.Decimal("1.10"), "color": Color.RED},
    {"tags": ("a", None, 3), "name": b"bytes"},
    {"id": 1.5, "active": "yes", "name": float("inf")},
    {},
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("values", [ORDINARY, *ODD_VALUES])
def test_results_and_errors_equal_stock_execute(query, values):
    items = [dict(values, child=dict(values)), dict(ORDINARY)]
    assert_same(query, items, variables={"skip": False})


def test_the_shortcut_steps_aside_for_middleware():
    calls = []

    def count(next_, root, info, **args):
        calls.append(info.field_name)
        return next_(root, info, **args)

    query = "{ items { id name } }"
    assert_same(query, [ORDINARY], middleware=[count])
    calls.clear()
    run(query, [ORDINARY], fast=True, middleware=[count])
    assert calls == ["items", "id", "name"]  # the middleware saw every field


def test_the_shortcut_is_taken_for_plain_fields():
    """It must actually skip graphql-core's per-field path, or it buys nothing."""
    calls = []

    class Counting(FastExecutionContext):
        def build_resolve_info(self, *args, **kwargs):
            calls.append(args[1][0].name.value)
            return super().build_resolve_info(*args, **kwargs)

    execute(
        SCHEMA,
        parse("{ items { id name price } }"),
        context_value={"items": [ORDINARY] * 10},
        execution_context_class=Counting,
    )
    assert calls == ["items"]  # none of the 30 scalar fields took the slow path


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers()), max_size=3),
)
records = st.fixed_dictionaries(
    {},
    optional={name: scalars for name in ("id", "required_id", "name", "price", "active", "ident")},
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(records, max_size=4))
def test_random_values_give_stock_results(items):
    assert_same(f"{{ items {{ {FIELDS} }} things {{ id name price }} }}", items)
