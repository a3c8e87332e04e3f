"""merge(): copy an outside object's state onto the session's object for its row."""

import pickle

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, exc, inspect, make_transient_to_detached
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


@pytest.fixture
def detached():
    """A detached Author: loaded in a session that was then closed without a commit."""
    pk = Author.objects.create(name="Ursula").pk
    with Session() as other:
        author = other.get(Author, pk)
        other.expunge(author)
    assert inspect(author).detached
    return author


def sql(ctx):
    return [q["sql"] for q in ctx.captured_queries]


def test_merge_loads_the_row_copies_state_and_returns_the_sessions_object(session, detached):
    detached.name = "Changed while detached"
    with CaptureQueriesContext(connection) as ctx:
        merged = session.merge(detached)
    assert len([s for s in sql(ctx) if s.startswith("SELECT")]) == 1
    assert merged is not detached
    assert inspect(merged).persistent and inspect(merged).session is session
    assert inspect(detached).detached  # the given object is not added
    assert merged.name == "Changed while detached"
    assert session.dirty == [merged]
    assert session.get(Author, detached.pk) is merged

    session.flush()
    assert Author.objects.get(pk=detached.pk).name == "Changed while detached"


def test_a_second_merge_returns_the_same_object_without_sql(session, detached):
    first = session.merge(detached)
    with CaptureQueriesContext(connection) as ctx:
        second = session.merge(detached)
    assert second is first
    assert sql(ctx) == []


def test_merge_onto_a_mapped_object_sends_no_sql(session, detached):
    mapped = session.get(Author, detached.pk)
    detached.name = "New name"
    with CaptureQueriesContext(connection) as ctx:
        merged = session.merge(detached)
    assert merged is mapped
    assert sql(ctx) == []
    assert mapped.name == "New name"
    assert inspect(mapped).attrs.name.history == (("New name",), (), ("Ursula",))


def test_merge_of_equal_values_leaves_the_object_clean(session, detached):
    mapped = session.merge(detached)
    assert session.dirty == []
    assert not session.is_modified(mapped)


def test_merge_of_an_object_in_this_session_returns_it(session, detached):
    mapped = session.merge(detached)
    assert session.merge(mapped) is mapped


def test_merge_of_an_object_of_another_session_leaves_it_there(session):
    pk = Author.objects.create(name="Shared").pk
    other = Session()
    try:
        theirs = other.get(Author, pk)
        ours = session.merge(theirs)
        assert ours is not theirs
        assert inspect(theirs).session is other and inspect(ours).session is session
    finally:
        other.close()


def test_merge_of_a_transient_object_without_a_key_makes_a_pending_copy(session):
    transient = Author(name="Brand new")
    merged = session.merge(transient)
    assert merged is not transient
    assert inspect(merged).pending and inspect(transient).transient
    assert merged.name == "Brand new"
    assert session.new == [merged]

    session.flush()
    assert merged.pk is not None and transient.pk is None
    assert Author.objects.filter(name="Brand new").count() == 1


def test_merge_of_a_transient_object_with_a_key_updates_that_row(session):
    pk = Author.objects.create(name="Before").pk
    merged = session.merge(Author(pk=pk, name="After"))
    assert inspect(merged).persistent
    assert merged.pk == pk
    session.flush()
    assert Author.objects.get(pk=pk).name == "After"
    assert Author.objects.count() == 1


def test_merge_of_a_key_without_a_row_makes_a_pending_object_with_that_key(session):
    merged = session.merge(Author(pk=424242, name="Inserted"))
    assert inspect(merged).pending
    session.flush()
    assert Author.objects.get(pk=424242).name == "Inserted"


def test_merge_follows_related_objects_assigned_on_foreign_keys(session, detached):
    book = Book.objects.create(title="The Dispossessed", author_id=detached.pk)
    book.author = detached  # a plain Django object pointing at a detached one
    mapped_author = session.get(Author, detached.pk)

    merged = session.merge(book)
    assert inspect(merged).persistent
    with CaptureQueriesContext(connection) as ctx:
        assert merged.author is mapped_author
    assert sql(ctx) == []


def test_merge_cascades_new_related_objects_into_the_session(session):
    book = Book(title="Always Coming Home", author=Author(name="New author"))
    merged = session.merge(book)
    assert inspect(merged.author).pending
    assert merged.author is not book.author
    session.flush()
    row = Book.objects.select_related("author").get(pk=merged.pk)
    assert row.author.name == "New author"


def test_merge_does_not_copy_unloaded_attributes(session, detached):
    Author.objects.filter(pk=detached.pk).update(name="In the database")
    del detached.__dict__["name"]  # as if deferred when it was loaded
    merged = session.merge(detached)
    assert merged.name == "In the database"
    assert session.dirty == []


def test_merge_of_an_unpickled_object(session, detached):
    revived = pickle.loads(pickle.dumps(detached))
    state = inspect(revived)  # a pickled object leaves its session behind, keeps its row
    assert state.detached and state.session is None and state.key == inspect(detached).key
    merged = session.merge(revived)
    assert inspect(merged).persistent and merged.name == "Ursula"
    assert session.dirty == []


# -- load=False ----------------------------------------------------------------------------


def test_merge_without_load_sends_no_sql_and_trusts_the_values(session, detached):
    with CaptureQueriesContext(connection) as ctx:
        merged = session.merge(detached, load=False)
        assert merged.name == "Ursula"
    assert sql(ctx) == []
    assert merged is not detached
    assert inspect(merged).persistent
    assert inspect(merged).key == inspect(detached).key
    assert session.dirty == [] and session.new == []
    assert session.get(Author, detached.pk) is merged


def test_merge_without_load_loads_missing_attributes_on_access(session, detached):
    Author.objects.filter(pk=detached.pk).update(name="From the row")
    del detached.__dict__["name"]
    merged = session.merge(detached, load=False)
    assert inspect(merged).expired_attributes == {"name"}
    assert merged.name == "From the row"


def test_merge_without_load_refuses_an_object_with_unflushed_changes(session, detached):
    detached.name = "Changed while detached"
    with pytest.raises(exc.InvalidRequestError, match=r"load=False.*Author\(pk=\d+\)"):
        session.merge(detached, load=False)
    assert len(session.identity_map) == 0


def test_merge_without_load_onto_a_mapped_object_keeps_the_sessions_state(session, detached):
    mapped = session.get(Author, detached.pk)
    mapped.name = "Session's change"
    assert session.merge(detached, load=False) is mapped
    assert mapped.name == "Session's change"


def test_merge_without_load_of_a_transient_object_with_a_key(session):
    pk = Author.objects.create(name="Row").pk
    transient = Author(pk=pk, name="Row")
    make_transient_to_detached(transient)
    with CaptureQueriesContext(connection) as ctx:
        merged = session.merge(transient, load=False)
    assert sql(ctx) == []
    assert inspect(merged).persistent and merged.name == "Row"
