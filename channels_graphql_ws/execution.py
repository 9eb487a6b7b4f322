"""graphql-core glue: prepare documents once, execute them, shape the results.

No Channels here, and only graphql-core's public API, so any graphql-core
from 3.2 on works. Error formatting is passed in by the caller, because the
consumer's ``_format_error`` is a documented override point.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import graphql
import graphql.execution
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    ValueNode,
    create_source_event_stream,
    execute,
    get_operation_ast,
    validate,
)
from graphql.execution import MiddlewareManager
from graphql.language import Location, Token
from graphql.language.parser import Parser
from graphql.pyutils import Path, Undefined
from graphql.pyutils import is_awaitable as default_is_awaitable

ErrorFormatter = Callable[[Exception], dict[str, Any]]

#: Operation name for which middleware is skipped: GraphiQL's schema fetch
#: would otherwise run every middleware over thousands of fields.
INTROSPECTION_OPERATION_NAME = "IntrospectionQuery"


#: Default of ``max_document_tokens``: the GraphiQL introspection query has
#: about 180 tokens, a 16 KB Relay page query about 2,100; the 100,000
#: characters of ``max_document_length`` hold about 13,000 tokens of such text.
DEFAULT_MAX_DOCUMENT_TOKENS = 15_000
#: Default of ``DocumentLimits.max_validation_cost`` (see ``validation_cost``):
#: the GraphiQL introspection query costs about 1,700, a 16 KB Relay page
#: query with 60 fragments about 71,000. graphql-core needs 0.5 to 2.5
#: microseconds per unit on a slow machine, and leaves up to half an object
#: of cyclic garbage per unit, which the collector later walks while every
#: thread waits; this bounds both (about 0.25 s of the worker thread and
#: 50,000 objects at most).
DEFAULT_MAX_VALIDATION_COST = 100_000


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


@dataclass(frozen=True)
class DocumentShape:
    """What the limits look at in one operation, fragments followed."""

    depth: int
    fields: int
    introspects: bool


@dataclass(frozen=True)
class DocumentLimits:
    """The consumer's limits on documents; None switches one off.

    Length, tokens and validation cost need no validation: a document over
    one of them is refused before it is parsed (length, tokens) or validated
    (cost), so whatever a client sends costs a bounded amount of work.
    Depth, field count and introspection need the validated document; they
    are checked afterwards (``check``) and never replace graphql-core's
    errors. ``max_validation_cost`` is on by default, unlike the others,
    because no consumer setting reaches it.
    """

    max_length: int | None = None
    max_tokens: int | None = None
    max_validation_cost: int | None = DEFAULT_MAX_VALIDATION_COST
    max_depth: int | None = None
    max_fields: int | None = None
    introspection: bool = True

    def check(self, shape: DocumentShape) -> GraphQLError | None:
        """The first limit a validated operation breaks, as an error whose code names it."""
        if self.max_depth is not None and shape.depth > self.max_depth:
            return _limit_error(
                "MAX_DOCUMENT_DEPTH",
                f"The operation nests fields {shape.depth} deep; the limit is {self.max_depth}.",
            )
        if self.max_fields is not None and shape.fields > self.max_fields:
            return _limit_error(
                "MAX_DOCUMENT_FIELDS",
                f"The operation selects {shape.fields} fields; the limit is {self.max_fields}.",
            )
        if not self.introspection and shape.introspects:
            return _limit_error("INTROSPECTION_DISABLED", "Introspection is disabled.")
        return None


def _limit_error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


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


class _Parser(Parser):
    """graphql-core's parser, leaving no tokens behind in the document.

    Every location normally keeps its first and last tokens, and through
    their links the whole token list: about a third of a cached document's
    objects, which every full garbage collection of the process walks. The
    list is also a reference cycle, so a document that is dropped (a
    refused one) would wait for the cycle collector. Errors need only the
    source and offsets a location keeps.
    """

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self._first_token: Token | None = None

    def loc(self, start_token: Token) -> Location | None:
        location = super().loc(start_token)
        if location is not None:
            if self._first_token is None:
                self._first_token = start_token
            location.start_token = location.end_token = None  # type: ignore[assignment]
        return location

    def parse(self) -> DocumentNode:
        try:
            return self.parse_document()
        finally:
            # Unlink the tokens so that they go as soon as the parser does.
            token = self._first_token
            while token is not None and token.prev is not None:
                token = token.prev
            while token is not None:
                following = token.next
                token.prev = token.next = None
                token = following


def _parse(query: str) -> DocumentNode:
    return _Parser(query).parse()


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
        errors = validate(schema, document)
    except RecursionError:
        errors = [GraphQLError("Document is nested too deeply.")]
    if errors:
        facts.prepared = PreparedDocument(None, tuple(_detached(error) for error in errors))
    else:
        facts.prepared = PreparedDocument(document, _shapes=_measure_operations(document))
    return facts


def _detached(error: GraphQLError) -> GraphQLError:
    """The same error without its AST nodes, located by the source and offsets alone.

    A cached validation error would otherwise keep parts of the document
    alive: up to a hundred errors, each with its nodes and their subtrees.
    """
    if not error.nodes:
        return error
    return GraphQLError(
        error.message,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


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
        self, max_entries: int = 1000, max_chars: int = 10_000_000, max_tokens: int = 50_000
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
        work = functools.partial(self.prepare, schema, query, limits)
        if turn is None:
            return await loop.run_in_executor(_worker(), work)
        async with turn:
            return await loop.run_in_executor(_worker(), work)

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


# ------------------------------------------------------ measuring documents

# GraphQL's lexical tokens, comments included (they cost the lexer as much).
# Each alternative, once started, always matches (an unterminated string
# runs to the end of its line, a block string to the end of the text), so
# the scan never backtracks over the text and stays linear.
_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\(?!""")|\\"""|"(?!""))*(?:"""|\Z)'
    r'|"(?:[^"\\\n\r]|\\.)*"?'
    r"|#[^\n\r]*"
    r"|\.\.\.|[!$&():=@\[\]{|}]"
    r"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
    r"|[_A-Za-z][_0-9A-Za-z]*"
)


def count_tokens(query: str) -> int:
    """The lexical tokens of ``query`` (comments included), without parsing it.

    A regular expression does in C what graphql-core's lexer does in Python,
    several times faster; the count equals the lexer's for any document the
    lexer accepts (a test compares them), so a document within the limit
    never makes the parser do more.
    """
    return len(_TOKEN.findall(query))


def validation_cost(document: DocumentNode, cap: int) -> int:
    """A bound on the work graphql-core's validation does beyond its linear passes.

    Its ``OverlappingFieldsCanBeMergedRule`` visits every selection set and
    compares, pair by pair, the selections that would merge into one
    response field there, fragments spread into it included: ``{ a a a ...
    }`` costs the square of the number of ``a``, and so do ``a`` fields
    spread in from many fragments. Two fields of one response name that both
    have subselections are compared subfield by subfield, so their
    subselections are merged and compared the same way, level after level.

    Each such merge (a selection set, or the subselections of the fields of
    one name that are compared) costs the selections it scans, the pairs of
    its fields of one name (weighted by their arguments, which are compared
    too) and its field lists (its own and each fragment's, each fragment
    once) times its fields, since each list is compared with the others.
    graphql-core remembers some comparisons between fragments, so this
    counts more than it does, never less (a test holds it to that).

    Counting stops once it passes ``cap`` and returns the count so far, so
    this costs about ``cap`` steps at most: a result over ``cap`` is only a
    lower bound. Cycles and unknown fragments are harmless here (validation
    reports them).
    """
    fragments = _fragments_of(document)
    # Every selection set of the document, as graphql-core's visitor meets them.
    pending: list[list[SelectionSetNode]] = []
    to_visit = [
        definition.selection_set
        for definition in document.definitions
        if isinstance(definition, (OperationDefinitionNode, FragmentDefinitionNode))
    ]
    while to_visit:
        selection_set = to_visit.pop()
        pending.append([selection_set])
        for selection in selection_set.selections:
            nested = getattr(selection, "selection_set", None)
            if nested is not None:
                to_visit.append(nested)
    argument_sizes: dict[int, int] = {}
    cost = len(pending)
    while pending:
        selection_sets = pending.pop()
        groups: dict[str, list[FieldNode]] = {}
        seen: set[str] = set()
        lists = len(selection_sets)
        to_scan = list(selection_sets)
        while to_scan:
            selections = to_scan.pop().selections
            cost += len(selections)
            for selection in selections:
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    group = groups.get(key)
                    if group is None:
                        groups[key] = [selection]
                    else:
                        group.append(selection)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in seen:
                        seen.add(name)
                        fragment = fragments.get(name)
                        if fragment is not None:
                            lists += 1
                            to_scan.append(fragment.selection_set)
                elif isinstance(selection, InlineFragmentNode):
                    to_scan.append(selection.selection_set)
        fields = 0
        for group in groups.values():
            fields += len(group)
            if len(group) > 1:
                weight = sum(1 + _argument_size(node, argument_sizes) for node in group)
                cost += len(group) * weight
        cost += lists * (fields + 1)
        if cost > cap:
            return cost
        for group in groups.values():
            if len(group) > 1:
                nested = [node.selection_set for node in group if node.selection_set is not None]
                if len(nested) > 1:
                    pending.append(nested)
    return cost


def _argument_size(node: FieldNode, sizes: dict[int, int]) -> int:
    """How many value nodes the arguments of ``node`` hold (each node walked once)."""
    key = id(node)
    size = sizes.get(key)
    if size is not None:
        return size
    size = 0
    values: list[ValueNode] = [argument.value for argument in node.arguments or ()]
    while values:
        value = values.pop()
        size += 1
        if isinstance(value, ListValueNode):
            values.extend(value.values)
        elif isinstance(value, ObjectValueNode):
            values.extend(object_field.value for object_field in value.fields)
    sizes[key] = size
    return size


def _fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, definition)
    return fragments


def _measure_operations(document: DocumentNode) -> dict[str | None, DocumentShape]:
    """The shape of every operation, sharing the fragments' measurements."""
    fragments = _fragments_of(document)
    memo: dict[str, DocumentShape] = {}
    return {
        (definition.name.value if definition.name else None): _measure(
            definition.selection_set, fragments, memo
        )
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    }


class _Tally:
    """One selection set being measured by ``_measure``."""

    __slots__ = ("depth", "fields", "fragment", "index", "introspects", "nested", "selections")

    def __init__(
        self, selections: Sequence[SelectionNode], nested: int, fragment: str | None
    ) -> None:
        self.selections = selections
        self.index = 0
        self.depth = 0
        self.fields = 0
        self.introspects = False
        # 1 for a field's selection set (a level deeper, one more field).
        self.nested = nested
        self.fragment = fragment

    def add(self, shape: DocumentShape, nested: int) -> None:
        self.depth = max(self.depth, shape.depth + nested)
        self.fields += shape.fields + nested
        self.introspects = self.introspects or shape.introspects


_LEAF = DocumentShape(0, 0, False)


def _measure(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    memo: dict[str, DocumentShape],
) -> DocumentShape:
    """Measure a selection set, each fragment once, on a stack of our own.

    A chain of fragments spreading one another is as long as the document
    allows, far deeper than Python's recursion limit. A fragment met again
    while it is being measured (a cycle, which validation refuses) counts
    as empty.
    """
    stack = [_Tally(selection_set.selections, 0, None)]
    in_progress: set[str] = set()
    while True:
        tally = stack[-1]
        if tally.index == len(tally.selections):
            stack.pop()
            shape = DocumentShape(tally.depth, tally.fields, tally.introspects)
            if tally.fragment is not None:
                memo[tally.fragment] = shape
                in_progress.discard(tally.fragment)
            if not stack:
                return shape
            stack[-1].add(shape, tally.nested)
            continue
        selection = tally.selections[tally.index]
        tally.index += 1
        if isinstance(selection, FieldNode):
            if selection.name.value in ("__schema", "__type"):
                tally.introspects = True
            if selection.selection_set is None:
                tally.add(_LEAF, 1)
            else:
                stack.append(_Tally(selection.selection_set.selections, 1, None))
        elif isinstance(selection, InlineFragmentNode):
            stack.append(_Tally(selection.selection_set.selections, 0, None))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            known = memo.get(name)
            if known is not None:
                tally.add(known, 0)
                continue
            fragment = fragments.get(name)
            if fragment is not None and name not in in_progress:
                in_progress.add(name)
                stack.append(_Tally(fragment.selection_set.selections, 0, name))


def operation_not_found_error(operation_name: str | None) -> GraphQLError:
    """The error graphql-core gives when it cannot pick the operation."""
    if operation_name:
        return GraphQLError(f"Unknown operation named '{operation_name}'.")
    return GraphQLError("Must provide operation name if query contains multiple operations.")


def is_subscription(operation: OperationDefinitionNode) -> bool:
    return operation.operation is OperationType.SUBSCRIPTION


# ------------------------------------------------------------ fast path

_PLAIN_VALUE_TYPES = frozenset({str, int, float, bool, type(None), dict, list, tuple})
#: Values the shortcut hands to a scalar's ``serialize``; anything else takes
#: graphql-core's path (enums, Decimals, awaitables, custom objects).
_SERIALIZABLE_AS_IS = frozenset({str, int, float, bool})


def is_awaitable(value: Any) -> bool:
    """graphql-core's check, answered at once for the plain values most fields return."""
    return type(value) not in _PLAIN_VALUE_TYPES and default_is_awaitable(value)


@dataclass(frozen=True, slots=True)
class _LeafPlan:
    attname: str
    default: Any
    serialize: Callable[[Any], Any]
    non_null: bool


# graphql-core 3.3 rebuilt its executor (no public ExecutionContext with
# these methods): there, stock ``execute`` runs every field.
_StockExecutionContext: Any = getattr(graphql.execution, "ExecutionContext", None)
FAST_PATH_AVAILABLE = _StockExecutionContext is not None and list(
    inspect.signature(_StockExecutionContext.execute_field).parameters
) == ["self", "parent_type", "source", "field_nodes", "path"]


class FastExecutionContext(_StockExecutionContext or object):  # type: ignore[misc]
    """graphql-core's executor with a shortcut for plain scalar fields.

    A large result is mostly scalar fields read by graphene's default
    resolver (a dict key or an attribute): for those, with no arguments and
    no middleware, the value is read and serialized directly, skipping the
    resolve info, argument coercion and completion machinery that cannot
    change the outcome. Anything unusual (None for a non-null field, a value
    that is not a plain str/int/float/bool, a failed serialization) takes
    graphql-core's own path, so results and errors are exactly stock
    ``execute``'s; a differential test holds it to that.
    """

    # Made on first use: most executions are small and never need them.
    _object_plans: dict[int, list[tuple[str, _LeafPlan]] | None] | None = None

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        fields: dict[str, list[FieldNode]],
    ) -> Any:
        """An object whose fields are all plain scalars is built in one loop.

        No ``Path`` per field, no per-field awaitable check: nothing there
        can be awaitable. The first value that needs graphql-core's care
        sends the whole object down the stock path (reading a default
        resolver's value twice changes nothing).
        """
        if path is None or getattr(self, "middleware_manager", None) is not None:
            # The root's fields have resolvers of their own; middleware must
            # see every field.
            return super().execute_fields(parent_type, source_value, path, fields)
        plans = self._plans_for_object(parent_type, fields)
        if plans is None:
            return super().execute_fields(parent_type, source_value, path, fields)
        results: dict[str, Any] = {}
        is_dict = isinstance(source_value, dict)
        for response_name, plan in plans:
            try:
                if is_dict:
                    value = source_value.get(plan.attname, plan.default)
                else:
                    value = getattr(source_value, plan.attname, plan.default)
            except Exception:
                return super().execute_fields(parent_type, source_value, path, fields)
            if value is None and not plan.non_null:
                results[response_name] = None
                continue
            if type(value) not in _SERIALIZABLE_AS_IS:
                return super().execute_fields(parent_type, source_value, path, fields)
            try:
                serialized = plan.serialize(value)
            except Exception:
                return super().execute_fields(parent_type, source_value, path, fields)
            if serialized is None or serialized is Undefined:
                return super().execute_fields(parent_type, source_value, path, fields)
            results[response_name] = serialized
        return results

    def _plans_for_object(
        self, parent_type: GraphQLObjectType, fields: dict[str, list[FieldNode]]
    ) -> list[tuple[str, _LeafPlan]] | None:
        # graphql-core reuses one ``fields`` dict for every object of a list
        # during an execution, so its id is a good key while it lives.
        key = id(fields)
        plans = self._object_plans
        if plans is None:
            plans = self._object_plans = {}
        elif key in plans:
            return plans[key]
        found: list[tuple[str, _LeafPlan]] = []
        for response_name, field_nodes in fields.items():
            plan = self._plan_leaf(parent_type, field_nodes)
            if plan is None:
                plans[key] = None
                return None
            found.append((response_name, plan))
        plans[key] = found
        return found

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_nodes: list[FieldNode],
        path: Path,
    ) -> Any:
        # Plans live as long as this execution: ids cannot be reused meanwhile.
        plan = self._plan_leaf(parent_type, field_nodes)
        if plan is not None and getattr(self, "middleware_manager", None) is None:
            try:
                if isinstance(source, dict):
                    value = source.get(plan.attname, plan.default)
                else:
                    value = getattr(source, plan.attname, plan.default)
            except Exception:  # let graphql-core's path raise and locate it
                return super().execute_field(parent_type, source, field_nodes, path)
            if value is None and not plan.non_null:
                return None
            if type(value) in _SERIALIZABLE_AS_IS:
                try:
                    serialized = plan.serialize(value)
                except Exception:
                    serialized = None
                if serialized is not None and serialized is not Undefined:
                    return serialized
        return super().execute_field(parent_type, source, field_nodes, path)

    @staticmethod
    def _plan_leaf(
        parent_type: GraphQLObjectType, field_nodes: list[FieldNode]
    ) -> _LeafPlan | None:
        if len(field_nodes) != 1:
            return None
        node = field_nodes[0]
        key = (id(parent_type), id(node))
        cached = _leaf_plans.get(key)
        if cached is not None and cached[0] is parent_type and cached[1] is node:
            return cached[2]
        plan = _plan_leaf_uncached(parent_type, node)
        if len(_leaf_plans) >= _LEAF_PLANS_LIMIT:
            _leaf_plans.clear()
        # The type and node are kept with the plan, so their ids stay theirs.
        _leaf_plans[key] = (parent_type, node, plan)
        return plan


#: Plans by (type, field node), shared by executions of cached documents.
_leaf_plans: dict[tuple[int, int], tuple[Any, FieldNode, _LeafPlan | None]] = {}
_LEAF_PLANS_LIMIT = 4096


def _plan_leaf_uncached(parent_type: GraphQLObjectType, node: FieldNode) -> _LeafPlan | None:
    """The shortcut for one field, or None when graphql-core must handle it."""
    if node.arguments:
        return None
    field_def = parent_type.fields.get(node.name.value)
    if field_def is None or field_def.args:
        return None
    resolve = field_def.resolve
    if not (
        isinstance(resolve, functools.partial)
        and _is_graphene_default_resolver(resolve.func)
        and len(resolve.args) == 2
        and not resolve.keywords
        and isinstance(resolve.args[0], str)
    ):
        return None
    field_type = field_def.type
    non_null = isinstance(field_type, GraphQLNonNull)
    scalar = field_type.of_type if non_null else field_type
    if not isinstance(scalar, GraphQLScalarType):
        return None
    return _LeafPlan(resolve.args[0], resolve.args[1], scalar.serialize, non_null)


def _is_graphene_default_resolver(function: Any) -> bool:
    """Graphene's stock resolver (a dict key, else an attribute), found by name.

    Looked up by name so that this module needs no graphene import; a project
    that sets its own default resolver simply gets no shortcut.
    """
    return (
        getattr(function, "__name__", None) == "dict_or_attr_resolver"
        and getattr(function, "__module__", None) == "graphene.types.resolver"
    )


_FAST_EXECUTE_OPTIONS: dict[str, Any] = (
    {"execution_context_class": FastExecutionContext, "is_awaitable": is_awaitable}
    if FAST_PATH_AVAILABLE
    else {}
)


async def execute_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    middleware: MiddlewareManager | None,
    root: Any = None,
) -> ExecutionResult:
    """Run a query or mutation; resolvers run on the loop, as graphql-core runs them."""
    result = start_execution(
        schema,
        document,
        operation_name=operation_name,
        variables=variables,
        context=context,
        middleware=middleware,
        root=root,
    )
    if inspect.isawaitable(result):
        result = await result
    return result


def start_execution(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    middleware: MiddlewareManager | None,
    root: Any = None,
) -> ExecutionResult | Awaitable[ExecutionResult]:
    """Execute as far as it goes synchronously: the result, or an awaitable of it."""
    if operation_name == INTROSPECTION_OPERATION_NAME:
        middleware = None
    return execute(
        schema,
        document,
        root_value=root,
        context_value=context,
        variable_values=variables,
        operation_name=operation_name,
        middleware=middleware,
        **_FAST_EXECUTE_OPTIONS,
    )


async def create_event_stream(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: Any,
    subscribe_field_resolver: Callable[..., Any],
) -> AsyncIterable[Any] | ExecutionResult:
    """Set a subscription up: the source stream, or the errors that prevented it.

    Only the stream is built here; each event is then run through
    ``execute_operation`` with the event as root, so middleware sees every
    notification and never the setup. ``subscribe_field_resolver`` serves
    root fields without a ``subscribe`` of their own.
    """
    executor_class = getattr(graphql, "Executor", None)
    if executor_class is None:  # graphql-core 3.2
        return await create_source_event_stream(
            schema,
            document,
            None,
            context,
            variables,
            operation_name,
            subscribe_field_resolver,
        )
    # graphql-core 3.3: build the executor, then ask it for the stream.
    executor = executor_class.build(
        schema,
        document,
        None,
        context,
        variables,
        operation_name,
        subscribe_field_resolver=subscribe_field_resolver,
    )
    if isinstance(executor, list):
        return ExecutionResult(None, errors=executor)
    stream: Any = create_source_event_stream(executor)  # type: ignore[call-arg]
    if inspect.isawaitable(stream):
        stream = await stream
    return stream  # type: ignore[no-any-return]


def unwrap_error(error: GraphQLError) -> Exception:
    """The exception a hook raised, without the location graphql-core wrapped it in."""
    original = error.original_error
    return original if original is not None else error


def without_skipped_fields(result: ExecutionResult) -> ExecutionResult | None:
    """Drop root fields whose ``publish`` returned None; None if nothing is left.

    Results with errors go out unchanged: the client must see them.
    """
    if result.errors or result.data is None:
        return result
    kept = {key: value for key, value in result.data.items() if value is not None}
    if not kept:
        return None
    if len(kept) == len(result.data):
        return result
    return ExecutionResult(kept, None, result.extensions)


def format_result(result: ExecutionResult, format_error: ErrorFormatter) -> dict[str, Any]:
    """The ``payload`` of a ``next``/``data`` message: ``errors`` only when there are some."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [format_error(error) for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def format_error(error: Exception) -> dict[str, Any]:
    """Shape an error for the client, as the older release did.

    A ``GraphQLError`` keeps graphql-core's shape; when it already carries
    extensions, the original exception's class name is added as ``code``.
    Anything else becomes ``"<Class>: <text>"`` with that class as ``code``.
    """
    if isinstance(error, GraphQLError):
        formatted: dict[str, Any] = dict(error.formatted)
        extensions = error.extensions
        if extensions and "code" not in extensions and error.original_error is not None:
            formatted["extensions"] = {**extensions, "code": type(error.original_error).__name__}
        return formatted
    name = type(error).__name__
    return {"message": f"{name}: {error}", "extensions": {"code": name}}


#: ``extensions.code`` of an error hidden by ``mask_internal_errors``.
INTERNAL_ERROR_CODE = "INTERNAL_SERVER_ERROR"


def is_internal_error(error: Exception) -> bool:
    """Whether ``error`` is unexpected: not a ``GraphQLError`` raised on purpose."""
    if isinstance(error, GraphQLError):
        original = error.original_error
        return original is not None and not isinstance(original, GraphQLError)
    return True


def masked_error(error: Exception) -> dict[str, Any]:
    """What the client sees of an internal error: no text, only where it happened."""
    formatted: dict[str, Any] = {"message": "Internal server error"}
    if isinstance(error, GraphQLError):
        if error.locations:
            formatted["locations"] = [location.formatted for location in error.locations]
        if error.path is not None:
            formatted["path"] = error.path
    formatted["extensions"] = {"code": INTERNAL_ERROR_CODE}
    return formatted
