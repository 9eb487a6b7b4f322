"""The benchmark's smoke run, so it cannot rot: ``python -m benchmarks --quick --runs 1``.

Quick mode is the in-memory scenarios at smoke size (fan-out 5 subscribers x
5 events from two subscriber processes, a few queries, a few connections),
each against a fresh uvicorn serving our consumer, one serving the bare
Channels consumer and one serving the floor consumer. The run must finish
cleanly, lose, duplicate and reorder nothing, print every server's figures
and our ratios to bare and to floor, and say plainly that a run of this size
judges no target.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parent.parent
#: What quick mode runs: the in-memory scenarios only (no Redis needed).
QUICK_SCENARIOS = {"fanout-memory", "query-small", "query-large", "memory"}
KINDS = ("ours", "bare", "floor")
NUMBER = r"[\d,]+(?:\.\d+)?"
#: A number, or "n/a" for a figure the smoke size cannot measure.
FIGURE = rf"(?:{NUMBER}|n/a)"


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
        timeout=80,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, json.loads(figures.read_text())


def test_quick_mode_runs_the_in_memory_scenarios_against_all_three_servers(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    _, figures = quick_run
    assert set(figures) == QUICK_SCENARIOS
    for scenario, runs in figures.items():
        assert set(runs) == set(KINDS), scenario
        for kind in KINDS:
            assert len(runs[kind]) == 1, (scenario, kind)
            (run,) = runs[kind]
            assert run["ok"] and run["problems"] == [], (scenario, kind, run)


def test_quick_fanout_delivers_every_event_once_and_in_order_on_every_server(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    _, figures = quick_run
    for kind in KINDS:
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
        # The subscribers were spread over two load-generator processes,
        # whose CPU is reported beside the server's.
        assert run["client_processes"] == 2
        assert run["client_cpu_share"] > 0
        assert run["server_cpu_us_per_notification"] > 0
        assert run["notifications_per_s"] > 0
        assert 0 <= run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]


def test_quick_run_prints_every_server_and_ours_against_bare_and_floor(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    output, _ = quick_run
    assert "| metric | ours | bare | floor | ours/bare | ours/floor | target |" in output
    for label in (
        "server CPU per notification, us",
        "notifications/s",
        "p99 latency, ms",
        "server CPU per query, us",
    ):
        row = (
            rf"\| {re.escape(label)} \| ({NUMBER}) \| ({NUMBER}) \| ({NUMBER}) "
            rf"\| ({NUMBER})x \| ({NUMBER})x \|"
        )
        assert re.search(row, output), f"no figures of {label!r} in:\n{output}"
    assert re.search(r"fanout-memory: server CPU per notification, us: ours ", output)
    assert "All checks passed" in output


def test_quick_run_says_it_judges_nothing_and_never_reads_as_met(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    output, _ = quick_run
    assert "QUICK MODE (smoke size)" in output
    assert "no target is judged" in output
    # Titles give the size that ran, not the full scenario's.
    assert "Fan-out, 5 subscribers x 5 events" in output
    assert "200 subscribers" not in output
    targets = re.findall(r"\| ([^|]*: [^|]*) \|$", output, re.MULTILINE)
    assert targets, output
    for target in targets:
        assert target.endswith("not judged (smoke size)"), target
    assert not re.search(r"\b(NOT )?met\b", output), output


def test_quick_memory_figures_below_the_resolution_of_rss_are_not_measured(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    output, figures = quick_run
    for kind in KINDS:
        (run,) = figures["memory"][kind]
        # Five connections grow the resident set by a few pages at most.
        assert run["kib_per_subscription"] is None, (kind, run)
    row = r"\| RSS per active subscription, KiB \| n/a \| n/a \| n/a \| n/a \| n/a \|"
    assert re.search(row, output), output


def test_events_lengthens_only_the_fan_out_scenarios_and_is_refused_with_quick() -> None:
    from benchmarks.__main__ import chosen_scenarios, parse

    chosen = chosen_scenarios(parse(["--events", "1000"]))
    fanouts = [scenario for scenario in chosen if scenario.mode == "fanout"]
    assert fanouts and all(scenario.options["events"] == 1000 for scenario in fanouts)
    assert "1,000 events" in fanouts[0].heading(quick=False)
    queries = [scenario for scenario in chosen if scenario.mode == "queries"]
    assert queries and all("events" not in scenario.options for scenario in queries)
    # The scenarios themselves are untouched.
    assert chosen_scenarios(parse([]))[0].options["events"] == 100
    for argv in (["--events", "0"], ["--events", "5", "--quick"]):
        with pytest.raises(SystemExit):
            parse(argv)


def test_a_ratio_target_is_judged_on_the_alternated_runs_pair_by_pair() -> None:
    from benchmarks.__main__ import BY_NAME, Outcome, judge

    scenario = BY_NAME["fanout-memory"]
    metric = next(m for m in scenario.metrics if m.key == "server_cpu_us_per_notification")
    outcome = Outcome(scenario, ("ours", "floor"), quick=False)
    key = metric.key
    # The machine's speed drifted between pairs: the medians come from
    # different pairs (36 / 20 = 1.8x), while the pairs are 1.3x, 1.95x, 1.2x.
    for ours, floor in ((13.0, 10.0), (39.0, 20.0), (36.0, 30.0)):
        outcome.runs["ours"].append({key: ours})
        outcome.runs["floor"].append({key: floor})
    assert outcome.paired_ratio("ours", "floor", key) == pytest.approx(1.3)
    verdict = judge(metric, outcome)
    assert verdict == ("<= 1.5x floor: met (paired runs' median 1.30x, medians' ratio 1.80x)"), (
        verdict
    )
    outcome.runs["ours"][0][key] = 19.0  # a second pair over 1.5x fails it
    verdict = judge(metric, outcome)
    assert verdict.startswith("<= 1.5x floor: NOT met (paired runs' median 1.90x"), verdict
    # Unequal run counts: no pairs, the medians decide.
    outcome.runs["floor"].pop()
    assert math.isnan(outcome.paired_ratio("ours", "floor", key))
    verdict = judge(metric, outcome)
    assert "paired" not in verdict and verdict.startswith("<= 1.5x floor: "), verdict
