"""sessionorm.retry: a unit of work run again on serialization failures and deadlocks."""

import threading

import pytest
from django.db import IntegrityError, connections, transaction

from sessionorm import sessionmaker
from sessionorm.exc import InvalidRequestError, SerializationError
from sessionorm.retry import retrying, run_in_transaction
from tests.concurrency_helpers import guard, in_threads, names
from tests.testapp.models import Author
from tests.twophase_helpers import raw_connection

pytestmark = pytest.mark.django_db(transaction=True)


class Flaky(Exception):
    """Stands for a retryable error in tests that need no concurrency."""


@pytest.fixture
def sleeps(monkeypatch):
    """The backoff delays run_in_transaction asked for; no real sleeping."""
    delays = []
    monkeypatch.setattr("sessionorm.retry.time.sleep", delays.append)
    return delays


def test_returns_what_the_function_returns_and_commits():
    def add(session):
        session.add(Author(name="kept"))
        return "done"

    assert run_in_transaction(add) == "done"
    assert list(Author.objects.values_list("name", flat=True)) == ["kept"]


def test_a_retried_try_leaves_nothing_and_the_backoff_grows(sleeps):
    tries = []

    def add(session):
        tries.append(len(tries) + 1)
        session.add(Author(name=f"try {len(tries)}"))
        session.flush()  # written, then undone with its try
        if len(tries) < 3:
            raise Flaky()

    run_in_transaction(add, attempts=3, backoff=0.05, retry_on=(Flaky,))
    assert tries == [1, 2, 3]
    assert list(Author.objects.values_list("name", flat=True)) == ["try 3"]
    assert len(sleeps) == 2
    assert 0.025 <= sleeps[0] <= 0.075 and 0.05 <= sleeps[1] <= 0.15  # jittered, doubling


@pytest.mark.parametrize("error", [ValueError, IntegrityError])
def test_other_errors_are_raised_at_once(error, sleeps):
    calls = []

    def work(session):
        calls.append(1)
        session.add(Author(name="never kept"))
        if error is IntegrityError:
            session.add(Author(name=None))  # NOT NULL: the flush fails in the database
            session.flush()
        raise error("not a concurrency problem")

    with pytest.raises(error):
        run_in_transaction(work)
    assert calls == [1] and sleeps == []
    assert not Author.objects.exists()


def test_attempts_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        run_in_transaction(lambda session: None, attempts=0)


def test_refused_inside_an_atomic_block():
    calls = []
    with transaction.atomic():
        with pytest.raises(InvalidRequestError, match=r"inside transaction\.atomic\(\)"):
            run_in_transaction(calls.append)
        assert connections["default"].in_atomic_block  # the caller's block is untouched
    assert calls == []


def test_decorator_forms(sleeps):
    tries = []

    @retrying(attempts=2, retry_on=(Flaky,))
    def rename(session, name, *, suffix=""):
        tries.append(1)
        session.add(Author(name=name + suffix))
        if len(tries) == 1:
            raise Flaky()
        return name

    @retrying
    def count(session):
        return session.query(Author).count()

    assert rename("Ursula", suffix="!") == "Ursula" and len(tries) == 2
    assert rename.__name__ == "rename"
    assert count() == 1


# -- against PostgreSQL: real serialization failures ---------------------------------------


@pytest.mark.postgresql
def test_a_serialization_failure_is_retried_and_the_work_committed_once():
    """Two sessions take the next ticket number at once: one is retried, none is doubled."""
    both_read = threading.Barrier(2, timeout=5)
    factory = sessionmaker(isolation_level="SERIALIZABLE")
    calls = []

    def take_ticket(label):
        def work(session):
            guard(session)
            calls.append(label)
            taken = session.query(Author).filter(name__startswith="ticket").count()
            if calls.count(label) == 1:
                both_read.wait()  # both first tries read before either writes
            session.add(Author(name=f"ticket {taken + 1}"))
            return taken + 1

        # Five tries: under load a retry may still meet the other, uncommitted, try.
        return lambda: run_in_transaction(work, attempts=5, session_factory=factory)

    results = in_threads(take_ticket("A"), take_ticket("B"))
    assert sorted(results) == [1, 2], results
    assert sorted(names(Author)) == ["ticket 1", "ticket 2"]
    assert len(calls) >= 3  # at least one try failed and ran again


@pytest.mark.postgresql
def test_when_attempts_run_out_the_last_error_says_how_many(sleeps):
    """Each try reads a row that another transaction then changes before the try writes it."""
    author = Author.objects.create(name="before")
    calls = []

    def rename(session):
        calls.append(1)
        mine = session.get(Author, author.pk)  # REPEATABLE READ: the snapshot is taken here
        raw = raw_connection("default")
        with raw.cursor() as cursor:
            cursor.execute("UPDATE testapp_author SET name = %s WHERE id = %s", ["theirs", mine.pk])
        raw.close()
        mine.name = "mine"  # flushed at commit: could not serialize (concurrent update)

    with pytest.raises(SerializationError, match="^Gave up after 3 tries. ") as raised:
        run_in_transaction(rename, session_factory=sessionmaker(isolation_level="REPEATABLE READ"))
    assert "could not serialize" in str(raised.value) and raised.value.attempts == 3
    assert raised.value.sqlstate == "40001"
    assert len(calls) == 3 and len(sleeps) == 2
    assert names(Author) == ["theirs"]  # nothing of any try
