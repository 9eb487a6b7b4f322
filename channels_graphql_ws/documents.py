"""Preparing documents once for all connections: parse, measure, validate, cache.

The cache keeps what is known about each query text (its token count,
validation cost, the parsed and validated document or its errors), not
verdicts, since consumers may have limits of their own. Work that could hold
the event loop (parsing and validating a document not seen before) runs in
one worker thread, and connections take turns there.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    get_operation_ast,
    validate,
)
from graphql.validation import OverlappingFieldsCanBeMergedRule, specified_rules

from .collector import collector_paused
from .limits import (
    DEFAULT_MAX_VALIDATION_COST,
    DocumentLimits,
    DocumentShape,
    _detached,
    _fragments_of,
    _limit_error,
    _measure,
    _measure_operations,
    _parse,
    count_tokens,
    validation_cost,
)

#: What a collected result of the rule's memo may link to (graphql-core 3.2.14+).
_MEMO_LINKS = ("overlapping_fields", "compared_fragments")


class _TidyOverlappingFieldsRule(OverlappingFieldsCanBeMergedRule):
    """graphql-core's rule, unlinking its memo once the document is validated.

    From graphql-core 3.2.14 the rule's memo (the fields collected per
    selection set, each remembering the others it overlaps with) is a web of
    reference cycles: tens of thousands of objects for a costly document,
    which outlive the validation until a full collection of the process
    finds them. Meanwhile they grow the oldest generation, so full
    collections come often and each walks them: pauses of hundreds of
    milliseconds for every connection. Unlinked, they go at once.
    """

    def leave_document(self, *_args: object) -> None:
        memo = getattr(self, "rule_context", None)
        collected = getattr(memo, "cached_collect_fields_results", None)
        if not isinstance(collected, dict):
            return  # another graphql-core: its memo is another shape
        # Only the links that exist in this version (3.3's results have fewer).
        for results in collected.values():
            for result in results.values():
                for link in _MEMO_LINKS:
                    if getattr(result, link, None) is not None:
                        setattr(result, link, None)
        collected.clear()


#: graphql-core's rules, in its order, with ``_TidyOverlappingFieldsRule``.
VALIDATION_RULES = tuple(
    _TidyOverlappingFieldsRule if rule is OverlappingFieldsCanBeMergedRule else rule
    for rule in specified_rules
)


@dataclass(frozen=True)
class PreparedDocument:
    """A parsed document and its validation outcome, shared by all connections.

    ``document`` is None when the document cannot run: ``errors`` then holds
    the syntax error, every validation error in graphql-core's order, or,
    when ``refused``, the one limit that stopped it before it was parsed or
    validated (a refusal belongs to one set of limits and is never cached as
    the document's outcome).
    """

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()
    refused: bool = False
    # Operations looked up by name, filled lazily; safe to share because a
    # document never changes once parsed.
    _operations: dict[str | None, OperationDefinitionNode | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _shapes: dict[str | None, DocumentShape] = field(
        default_factory=dict, compare=False, repr=False
    )

    def shape(self, operation: OperationDefinitionNode) -> DocumentShape:
        """Depth, field count and introspection use of ``operation``.

        Measured when the document is prepared (off the event loop when it
        is prepared with ``prepare_async``); this only looks it up.
        """
        key = operation.name.value if operation.name else None
        cached = self._shapes.get(key)
        if cached is not None:
            return cached
        assert self.document is not None
        shape = _measure(operation.selection_set, _fragments_of(self.document), {})
        self._shapes[key] = shape
        return shape

    def operation(self, operation_name: str | None) -> OperationDefinitionNode | None:
        """The operation to run, as graphql-core would pick it, or None."""
        if self.document is None:
            return None
        try:
            return self._operations[operation_name]
        except KeyError:
            found = get_operation_ast(self.document, operation_name)
            self._operations[operation_name] = found
            return found


def _refusal(code: str, message: str) -> PreparedDocument:
    return PreparedDocument(None, (_limit_error(code, message),), refused=True)


def _length_refusal(query: str, limits: DocumentLimits) -> PreparedDocument | None:
    if limits.max_length is not None and len(query) > limits.max_length:
        return _refusal(
            "MAX_DOCUMENT_LENGTH",
            f"The document is {len(query)} characters long; the limit is {limits.max_length}.",
        )
    return None


@dataclass
class _Facts:
    """What is known about one query text, whatever the limits of who asks.

    Every consumer shares one cache but may have limits of its own, so the
    cache keeps measurements, not verdicts: a document one consumer refused
    is refused for another only if that one's limits refuse it too.
    """

    tokens: int
    #: ``validation_cost``, or (not ``cost_exact``) a lower bound where
    #: counting stopped; None: not parsed yet.
    cost: int | None = None
    cost_exact: bool = False
    #: The outcome of parsing (``syntax_error``) or of validation; None when
    #: a limit stopped the work before.
    prepared: PreparedDocument | None = None
    syntax_error: bool = False

    @property
    def kept_tokens(self) -> int:
        """What this keeps alive, in tokens of a parsed document (an error counts two)."""
        if self.prepared is None:
            return 0
        if self.prepared.document is None:
            return 2 * len(self.prepared.errors)
        return self.tokens

    def answer(self, limits: DocumentLimits) -> PreparedDocument | None:
        """The outcome for ``limits``, or None when more work is needed."""
        if limits.max_tokens is not None and self.tokens > limits.max_tokens:
            return _refusal(
                "MAX_DOCUMENT_TOKENS",
                f"The document has {self.tokens} tokens; the limit is {limits.max_tokens}.",
            )
        if self.syntax_error:
            return self.prepared
        limit = limits.max_validation_cost
        if limit is not None:
            if self.cost is None:
                return None
            if self.cost > limit:
                return _refusal(
                    "MAX_VALIDATION_COST",
                    f"Validating the document would cost at least {self.cost}; the limit is "
                    f"{limit}. (Selections with the same response name, fragments expanded, "
                    "are compared pair by pair.)",
                )
            if not self.cost_exact:
                return None
        return self.prepared


def _study(
    schema: GraphQLSchema, query: str, limits: DocumentLimits, known: _Facts | None
) -> _Facts:
    """Do what ``limits`` allow: count tokens, parse, measure, validate, measure shapes."""
    facts = _Facts(known.tokens if known is not None else count_tokens(query))
    if limits.max_tokens is not None and facts.tokens > limits.max_tokens:
        return facts
    try:
        document = _parse(query)
    except GraphQLError as error:
        return _Facts(facts.tokens, prepared=PreparedDocument(None, (error,)), syntax_error=True)
    except RecursionError:
        too_deep = GraphQLError("Document is nested too deeply.")
        return _Facts(facts.tokens, prepared=PreparedDocument(None, (too_deep,)), syntax_error=True)
    limit = limits.max_validation_cost
    # Measured at least up to the default, so that consumers with other limits
    # can mostly be answered from what is cached.
    cap = max(limit or 0, DEFAULT_MAX_VALIDATION_COST)
    facts.cost = validation_cost(document, cap)
    facts.cost_exact = facts.cost <= cap
    if limit is not None and facts.cost > limit:
        return facts
    try:
        errors = validate(schema, document, VALIDATION_RULES)
    except RecursionError:
        errors = [GraphQLError("Document is nested too deeply.")]
    if errors:
        facts.prepared = PreparedDocument(None, tuple(_detached(error) for error in errors))
    else:
        facts.prepared = PreparedDocument(document, _shapes=_measure_operations(document))
    return facts


class DocumentCache:
    """A bounded LRU of what is known about documents, keyed by schema and query text.

    Bounded three times: by entries, by the total length of the cached query
    texts and by the tokens of the documents it keeps parsed (about three
    objects each, which every full garbage collection of the process walks;
    a kept error counts as two), so a client sending huge unique documents
    can neither grow it without limit nor lengthen the process's collector
    pauses by much. Failures are
    cached too: a client repeating a bad document costs one dict lookup.
    Limits are applied to cached measurements on every lookup, so consumers
    with different limits share it safely.
    """

    def __init__(
        self, max_entries: int = 1000, max_chars: int = 10_000_000, max_tokens: int = 20_000
    ) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self._entries: OrderedDict[tuple[GraphQLSchema, str], _Facts] = OrderedDict()
        self._chars = 0
        self._tokens = 0
        # Documents are prepared in a worker thread and in callers' threads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def cached(
        self, schema: GraphQLSchema, query: str, limits: DocumentLimits = DocumentLimits()
    ) -> PreparedDocument | None:
        """The outcome if it needs no parsing or validation now, else None."""
        refused = _length_refusal(query, limits)
        if refused is not None:
            return refused
        key = (schema, query)
        with self._lock:
            facts = self._entries.get(key)
            if facts is None:
                return None
            self._entries.move_to_end(key)
        return facts.answer(limits)

    def prepare(
        self, schema: GraphQLSchema, query: str, limits: DocumentLimits = DocumentLimits()
    ) -> PreparedDocument:
        """The outcome for ``limits``, doing here whatever work it still needs.

        Refusals come in this order: length, tokens, syntax errors,
        validation cost, validation errors.
        """
        refused = _length_refusal(query, limits)
        if refused is not None:
            return refused
        key = (schema, query)
        with self._lock:
            known = self._entries.get(key)
            if known is not None:
                self._entries.move_to_end(key)
        if known is not None:
            outcome = known.answer(limits)
            if outcome is not None:
                return outcome
        facts = _study(schema, query, limits, known)
        self._store(key, facts)
        outcome = facts.answer(limits)
        assert outcome is not None
        return outcome

    async def prepare_async(
        self,
        schema: GraphQLSchema,
        query: str,
        limits: DocumentLimits = DocumentLimits(),
        *,
        turn: asyncio.Lock | None = None,
    ) -> PreparedDocument:
        """``prepare`` for the event loop: any parsing or validation runs in a worker thread.

        A cached outcome, or a refusal for length, comes at once. Otherwise
        the work, bounded by ``limits`` but possibly a large fraction of a
        second, is done by one worker thread shared by the process, so the
        loop keeps serving every other connection meanwhile. Pass a ``turn``
        lock per connection to give one connection at most one document in
        the worker's queue: connections then take turns.
        """
        ready = self.cached(schema, query, limits)
        if ready is not None:
            return ready
        loop = asyncio.get_running_loop()
        work = functools.partial(self._prepare_in_worker, schema, query, limits)
        if turn is None:
            return await loop.run_in_executor(_worker(), work)
        async with turn:
            return await loop.run_in_executor(_worker(), work)

    def _prepare_in_worker(
        self, schema: GraphQLSchema, query: str, limits: DocumentLimits
    ) -> PreparedDocument:
        with collector_paused():
            return self.prepare(schema, query, limits)

    def _store(self, key: tuple[GraphQLSchema, str], facts: _Facts) -> None:
        length = len(key[1])
        if length > self.max_chars or facts.kept_tokens > self.max_tokens:
            return
        with self._lock:
            replaced = self._entries.pop(key, None)
            if replaced is None:
                self._chars += length
            else:
                self._tokens -= replaced.kept_tokens
            self._entries[key] = facts
            self._tokens += facts.kept_tokens
            while (
                len(self._entries) > self.max_entries
                or self._chars > self.max_chars
                or self._tokens > self.max_tokens
            ):
                (_, old_query), old = self._entries.popitem(last=False)
                self._chars -= len(old_query)
                self._tokens -= old.kept_tokens

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0
            self._tokens = 0


#: The cache every consumer shares.
document_cache = DocumentCache()

_worker_pool: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _worker() -> ThreadPoolExecutor:
    """The one thread that parses and validates for ``prepare_async``.

    One thread: more would only take turns at the GIL, and one bounds the
    CPU that a flood of new documents can take from the event loops.
    """
    global _worker_pool
    with _worker_lock:
        if _worker_pool is None:
            _worker_pool = ThreadPoolExecutor(1, thread_name_prefix="graphql-documents")
        return _worker_pool


def prepare_document(
    schema: GraphQLSchema, query: str, limits: DocumentLimits = DocumentLimits()
) -> PreparedDocument:
    """Parse and validate without the cache, reporting every problem as a ``GraphQLError``."""
    refused = _length_refusal(query, limits)
    if refused is not None:
        return refused
    outcome = _study(schema, query, limits, None).answer(limits)
    assert outcome is not None
    return outcome
