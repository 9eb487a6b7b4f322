"""Import paths users rely on, and the one-way layering of ARCHITECTURE.md."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import channels_graphql_ws

PACKAGE = Path(channels_graphql_ws.__file__).parent


def test_top_level_exports_only_names_that_exist():
    for name in channels_graphql_ws.__all__:
        assert hasattr(channels_graphql_ws, name), name


def test_older_import_paths_reexport_the_same_objects():
    from channels_graphql_ws.dict_as_object import DictAsObject
    from channels_graphql_ws.graphql_ws_consumer import GraphqlWsConsumer

    assert GraphqlWsConsumer is channels_graphql_ws.GraphqlWsConsumer
    assert DictAsObject.__module__ == "channels_graphql_ws.dict_as_object"


def test_package_is_typed():
    assert (PACKAGE / "py.typed").is_file()


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of every module a file imports, relative ones resolved."""
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    names.update(f"{module}.{alias.name}" for alias in node.names)
                else:
                    names.add(module)
            else:
                names.add(node.module or "")
    return names


# Modules that may import the consumer (ARCHITECTURE.md: "Which way imports flow").
MAY_IMPORT_CONSUMER = {"__init__", "graphql_ws_consumer", "testing", "consumer"}
# Modules that must never import Channels.
NO_CHANNELS = {"execution", "dict_as_object", "serializer"}


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.stem)
def test_imports_flow_one_way(path):
    imported = _imported_modules(path)
    if path.stem not in MAY_IMPORT_CONSUMER:
        assert "channels_graphql_ws.consumer" not in imported
        assert "channels_graphql_ws.graphql_ws_consumer" not in imported
    if path.stem in NO_CHANNELS:
        assert not any(name == "channels" or name.startswith("channels.") for name in imported)
    if path.stem in {"broadcast", "serializer"}:
        assert not any(name.startswith("channels_graphql_ws.consumer") for name in imported)


def test_every_module_imports():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        importlib.import_module(module.removesuffix(".__init__"))
