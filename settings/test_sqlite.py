"""The test suite on SQLite: ``default`` and ``other`` are two in-memory databases.

Nothing here touches PostgreSQL, so this module runs where no server can be started.
"""

from .test_base import *  # noqa: F403

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
