"""The endpoint's GraphiQL page script is valid JavaScript (``node --check``).

The script lives in a Python string, where one backslash too few turns a
JavaScript ``"\\n"`` into a line break and the whole page into a blank one;
the browser tests would see it too, but only with Chromium and the example
built. This needs node alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from channels_graphql_ws import graphiql
from tests.e2e.support import NODE_TEST_TIMEOUT, Node

pytestmark = pytest.mark.timeout(NODE_TEST_TIMEOUT)


def test_page_script_parses(node: Node, tmp_path: Path) -> None:
    script = tmp_path / "page.js"
    script.write_text(graphiql._SCRIPT)
    result = subprocess.run(
        [node.node, "--check", str(script)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


def test_page_has_the_transport_switch() -> None:
    page = graphiql.render_page("/static/")
    for value in ("ws", "sse", "multipart"):
        assert f'<option value="{value}">' in page
    assert 'data-testid="subscription-transport"' in page
