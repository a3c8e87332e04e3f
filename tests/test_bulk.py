"""Bulk ``update()`` and ``delete()`` on session queries keep the identity map true."""

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from sessionorm import event, inspect
from tests.testapp.models import Author, Book, Publisher, Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(session):
    """Two authors with two books each, all loaded into ``session``."""
    ursula = Author.objects.create(name="Ursula")
    frank = Author.objects.create(name="Frank")
    for author, titles in ((ursula, ("Dispossessed", "Lathe")), (frank, ("Dune", "Messiah"))):
        for title in titles:
            Book.objects.create(title=title, author=author, pages=100)
    return list(session.query(Book).select_related("author").order_by("pk"))


def sql(ctx):
    return [q["sql"] for q in ctx.captured_queries]


def selects(ctx):
    return [s for s in sql(ctx) if s.startswith("SELECT")]


# -- update ----------------------------------------------------------------------------------


def test_update_expires_the_changed_attributes_of_affected_objects(session, books):
    dispossessed, lathe, dune, messiah = books
    count = session.query(Book).filter(author__name="Ursula").update(pages=200)
    assert count == 2
    assert inspect(dispossessed).expired_attributes == {"pages"}
    assert inspect(lathe).expired_attributes == {"pages"}
    assert not inspect(dune).expired and not inspect(messiah).expired

    with CaptureQueriesContext(connection) as ctx:
        assert dispossessed.pages == 200
    assert len(selects(ctx)) == 1
    with CaptureQueriesContext(connection) as ctx:
        assert dispossessed.title == "Dispossessed"
        assert dune.pages == 100
    assert sql(ctx) == []
    assert lathe.pages == 200


def test_update_with_an_expression_reads_the_computed_value(session, books):
    session.query(Book).filter(title="Dune").update(pages=F("pages") + 12)
    assert books[2].pages == 112


def test_update_of_a_foreign_key_reloads_the_related_object(session, books):
    dispossessed = books[0]
    frank = books[2].author
    session.query(Book).filter(pk=dispossessed.pk).update(author=frank)
    assert inspect(dispossessed).expired_attributes == {"author_id"}
    assert dispossessed.author is frank


def test_update_autoflushes_first_and_overwrites_the_flushed_change(session, books):
    dune = books[2]
    dune.pages = 999
    dune.title = "Dune (flushed)"
    with CaptureQueriesContext(connection) as ctx:
        session.query(Book).filter(pages=999).update(pages=1)
    updates = [s for s in sql(ctx) if "UPDATE " in s]
    assert len(updates) == 2  # the autoflush, then the bulk update that matches it
    assert session.dirty == []
    assert dune.pages == 1
    assert dune.title == "Dune (flushed)"


def test_update_with_nothing_mapped_sends_only_the_update(session):
    Author.objects.create(name="Unmapped")
    with CaptureQueriesContext(connection) as ctx:
        assert session.query(Author).update(name="All") == 1
    assert [s for s in sql(ctx) if not s.startswith(("SAVEPOINT", "RELEASE"))] == [
        s for s in sql(ctx) if "UPDATE " in s
    ]


def test_after_bulk_update_fires_with_the_query_and_result(session, books):
    contexts = []
    event.listen(session, "after_bulk_update", contexts.append)
    query = session.query(Book).filter(author__name="Frank")
    query.update(pages=5)
    (context,) = contexts
    assert context.session is session
    assert context.rowcount == 2
    assert context.values == {"pages": 5}
    assert context.queryset.model is Book


# -- delete ----------------------------------------------------------------------------------


def test_delete_marks_affected_objects_deleted(session, books):
    dispossessed, lathe, dune, messiah = books
    pks = [book.pk for book in books]
    count, per_model = session.query(Book).filter(author__name="Ursula").delete()
    assert count == 2 and per_model == {"testapp.Book": 2}
    assert [book.pk for book in books] == pks  # keys stay, as after a flushed delete
    assert session.dirty == []
    assert inspect(dispossessed).deleted and inspect(lathe).deleted
    assert inspect(dune).persistent and inspect(messiah).persistent
    assert session.get(Book, dispossessed.pk) is None
    assert not Book.objects.filter(author__name="Ursula").exists()


def test_delete_marks_cascaded_objects_deleted(session, books):
    ursula = books[0].author
    review = session.get(Review, Review.objects.create(book_id=books[0].pk).pk)
    count, per_model = session.query(Author).filter(name="Ursula").delete()
    assert per_model == {"testapp.Author": 1, "testapp.Book": 2, "testapp.Review": 1}
    assert inspect(ursula).deleted
    assert inspect(books[0]).deleted and inspect(books[1]).deleted
    assert inspect(review).deleted
    assert inspect(books[2]).persistent


def test_delete_with_set_null_expires_the_foreign_key_of_mapped_objects(session):
    publisher = Publisher.objects.create(name="Ace")
    author = session.get(Author, Author.objects.create(name="U", publisher=publisher).pk)
    session.query(Publisher).filter(pk=publisher.pk).delete()
    assert inspect(author).persistent
    assert "publisher_id" in inspect(author).expired_attributes
    assert author.publisher_id is None


def test_delete_then_commit_detaches_the_deleted_objects(session, books):
    session.query(Book).filter(title="Dune").delete()
    session.commit()
    assert inspect(books[2]).detached and inspect(books[2]).was_deleted


def test_delete_then_rollback_brings_the_objects_back(session, books):
    session.query(Book).filter(title="Dune").delete()
    session.rollback()
    assert inspect(books[2]).persistent
    assert books[2].title == "Dune"
    assert session.get(Book, books[2].pk) is books[2]


def test_after_bulk_delete_fires_with_the_query_and_result(session, books):
    contexts = []
    event.listen(session, "after_bulk_delete", contexts.append)
    session.query(Book).filter(author__name="Frank").delete()
    (context,) = contexts
    assert context.session is session
    assert context.rowcount == 2
    assert context.queryset.model is Book


def test_delete_autoflushes_first(session, books):
    books[3].title = "Renamed, then deleted"
    session.query(Book).filter(title="Renamed, then deleted").delete()
    assert inspect(books[3]).deleted
    assert session.dirty == []
