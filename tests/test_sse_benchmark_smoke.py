"""The SSE fan-out benchmark's smoke run, so it cannot rot: ``benchmarks.sse_bench --quick``.

5 WebSocket subscribers, then 5 SSE subscribers, 5 events each, against a
fresh uvicorn apiece: the run must finish cleanly, lose, duplicate and
reorder nothing, and print both columns and their ratio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_quick_sse_benchmark_runs_both_transports_and_checks_delivery() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.sse_bench", "--quick"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "| notifications/s |" in out
    assert "| checks: nothing lost, duplicated, reordered | ok | ok |" in out
    assert "run 1 ws:" in out and "run 1 sse:" in out
