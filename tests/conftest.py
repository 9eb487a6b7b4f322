"""Django settings for the library's own tests: in-memory layer, in-memory SQLite."""

from __future__ import annotations

import django
import pytest
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "channels",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        USE_TZ=True,
    )
    django.setup()

# The public fixture `graphql_ws_client`, as users enable it.
pytest_plugins = ["channels_graphql_ws.testing"]


@pytest.fixture(autouse=True)
def _fresh_error_log_budget() -> None:
    """Each test starts with the whole allowance of logged errors.

    The allowance is process-wide by design; without this, a test asserting
    a log record would depend on how many errors earlier tests logged.
    """
    from tests.internals import fresh_log_budget

    fresh_log_budget()
