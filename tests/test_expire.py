"""Expiry and refresh: forgotten values load again, together, through the session.

Rows are changed "behind the session's back" with plain Django querysets, which run
in the same database transaction, so a reload must see them.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, exc, inspect
from tests.testapp.models import Author, Book, Restaurant

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(session):
    """A Book (and its Author) written with plain Django, loaded through ``session``."""
    author = Author.objects.create(name="Ursula")
    pk = Book.objects.create(title="The Dispossessed", pages=387, author=author).pk
    return session.get(Book, pk)


def sql(ctx):
    return [q["sql"] for q in ctx.captured_queries]


def selects(ctx):
    return [s for s in sql(ctx) if s.startswith("SELECT")]


def writes(ctx):
    return [s for s in sql(ctx) if any(w in s for w in ("INSERT ", "UPDATE ", "DELETE "))]


def change_row(book, **values):
    """Change the row with plain Django, behind the session's back."""
    Book.objects.filter(pk=book.pk).update(**values)


# -- expire -------------------------------------------------------------------------------


def test_expire_loads_every_expired_attribute_in_one_select(session, book):
    change_row(book, title="Renamed", pages=1)
    session.expire(book)
    state = inspect(book)
    assert state.expired
    assert state.expired_attributes == {"title", "pages", "author_id", "created", "updated"}

    with CaptureQueriesContext(connection) as ctx:
        assert book.title == "Renamed"
        assert book.pages == 1
        assert book.updated is not None
    assert len(selects(ctx)) == 1
    assert not state.expired


def test_primary_key_never_expires(session, book):
    pk = book.pk
    session.expire(book)
    assert "id" not in inspect(book).expired_attributes
    with CaptureQueriesContext(connection) as ctx:
        assert book.pk == pk and book.id == pk
        assert hash(book) == hash(pk)
    assert sql(ctx) == []


def test_primary_keys_of_every_table_never_expire_under_multi_table_inheritance(session):
    pk = Restaurant.objects.create(name="Chez Panisse", serves_pizza=True).pk
    restaurant = session.get(Restaurant, pk)
    session.expire(restaurant)
    assert inspect(restaurant).expired_attributes == {"name", "serves_pizza"}
    with CaptureQueriesContext(connection) as ctx:
        assert restaurant.pk == pk and restaurant.id == pk
    assert sql(ctx) == []
    assert restaurant.name == "Chez Panisse"


def test_expire_named_attributes_only(session, book):
    change_row(book, title="Renamed", pages=1)
    session.expire(book, ["title"])
    assert inspect(book).expired_attributes == {"title"}
    with CaptureQueriesContext(connection) as ctx:
        assert book.pages == 387  # still the loaded value
    assert sql(ctx) == []
    assert book.title == "Renamed"


def test_expire_of_a_foreign_key_by_field_name_reloads_the_related_object(session, book):
    other = Author.objects.create(name="Frank")
    ursula = book.author
    change_row(book, author=other)
    session.expire(book, ["author"])
    assert inspect(book).expired_attributes == {"author_id"}
    assert book.author is not ursula
    assert book.author is session.get(Author, other.pk)


def test_expire_all(session, book):
    author = book.author
    change_row(book, title="Renamed")
    Author.objects.filter(pk=author.pk).update(name="Renamed author")
    session.expire_all()
    assert inspect(book).expired and inspect(author).expired
    assert book.title == "Renamed"
    assert author.name == "Renamed author"


def test_expire_discards_unflushed_changes(session, book):
    book.title = "Never written"
    assert session.dirty == [book]
    session.expire(book)
    assert session.dirty == []
    assert not session.is_modified(book)

    with CaptureQueriesContext(connection) as ctx:
        session.flush()
    assert writes(ctx) == []
    assert book.title == "The Dispossessed"


def test_expire_of_one_attribute_keeps_changes_to_the_others(session, book):
    book.title = "Changed"
    book.pages = 10
    session.expire(book, ["title"])
    assert session.is_modified(book)
    session.flush()
    row = Book.objects.get(pk=book.pk)
    assert (row.title, row.pages) == ("The Dispossessed", 10)


def test_assigning_an_expired_attribute_writes_it_without_loading(session, book):
    session.expire(book)
    with CaptureQueriesContext(connection) as ctx:
        book.title = "Assigned"
    assert sql(ctx) == []
    with CaptureQueriesContext(connection) as ctx:
        session.flush()
    assert len(writes(ctx)) == 1 and not selects(ctx)
    assert Book.objects.get(pk=book.pk).title == "Assigned"


def test_expire_of_a_pending_object_raises(session):
    author = Author(name="pending")
    session.add(author)
    with pytest.raises(exc.InvalidRequestError, match="not persistent"):
        session.expire(author)


def test_expire_with_an_unknown_name_raises(session, book):
    with pytest.raises(exc.InvalidRequestError, match="no field 'nope'"):
        session.expire(book, ["nope"])


# -- errors on load --------------------------------------------------------------------------


def test_row_deleted_behind_the_sessions_back_raises_object_deleted_error(session, book):
    session.expire(book)
    Book.objects.filter(pk=book.pk).delete()
    with pytest.raises(exc.ObjectDeletedError, match=rf"Book\(pk={book.pk}\).*no longer exists"):
        _ = book.title


def test_get_of_an_expired_object_whose_row_is_gone_returns_none(session, book):
    pk = book.pk
    session.expire(book)
    Book.objects.filter(pk=pk).delete()
    assert session.get(Book, pk) is None


def test_expired_attribute_of_a_detached_object_raises_detached_instance_error(session, book):
    pk = book.pk
    session.expire(book, ["title"])
    session.expunge(book)
    assert inspect(book).detached
    with pytest.raises(exc.DetachedInstanceError, match=rf"Book\(pk={pk}\).*title"):
        _ = book.title
    assert book.pages == 387  # loaded attributes stay readable
    assert book.pk == pk


def test_a_detached_expired_object_loads_again_once_added(session, book):
    change_row(book, title="Renamed")
    session.expire(book)
    session.expunge(book)
    other = Session()
    try:
        other.add(book)
        assert book.title == "Renamed"
    finally:
        other.close()


# -- refresh ----------------------------------------------------------------------------------


def test_refresh_reloads_now(session, book):
    change_row(book, title="Renamed", pages=1)
    with CaptureQueriesContext(connection) as ctx:
        session.refresh(book)
    assert len(selects(ctx)) == 1
    with CaptureQueriesContext(connection) as ctx:
        assert (book.title, book.pages) == ("Renamed", 1)
    assert sql(ctx) == []
    assert not session.is_modified(book)


def test_refresh_named_attributes_reloads_only_those(session, book):
    change_row(book, title="Renamed", pages=1)
    session.refresh(book, ["title"])
    assert book.title == "Renamed"
    assert book.pages == 387
    assert not inspect(book).expired


def test_refresh_fills_expired_attributes(session, book):
    session.expire(book)
    change_row(book, pages=5)
    session.refresh(book, ["pages"])
    assert book.pages == 5
    assert inspect(book).expired_attributes == {"title", "author_id", "created", "updated"}


def test_refresh_of_an_object_not_in_the_session_raises(session):
    with pytest.raises(exc.InvalidRequestError, match="not persistent within this Session"):
        session.refresh(Author(name="stranger"))


@pytest.mark.postgresql
def test_refresh_with_for_update_locks_the_row(session, book):
    with CaptureQueriesContext(connection) as ctx:
        session.refresh(book, with_for_update=True)
    assert selects(ctx)[-1].endswith("FOR UPDATE")


def test_refresh_through_django_refresh_from_db_is_not_a_change(session, book):
    change_row(book, title="Renamed")
    book.refresh_from_db()
    assert book.title == "Renamed"
    assert not session.is_modified(book) and session.dirty == []


# -- expire_on_commit ---------------------------------------------------------------------------


def test_commit_expires_and_attributes_reload_in_one_select(session, book):
    book.title = "Committed"
    session.commit()
    assert inspect(book).expired
    change_row(book, pages=42)
    with CaptureQueriesContext(connection) as ctx:
        assert book.title == "Committed"
        assert book.pages == 42
    assert len(selects(ctx)) == 1


def test_expire_on_commit_false_keeps_loaded_values(book):
    s = Session(expire_on_commit=False)
    try:
        mine = s.get(Book, book.pk)
        s.commit()
        change_row(mine, title="Changed elsewhere")
        with CaptureQueriesContext(connection) as ctx:
            assert mine.title == "The Dispossessed"
        assert sql(ctx) == []
    finally:
        s.close()


def test_commit_then_close_leaves_detached_objects_that_cannot_load(session, book):
    pk = book.pk
    session.commit()
    session.close()
    assert book.pk == pk
    with pytest.raises(exc.DetachedInstanceError):
        _ = book.title


# -- autoflush before loads ---------------------------------------------------------------------


def order(ctx, *prefixes):
    """Index of the first statement containing each of ``prefixes``, in order."""
    statements = sql(ctx)
    return [next(i for i, s in enumerate(statements) if p in s) for p in prefixes]


def test_get_miss_autoflushes_before_loading(session, book):
    other = Book.objects.create(title="Other", author_id=book.author_id)
    session.add(Author(name="Pending"))
    with CaptureQueriesContext(connection) as ctx:
        session.get(Book, other.pk)
    insert, select = order(ctx, "INSERT ", "SELECT ")
    assert insert < select
    assert session.new == []


def test_get_of_an_expired_object_autoflushes_before_loading(session, book):
    author = book.author
    session.expire(book)
    author.name = "Flushed first"
    with CaptureQueriesContext(connection) as ctx:
        assert session.get(Book, book.pk) is book
    update, select = order(ctx, "UPDATE ", "SELECT ")
    assert update < select


def test_refresh_autoflushes_before_loading(session, book):
    book.author.name = "Flushed first"
    with CaptureQueriesContext(connection) as ctx:
        session.refresh(book)
    update, select = order(ctx, "UPDATE ", "SELECT ")
    assert update < select
    assert session.dirty == []


def test_refresh_of_a_modified_object_writes_then_reads_its_own_change(session, book):
    book.title = "Flushed, then read back"
    session.refresh(book)
    assert book.title == "Flushed, then read back"
    assert Book.objects.get(pk=book.pk).title == "Flushed, then read back"


def test_query_evaluation_autoflushes(session, book):
    book.pages = 1000
    assert list(session.query(Book).filter(pages=1000)) == [book]


def test_no_autoflush_suppresses_the_flush_before_get_refresh_and_queries(session, book):
    author = book.author
    author.name = "Not yet"
    other = Book.objects.create(title="Other", author=author)
    with session.no_autoflush, CaptureQueriesContext(connection) as ctx:
        session.get(Book, other.pk)
        session.refresh(book)
        assert session.query(Author).filter(name="Not yet").count() == 0
    assert writes(ctx) == []
    assert session.dirty == [author]
    assert session.query(Author).filter(name="Not yet").count() == 1


def test_no_autoflush_blocks_nest(session, book):
    book.pages = 7
    with session.no_autoflush:
        with session.no_autoflush:
            pass
        assert not session.query(Book).filter(pages=7).exists()
    assert session.query(Book).filter(pages=7).exists()
