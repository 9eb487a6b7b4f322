"""The limits that bound what a document costs before it is validated (execution.py).

graphql-core's validation is quadratic in selections that share a response
name, so length and token count are checked before parsing and a cheap
measure of the validation's work (``validation_cost``) before validating.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time

import graphene
import pytest
from graphql import get_introspection_query, parse, validate
from graphql.language import Lexer, Source, TokenKind
from graphql.validation.rules import overlapping_fields_can_be_merged
from hypothesis import given, settings
from hypothesis import strategies as st

from channels_graphql_ws import execution
from channels_graphql_ws.execution import DocumentCache, DocumentLimits


class Item(graphene.ObjectType):
    id = graphene.ID()
    value = graphene.Int()
    item = graphene.Field(lambda: Item)
    items = graphene.List(lambda: Item, first=graphene.Int())


class Query(graphene.ObjectType):
    value = graphene.Int()
    item = graphene.Field(Item)
    items = graphene.List(Item, first=graphene.Int())


SCHEMA = graphene.Schema(query=Query).graphql_schema

DEFAULTS = DocumentLimits(
    max_length=100_000, max_tokens=execution.DEFAULT_MAX_DOCUMENT_TOKENS, max_depth=64
)


def code_of(prepared: execution.PreparedDocument) -> str | None:
    assert prepared.errors, "expected a refusal"
    return (prepared.errors[0].extensions or {}).get("code")


# ------------------------------------------------------------------ tokens


def lexer_count(query: str) -> int:
    """graphql-core's own count: every token the lexer links, comments included."""
    lexer = Lexer(Source(query))
    while lexer.advance().kind != TokenKind.EOF:
        pass
    count, token = 0, lexer.token.prev
    while token is not None and token.kind != TokenKind.SOF:
        count += 1
        token = token.prev
    return count


TOKEN_SAMPLES = [
    "name",
    "_x9",
    "0",
    "-12",
    "3.25",
    "6.02e23",
    "1E-3",
    "...",
    "!",
    "$",
    "&",
    "(",
    ")",
    ":",
    "=",
    "@",
    "[",
    "]",
    "{",
    "|",
    "}",
    '""',
    '"with \\" quote and \\\\ slash"',
    '"\\u00e9 \\n # not a comment"',
    '""""""',
    '"""block with "quotes" and \\""" escaped"""',
    '"""multi\nline\n# not a comment\n"""',
    '# comment with """ and \' and {',
    '# "',
]
IGNORED = [" ", "\t", "\n", "\r\n", ",", "\ufeff"]


@given(st.lists(st.tuples(st.sampled_from(TOKEN_SAMPLES), st.sampled_from(IGNORED)), max_size=60))
@settings(max_examples=300, deadline=None)
def test_token_count_equals_graphql_cores_lexer(pieces):
    # Comments run to the end of their line: end each piece with a newline.
    query = "".join(token + ignored + "\n" for token, ignored in pieces)
    assert execution.count_tokens(query) == lexer_count(query)


def test_token_count_of_real_documents():
    introspection = get_introspection_query(descriptions=True)
    assert execution.count_tokens(introspection) == lexer_count(introspection)
    relay = relay_like_document(40)
    assert execution.count_tokens(relay) == lexer_count(relay)


@pytest.mark.parametrize(
    "text",
    [
        '"""' + '\\"""' * 25_000,  # a block string that never ends, full of escapes
        '"' * 100_000,
        "{" + " a" * 50_000,
        "#" + "x" * 100_000,
    ],
    ids=["escaped-block-quotes", "quotes", "names", "comment"],
)
def test_token_count_is_linear_even_on_unterminated_strings(text):
    started = time.perf_counter()
    execution.count_tokens(text)
    # About 5 ms on a slow machine; a scan going back over the text would
    # take minutes on the first one.
    assert time.perf_counter() - started < 1


def test_over_the_token_limit_is_refused_before_parsing():
    limits = DocumentLimits(max_tokens=5)
    refused = execution.prepare_document(SCHEMA, "{ value item { id } }", limits)
    assert refused.refused and code_of(refused) == "MAX_DOCUMENT_TOKENS"
    assert "7 tokens; the limit is 5" in refused.errors[0].message
    # Not parsed: a syntax error does not show.
    assert code_of(execution.prepare_document(SCHEMA, "{ { { { { {", limits)) == (
        "MAX_DOCUMENT_TOKENS"
    )
    # Comments count: the lexer reads them as it reads any token.
    commented = "#\n" * 10 + "{ value }"
    assert code_of(execution.prepare_document(SCHEMA, commented, limits)) == ("MAX_DOCUMENT_TOKENS")
    assert not execution.prepare_document(SCHEMA, "{ value }", limits).errors


def test_over_the_length_limit_is_refused_before_anything_else():
    limits = DocumentLimits(max_length=10, max_tokens=1)
    refused = execution.prepare_document(SCHEMA, "{ value value }", limits)
    assert code_of(refused) == "MAX_DOCUMENT_LENGTH"


# ----------------------------------------------------------- validation cost


def nasty_documents(scale: float = 1) -> dict[str, str]:
    """Documents far under the length limit whose validation graphql-core does in seconds."""

    def n(count: int) -> int:
        return int(count * scale)

    fragments = "".join(f" fragment F{i} on Query {{ value }}" for i in range(n(600)))
    chain = "".join(f" fragment C{i} on Query {{ value ...C{i + 1} }}" for i in range(n(300)))
    aliased = " ".join(f"v: items(first: {i}) {{ id }}" for i in range(n(600)))
    return {
        "repeated fields": "{" + " value" * n(2000) + "}",
        "repeated objects": "{" + " item { value }" * n(800) + "}",
        "one alias, many fields": "{" + aliased + "}",
        "many fragments": "{" + " ".join(f"...F{i}" for i in range(n(600))) + "}" + fragments,
        "fragment chain": "{ ...C0 }" + chain + f" fragment C{n(300)} on Query {{ value }}",
    }


@pytest.mark.parametrize("name", list(nasty_documents()))
def test_nasty_documents_are_refused_without_being_validated(name):
    query = nasty_documents()[name]
    assert len(query) < 40_000
    started = time.perf_counter()
    refused = execution.prepare_document(SCHEMA, query, DEFAULTS)
    elapsed = time.perf_counter() - started
    assert code_of(refused) == "MAX_VALIDATION_COST"
    assert f"the limit is {execution.DEFAULT_MAX_VALIDATION_COST}" in refused.errors[0].message
    # Parsing and measuring: tens of milliseconds; validating: seconds.
    assert elapsed < 1


def test_validation_cost_bounds_the_comparisons_graphql_core_makes(monkeypatch):
    """Every pair of fields the overlap rule compares is counted (with room to spare)."""
    compared = 0
    find_conflict = overlapping_fields_can_be_merged.find_conflict

    def counting(*args, **kwargs):
        nonlocal compared
        compared += 1
        return find_conflict(*args, **kwargs)

    monkeypatch.setattr(overlapping_fields_can_be_merged, "find_conflict", counting)
    documents = nasty_documents(scale=0.1)
    documents["nested objects"] = "{" + " item { item { value id } }" * 30 + "}"
    documents["inline fragments"] = "{ item {" + " ... on Item { id item { id } }" * 30 + "} }"
    documents["fragments in objects"] = "{" + " item { ...I }" * 30 + "} fragment I on Item { id }"
    documents["fragment tree"] = "{ ...A } fragment A on Query { ...B ...C value } " + (
        "fragment B on Query { item { ...D } ...C } fragment C on Query { item { id ...D } } "
        "fragment D on Item { id value item { ...D2 } } fragment D2 on Item { id }"
    )
    documents["relay-like"] = relay_like_document(30)
    documents["introspection"] = get_introspection_query(descriptions=True)
    for name, query in documents.items():
        compared = 0
        document = parse(query)
        validate(SCHEMA, document)
        cost = execution.validation_cost(document, 10**9)
        assert compared <= cost, name


def test_validation_cost_stops_counting_past_the_cap():
    document = parse("{" + " value" * 3000 + "}")
    started = time.perf_counter()
    cost = execution.validation_cost(document, 1000)
    assert cost > 1000
    assert time.perf_counter() - started < 0.5
    assert execution.validation_cost(document, 10**12) > 3000 * 3000


def test_ordinary_documents_pass_the_default_limits():
    for query in (get_introspection_query(descriptions=True), relay_like_document(60)):
        prepared = execution.prepare_document(SCHEMA, query, DEFAULTS)
        assert not prepared.refused, prepared.errors
    # Repeats within reason are fine: 100 `value` cost about 10,000.
    assert not execution.prepare_document(SCHEMA, "{" + " value" * 100 + "}", DEFAULTS).errors


def relay_like_document(fragment_count: int, seed: int = 7) -> str:
    """A page query as Relay writes one: many fragments selecting overlapping fields.

    Written on the introspection types, so it is valid against any schema.
    """
    rng = random.Random(seed)
    type_fields = ["name", "kind", "description", "specifiedByURL"]
    field_parts = [
        "name",
        "description",
        "isDeprecated",
        "deprecationReason",
        "args { name description type { name kind } defaultValue }",
        "type { name kind ofType { name kind ofType { name kind } } }",
    ]
    fragments = []
    for index in range(fragment_count):
        chosen = rng.sample(type_fields, 2)
        chosen.append(
            "fields(includeDeprecated: true) { " + " ".join(rng.sample(field_parts, 3)) + " }"
        )
        chosen.append(rng.choice(["interfaces { name kind }", "possibleTypes { name }"]))
        chosen.append(rng.choice(["enumValues { name isDeprecated }", "inputFields { name }"]))
        if index + 1 < fragment_count and rng.random() < 0.3:
            chosen.append(f"...T{index + 1}")
        fragments.append(f"fragment T{index} on __Type {{ {' '.join(chosen)} }}")
    spreads = " ".join(f"...T{index}" for index in range(0, fragment_count, 2))
    query = (
        "query Page { __schema { queryType { name ...T0 } "
        f"types {{ {spreads} }} directives {{ name args {{ name }} }} }} }}"
    )
    return "\n".join([query, *fragments])


# --------------------------------------------------------- the shared cache


def test_one_consumers_refusal_does_not_poison_the_cache_for_another():
    cache = DocumentCache()
    query = "{" + " value" * 50 + "}"  # costs about 2,600
    strict = DocumentLimits(max_validation_cost=1000, max_tokens=100)
    lenient = DocumentLimits(max_validation_cost=None)
    assert code_of(cache.prepare(SCHEMA, query, strict)) == "MAX_VALIDATION_COST"
    ready = cache.prepare(SCHEMA, query, lenient)
    assert ready.document is not None and not ready.errors
    assert cache.prepare(SCHEMA, query, lenient) is ready
    # ... and back: the cached document is refused for the strict limits.
    assert code_of(cache.prepare(SCHEMA, query, strict)) == "MAX_VALIDATION_COST"
    assert code_of(cache.prepare(SCHEMA, query, DocumentLimits(max_tokens=10))) == (
        "MAX_DOCUMENT_TOKENS"
    )
    assert len(cache) == 1


def test_a_token_refusal_is_not_cached_as_the_documents_outcome():
    cache = DocumentCache()
    assert code_of(cache.prepare(SCHEMA, "{ value }", DocumentLimits(max_tokens=2))) == (
        "MAX_DOCUMENT_TOKENS"
    )
    assert not cache.prepare(SCHEMA, "{ value }", DocumentLimits(max_tokens=3)).errors


def test_a_cost_measured_only_up_to_a_small_limit_is_measured_again_for_a_larger_one(
    monkeypatch,
):
    # Costs are measured up to the default limit at least: make that small.
    monkeypatch.setattr(execution, "DEFAULT_MAX_VALIDATION_COST", 1000)
    cache = DocumentCache()
    query = "{" + " value" * 50 + "}"  # costs about 2,600
    assert code_of(cache.prepare(SCHEMA, query, DocumentLimits(max_validation_cost=10))) == (
        "MAX_VALIDATION_COST"
    )
    # Known to cost more than 1,000 (measuring stopped there): enough to refuse.
    refused = cache.prepare(SCHEMA, query, DocumentLimits(max_validation_cost=1000))
    assert code_of(refused) == "MAX_VALIDATION_COST"
    assert not cache.prepare(SCHEMA, query, DocumentLimits(max_validation_cost=5000)).errors
    assert code_of(cache.prepare(SCHEMA, query, DocumentLimits(max_validation_cost=2000))) == (
        "MAX_VALIDATION_COST"
    )


def test_syntax_errors_come_before_the_cost_and_are_cached():
    cache = DocumentCache()
    query = "{" + " value" * 600 + " {"
    first = cache.prepare(SCHEMA, query)
    assert "Syntax Error" in first.errors[0].message and not first.refused
    assert cache.prepare(SCHEMA, query, DocumentLimits(max_validation_cost=1)) is first


def test_cached_answers_only_what_needs_no_work():
    cache = DocumentCache()
    assert cache.cached(SCHEMA, "{ value }") is None
    prepared = cache.prepare(SCHEMA, "{ value }")
    assert cache.cached(SCHEMA, "{ value }") is prepared
    assert code_of(cache.cached(SCHEMA, "{ value }", DocumentLimits(max_length=3))) == (
        "MAX_DOCUMENT_LENGTH"
    )


# ------------------------------------------------------- off the event loop


async def test_prepare_async_leaves_the_event_loop_free():
    cache = DocumentCache()
    # Under every default limit, yet a few hundred milliseconds to validate.
    query = "{" + " item { value }" * 180 + "}"
    assert execution.validation_cost(parse(query), 10**9) < execution.DEFAULT_MAX_VALIDATION_COST
    gaps: list[float] = []
    done = False

    async def tick() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    # A full collection of the test process's large heap stops every thread
    # for a tenth of a second or more; it is not what is measured here.
    gc.collect()
    gc.freeze()
    try:
        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        prepared = await cache.prepare_async(SCHEMA, query, DEFAULTS)
        elapsed = time.perf_counter() - started
        done = True
        await ticker
    finally:
        gc.unfreeze()
    assert prepared.document is not None
    assert elapsed > 0.05, "the document was too cheap to show anything"
    # The worker thread and the loop take turns at the GIL (5 ms slices).
    assert max(gaps) < min(0.1, elapsed / 2), (max(gaps), elapsed)
    # Now cached: answered on the loop, with no thread hop.
    assert await cache.prepare_async(SCHEMA, query, DEFAULTS) is prepared


async def test_prepare_async_waits_for_the_connections_turn():
    cache = DocumentCache()
    turn = asyncio.Lock()
    await turn.acquire()
    waiting = asyncio.create_task(cache.prepare_async(SCHEMA, "{ value }", turn=turn))
    await asyncio.sleep(0.2)
    assert not waiting.done() and len(cache) == 0
    turn.release()
    assert (await asyncio.wait_for(waiting, 5)).document is not None


async def test_prepare_async_answers_refusals_and_hits_without_the_worker():
    cache = DocumentCache()
    turn = asyncio.Lock()
    await turn.acquire()  # the worker would be unreachable
    refused = await cache.prepare_async(
        SCHEMA, "{ value }", DocumentLimits(max_length=2), turn=turn
    )
    assert code_of(refused) == "MAX_DOCUMENT_LENGTH"


# ---------------------------------------------------------------- shapes


def test_shape_of_a_long_fragment_chain_needs_no_recursion():
    count = 3000
    chain = "".join(f"fragment F{i} on Query {{ ...F{i + 1} }}\n" for i in range(count))
    query = "{ item { ...I } ...F0 }\nfragment I on Item { id }\n" + chain
    query += f"fragment F{count} on Query {{ item {{ item {{ value }} }} }}"
    document = parse(query)
    prepared = execution.PreparedDocument(document)
    operation = prepared.operation(None)
    assert operation is not None
    shape = prepared.shape(operation)
    assert (shape.depth, shape.fields, shape.introspects) == (3, 5, False)


def test_shapes_are_measured_when_the_document_is_prepared():
    query = "query A { __schema { types { name } } } query B { item { value } }"
    prepared = execution.prepare_document(SCHEMA, query)
    assert prepared._shapes == {
        "A": execution.DocumentShape(3, 3, True),
        "B": execution.DocumentShape(2, 2, False),
    }


def test_a_fragment_cycle_is_measured_as_empty_not_forever():
    query = "{ ...A } fragment A on Query { value ...B } fragment B on Query { ...A }"
    prepared = execution.PreparedDocument(parse(query))
    operation = prepared.operation(None)
    assert operation is not None
    assert prepared.shape(operation) == execution.DocumentShape(1, 1, False)


def test_the_cache_keeps_a_bounded_number_of_parsed_tokens():
    cache = DocumentCache(max_tokens=100)
    for index in range(30):
        cache.prepare(SCHEMA, f"{{ a{index}: value b: value c: value }}")  # 11 tokens
    assert len(cache) == 9
    # A kept validation error counts as two tokens.
    for index in range(30):
        cache.prepare(SCHEMA, f"{{ nope{index} a: value a: item {{ id }} }}")  # 2 errors
    assert len(cache) == 25


def test_cached_validation_errors_keep_no_part_of_the_document():
    (error,) = execution.prepare_document(SCHEMA, "{ value\n  nope }").errors
    assert error.nodes is None
    assert error.formatted == {
        "message": "Cannot query field 'nope' on type 'Query'.",
        "locations": [{"line": 2, "column": 3}],
    }


def test_parsed_documents_keep_no_tokens_and_leave_no_reference_cycles():
    prepared = execution.prepare_document(SCHEMA, "{ value item { id } }")
    assert prepared.document is not None and prepared.document.loc is not None
    assert prepared.document.loc.start_token is None
    assert prepared.document.loc.end_token is None
    # Errors are located all the same.
    (error,) = execution.prepare_document(SCHEMA, "{ value\n  nope }").errors
    assert [location.formatted for location in error.locations or ()] == [{"line": 2, "column": 3}]
    # A document refused after parsing is freed at once, not by the cycle
    # collector (whose full collections stop every thread).
    gc.collect()
    gc.disable()
    try:
        refused = execution.prepare_document(SCHEMA, "{" + " value" * 3000 + "}")
        assert code_of(refused) == "MAX_VALIDATION_COST"
        assert gc.collect() < 100
    finally:
        gc.enable()
