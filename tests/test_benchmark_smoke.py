"""The benchmark's smoke run, so it cannot rot: ``python -m benchmarks --quick --runs 1``.

Quick mode is the in-memory scenarios at smoke size (fan-out 5 subscribers x
5 events, a few queries, a few connections), each against a fresh uvicorn
serving our consumer and one serving the bare Channels consumer. The run
must finish cleanly, lose, duplicate and reorder nothing, and print our
figures, the bare figures and their ratios.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
#: What quick mode runs: the in-memory scenarios only (no Redis needed).
QUICK_SCENARIOS = {"fanout-memory", "query-small", "query-large", "memory"}
NUMBER = r"[\d,]+(?:\.\d+)?"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The output of one quick run and the figures it wrote with ``--json``."""
    figures = tmp_path_factory.mktemp("bench") / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--runs", "1", "--json", str(figures)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, json.loads(figures.read_text())


def test_quick_mode_runs_the_in_memory_scenarios_against_both_consumers(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    _, figures = quick_run
    assert set(figures) == QUICK_SCENARIOS
    for scenario, runs in figures.items():
        for kind in ("ours", "bare"):
            assert len(runs[kind]) == 1, (scenario, kind)
            (run,) = runs[kind]
            assert run["ok"] and run["problems"] == [], (scenario, kind, run)


def test_quick_fanout_delivers_every_event_once_and_in_order_on_both_consumers(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    _, figures = quick_run
    for kind in ("ours", "bare"):
        (run,) = figures["fanout-memory"][kind]
        assert run["expected"] == 5 * 5
        assert run["notifications"] == run["expected"], kind
        assert run["checks"] == {
            "lost": 0,
            "duplicated": 0,
            "reordered": 0,
            "unexpected": 0,
            "closed_early": 0,
        }, kind
        assert run["notifications_per_s"] > 0
        assert 0 <= run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]


def test_quick_run_prints_ours_bare_and_ratio(quick_run: tuple[str, dict[str, Any]]) -> None:
    output, _ = quick_run
    for label in ("notifications/s", "p99 latency, ms", "server CPU per query, us"):
        row = rf"\| {re.escape(label)} \| ({NUMBER}) \| ({NUMBER}) \| ({NUMBER})x \|"
        assert re.search(row, output), f"no figures of {label!r} in:\n{output}"
    assert "All checks passed" in output
