"""The shared document cache and error formatting of execution.py."""

from __future__ import annotations

import graphene
from graphql import GraphQLError

from channels_graphql_ws import execution


class Query(graphene.ObjectType):
    a = graphene.Int()
    b = graphene.Int()


SCHEMA = graphene.Schema(query=Query).graphql_schema
OTHER_SCHEMA = graphene.Schema(query=Query).graphql_schema


def test_same_schema_and_query_are_prepared_once():
    cache = execution.DocumentCache()
    first = cache.prepare(SCHEMA, "{ a }")
    assert cache.prepare(SCHEMA, "{ a }") is first
    assert len(cache) == 1


def test_cache_is_keyed_by_schema_too():
    cache = execution.DocumentCache()
    assert cache.prepare(SCHEMA, "{ a }") is not cache.prepare(OTHER_SCHEMA, "{ a }")
    assert len(cache) == 2


def test_cache_is_bounded_by_entries_least_recently_used_first():
    cache = execution.DocumentCache(max_entries=2)
    a = cache.prepare(SCHEMA, "{ a }")
    cache.prepare(SCHEMA, "{ b }")
    cache.prepare(SCHEMA, "{ a }")  # now most recent
    cache.prepare(SCHEMA, "{ a b }")
    assert len(cache) == 2
    assert cache.prepare(SCHEMA, "{ a }") is a


def test_cache_is_bounded_by_total_query_size():
    cache = execution.DocumentCache(max_entries=100, max_chars=30)
    for n in range(10):
        cache.prepare(SCHEMA, "{ a }" + " " * n)
    assert sum(len(query) for _, query in cache._entries) <= 30
    huge = "{ a }" + " " * 100
    assert cache.prepare(SCHEMA, huge).errors == ()
    assert all(query != huge for _, query in cache._entries)


def test_failures_are_cached_with_every_validation_error():
    cache = execution.DocumentCache()
    prepared = cache.prepare(SCHEMA, "{ x y }")
    messages = [e.message for e in prepared.errors]
    assert len(messages) == 2
    assert messages[0].startswith("Cannot query field 'x'")
    assert messages[1].startswith("Cannot query field 'y'")
    assert prepared.document is None
    assert cache.prepare(SCHEMA, "{ x y }") is prepared


def test_deeply_nested_document_is_an_error_not_a_crash():
    prepared = execution.prepare_document(SCHEMA, "{ a " + "{ a " * 5000 + "}" * 5001)
    assert prepared.errors and prepared.document is None


def test_operation_is_picked_by_name():
    prepared = execution.prepare_document(SCHEMA, "query X { a } query Y { b }")
    assert prepared.operation("Y").name.value == "Y"
    assert prepared.operation(None) is None
    assert prepared.operation("Z") is None


def test_format_error_of_a_plain_exception_names_its_class():
    assert execution.format_error(ValueError("bad")) == {
        "message": "ValueError: bad",
        "extensions": {"code": "ValueError"},
    }


def test_format_error_adds_code_only_to_non_empty_extensions():
    plain = GraphQLError("x", original_error=KeyError("k"))
    assert "extensions" not in execution.format_error(plain)
    rich = GraphQLError("x", original_error=KeyError("k"), extensions={"a": 1})
    assert execution.format_error(rich)["extensions"] == {"a": 1, "code": "KeyError"}
    assert rich.extensions == {"a": 1}  # the error itself is left alone
    coded = GraphQLError("x", original_error=KeyError("k"), extensions={"code": "MINE"})
    assert execution.format_error(coded)["extensions"] == {"code": "MINE"}
