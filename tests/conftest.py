"""Django settings for the library's own tests: in-memory layer, a throwaway SQLite file.

The database is a file in a temporary folder of this run, not ``:memory:``:
sync resolvers run in Django's sync thread, and an in-memory SQLite database
is private to the connection (so to the thread) that opened it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import django
import pytest
from django.conf import settings

if not settings.configured:
    _database_dir = tempfile.mkdtemp(prefix="cgws-tests-db-")
    atexit.register(shutil.rmtree, _database_dir, ignore_errors=True)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "channels",
            "graphene_django",
            "tests.orm",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(Path(_database_dir) / "tests.sqlite3"),
                # The sync thread and a test's own thread may write at once.
                "OPTIONS": {"timeout": 20},
            }
        },
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


_orm_tables_made = False


@pytest.fixture
def orm_db() -> None:
    """The ``tests.orm`` tables: migrated once per run, emptied before each test.

    A sync fixture, so it runs before the test's event loop does: the ORM
    may be used here directly.
    """
    global _orm_tables_made
    from django.core.management import call_command

    from tests.orm.models import Author, HookEvent, Post, Tag

    if not _orm_tables_made:
        call_command("migrate", verbosity=0)
        _orm_tables_made = True
    for model in (HookEvent, Post, Tag, Author):
        model.objects.all().delete()
