"""The transaction suite runs twice: on its own, and inside an outer ``atomic()``.

Django's own transaction tests run a second time "within an existing transaction"
(``AtomicInsideTransactionTests``): code that manages transactions must behave the
same when its caller already opened one. For sessionorm that is DESIGN.md's promise:
a session that starts inside an atomic block joins it through a SAVEPOINT, and never
commits or rolls back the outer transaction.

A test module joins the suite with ``pytestmark = transaction_suite.marks()``. Each
of its tests then runs as:

- ``[plain]``: no atomic block around the test (``django_db(transaction=True)``), so
  the session's root transaction is a real ``BEGIN`` ... ``COMMIT``;
- ``[inside-atomic]``: the test body runs inside ``transaction.atomic()`` on every
  database it uses, so the session's root is a ``SAVEPOINT``. Afterwards the fixture
  checks that the outer block is still open, still the innermost block, and usable,
  and rolls it back.

A test whose assertions differ between the two asks for the ``outer_atomic`` fixture
and adapts: it is false in ``[plain]``; ``outer_atomic.begins`` / ``commits`` /
``rolls_back`` are the statements the session's root sends; ``outer_atomic.end()``
commits the outer block, so the test can check what the caller's COMMIT makes
durable (``on_commit`` callbacks, rows). A test that only means something with no
block around it carries ``@pytest.mark.outside_atomic_only(reason)`` and is skipped
in ``[inside-atomic]``.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connections, transaction

__all__ = ["marks", "django_db", "outer_atomic", "OuterAtomic", "control_statements", "VARIANTS"]

VARIANTS = ("plain", "inside-atomic")

# available_apps keeps the flush after each transactional test to these apps' tables,
# without re-creating content types and permissions (post_migrate) every time.
AVAILABLE_APPS = ["tests.testapp", "sessionorm"]

# The transaction-control statements, as Django logs them (longest prefix first).
CONTROL = ("ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT", "SAVEPOINT", "BEGIN", "COMMIT", "ROLLBACK")


def django_db(databases=("default",)):
    """The suite's ``django_db`` mark: real transactions on ``databases``."""
    return pytest.mark.django_db(
        transaction=True, databases=list(databases), available_apps=AVAILABLE_APPS
    )


def marks(databases=("default",)) -> list:
    """The ``pytestmark`` of a module in the suite: real transactions, two variants."""
    return [django_db(databases), pytest.mark.usefixtures("outer_atomic")]


def control_statements(ctx) -> list[str]:
    """The transaction-control statements a ``CaptureQueriesContext`` saw, in order.

    Each is reduced to its leading words (``"SAVEPOINT"``, ``"ROLLBACK TO SAVEPOINT"``,
    ``"BEGIN"``...); every other statement is left out.
    """
    words = []
    for query in ctx.captured_queries:
        upper = query["sql"].lstrip().upper()
        for prefix in CONTROL:
            if upper.startswith(prefix):
                words.append(prefix)
                break
    return words


class _Discard(Exception):
    """Passed to ``Atomic.__exit__`` to make it roll back; never raised."""


class OuterAtomic:
    """The atomic blocks around an ``[inside-atomic]`` test; empty and false in ``[plain]``."""

    def __init__(self, aliases=()):
        self.aliases = tuple(aliases)
        self._blocks: dict = {}  # alias -> the Atomic entered for the test, until it ends

    def __bool__(self) -> bool:
        return bool(self.aliases)

    def __repr__(self) -> str:
        return f"<OuterAtomic {'inside-atomic' if self else 'plain'} {list(self._blocks)}>"

    # What the session's root level sends: its own transaction with no block around
    # it, a savepoint of the caller's transaction inside one.

    @property
    def begins(self) -> list[str]:
        return ["SAVEPOINT"] if self else ["BEGIN"]

    @property
    def commits(self) -> list[str]:
        return ["RELEASE SAVEPOINT"] if self else ["COMMIT"]

    @property
    def rolls_back(self) -> list[str]:
        # Django releases a savepoint after rolling back to it.
        return ["ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT"] if self else ["ROLLBACK"]

    def enter(self) -> None:
        for alias in self.aliases:
            block = transaction.atomic(using=alias)
            block.__enter__()
            self._blocks[alias] = block

    def end(self) -> None:
        """Commit the outer block now (nothing happens in ``[plain]``).

        What the test checks afterwards is what the caller's COMMIT made durable:
        ``on_commit`` callbacks have run, rows are committed.
        """
        while self._blocks:
            _alias, block = self._blocks.popitem()
            block.__exit__(None, None, None)

    def discard(self) -> None:
        """Check the session left the outer block as it found it, then roll it back."""
        problems = []
        while self._blocks:
            alias, block = self._blocks.popitem()
            connection = connections[alias]
            if not any(b is block for b in connection.atomic_blocks):
                problems.append(f"{alias}: the outer atomic block was ended by the code under test")
                continue
            while connection.atomic_blocks[-1] is not block:
                problems.append(f"{alias}: an atomic block opened inside the test is still open")
                connection.atomic_blocks[-1].__exit__(_Discard, _Discard(), None)
            if connection.needs_rollback:
                problems.append(f"{alias}: the outer transaction was marked for rollback")
            else:
                try:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT 1")
                except DatabaseError as exc:
                    problems.append(f"{alias}: the outer transaction is unusable: {exc}")
            block.__exit__(_Discard, _Discard(), None)
        if problems:
            pytest.fail("The test broke the outer atomic block:\n" + "\n".join(problems))


@pytest.fixture(params=VARIANTS)
def outer_atomic(request):
    """The ``[plain]`` / ``[inside-atomic]`` variant of a transaction-suite test.

    Gives an :class:`OuterAtomic`: false in ``[plain]``; in ``[inside-atomic]`` one
    ``atomic()`` block per database of the test's ``django_db`` mark, entered before the
    test and checked and rolled back after it. Costs one BEGIN and ROLLBACK per database;
    the suite's running time doubles.
    """
    if request.param == "plain":
        yield OuterAtomic()
        return
    skip = request.node.get_closest_marker("outside_atomic_only")
    if skip is not None:
        pytest.skip(f"outside any atomic block only: {skip.args[0]}")
    marker = request.node.get_closest_marker("django_db")
    databases = marker.kwargs.get("databases") if marker else None
    if databases == "__all__":
        databases = list(connections)
    outer = OuterAtomic(databases or ["default"])
    outer.enter()
    try:
        yield outer
    finally:
        outer.discard()
