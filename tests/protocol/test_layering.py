"""The protocol layer stays sans-I/O: standard library only, and no asyncio.

ARCHITECTURE.md: `protocol/` imports nothing outside itself but the standard
library (no Django, Channels, graphql-core or asyncio). The check reads the
sources with `ast` instead of importing them, because importing the package
`channels_graphql_ws` loads Django.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "channels_graphql_ws" / "protocol"

#: Standard-library modules the sans-I/O layer must not use all the same.
FORBIDDEN_STDLIB = frozenset({"asyncio"})


def forbidden_imports(source: str, package_depth: int = 0, filename: str = "<src>") -> list[str]:
    """Every import in ``source`` the protocol layer may not have, as text.

    ``package_depth`` is how many packages below ``protocol/`` the module's
    own package is (0 for a module directly in it): a relative import may go
    up that many levels and no further, so it stays within ``protocol``.
    Imports are found anywhere: top level, in functions, under
    ``if TYPE_CHECKING:`` or ``try:``.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                problem = _absolute_problem(alias.name)
                if problem:
                    found.append(f"line {node.lineno}: import {alias.name} ({problem})")
        elif isinstance(node, ast.ImportFrom):
            names = ", ".join(alias.name for alias in node.names)
            shown = f"from {'.' * node.level}{node.module or ''} import {names}"
            if node.level == 0:
                assert node.module is not None  # `from import x` is a syntax error
                problem = _absolute_problem(node.module)
            elif node.level - 1 > package_depth:
                problem = "relative import leaving the protocol package"
            else:
                problem = ""
            if problem:
                found.append(f"line {node.lineno}: {shown} ({problem})")
    return found


def _absolute_problem(module: str) -> str:
    top = module.split(".")[0]
    if top in FORBIDDEN_STDLIB:
        return "no asyncio in the sans-I/O layer"
    if top not in sys.stdlib_module_names:
        return "not in the standard library"
    return ""


def protocol_sources() -> list[Path]:
    return sorted(PROTOCOL_DIR.rglob("*.py"))


def test_protocol_layer_is_found() -> None:
    """Guard against checking nothing: the files ARCHITECTURE.md names exist."""
    names = {path.name for path in protocol_sources()}
    assert {"__init__.py", "codes.py", "messages.py", "server.py"} <= names, names
    assert {"http.py", "responses.py", "cors.py"} <= names, names


@pytest.mark.parametrize(
    "path",
    protocol_sources(),
    ids=lambda path: path.relative_to(PROTOCOL_DIR).as_posix(),
)
def test_protocol_module_imports_only_stdlib_and_itself(path: Path) -> None:
    """No module of ``channels_graphql_ws/protocol/`` imports anything but the
    standard library (asyncio excepted) and the protocol package itself."""
    depth = len(path.parent.relative_to(PROTOCOL_DIR).parts)
    source = path.read_text(encoding="utf-8")
    assert forbidden_imports(source, depth, str(path)) == []


@pytest.mark.parametrize(
    ("source", "depth", "bad"),
    [
        pytest.param("import django", 0, True, id="third-party"),
        pytest.param("import django.db.models as m", 0, True, id="third-party-dotted"),
        pytest.param("from graphql import parse", 0, True, id="from-third-party"),
        pytest.param("import channels_graphql_ws.protocol", 0, True, id="absolute-self"),
        pytest.param("from channels_graphql_ws import protocol", 0, True, id="from-parent"),
        pytest.param("import asyncio", 0, True, id="asyncio"),
        pytest.param("import asyncio.events", 0, True, id="asyncio-submodule"),
        pytest.param("from asyncio import Queue", 0, True, id="from-asyncio"),
        pytest.param("import json, channels", 0, True, id="one-of-several"),
        pytest.param("def f():\n    import graphene\n", 0, True, id="nested-in-function"),
        pytest.param(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import django\n",
            0,
            True,
            id="type-checking-block",
        ),
        pytest.param(
            "try:\n    import msgpack\nexcept ImportError:\n    pass\n", 0, True, id="try"
        ),
        pytest.param("from .. import consumer", 0, True, id="relative-leaving-package"),
        pytest.param("from ... import x", 1, True, id="relative-leaving-from-subpackage"),
        pytest.param("from __future__ import annotations", 0, False, id="future"),
        pytest.param(
            "import json\nimport enum as e\nfrom typing import Any", 0, False, id="stdlib"
        ),
        pytest.param("import collections.abc", 0, False, id="stdlib-dotted"),
        pytest.param(
            "from . import codes\nfrom .messages import Subscribe", 0, False, id="relative"
        ),
        pytest.param("from .. import codes", 1, False, id="relative-from-subpackage"),
    ],
)
def test_import_checker_itself(source: str, depth: int, bad: bool) -> None:
    """The checker flags what it must and nothing else."""
    assert bool(forbidden_imports(source, depth)) is bad


# ------------------------------------------------- the house, module by module

PACKAGE_DIR = PROTOCOL_DIR.parent

#: Which of the package's own modules each module may import (ARCHITECTURE.md:
#: imports flow one way). ``protocol`` stands for the whole sans-I/O package.
#: A module missing here fails the test below: a new module needs a row.
ALLOWED_INTERNAL: dict[str, frozenset[str]] = {
    "__init__": frozenset({"client", "consumer", "subscription", "transport"}),
    "graphql_ws_consumer": frozenset({"consumer"}),
    "dict_as_object": frozenset(),
    "serializer": frozenset(),
    "execution": frozenset({"documents", "fast_execution", "limits", "protocol"}),
    "documents": frozenset({"collector", "limits"}),
    "collector": frozenset(),
    "limits": frozenset(),
    "fast_execution": frozenset({"node_memo"}),
    "node_memo": frozenset(),
    "operations": frozenset(
        {
            "documents",
            "execution",
            "limits",
            "log_budget",
            "protocol",
            "sync_thread",
            "thread_execution",
        }
    ),
    "sync_thread": frozenset(),
    "field_placement": frozenset({"execution", "fast_execution", "node_memo", "sync_thread"}),
    "thread_execution": frozenset({"execution", "field_placement", "node_memo", "sync_thread"}),
    "lifecycle": frozenset(
        {"direct_delivery", "notifications", "operations", "protocol", "subscription"}
    ),
    # `lifecycle` and `notifications` for type checking only.
    "direct_delivery": frozenset({"lifecycle", "notifications", "operations", "protocol"}),
    "session": frozenset({"lifecycle", "notifications", "operations", "protocol"}),
    "subscription": frozenset({"broadcast", "sync_thread"}),
    "broadcast": frozenset({"log_budget", "serializer"}),
    "notifications": frozenset({"serializer"}),
    "log_budget": frozenset(),
    "fanout": frozenset({"broadcast", "notifications"}),
    "layer_errors": frozenset({"fanout"}),
    "config": frozenset({"execution", "graphiql", "limits", "operations", "protocol"}),
    "graphiql": frozenset(),
    "http_transport": frozenset(
        {"graphiql", "http_streams", "operations", "protocol", "sse_single"}
    ),
    "http_streams": frozenset({"operations", "protocol", "session"}),
    "reservations": frozenset(),
    "sse_single": frozenset(
        {"http_streams", "layer_errors", "operations", "protocol", "reservations"}
    ),
    "consumer": frozenset(
        {
            "broadcast",
            "collector",
            "config",
            "dict_as_object",
            "execution",
            "fanout",
            "http_transport",
            "layer_errors",
            "notifications",
            "operations",
            "protocol",
            "session",
            "websocket_sink",
        }
    ),
    "websocket_sink": frozenset({"notifications", "protocol"}),
    "transport": frozenset({"protocol"}),
    "client": frozenset({"protocol", "transport"}),
    "testing": frozenset({"client", "consumer", "protocol", "transport"}),
}

#: Modules of the engine and below: they never import Channels (a transport
#: reaches them through a sink).
NO_CHANNELS = frozenset(
    {
        "execution",
        "operations",
        "lifecycle",
        "session",
        "config",
        "sync_thread",
        "thread_execution",
        "field_placement",
        "fast_execution",
        "documents",
        "limits",
        "log_budget",
        "node_memo",
        "collector",
        "direct_delivery",
        "http_streams",
        "reservations",
    }
)


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """The package's own modules ``path`` imports, and the third-party tops."""
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                internal.add(node.module.split(".")[0])
            else:
                internal.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            external.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            external.update(alias.name.split(".")[0] for alias in node.names)
    return internal, external


def package_modules() -> list[Path]:
    return sorted(PACKAGE_DIR.glob("*.py"))


@pytest.mark.parametrize("path", package_modules(), ids=lambda path: path.stem)
def test_module_imports_only_what_the_house_allows(path: Path) -> None:
    assert path.stem in ALLOWED_INTERNAL, f"{path.name} needs a row in ALLOWED_INTERNAL"
    internal, external = imports_of(path)
    assert internal <= ALLOWED_INTERNAL[path.stem], internal - ALLOWED_INTERNAL[path.stem]
    if path.stem in NO_CHANNELS:
        assert "channels" not in external, f"{path.name} imports Channels"


def test_nothing_but_the_entry_points_imports_the_consumer() -> None:
    importers = {path.stem for path in package_modules() if "consumer" in imports_of(path)[0]}
    assert importers <= {"__init__", "testing", "graphql_ws_consumer"}, importers
