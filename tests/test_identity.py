"""The identity map: one Python object per row per session, held weakly when clean.

Statements are counted with ``CaptureQueriesContext``: "no query" is the point of
most of these tests.
"""

import gc
import uuid

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, identity_key, inspect
from tests.testapp.models import Author, Book, BookProxy, Country, Publisher, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    """A publisher, two authors and three books, written with plain Django."""
    publisher = Publisher.objects.create(name="Ace")
    ursula = Author.objects.create(name="Ursula", publisher=publisher)
    frank = Author.objects.create(name="Frank")
    Book.objects.create(title="The Dispossessed", author=ursula, pages=387)
    Book.objects.create(title="The Lathe of Heaven", author=ursula, pages=184)
    Book.objects.create(title="Dune", author=frank, pages=412)
    return {"publisher": publisher.pk, "ursula": ursula.pk, "frank": frank.pk}


def sql(ctx):
    return [q["sql"] for q in ctx.captured_queries]


def selects(ctx):
    return [s for s in sql(ctx) if s.startswith("SELECT")]


# -- get ---------------------------------------------------------------------------------


def test_get_of_a_mapped_object_sends_no_query(session, rows):
    author = session.get(Author, rows["ursula"])
    with CaptureQueriesContext(connection) as ctx:
        again = session.get(Author, rows["ursula"])
    assert again is author
    assert sql(ctx) == []


def test_get_miss_loads_once_and_the_second_get_is_free(session, rows):
    with CaptureQueriesContext(connection) as ctx:
        author = session.get(Author, rows["frank"])
    assert len(selects(ctx)) == 1
    assert author.name == "Frank"
    assert inspect(author).persistent

    with CaptureQueriesContext(connection) as ctx:
        assert session.get(Author, rows["frank"]) is author
    assert sql(ctx) == []


def test_get_with_a_string_key_finds_the_int_keyed_object(session, rows):
    author = session.get(Author, rows["ursula"])
    with CaptureQueriesContext(connection) as ctx:
        assert session.get(Author, str(rows["ursula"])) is author
    assert sql(ctx) == []


def test_get_with_a_string_key_loads_under_the_typed_key(session, rows):
    author = session.get(Author, str(rows["frank"]))
    assert inspect(author).key == (Author, rows["frank"], "default")
    with CaptureQueriesContext(connection) as ctx:
        assert session.get(Author, rows["frank"]) is author
    assert sql(ctx) == []


def test_get_with_a_uuid_string_finds_the_uuid_keyed_object(session):
    tag = Tag.objects.create(name="sf")
    mapped = session.get(Tag, tag.pk)
    assert isinstance(inspect(mapped).key[1], uuid.UUID)
    with CaptureQueriesContext(connection) as ctx:
        assert session.get(Tag, str(tag.pk)) is mapped
    assert sql(ctx) == []


def test_get_of_a_missing_row_returns_none(session, rows):
    assert session.get(Author, 999_999) is None
    assert session.get(Country, "ZZ") is None


def test_get_through_a_proxy_model_returns_the_session_object_for_the_row(session, rows):
    book = session.query(Book).get(title="Dune")
    with CaptureQueriesContext(connection) as ctx:
        assert session.get(BookProxy, book.pk) is book
    assert sql(ctx) == []


def test_get_of_an_object_marked_for_deletion_returns_none(session, rows):
    author = session.get(Author, rows["frank"])
    session.delete(author)
    assert session.get(Author, rows["frank"]) is None


def test_identity_key(session, rows):
    author = session.get(Author, rows["ursula"])
    key = identity_key(Author, rows["ursula"])
    assert key == inspect(author).key
    assert session.identity_map[key] is author
    assert key in session.identity_map


# -- queries -----------------------------------------------------------------------------


def test_every_row_of_a_query_is_the_sessions_one_object(session, rows):
    first = list(session.query(Book).order_by("pk"))
    second = list(session.query(Book).filter(pages__gt=0).order_by("pk"))
    assert len(first) == 3
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert session.query(Book).get(title="Dune") is first[2]
    assert session.query(Book).order_by("pk").first() is first[0]
    assert next(session.query(Book).order_by("pk").iterator()) is first[0]
    for book in first:
        assert session.get(Book, book.pk) is book


def test_a_query_returns_the_object_get_loaded(session, rows):
    author = session.get(Author, rows["ursula"])
    assert session.query(Author).get(name="Ursula") is author


def test_select_related_objects_are_the_sessions_objects(session, rows):
    books = list(session.query(Book).select_related("author__publisher").order_by("pk"))
    ursula = session.get(Author, rows["ursula"])
    with CaptureQueriesContext(connection) as ctx:
        assert books[0].author is ursula
        assert books[1].author is ursula
        assert books[0].author.publisher is session.get(Publisher, rows["publisher"])
        assert books[2].author is session.get(Author, rows["frank"])
    assert sql(ctx) == []


def test_select_related_of_an_already_mapped_object_reuses_it(session, rows):
    ursula = session.get(Author, rows["ursula"])
    book = session.query(Book).select_related("author").get(title="Dune")
    other = session.query(Book).select_related("author").get(title="The Dispossessed")
    assert other.author is ursula
    assert book.author is session.get(Author, rows["frank"])


def test_foreign_key_descriptor_returns_the_mapped_object_without_a_query(session, rows):
    ursula = session.get(Author, rows["ursula"])
    book = session.query(Book).get(title="The Dispossessed")
    with CaptureQueriesContext(connection) as ctx:
        assert book.author is ursula
    assert sql(ctx) == []


def test_foreign_key_descriptor_loads_an_unmapped_object_once_into_the_session(session, rows):
    book = session.query(Book).get(title="Dune")
    with CaptureQueriesContext(connection) as ctx:
        author = book.author
    assert len(selects(ctx)) == 1
    assert inspect(author).persistent and inspect(author).session is session
    with CaptureQueriesContext(connection) as ctx:
        assert session.get(Author, rows["frank"]) is author
        assert session.query(Book).get(title="Dune").author is author
    assert len(selects(ctx)) == 1  # the Book query only


def test_query_keeps_in_memory_changes_of_mapped_objects(session, rows):
    author = session.get(Author, rows["ursula"])
    with session.no_autoflush:
        author.name = "Changed in memory"
        again = session.query(Author).get(pk=rows["ursula"])
    assert again is author
    assert author.name == "Changed in memory"
    assert session.is_modified(author)


def test_query_fills_expired_attributes_from_the_row(session, rows):
    author = session.get(Author, rows["ursula"])
    session.expire(author)
    Author.objects.filter(pk=rows["ursula"]).update(name="Renamed")
    assert session.query(Author).get(pk=rows["ursula"]) is author
    with CaptureQueriesContext(connection) as ctx:
        assert author.name == "Renamed"
    assert sql(ctx) == []


def test_populate_existing_overwrites_loaded_state(session, rows):
    author = session.get(Author, rows["ursula"])
    Author.objects.filter(pk=rows["ursula"]).update(name="Behind the session")
    assert session.query(Author).get(pk=rows["ursula"]).name == "Ursula"

    again = session.query(Author).populate_existing().get(pk=rows["ursula"])
    assert again is author
    assert author.name == "Behind the session"
    assert not session.is_modified(author)


def test_populate_existing_discards_unflushed_changes(session, rows):
    author = session.get(Author, rows["ursula"])
    with session.no_autoflush:
        author.name = "Unflushed"
        session.query(Author).populate_existing().get(pk=rows["ursula"])
    assert author.name == "Ursula"
    assert session.dirty == []


def test_get_populate_existing_reloads(session, rows):
    author = session.get(Author, rows["ursula"])
    Author.objects.filter(pk=rows["ursula"]).update(name="Reloaded")
    assert session.get(Author, rows["ursula"], populate_existing=True) is author
    assert author.name == "Reloaded"


def test_annotations_are_written_onto_the_mapped_object(session, rows):
    ursula = session.get(Author, rows["ursula"])
    annotated = session.query(Author).annotate(n=Count("books")).get(pk=rows["ursula"])
    assert annotated is ursula
    assert ursula.n == 2


# -- autoflush before queries --------------------------------------------------------------


def test_query_evaluation_autoflushes(session, rows):
    session.add(Author(name="Pending"))
    assert [a.name for a in session.query(Author).filter(name="Pending")] == ["Pending"]
    assert session.new == []


@pytest.mark.parametrize(
    "evaluate",
    [
        pytest.param(lambda qs: list(qs.values("name")), id="values"),
        pytest.param(lambda qs: list(qs.values_list("name", flat=True)), id="values_list"),
        pytest.param(lambda qs: qs.count(), id="count"),
        pytest.param(lambda qs: qs.exists(), id="exists"),
        pytest.param(lambda qs: qs.aggregate(n=Count("pk"))["n"], id="aggregate"),
    ],
)
def test_plain_data_queries_autoflush_first(session, rows, evaluate):
    author = session.get(Author, rows["frank"])
    author.name = "Frank Herbert"
    with CaptureQueriesContext(connection) as ctx:
        result = evaluate(session.query(Author).filter(name="Frank Herbert"))
    statements = sql(ctx)
    update = next(i for i, s in enumerate(statements) if "UPDATE " in s)
    select = next(i for i, s in enumerate(statements) if s.startswith("SELECT"))
    assert update < select
    assert result  # the flushed change is visible to the query
    assert session.dirty == []


def test_no_autoflush_block_suppresses_the_flush(session, rows):
    author = session.get(Author, rows["frank"])
    author.name = "Frank Herbert"
    with session.no_autoflush:
        assert session.query(Author).filter(name="Frank Herbert").count() == 0
    assert session.dirty == [author]
    assert session.query(Author).filter(name="Frank Herbert").count() == 1


def test_autoflush_false_session_does_not_flush_before_queries(rows):
    s = Session(autoflush=False)
    try:
        s.add(Author(name="Waiting"))
        assert not s.query(Author).filter(name="Waiting").exists()
        s.flush()
        assert s.query(Author).filter(name="Waiting").exists()
    finally:
        s.close()


# -- strong and weak references --------------------------------------------------------------


def test_a_clean_persistent_object_is_freed_when_dropped(session, rows):
    author = session.get(Author, rows["ursula"])
    key = inspect(author).key
    assert key in session.identity_map
    del author
    gc.collect()
    assert key not in session.identity_map
    assert len(session.identity_map) == 0


def test_a_freed_object_is_loaded_again_as_a_new_object(session, rows):
    with CaptureQueriesContext(connection) as ctx:
        session.get(Author, rows["ursula"])  # the result is dropped at once
        gc.collect()
        again = session.get(Author, rows["ursula"])
    assert len(selects(ctx)) == 2
    assert again.name == "Ursula" and inspect(again).persistent


def test_modified_objects_are_kept_alive_until_flushed(session, rows):
    author = session.get(Author, rows["ursula"])
    author.name = "Modified"
    key = inspect(author).key
    del author
    gc.collect()
    assert key in session.identity_map
    assert session.identity_map[key].name == "Modified"

    session.flush()
    gc.collect()
    assert key not in session.identity_map
    assert Author.objects.get(pk=rows["ursula"]).name == "Modified"


def test_pending_objects_are_kept_alive_and_inserted(session):
    session.add(Author(name="Only the session holds me"))
    gc.collect()
    assert len(session.new) == 1
    session.flush()
    assert Author.objects.filter(name="Only the session holds me").exists()


def test_objects_marked_for_deletion_are_kept_alive_and_deleted(session, rows):
    session.delete(session.get(Author, rows["frank"]))
    gc.collect()
    assert len(session.deleted) == 1
    session.flush()
    assert not Author.objects.filter(pk=rows["frank"]).exists()


def test_objects_do_not_keep_their_session_alive(rows):
    s = Session()
    author = s.get(Author, rows["ursula"])
    s.rollback()
    del s
    gc.collect()
    assert inspect(author).session is None


def test_flushed_objects_are_freed_before_the_transaction_ends(session, rows):
    """A long transaction that flushes in batches does not keep every row it wrote."""
    for batch in range(3):
        session.add_all(Author(name=f"batch {batch} #{i}") for i in range(10))
        session.flush()
        for author in session.query(Author).filter(name__startswith=f"batch {batch}"):
            author.name += " (edited)"
        del author
        session.flush()
        gc.collect()
        assert len(session.identity_map) == 0
    assert Author.objects.filter(name__endswith="(edited)").count() == 30
