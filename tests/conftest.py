"""Generic test helpers; the core fixtures live beside the tests that use them.

- ``@pytest.mark.postgresql``: the test needs PostgreSQL (two-phase commit, its SQL);
  it is skipped when the suite runs on another backend (``--ds=settings.test_sqlite``).
- Databases: the ``default`` and ``other`` aliases are two different databases on the
  same backend. A test that uses ``other`` asks for it:
  ``@pytest.mark.django_db(databases=["default", "other"])``.
- The transaction suite (tests/transaction_suite.py): modules with
  ``pytestmark = transaction_suite.marks()`` run every test twice, ``[plain]`` and
  ``[inside-atomic]``, through the ``outer_atomic`` fixture.
"""

import pytest
from django.db import connections

from tests.transaction_suite import outer_atomic  # noqa: F401 - the suite's fixture


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "outside_atomic_only(reason): a transaction-suite test that only means something "
        "with no atomic block around it; skipped in its [inside-atomic] variant",
    )


def pytest_report_header(config):
    from django.conf import settings

    lines = []
    for alias, db in settings.DATABASES.items():
        where = db.get("HOST") or ""
        lines.append(f"database {alias}: {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']} {where}")
    return lines


def pytest_collection_modifyitems(config, items):
    if connections["default"].vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with --ds=settings.test)")
    for item in items:
        if item.get_closest_marker("postgresql"):
            item.add_marker(skip)


@pytest.fixture
def session():
    """A Session on ``default``; inside a ``django_db`` test it joins the test's
    transaction through a savepoint. Closed afterwards (what it did not commit is
    rolled back)."""
    from sessionorm import Session

    with Session() as session:
        yield session
