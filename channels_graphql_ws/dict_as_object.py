"""Attribute access to a dict, used for ``info.context``."""

from __future__ import annotations

from typing import Any


class DictAsObject:
    """A view of a dict that reads and writes its keys as attributes or items.

    The dict is shared, not copied: what resolvers set on ``info.context`` is
    visible to whoever holds the dict (``_asdict()`` returns it). Names that
    start with ``_`` are never keys, so the wrapper's own state stays out of
    the dict (the older release leaked a self-reference into it).
    """

    __slots__ = ("_scope",)

    def __init__(self, scope: dict[str, Any]) -> None:
        object.__setattr__(self, "_scope", scope)

    def _asdict(self) -> dict[str, Any]:
        """The wrapped dict itself."""
        scope: dict[str, Any] = self._scope
        return scope

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._scope[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(f"names starting with '_' are reserved: {name!r}")
        self._scope[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._scope[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self._scope[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._scope[key] = value

    def __delitem__(self, key: str) -> None:
        del self._scope[key]

    def __contains__(self, key: object) -> bool:
        return key in self._scope

    def __str__(self) -> str:
        return str(self._scope)

    def __repr__(self) -> str:
        return repr(self._scope)
