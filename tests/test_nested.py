"""SAVEPOINTs: ``begin_nested()`` to any depth, and rollback that is exact.

Rolling back a SAVEPOINT level restores exactly what changed inside it and nothing
else: objects added inside become transient again (no key, no generated foreign
keys), objects deleted inside come back, objects modified inside are expired and
read the value they had when the savepoint began, a primary-key change is undone in
the identity map. What happened before the savepoint is untouched; since
``begin_nested()`` flushes pending changes first (as SQLAlchemy's does), what was
added, changed or marked for deletion before it is already written and stays so.

Part of the transaction suite: every test also runs inside an outer ``atomic()``,
where the session's root transaction is itself a SAVEPOINT.
"""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from sessionorm import identity_key, inspect
from sessionorm.exc import PendingRollbackError
from sessionorm.transaction import TransactionState
from tests import transaction_suite
from tests.testapp.models import Author, Book, Country
from tests.transaction_suite import control_statements

pytestmark = transaction_suite.marks()


def names():
    return sorted(Author.objects.values_list("name", flat=True))


def begin_root(session, name="root"):
    """Make the root transaction hold ``default`` (one INSERT), so it has begun."""
    obj = Author(name=name)
    session.add(obj)
    session.flush()
    return obj


# -- the stack -------------------------------------------------------------------------------


def test_depth_three_as_context_managers(session, outer_atomic):
    with CaptureQueriesContext(connection) as ctx:
        begin_root(session)
        root = session.get_transaction()
        assert not session.in_nested_transaction()
        assert session.get_nested_transaction() is None
        with session.begin_nested() as one:
            session.add(Author(name="one"))
            with session.begin_nested() as two:
                session.add(Author(name="two"))
                with session.begin_nested() as three:
                    session.add(Author(name="three"))
                    assert session.in_nested_transaction()
                    assert session.get_transaction() is root
                    assert session.get_nested_transaction() is three
                    assert three.parent is two and two.parent is one and one.parent is root
                    assert root.parent is None and not root.nested
                    assert all(level.nested for level in (one, two, three))
                assert session.get_nested_transaction() is two and two.is_active
                assert three.state is TransactionState.CLOSED
            assert session.get_nested_transaction() is one
        assert not session.in_nested_transaction() and session.get_transaction() is root
        session.commit()
    assert control_statements(ctx) == [
        *outer_atomic.begins,
        "SAVEPOINT",
        "SAVEPOINT",
        "SAVEPOINT",
        "RELEASE SAVEPOINT",
        "RELEASE SAVEPOINT",
        "RELEASE SAVEPOINT",
        *outer_atomic.commits,
    ]
    assert not session.in_transaction()
    assert names() == ["one", "root", "three", "two"]


def test_depth_three_as_calls(session):
    begin_root(session)
    one_author, two_author, three_author = (Author(name=n) for n in ("one", "two", "three"))
    with CaptureQueriesContext(connection) as ctx:
        one = session.begin_nested()
        session.add(one_author)
        two = session.begin_nested()  # flushes one_author inside one
        session.add(two_author)
        three = session.begin_nested()  # flushes two_author inside two
        session.add(three_author)
        assert session.get_nested_transaction() is three
        three.commit()  # flushes three_author; its work now belongs to two
        assert session.get_nested_transaction() is two
        two.rollback()  # undoes two's work and what three committed into it
        assert session.get_nested_transaction() is one
        one.commit()
    assert control_statements(ctx) == [
        "SAVEPOINT",
        "SAVEPOINT",
        "SAVEPOINT",
        "RELEASE SAVEPOINT",
        "ROLLBACK TO SAVEPOINT",
        "RELEASE SAVEPOINT",
        "RELEASE SAVEPOINT",
    ]
    assert not session.in_nested_transaction() and session.get_transaction().is_active
    assert inspect(one_author).persistent
    assert inspect(two_author).transient and inspect(three_author).transient
    assert two_author.pk is None and three_author.pk is None
    session.commit()
    assert names() == ["one", "root"]


def test_begin_nested_as_the_first_use_begins_the_root_with_it(session, outer_atomic):
    with CaptureQueriesContext(connection) as ctx:
        nested = session.begin_nested()
        assert session.get_transaction() is nested.parent
        inner = Author(name="inner")
        session.add(inner)
        session.flush()
        nested.rollback()
        session.commit()
    assert control_statements(ctx) == [
        *outer_atomic.begins,
        "SAVEPOINT",
        "ROLLBACK TO SAVEPOINT",
        "RELEASE SAVEPOINT",
        *outer_atomic.commits,
    ]
    assert inspect(inner).transient and names() == []


def test_django_code_in_a_first_savepoint_is_rolled_back_with_it(session):
    with pytest.raises(RuntimeError), session.begin_nested():
        Author.objects.create(name="django, inside the savepoint")
        raise RuntimeError
    assert names() == []


def test_begin_nested_flushes_pending_changes_before_the_savepoint(session):
    begin_root(session)
    pending = Author(name="pending")
    session.add(pending)
    with CaptureQueriesContext(connection) as ctx:
        nested = session.begin_nested()
    statements = [q["sql"].upper() for q in ctx.captured_queries]
    assert statements[0].startswith("INSERT") and statements[-1].startswith("SAVEPOINT")
    assert inspect(pending).persistent
    nested.rollback()
    assert inspect(pending).persistent and not inspect(pending).expired
    assert Author.objects.filter(pk=pending.pk).exists()


# -- what a SAVEPOINT rollback restores ----------------------------------------------------------


def test_objects_added_inside_become_transient_without_generated_values(session):
    outside = session.get(Author, Author.objects.create(name="outside").pk)
    nested = session.begin_nested()
    inner = Author(name="inner")
    child = Book(title="child of inner", author=inner)
    other_child = Book(title="child of outside", author=outside)
    session.add_all([child, other_child])
    session.flush()
    assert child.author_id == inner.pk is not None and child.created is not None
    unflushed = Author(name="unflushed")
    session.add(unflushed)
    with CaptureQueriesContext(connection) as ctx:
        nested.rollback()
    assert control_statements(ctx) == ["ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT"]

    for obj in (inner, child, other_child, unflushed):
        assert inspect(obj).transient and obj.pk is None and inspect(obj).key is None
        assert obj not in session
    assert child.author_id is None  # copied in from inner's generated key: removed
    assert child.author is inner  # what the application assigned stays
    assert other_child.author_id == outside.pk  # assigned, not generated: kept
    assert child.created is None and child.updated is None  # auto_now values: removed
    assert list(session.identity_map.values()) == [outside]
    assert inspect(outside).persistent and not inspect(outside).expired
    assert names() == ["outside"] and not Book.objects.exists()

    session.add(child)  # transient again: it can be inserted anew
    session.commit()
    assert Book.objects.get(pk=child.pk).author_id == inner.pk


def test_objects_deleted_inside_come_back(session):
    flushed_row = Author.objects.create(name="deleted and flushed")
    Book.objects.create(title="removed by the cascade", author=flushed_row)
    marked_row = Author.objects.create(name="marked only")
    author = session.get(Author, flushed_row.pk)
    book = session.query(Book).get(title="removed by the cascade")
    marked = session.get(Author, marked_row.pk)
    nested = session.begin_nested()
    session.delete(author)
    session.flush()
    assert inspect(author).deleted and inspect(book).deleted  # the cascade took the book too
    session.delete(marked)
    assert session.deleted == [marked]
    nested.rollback()

    for obj in (author, book, marked):
        assert inspect(obj).persistent and obj in session
    assert session.deleted == []
    assert session.identity_map.get(identity_key(Author, author.pk)) is author
    assert session.get(Author, marked.pk) is marked
    assert session.get(Book, book.pk) is book
    assert author.name == "deleted and flushed" and book.author is author
    assert Author.objects.filter(pk__in=[author.pk, marked.pk]).count() == 2
    assert Book.objects.filter(pk=book.pk).exists()
    session.commit()
    assert names() == ["deleted and flushed", "marked only"]


def test_objects_modified_inside_are_expired_and_read_their_savepoint_value(session):
    first = Author.objects.create(name="original")
    second = Author.objects.create(name="second")
    author, other = session.get(Author, first.pk), session.get(Author, second.pk)
    author.name = "before the savepoint"  # written by begin_nested's flush
    nested = session.begin_nested()
    author.name = "inside, flushed"
    session.flush()
    other.name = "inside, unflushed"
    nested.rollback()

    assert inspect(author).expired and inspect(other).expired
    assert session.dirty == []
    with CaptureQueriesContext(connection) as ctx:
        assert author.name == "before the savepoint"
    assert len(ctx) == 1  # the expired attributes load in one SELECT
    assert other.name == "second"
    session.commit()
    assert names() == ["before the savepoint", "second"]


@pytest.mark.parametrize("flush_before", [True, False], ids=["flushed", "left-to-begin_nested"])
def test_what_happened_before_the_savepoint_is_untouched(session, flush_before):
    # Rows made before the session begins (Django code inside it would share its fate).
    rows = [Author.objects.create(name=n).pk for n in ("changed", "deleted", "loaded inside")]
    changed, deleted = session.get(Author, rows[0]), session.get(Author, rows[1])
    added = Author(name="added before")
    session.add(added)
    changed.name = "new value"
    session.delete(deleted)
    if flush_before:
        session.flush()
    nested = session.begin_nested()
    assert session.new == [] and session.dirty == [] and session.deleted == []
    session.add(Author(name="inner"))
    untouched = session.get(Author, rows[2])
    session.flush()
    nested.rollback()

    assert inspect(added).persistent and added.pk is not None
    assert session.get(Author, added.pk) is added
    assert not inspect(added).expired and not inspect(changed).expired
    assert not inspect(untouched).expired  # loaded inside, never changed: nothing to undo
    with CaptureQueriesContext(connection) as ctx:
        assert changed.name == "new value" and added.name == "added before"
    assert len(ctx) == 0
    assert inspect(deleted).deleted and deleted not in session
    assert not Author.objects.filter(pk=deleted.pk).exists()
    session.commit()
    assert names() == ["added before", "loaded inside", "new value"]


@pytest.mark.parametrize("flush", [True, False], ids=["flushed", "unflushed"])
def test_a_primary_key_change_inside_is_undone_in_the_identity_map(session, flush):
    Country.objects.create(code="FR", name="France")
    country = session.get(Country, "FR")
    nested = session.begin_nested()
    country.code = "FX"
    if flush:
        session.flush()
        assert session.get(Country, "FX") is country
    nested.rollback()

    assert country.pk == "FR" and inspect(country).key == identity_key(Country, "FR")
    assert session.identity_map.get(identity_key(Country, "FX")) is None
    assert session.get(Country, "FR") is country
    assert country.name == "France" and session.dirty == []
    assert list(Country.objects.values_list("code", flat=True)) == ["FR"]


def test_rolling_back_the_root_undoes_committed_savepoints(session, outer_atomic):
    rows = [Author.objects.create(name=name).pk for name in ("existing", "doomed")]
    existing, doomed = (session.get(Author, pk) for pk in rows)
    one = Author(name="one")
    two = Book(title="two", author=one)
    with session.begin_nested():
        session.add(one)
        existing.name = "renamed in one"
        with session.begin_nested():
            session.add(two)
            with session.begin_nested():
                session.delete(doomed)
    assert inspect(one).persistent and inspect(two).persistent and inspect(doomed).deleted
    assert not session.in_nested_transaction()
    with CaptureQueriesContext(connection) as ctx:
        session.rollback()
    assert control_statements(ctx) == outer_atomic.rolls_back

    assert inspect(one).transient and one.pk is None
    assert inspect(two).transient and two.pk is None and two.author_id is None
    assert inspect(doomed).persistent and session.get(Author, doomed.pk) is doomed
    assert inspect(existing).expired and existing.name == "existing"
    assert names() == ["doomed", "existing"] and not Book.objects.exists()


# -- a failed flush inside a SAVEPOINT ------------------------------------------------------------


def fail_inside_a_savepoint(session):
    """Root work, a savepoint with a good flush, then a flush that fails in it."""
    kept = begin_root(session, "kept")
    root = session.get_transaction()
    nested = session.begin_nested()
    inner = Author(name="inner")
    session.add(inner)
    session.flush()
    bad = Author(name=None)  # NOT NULL: the INSERT fails
    session.add(bad)
    with CaptureQueriesContext(connection) as ctx, pytest.raises(IntegrityError):
        session.flush()
    # The savepoint's database work is undone at once, and only the savepoint's.
    assert control_statements(ctx) == ["ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT"]
    return root, nested, kept, inner, bad


REFUSED = {
    "flush": lambda s: s.flush(),
    "commit": lambda s: s.commit(),
    "begin_nested": lambda s: s.begin_nested(),
    "execute": lambda s: s.execute("SELECT 1"),
    "query": lambda s: list(s.query(Author)),
}


def test_a_failed_flush_inside_a_savepoint_rolls_back_only_the_savepoint(session, outer_atomic):
    root, nested, kept, inner, bad = fail_inside_a_savepoint(session)
    assert nested.state is TransactionState.DEACTIVE and root.state is TransactionState.ACTIVE
    assert not session.is_active and session.get_nested_transaction() is nested
    for work in REFUSED.values():
        with pytest.raises(PendingRollbackError, match="Original exception was: IntegrityError"):
            work(session)

    with CaptureQueriesContext(connection) as ctx:
        nested.rollback()
    assert control_statements(ctx) == []  # the database part was already rolled back
    assert session.is_active and not session.in_nested_transaction()
    assert session.get_transaction() is root and root.is_active
    assert inspect(inner).transient and inspect(bad).transient
    assert inspect(kept).persistent and not inspect(kept).expired

    session.add(Author(name="after"))
    with CaptureQueriesContext(connection) as ctx:
        session.commit()
    assert control_statements(ctx) == outer_atomic.commits
    assert names() == ["after", "kept"]


def test_session_rollback_after_a_failed_flush_in_a_savepoint_ends_everything(
    session, outer_atomic
):
    _root, _nested, kept, inner, bad = fail_inside_a_savepoint(session)
    with CaptureQueriesContext(connection) as ctx:
        session.rollback()
    assert control_statements(ctx) == outer_atomic.rolls_back
    assert not session.in_transaction() and session.is_active
    assert all(inspect(obj).transient for obj in (kept, inner, bad))
    assert names() == []
    session.add(Author(name="again"))
    session.commit()
    assert names() == ["again"]


def test_django_atomic_inside_a_savepoint_nests_in_it(session):
    begin_root(session)
    nested = session.begin_nested()
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        Author.objects.create(name="django, in the savepoint")
    assert control_statements(ctx) == ["SAVEPOINT", "RELEASE SAVEPOINT"]
    nested.rollback()
    assert names() == ["root"]


# -- the root ending while SAVEPOINT levels are still open ----------------------------------------


def test_an_error_in_a_begin_block_rolls_back_its_open_savepoints(session):
    inner = Author(name="inner")
    with pytest.raises(RuntimeError), session.begin():
        begin_root(session)
        session.begin_nested()
        session.add(inner)
        session.flush()
        raise RuntimeError
    assert not session.in_transaction()
    assert inspect(inner).transient and inner.pk is None
    assert names() == []


def test_a_begin_block_that_ends_normally_commits_its_open_savepoints(session):
    with session.begin():
        session.begin_nested()
        session.add(Author(name="inner"))
    assert not session.in_transaction()
    assert names() == ["inner"]
