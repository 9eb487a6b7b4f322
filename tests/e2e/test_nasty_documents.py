"""One client sending the costliest documents the default limits let through.

graphql-core's validation is quadratic in selections that share a response
name, and it used to run on the event loop: on a slow machine, a connection
sending such documents (each new to the document cache) made another
connection's ``ping`` -> ``pong`` take 1.4 s at the 99th percentile, 2 s at
worst. Parsing and validation now run in a worker thread, bounded by the
limits, and the cycle collector's pauses are kept short (``collector``):
on a shared two-core machine the 99th percentile is 20-45 ms.

The figure is the benchmark's (``python -m benchmarks.nasty_documents``,
target 50 ms); this test runs the same attack and holds a bound that a much
slower machine keeps, with the outcome of every kind of document.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import nasty_documents as nasty

from .support import PYTHON_TEST_TIMEOUT, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PYTHON_TEST_TIMEOUT + 120)]

#: Milliseconds the 99th percentile of round trips must stay under (see above).
P99_BOUND = 250


async def test_nasty_documents_do_not_stall_other_connections(tmp_path: Path) -> None:
    with running_server("uvicorn", tmp_path / "uvicorn.log") as server:
        result = await nasty.measure(server.url())
    report = nasty.report(result)
    print(report)
    # Every kind was sent, and each one under the limits was served or
    # answered with graphql-core's errors, each one over them refused.
    outcomes = result["outcomes"]
    sent = {key.split(":")[0] for key in outcomes}
    assert sent == {name for name, _ in result["documents"]}, report
    for key in outcomes:
        name, outcome = key.split(": ")
        if name.endswith("(over)"):
            assert outcome in ("MAX_VALIDATION_COST", "MAX_DOCUMENT_LENGTH"), report
        else:
            assert "MAX_" not in outcome, report
    assert nasty.percentile(result["attack"], 0.99) < P99_BOUND, report
