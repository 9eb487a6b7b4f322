"""What a document costs, and the limits that refuse it before it costs more.

Length and token count are measured without parsing; the validation cost
(pairs of same-named selections graphql-core's overlap rule will compare)
from the parsed document before validating; depth and field count from the
validated document. Each limit's error has an ``extensions.code`` naming it.
Pure functions of the document: no cache, no threads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    ValueNode,
)
from graphql.language import Location, Token
from graphql.language.parser import Parser

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
