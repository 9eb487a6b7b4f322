"""Where each field of a document may run: on the loop, or only in Django's sync thread.

A field whose resolver is ``async def`` runs on the loop; graphene's and
graphql-core's default resolvers (a key or attribute read) run anywhere;
anything else is user code that may query the database, so it runs in the
sync thread. ``thread_execution`` asks these questions, cached per type,
field and selection, while it executes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import graphql
from django.db.models import Model
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    is_object_type,
)

from . import fast_execution
from .node_memo import MISSING, NodeMemo
from .sync_thread import is_async_callable

# ------------------------------------------------------- where fields run

# What a field's resolver is, as far as where it may run goes.
_ASYNC = 1  # ``async def``: runs on the loop
_DEFAULT = 2  # a dict key or attribute read (graphene's or graphql-core's default)
_SYNC = 3  # anything else: user code, graphene-django's list and connection resolvers

_field_kinds: dict[int, tuple[Any, int]] = {}
#: Entries past which ``_field_kinds`` is emptied (the ids of what it keeps stay theirs).
_CACHE_LIMIT = 4096
# Verdicts about documents and field nodes, kept only while the nodes live.
_selection_verdicts: NodeMemo[bool] = NodeMemo()
#: By schema and document: the verdict for each operation name asked about.
_root_verdicts: NodeMemo[dict[str | None, bool]] = NodeMemo()


def _resolver_kind(resolve: Any) -> int:
    if resolve is None or resolve is graphql.default_field_resolver:
        return _DEFAULT
    if isinstance(resolve, functools.partial) and fast_execution._is_graphene_default_resolver(
        resolve.func
    ):
        return _DEFAULT
    # A ``Subscription.Field()`` resolves with ``publish``: async if that is.
    subscription_class = getattr(resolve, "subscription_class", None)
    if subscription_class is not None:
        resolve = subscription_class._meta.publish
    return _ASYNC if is_async_callable(resolve) else _SYNC


def field_kind(parent_type: GraphQLObjectType, field_name: str) -> int:
    """``_ASYNC``, ``_DEFAULT`` or ``_SYNC`` for a field; meta fields count as default."""
    field_def = parent_type.fields.get(field_name)
    if field_def is None:  # __typename, __schema, __type: graphql-core's own
        return _DEFAULT
    key = id(field_def)
    cached = _field_kinds.get(key)
    if cached is not None and cached[0] is field_def:
        return cached[1]
    kind = _resolver_kind(field_def.resolve)
    if len(_field_kinds) >= _CACHE_LIMIT:
        _field_kinds.clear()
    _field_kinds[key] = (field_def, kind)
    return kind


def _field_may_run_on_loop(
    parent_type: GraphQLObjectType, field_nodes: list[FieldNode], source: Any
) -> bool:
    """Async resolvers, and plain reads of anything but a model instance, stay on the loop.

    A read of a model's attribute may query (a foreign key, a deferred field),
    so it goes to the thread like any sync resolver.
    """
    kind = field_kind(parent_type, field_nodes[0].name.value)
    return kind == _ASYNC or (kind == _DEFAULT and not isinstance(source, Model))


def _selected_field_names(
    object_type: GraphQLObjectType,
    selection_set: SelectionSetNode | None,
    fragments: dict[str, Any],
    names: set[str],
    seen_fragments: set[str],
) -> None:
    """The fields a selection asks of ``object_type`` (directives ignored: a superset)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            # Every type condition is followed: a superset only costs a needless hop.
            _selected_field_names(
                object_type, selection.selection_set, fragments, names, seen_fragments
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen_fragments:
                seen_fragments.add(name)
                _selected_field_names(
                    object_type, fragment.selection_set, fragments, names, seen_fragments
                )


def _selection_needs_thread(
    object_type: GraphQLObjectType, field_nodes: list[FieldNode], info: GraphQLResolveInfo
) -> bool:
    """Whether completing an object (not a model) of ``object_type`` calls a sync resolver.

    Type conditions are not followed precisely: a field selected under another
    type's condition may count, which only costs a hop that was not needed.
    """
    cached = _selection_verdicts.get(object_type, *field_nodes)
    if cached is not MISSING:
        return cached
    names: set[str] = set()
    for node in field_nodes:
        _selected_field_names(object_type, node.selection_set, info.fragments, names, set())
    verdict = any(
        field_kind(object_type, name) == _SYNC for name in names if name in object_type.fields
    )
    _selection_verdicts.put(object_type, *field_nodes, value=verdict)
    return verdict


def _completion_needs_thread(
    return_type: GraphQLOutputType, info: GraphQLResolveInfo, value: Any
) -> bool:
    """Whether completing ``value`` on the loop could run sync code that may query.

    Scalars and enums complete on the loop. A list that is not a list or a
    tuple (a QuerySet, a generator) is iterated in the thread; so is a model
    instance or a list holding one (reading its fields may query), and an
    object whose selection has a sync resolver. Interfaces and unions go to
    the thread: resolving their type may run user code.
    """
    if value is None or isinstance(value, Exception):
        return False
    nullable = get_nullable_type(return_type)  # type: ignore[arg-type]
    named = get_named_type(return_type)
    if is_list_type(nullable):
        if not isinstance(value, (list, tuple)):
            return True
        if is_leaf_type(named):
            return False
        items: Iterable[Any] = value
    else:
        if is_leaf_type(named):
            return False
        items = (value,)
    if not is_object_type(named):
        return True
    if any(isinstance(item, Model) for item in items):
        return True
    return _selection_needs_thread(named, info.field_nodes, info)  # type: ignore[arg-type]
