"""The one place tests reach into the library's private state.

Tests that must look behind the public API (is every task gone? which
groups does this process's fan-out hold?) ask here, so a change of the
engine's insides is one edit, not a hunt through the suite.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_graphql_ws import operations
from channels_graphql_ws.fanout import ProcessFanout, _fanouts, fanout_for
from channels_graphql_ws.session import OperationRecord, OperationSession


def session_of(consumer: Any) -> OperationSession:
    """The engine session that owns a consumer's operations."""
    return consumer._session  # type: ignore[no-any-return]


def tasks_of(consumer: Any) -> frozenset[asyncio.Task[Any]]:
    """Every task a consumer's connection still owns (timers included)."""
    return session_of(consumer).tasks


def records_of(consumer: Any) -> dict[Any, OperationRecord]:
    """Every operation of a consumer from its request to its last message."""
    return dict(session_of(consumer).records)


def fanout_of(layer: Any) -> ProcessFanout:
    """The running loop's fan-out of ``layer``."""
    return fanout_for(layer)


def fanouts_on_running_loop() -> list[ProcessFanout]:
    return list(_fanouts.get(asyncio.get_running_loop(), {}).values())


def fresh_log_budget() -> operations.LogBudget:
    """Give the process a full allowance of logged errors; returns it."""
    operations.error_log_budget.reset()
    operations.slow_log_budget.reset()
    return operations.error_log_budget


def log_budget() -> operations.LogBudget:
    return operations.error_log_budget


def slow_log_budget() -> operations.LogBudget:
    return operations.slow_log_budget
