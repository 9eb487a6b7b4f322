"""``FastExecutionContext`` gives exactly stock graphql-core's results and errors."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum

import graphene
import pytest
from graphene.types.generic import GenericScalar
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


# ------------------------------------ interfaces, unions and custom scalars


class Shout(graphene.Scalar):
    """Upper-cases strings, refuses everything else (serialize raises)."""

    @staticmethod
    def serialize(value):
        if not isinstance(value, str):
            raise ValueError(f"Shout cannot represent {value!r}")
        return value.upper()


class Halved(graphene.Scalar):
    """Halves numbers; None for odd integers (graphql-core refuses a nullish serialization)."""

    @staticmethod
    def serialize(value):
        if isinstance(value, int) and value % 2:
            return None
        return value / 2


class Boxed(graphene.Scalar):
    """Returns a value that is not a plain scalar: a dict."""

    @staticmethod
    def serialize(value):
        return {"boxed": value}


class Named(graphene.Interface):
    id = graphene.Int()
    name = graphene.String()
    shout = Shout()

    @classmethod
    def resolve_type(cls, instance, info):
        kind = instance.get("kind") if isinstance(instance, dict) else None
        return {"person": Person, "robot": Robot}.get(kind)


class Person(graphene.ObjectType):
    class Meta:
        interfaces = (Named,)

    age = graphene.Int(required=True)
    halved = Halved()
    friend = graphene.Field(Named)


class Robot(graphene.ObjectType):
    class Meta:
        interfaces = (Named,)

    model = graphene.String()
    boxed = Boxed()
    payload = graphene.JSONString()
    extra = GenericScalar()
    built = graphene.Date()


class Anything(graphene.Union):
    class Meta:
        types = (Person, Robot, Item)

    @classmethod
    def resolve_type(cls, instance, info):
        kind = instance.get("kind") if isinstance(instance, dict) else None
        return {"person": Person, "robot": Robot, "item": Item}.get(kind)


class AbstractQuery(graphene.ObjectType):
    named = graphene.List(Named)
    anything = graphene.List(Anything)

    @staticmethod
    def resolve_named(root, info):
        return info.context["items"]

    @staticmethod
    def resolve_anything(root, info):
        return info.context["items"]


ABSTRACT_SCHEMA = graphene.Schema(query=AbstractQuery, types=[Person, Robot, Item]).graphql_schema

ABSTRACT_QUERIES = [
    "{ named { __typename id name shout ... on Person { age halved } ... on Robot { model } } }",
    "{ named { id ... on Person { friend { __typename name ... on Robot { boxed } } } } }",
    "{ anything { __typename ... on Named { id name } ... on Item { price name } } }",
    "{ anything { ... on Robot { boxed payload extra built } ... on Person { halved shout } } }",
    "{ named { ...N } anything { ...N } } fragment N on Named { n: name shout id }",
]

PERSON = {"kind": "person", "id": 1, "name": "ann", "shout": "hey", "age": 30, "halved": 4}
ROBOT = {
    "kind": "robot",
    "id": 2,
    "name": "r2",
    "shout": "beep",
    "model": "astromech",
    "boxed": 5,
    "payload": {"a": [1, 2]},
    "extra": {"x": (1, 2)},
    "built": datetime.date(1977, 5, 25),
}
ITEM = dict(ORDINARY, kind="item")

ABSTRACT_VALUES = [
    [PERSON, ROBOT, ITEM],
    [dict(PERSON, halved=3, shout=7, age=None), dict(ROBOT, built="not a date", boxed=None)],
    [dict(PERSON, friend=ROBOT), dict(PERSON, friend=dict(PERSON, name=None))],
    [dict(PERSON, id="7", name=12, halved=2.5), dict(ROBOT, shout=None, payload=float("nan"))],
    [{"kind": "unknown", "id": 1}, dict(PERSON, kind=None)],  # resolve_type finds nothing
    [dict(PERSON, friend={"kind": "nobody"}), {}],
]


def run_abstract(query, items, *, fast):
    kwargs = {}
    if fast:
        kwargs = {"execution_context_class": FastExecutionContext, "is_awaitable": is_awaitable}
    result = execute(ABSTRACT_SCHEMA, parse(query), context_value={"items": items}, **kwargs)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result.data, [error.formatted for error in result.errors or ()]


@pytest.mark.parametrize("query", ABSTRACT_QUERIES)
@pytest.mark.parametrize("items", ABSTRACT_VALUES)
def test_interfaces_unions_and_custom_scalars_give_stock_results(query, items):
    assert run_abstract(query, items, fast=True) == run_abstract(query, items, fast=False)


def test_the_shortcut_serves_custom_scalars_of_objects_behind_an_abstract_type():
    """Objects reached through an interface or a union still take the shortcut."""
    calls = []

    class Counting(FastExecutionContext):
        def build_resolve_info(self, *args, **kwargs):
            calls.append(args[1][0].name.value)
            return super().build_resolve_info(*args, **kwargs)

    result = execute(
        ABSTRACT_SCHEMA,
        parse("{ named { id name shout ... on Person { age halved } } }"),
        context_value={"items": [PERSON] * 5},
        execution_context_class=Counting,
    )
    assert not result.errors
    assert result.data["named"][0] == {
        "id": 1,
        "name": "ann",
        "shout": "HEY",
        "age": 30,
        "halved": 2.0,
    }
    assert calls == ["named"]


mixed = st.one_of(
    scalars,
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.sampled_from(["person", "robot", "item"]),
)
abstract_records = st.fixed_dictionaries(
    {"kind": st.sampled_from(["person", "robot", "item", "other"])},
    optional={
        name: mixed
        for name in ("id", "name", "shout", "age", "halved", "model", "boxed", "extra", "price")
    },
)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(abstract_records, max_size=4), st.sampled_from(ABSTRACT_QUERIES))
def test_random_values_behind_abstract_types_give_stock_results(items, query):
    assert run_abstract(query, items, fast=True) == run_abstract(query, items, fast=False)
