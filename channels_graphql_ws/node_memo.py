"""Facts remembered about AST nodes for exactly as long as the nodes live.

Execution remembers per-document and per-field-node facts (which thread a
field runs in, how a leaf is read) so that a cached document pays for them
once. Keeping those facts in plain bounded dicts kept the nodes themselves
alive past the document cache's bounds: thousands of documents, every one
walked by each full garbage collection. Here an entry holds its nodes
weakly and goes when any of them does.
"""

from __future__ import annotations

import weakref
from typing import Any, Generic, TypeVar, cast

Value = TypeVar("Value")

#: What ``NodeMemo.get`` returns when it remembers nothing (None may be a value).
MISSING: Any = object()


class NodeMemo(Generic[Value]):
    """Values keyed by the identity of one owner object and some AST nodes.

    The owner (a schema type, a schema) is held strongly: it lives as long
    as the schema anyway. The nodes are held weakly (graphql-core's nodes
    take weak references). AST nodes compare by value, deeply; identity is
    both cheaper and what is meant.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[tuple[int, ...], tuple[Any, tuple[weakref.ref[Any], ...], Value]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, owner: Any, *nodes: Any) -> Value:
        """The value remembered for exactly these objects, or ``MISSING``."""
        found = self._entries.get((id(owner), *map(id, nodes)))
        if found is None or found[0] is not owner:
            return cast(Value, MISSING)
        for ref, node in zip(found[1], nodes, strict=True):
            if ref() is not node:
                return cast(Value, MISSING)
        return found[2]

    def get_one(self, owner: Any, node: Any) -> Value:
        """``get`` for one node: the hot path (a leaf field of every execution)."""
        found = self._entries.get((id(owner), id(node)))
        if found is None or found[0] is not owner or found[1][0]() is not node:
            return cast(Value, MISSING)
        return found[2]

    def put(self, owner: Any, *nodes: Any, value: Value) -> None:
        key = (id(owner), *map(id, nodes))
        entry: tuple[Any, tuple[weakref.ref[Any], ...], Value]
        entries = self._entries

        def forget(_gone: weakref.ref[Any]) -> None:
            # Only this entry: the ids may already belong to a newer one.
            if entries.get(key) is entry:
                del entries[key]

        entry = (owner, tuple(weakref.ref(node, forget) for node in nodes), value)
        entries[key] = entry

    def clear(self) -> None:
        self._entries.clear()
