"""Faults of a real PostgreSQL server while a session works.

For each — the backend killed mid-transaction, a statement or lock timeout, a
deadlock, a serialization failure, a crash between prepare and commit — the session
raises a clear ``sessionorm.exc`` error (still a Django ``OperationalError``),
``rollback()`` succeeds, the session works again afterwards, and row counts read on
a connection of its own show that the database holds all of a transaction or none.

Concurrent sessions run in threads (tests/concurrency_helpers.py); every wait is
bounded, and PostgreSQL's ``deadlock_timeout`` is lowered to keep the file fast.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import InterfaceError, OperationalError, connections

from sessionorm import Session
from sessionorm.exc import (
    ConnectionLostError,
    DeadlockError,
    PendingRollbackError,
    SerializationError,
    StatementTimeoutError,
)
from tests.concurrency_helpers import count, guard, in_threads, names, terminate_backend
from tests.testapp.models import Author, Book
from tests.twophase_helpers import prepared_gids, raw_connection, rollback_all_prepared

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def nothing_left_prepared():
    """A prepared transaction holds locks that would keep the test database alive."""
    yield
    rollback_all_prepared(("default",))


def assert_usable_again(session, name="after"):
    """After rollback(), the same session writes and commits on a working connection."""
    session.add(Author(name=name))
    session.commit()
    assert not connections["default"].connection.closed
    assert count(Author, name=name) == 1


# -- the backend killed mid-transaction ------------------------------------------------


@pytest.mark.parametrize("next_step", ["flush", "execute", "commit"])
def test_killed_backend_gives_connection_lost_and_rollback_reconnects(session, next_step):
    session.add_all([Author(name="lost 1"), Author(name="lost 2")])
    session.flush()
    terminate_backend(session.scalar("SELECT pg_backend_pid()"))
    dead = connections["default"].connection

    with pytest.raises(ConnectionLostError) as raised:
        if next_step == "flush":
            session.add(Author(name="lost 3"))
            session.flush()
        elif next_step == "execute":
            session.execute("SELECT 1")
        else:
            session.commit()
    error = raised.value
    # Still the classes Django raises for a broken connection.
    assert isinstance(error, OperationalError) and isinstance(error, InterfaceError)
    assert error.__cause__ is error.orig and error.operation == next_step
    assert str(error).startswith(
        f"During {next_step} on database 'default', the connection to the database was lost."
    )
    assert ("may have committed" in str(error)) == (next_step == "commit")

    assert not session.is_active
    with pytest.raises(PendingRollbackError, match="ConnectionLostError"):
        session.execute("SELECT 1")
    session.rollback()  # no second error from the dead connection
    # Django dropped the dead connection (after a failed COMMIT it already opened a
    # new one): its next use works.
    assert dead.closed and connections["default"].connection is not dead
    assert count(Author) == 0  # nothing of the killed transaction
    assert_usable_again(session)


def test_rollback_right_after_the_backend_was_killed_raises_nothing(session):
    session.add(Author(name="lost"))
    session.flush()
    terminate_backend(session.scalar("SELECT pg_backend_pid()"))
    session.rollback()  # the first to touch the dead connection: still no error
    assert count(Author) == 0
    assert_usable_again(session)


def test_killed_backend_inside_a_savepoint(session):
    session.add(Author(name="outer"))
    session.begin_nested()
    session.add(Author(name="inner"))
    session.flush()
    terminate_backend(session.scalar("SELECT pg_backend_pid()"))
    with pytest.raises(ConnectionLostError):
        session.execute("SELECT 1")
    session.rollback()  # the savepoint and the transaction around it: no second error
    assert not session.in_transaction() and count(Author) == 0
    assert_usable_again(session)


def test_killed_backend_before_a_two_phase_commit(nothing_left_prepared):
    session = Session(twophase=True)
    session.add(Author(name="lost"))
    session.flush()
    terminate_backend(session.scalar("SELECT pg_backend_pid()"))
    during_prepare = "^During prepare on database 'default', the connection"
    with pytest.raises(ConnectionLostError, match=during_prepare) as raised:
        session.commit()  # PREPARE TRANSACTION finds the connection gone
    assert "sessionorm_recover" in str(raised.value)
    session.rollback()
    assert prepared_gids() == [] and count(Author) == 0
    assert_usable_again(session)
    session.close()


def test_killed_backend_leaves_django_usable_for_the_next_session(session):
    session.add(Author(name="lost"))
    session.flush()
    terminate_backend(session.scalar("SELECT pg_backend_pid()"))
    with pytest.raises(ConnectionLostError):
        session.commit()  # the flush inside commit() finds the connection gone
    session.close()  # close() instead of rollback(): no second error either

    connections["default"].close_if_unusable_or_obsolete()
    assert Author.objects.count() == 0  # plain Django reconnects
    with Session() as other:
        assert_usable_again(other)


# -- statement and lock timeouts ------------------------------------------------------


def test_statement_timeout_in_execute_rolls_back_the_transaction(session):
    session.add(Author(name="written before the timeout"))
    session.flush()
    session.execute("SET LOCAL statement_timeout = '50ms'")
    with pytest.raises(StatementTimeoutError) as raised:
        session.execute("SELECT pg_sleep(1)")
    error = raised.value
    assert isinstance(error, OperationalError) and error.sqlstate == "57014"
    assert "ran longer than statement_timeout" in str(error)
    assert "Original error: QueryCanceled: canceling statement due to statement timeout" in (
        str(error)
    )

    session.rollback()
    assert count(Author) == 0
    assert session.scalar("SHOW statement_timeout") == "0"  # SET LOCAL ended with it
    assert_usable_again(session)


@pytest.mark.parametrize(
    ("setting", "sqlstate"), [("statement_timeout", "57014"), ("lock_timeout", "55P03")]
)
def test_flush_waiting_for_a_row_lock_times_out_and_writes_nothing(session, setting, sqlstate):
    author = Author.objects.create(name="locked")
    holder = raw_connection("default")
    holder.autocommit = False
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT 1 FROM testapp_author WHERE id = %s FOR UPDATE", [author.pk])
        session.execute(f"SET LOCAL {setting} = '100ms'")
        session.add(Author(name="inserted in the same flush"))
        session.get(Author, author.pk).name = "changed"
        with pytest.raises(StatementTimeoutError) as raised:
            session.flush()
        assert raised.value.sqlstate == sqlstate and raised.value.operation == "flush"
    finally:
        holder.rollback()
        holder.close()

    session.rollback()
    assert names(Author) == ["locked"]  # neither the INSERT nor the UPDATE
    session.get(Author, author.pk).name = "changed"
    session.commit()  # the lock is gone: the same change now succeeds
    assert names(Author) == ["changed"]


# -- a deadlock between two sessions ---------------------------------------------------


def test_deadlock_aborts_one_session_the_other_commits_and_the_loser_retries():
    first, second = Author.objects.create(name="first"), Author.objects.create(name="second")
    locked_one = threading.Barrier(2, timeout=5)  # both hold their first row lock
    phase_done = threading.Barrier(2, timeout=5)  # the winner committed, the loser rolled back

    def worker(label, order):
        session = Session()
        try:
            guard(session)
            session.execute("SET LOCAL deadlock_timeout = '50ms'")
            session.get(Author, order[0]).name = label
            session.flush()  # UPDATE: this session now holds order[0]
            locked_one.wait()
            session.get(Author, order[1]).name = label
            try:
                session.commit()  # waits for the other's row: one of the two is aborted
            except DeadlockError as exc:
                state = {"error": exc, "active": session.is_active}
                session.rollback()
                phase_done.wait()
                state["seen"] = sorted(session.query(Author).values_list("name", flat=True))
                for pk in order:  # the retry, in the same session
                    session.get(Author, pk).name = label + " again"
                session.commit()
                return state
            phase_done.wait()
            return "committed"
        finally:
            session.close()

    results = in_threads(
        lambda: worker("A", (first.pk, second.pk)), lambda: worker("B", (second.pk, first.pk))
    )
    assert sorted(map(type, results), key=str) == [dict, str], results
    winner = "AB"[results.index("committed")]
    loser = next(r for r in results if isinstance(r, dict))
    error = loser["error"]
    assert isinstance(error, OperationalError) and error.sqlstate == "40P01"
    assert "found a deadlock" in str(error) and "run_in_transaction" in str(error)
    assert loser["active"] is False
    assert loser["seen"] == [winner, winner]  # the winner's whole transaction, none of the loser's
    loser_label = "AB".replace(winner, "")
    assert names(Author) == [loser_label + " again"] * 2


# -- a serialization failure under SERIALIZABLE ------------------------------------------


def test_write_skew_under_serializable_fails_one_session():
    """Each session checks that nobody is on call, then puts someone on call."""
    both_read = threading.Barrier(2, timeout=5)
    # The loser may fail at its INSERT, before the winner commits: it reads again after.
    phase_done = threading.Barrier(2, timeout=5)

    def worker(label):
        session = Session(isolation_level="SERIALIZABLE")
        try:
            guard(session)
            on_call = session.query(Author).filter(name__startswith="on call").count()
            both_read.wait()
            if on_call == 0:
                session.add(Author(name=f"on call {label}"))
            try:
                session.commit()
            except SerializationError as exc:
                session.rollback()
                phase_done.wait()
                # Run again, the check now sees the other session's row.
                again = session.query(Author).filter(name__startswith="on call").count()
                session.commit()
                return exc, again
            phase_done.wait()
            return "committed"
        finally:
            session.close()

    results = in_threads(lambda: worker("A"), lambda: worker("B"))
    assert results.count("committed") == 1, results
    error, seen_on_retry = next(r for r in results if isinstance(r, tuple))
    assert isinstance(error, OperationalError) and error.sqlstate == "40001"
    assert error.operation in ("flush", "commit")
    assert "could not serialize" in str(error) and "run_in_transaction" in str(error)
    assert seen_on_retry == 1
    assert count(Author) == 1  # the invariant held: one on call, not two


# -- a crash between prepare and commit -----------------------------------------------

CRASH_HOLDING_A_ROW = """
import os, django
django.setup()
from django.db import connections
connections["default"].settings_dict["NAME"] = os.environ["TEST_DB"]
from sessionorm import Session
from tests.testapp.models import Author, Book
session = Session(twophase=True)
author = session.get(Author, int(os.environ["AUTHOR"]))
author.name = "in doubt"
session.add(Book(title="in doubt", author=author))
session.prepare()
print(session.get_transaction()._xids["default"])
os._exit(0)  # the process dies between prepare and commit
"""


def test_a_transaction_in_doubt_holds_its_rows_and_locks_until_resolved(nothing_left_prepared):
    author = Author.objects.create(name="before")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.test",
        "TEST_DB": connections["default"].settings_dict["NAME"],
        "AUTHOR": str(author.pk),
    }
    done = subprocess.run(
        [sys.executable, "-c", CRASH_HOLDING_A_ROW],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    gid = done.stdout.split()[-1]
    assert prepared_gids() == [gid]
    assert names(Author) == ["before"] and count(Book) == 0  # none of it, yet

    with Session() as session:
        guard(session, lock_timeout="100ms")
        session.get(Author, author.pk).name = "mine"
        with pytest.raises(StatementTimeoutError, match="lock_timeout"):
            session.flush()  # the prepared transaction still holds the row
        session.rollback()

        raw = raw_connection("default")
        with raw.cursor() as cursor:
            cursor.execute("COMMIT PREPARED %s", [gid])  # what sessionorm_recover --commit does
        raw.close()
        assert names(Author) == ["in doubt"] and count(Book) == 1  # all of it

        session.get(Author, author.pk).name = "mine"
        session.commit()  # the lock went with the resolved transaction
    assert names(Author) == ["mine"]
