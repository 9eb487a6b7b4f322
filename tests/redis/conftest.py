"""Fixtures of the Redis tests: the shared Redis, the session's key prefix, server logs.

The shared Redis (127.0.0.1:6379) is never stopped or flushed: every key and
channel the tests make is under a prefix of this session alone. Without a
reachable Redis these tests fail under CI (the environment variable ``CI``
is set) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator
from typing import Any

import pytest
import redis

from .support import OwnRedis, Server, tail

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis, checked to answer PING."""
    client = redis.Redis.from_url(SHARED_REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        reason = f"Redis at {SHARED_REDIS_URL} is unreachable ({error}); the Redis tests need it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        client.close()
    return SHARED_REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    """The channels_redis prefix of this test session: no other run shares its keys."""
    return f"cgws-test-{uuid.uuid4().hex[:8]}:"


def _logs_of(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Server):
        return [(f"{value.name} log (tail)", tail(value.log))]
    if isinstance(value, OwnRedis):
        return [("redis-server log (tail)", tail(value.log, 20))]
    if isinstance(value, (list, tuple)):
        return [section for item in value for section in _logs_of(item)]
    return []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Show the logs of the processes a failing test used."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            report.sections.extend(_logs_of(value))
