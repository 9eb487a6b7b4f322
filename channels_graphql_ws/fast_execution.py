"""A faster executor for graphql-core 3.2: plain scalar fields skip its machinery.

graphene's default resolver reads a dict key or an attribute; for fields
whose value is a plain ``str``/``int``/``float``/``bool`` the result cannot
differ from graphql-core's own, so it is read and serialized directly. A
differential test (tests/test_fast_execution.py) holds it to stock
``execute``'s results and errors. On graphql-core 3.3 there is no such
``ExecutionContext``: stock ``execute`` runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import graphql
import graphql.execution
from graphql import (
    FieldNode,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from graphql.pyutils import Path, Undefined
from graphql.pyutils import is_awaitable as default_is_awaitable

from .node_memo import MISSING, NodeMemo

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
        cached = _leaf_plans.get_one(parent_type, node)
        if cached is not MISSING:
            return cached
        plan = _plan_leaf_uncached(parent_type, node)
        _leaf_plans.put(parent_type, node, value=plan)
        return plan


#: Plans by type and field node, shared by executions of cached documents
#: while the document lives.
_leaf_plans: NodeMemo[_LeafPlan | None] = NodeMemo()


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
