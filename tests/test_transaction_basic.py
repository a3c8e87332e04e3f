"""Commit and rollback, and the session's transaction as Django's transaction.

Part of the transaction suite (tests/transaction_suite.py): every test runs with real
transactions (``[plain]``: the session's root is a BEGIN ... COMMIT of its own) and
again inside an outer ``atomic()`` (``[inside-atomic]``: the session joins it through
a SAVEPOINT and leaves it open). Tests whose outcome differs ask for ``outer_atomic``.
"""

import gc

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, exc, inspect
from tests import transaction_suite
from tests.testapp.models import Author, Book, Country

pytestmark = transaction_suite.marks()


def sql(ctx):
    return [q["sql"] for q in ctx.captured_queries]


def savepoint_statements(ctx):
    """The transaction-control statements sent, as their first words."""
    words = []
    for statement in sql(ctx):
        upper = statement.upper()
        for prefix in ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"):
            if upper.startswith(prefix):
                words.append(prefix)
    return words


# -- commit and rollback with autobegin -----------------------------------------------------


def test_autobegin_starts_on_first_use_and_commit_ends_it(session):
    assert not session.in_transaction()
    author = Author(name="Ursula")
    session.add(author)
    assert not session.in_transaction()  # add() alone touches no database
    session.flush()
    assert session.in_transaction() and session.get_transaction() is not None
    session.commit()
    assert not session.in_transaction()
    assert Author.objects.get(pk=author.pk).name == "Ursula"
    session.add(Author(name="Second"))
    session.commit()  # a new transaction began by itself
    assert Author.objects.filter(name="Second").exists()


def test_commit_flushes_pending_changes(session):
    author = session.get(Author, Author.objects.create(name="Before").pk)
    author.name = "After"
    session.add(Book(title="New", author=author))
    session.commit()
    assert Author.objects.get(pk=author.pk).name == "After"
    assert Book.objects.filter(title="New", author_id=author.pk).exists()


def test_rollback_makes_pending_objects_transient_without_their_keys(session):
    flushed = Author(name="Flushed")
    book = Book(title="Child", author=flushed)
    session.add(book)
    session.flush()
    assert flushed.pk is not None and book.author_id == flushed.pk
    unflushed = Author(name="Unflushed")
    session.add(unflushed)
    session.rollback()

    for obj in (flushed, unflushed, book):
        assert inspect(obj).transient
        assert obj.pk is None
    assert book.author_id is None  # the key the flush copied in is gone too
    assert book.author is flushed  # the assigned object stays
    assert not Author.objects.filter(name__in=["Flushed", "Unflushed"]).exists()

    session.add(book)  # transient again: it can be added and inserted anew
    session.commit()
    assert Book.objects.get(pk=book.pk).author_id == flushed.pk


def test_rollback_brings_deleted_objects_back_as_persistent(session):
    # The rows exist before the session begins, so its rollback does not remove them.
    doomed, kept = Author.objects.create(name="Doomed"), Author.objects.create(name="Marked")
    author, marked = session.get(Author, doomed.pk), session.get(Author, kept.pk)
    session.delete(author)
    session.flush()
    session.delete(marked)  # not flushed
    assert inspect(author).deleted
    session.rollback()
    assert inspect(author).persistent and inspect(marked).persistent
    assert session.deleted == []
    assert session.get(Author, author.pk) is author
    assert author.name == "Doomed" and marked.name == "Marked"
    assert Author.objects.filter(pk=author.pk).exists()


def test_rollback_expires_modified_objects_which_read_the_database_value(session):
    first = Author.objects.create(name="Flushed before")
    second = Author.objects.create(name="Unflushed before")
    flushed, unflushed = session.get(Author, first.pk), session.get(Author, second.pk)
    flushed.name = "Flushed after"
    session.flush()
    unflushed.name = "Unflushed after"
    session.rollback()
    assert inspect(flushed).expired and inspect(unflushed).expired
    assert session.dirty == []
    assert flushed.name == "Flushed before"
    assert unflushed.name == "Unflushed before"


def test_rollback_of_a_flushed_primary_key_change_restores_the_key(session):
    Country.objects.create(code="FR", name="France")
    country = session.get(Country, "FR")
    country.code = "FX"
    session.flush()
    assert session.get(Country, "FX") is country
    session.rollback()
    assert country.pk == "FR" and inspect(country).key[1] == "FR"
    assert session.get(Country, "FR") is country
    assert country.name == "France"


def test_rollback_of_an_unflushed_primary_key_change_restores_the_key(session):
    Country.objects.create(code="FR", name="France")
    country = session.get(Country, "FR")
    country.code = "FX"
    session.rollback()
    assert country.pk == "FR"
    assert session.dirty == []


def test_rollback_without_a_transaction_is_harmless(session):
    session.rollback()
    assert not session.in_transaction()


# -- joining Django's transaction -------------------------------------------------------------


def test_session_inside_atomic_joins_through_a_savepoint_and_never_commits_it():
    with transaction.atomic():
        with CaptureQueriesContext(connection) as ctx:
            session = Session()
            session.add(Author(name="Inside"))
            session.commit()
        assert savepoint_statements(ctx) == ["SAVEPOINT", "RELEASE SAVEPOINT"]
        assert not any(s.upper().startswith("COMMIT") for s in sql(ctx))
        assert connection.in_atomic_block
        assert Author.objects.filter(name="Inside").exists()
        transaction.set_rollback(True)
    assert not Author.objects.filter(name="Inside").exists()


def test_session_rollback_inside_atomic_rolls_back_to_its_savepoint_only():
    with transaction.atomic():
        Author.objects.create(name="Outer")
        with CaptureQueriesContext(connection) as ctx:
            session = Session()
            session.add(Author(name="Session"))
            session.flush()
            session.rollback()
        # Django releases a savepoint after rolling back to it, as its atomic() does.
        assert savepoint_statements(ctx) == [
            "SAVEPOINT",
            "ROLLBACK TO SAVEPOINT",
            "RELEASE SAVEPOINT",
        ]
        assert not connection.needs_rollback
        Author.objects.create(name="After")  # the outer transaction is still usable
    assert sorted(Author.objects.values_list("name", flat=True)) == ["After", "Outer"]


@pytest.mark.outside_atomic_only("it checks the COMMIT of a transaction of its own")
def test_session_outside_any_atomic_commits_for_real():
    session = Session()
    session.add(Author(name="Real"))
    with CaptureQueriesContext(connection) as ctx:
        session.commit()
    assert savepoint_statements(ctx) == []
    assert not connection.in_atomic_block
    assert connection.get_autocommit()
    assert Author.objects.filter(name="Real").exists()


def test_django_code_inside_the_session_transaction_shares_it(session):
    session.add(Author(name="Session"))
    session.flush()
    assert connection.in_atomic_block
    Author.objects.create(name="Django")
    with transaction.atomic():
        Author.objects.create(name="Nested atomic")
    names = set(session.query(Author).values_list("name", flat=True))
    assert names == {"Session", "Django", "Nested atomic"}

    session.rollback()
    assert not Author.objects.exists()


def test_failed_nested_atomic_inside_the_session_rolls_back_only_its_block(session):
    session.add(Author(name="Kept"))
    session.flush()
    with pytest.raises(RuntimeError), transaction.atomic():
        Author.objects.create(name="Undone")
        raise RuntimeError
    session.commit()
    assert list(Author.objects.values_list("name", flat=True)) == ["Kept"]


def test_commit_refuses_while_an_atomic_block_opened_inside_is_still_open(session):
    session.add(Author(name="x"))
    session.flush()
    with transaction.atomic(), pytest.raises(exc.InvalidRequestError, match="still open"):
        session.commit()


def test_on_commit_callbacks_run_when_the_session_commits(outer_atomic):
    ran = []
    session = Session()
    session.add(Author(name="x"))
    session.flush()
    transaction.on_commit(lambda: ran.append("callback"))
    assert ran == []
    session.commit()
    # Inside an outer atomic() the session released a savepoint: the callback waits
    # for the outer block's COMMIT, as for a nested atomic().
    assert ran == ([] if outer_atomic else ["callback"])
    outer_atomic.end()
    assert ran == ["callback"]


def test_on_commit_callbacks_are_dropped_when_the_session_rolls_back(outer_atomic):
    ran = []
    session = Session()
    session.add(Author(name="x"))
    session.flush()
    transaction.on_commit(lambda: ran.append("callback"))
    session.rollback()
    assert ran == []
    session.add(Author(name="y"))
    session.commit()
    outer_atomic.end()
    assert ran == []


def test_on_commit_inside_an_outer_atomic_waits_for_the_outer_commit(outer_atomic):
    ran = []
    with transaction.atomic():
        session = Session()
        session.add(Author(name="x"))
        session.flush()
        transaction.on_commit(lambda: ran.append("callback"))
        session.commit()
        assert ran == []  # released a savepoint only
    outer_atomic.end()
    assert ran == ["callback"]


# -- begin and begin_nested -------------------------------------------------------------------


def test_begin_twice_is_refused(session):
    session.begin()
    with pytest.raises(exc.InvalidRequestError, match="already begun"):
        session.begin()


def test_begin_nested_rolls_back_only_what_happened_inside_it(session):
    outer = Author(name="Outer")
    session.add(outer)
    session.flush()
    root = session.get_transaction()

    with CaptureQueriesContext(connection) as ctx:
        nested = session.begin_nested()
        assert session.in_nested_transaction()
        assert nested.nested and nested.parent is root
        assert session.get_nested_transaction() is nested
        inner = Author(name="Inner")
        session.add(inner)
        outer.name = "Outer, renamed inside"
        session.flush()
        nested.rollback()
    assert savepoint_statements(ctx) == ["SAVEPOINT", "ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT"]

    assert not session.in_nested_transaction()
    assert session.get_transaction() is root and root.is_active
    assert inspect(inner).transient and inner.pk is None
    assert inspect(outer).persistent
    assert outer.name == "Outer"  # expired, and reads the value from before the savepoint
    session.commit()
    assert list(Author.objects.values_list("name", flat=True)) == ["Outer"]


def test_begin_nested_rollback_keeps_objects_the_savepoint_did_not_touch(session):
    untouched = session.get(Author, Author.objects.create(name="Untouched").pk)
    nested = session.begin_nested()
    session.add(Author(name="Inner"))
    session.flush()
    nested.rollback()
    assert not inspect(untouched).expired


def test_begin_nested_rollback_brings_back_an_object_deleted_inside(session):
    author = session.get(Author, Author.objects.create(name="Survivor").pk)
    nested = session.begin_nested()
    session.delete(author)
    session.flush()
    assert inspect(author).deleted
    nested.rollback()
    assert inspect(author).persistent
    assert Author.objects.filter(pk=author.pk).exists()


def test_committed_nested_transaction_is_undone_by_the_root_rollback(session):
    session.get(Author, Author.objects.create(name="Before").pk)
    with session.begin_nested():
        inner = Author(name="Inner")
        session.add(inner)
    assert inspect(inner).persistent and not session.in_nested_transaction()
    assert Author.objects.filter(name="Inner").exists()
    session.rollback()
    assert inspect(inner).transient and inner.pk is None
    assert not Author.objects.filter(name="Inner").exists()


def test_begin_nested_context_manager_rolls_back_on_error(session):
    session.add(Author(name="Kept"))
    session.flush()
    with pytest.raises(RuntimeError), session.begin_nested():
        session.add(Author(name="Undone"))
        session.flush()
        raise RuntimeError
    assert session.in_transaction() and not session.in_nested_transaction()
    session.commit()
    assert list(Author.objects.values_list("name", flat=True)) == ["Kept"]


def test_session_commit_commits_open_nested_levels(session):
    session.begin_nested()
    session.add(Author(name="Nested"))
    session.begin_nested()
    session.add(Author(name="Nested twice"))
    session.commit()
    assert not session.in_transaction()
    assert Author.objects.count() == 2


# -- two sessions on one connection ------------------------------------------------------------


def test_sessions_ending_out_of_order_leave_the_outer_transaction_alone():
    with transaction.atomic():
        first, second = Session(), Session()
        first.add(Author(name="First"))
        first.flush()  # savepoint 1
        second.add(Author(name="Second"))
        second.flush()  # savepoint 2, inside 1
        first.close()  # rolls back to savepoint 1, which takes savepoint 2 with it
        assert connection.in_atomic_block  # the caller's transaction is still open
        with pytest.raises(exc.InvalidRequestError, match="already rolled back"):
            second.commit()
        second.rollback()
        assert not Author.objects.exists()
        Author.objects.create(name="Still usable")
    assert list(Author.objects.values_list("name", flat=True)) == ["Still usable"]


def test_rollback_of_a_key_change_of_a_dropped_object_leaves_no_trace(session):
    Country.objects.create(code="FR", name="France")
    country = session.get(Country, "FR")
    country.code = "FX"
    session.flush()
    del country
    gc.collect()
    session.rollback()
    assert len(session.identity_map) == 0
    assert session.get(Country, "FR").name == "France"
