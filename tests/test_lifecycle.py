"""Object lifecycle: add, expunge, delete, close and the five states SQLAlchemy names.

Each test follows one object through the session and checks its state with
``inspect(obj)``, the session's collections (``new``, ``dirty``, ``deleted``) and,
where a row is involved, the database through a plain Django queryset.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessionorm import (
    Session,
    close_all_sessions,
    exc,
    inspect,
    make_transient,
    make_transient_to_detached,
    object_session,
)
from tests.testapp.models import Author, Book, Publisher

pytestmark = pytest.mark.django_db


def states(obj):
    state = inspect(obj)
    return (state.transient, state.pending, state.persistent, state.deleted, state.detached)


TRANSIENT = (True, False, False, False, False)
PENDING = (False, True, False, False, False)
PERSISTENT = (False, False, True, False, False)
DELETED = (False, False, False, True, False)
DETACHED = (False, False, False, False, True)


def loaded_author(session, name="Le Guin"):
    """An Author whose row exists, loaded through ``session`` (persistent, clean)."""
    pk = Author.objects.create(name=name).pk
    return session.get(Author, pk)


# -- the five states --------------------------------------------------------------------


def test_transient_pending_persistent_deleted_detached(session):
    author = Author(name="Ursula")
    assert states(author) == TRANSIENT
    assert inspect(author).session is None and inspect(author).key is None

    session.add(author)
    assert states(author) == PENDING
    assert inspect(author).session is session
    assert inspect(author).identity is None

    session.flush()
    assert states(author) == PERSISTENT
    assert author.pk is not None
    assert inspect(author).key == (Author, author.pk, "default")
    assert inspect(author).identity == (author.pk,)
    assert not inspect(author).was_deleted

    session.delete(author)
    assert states(author) == PERSISTENT  # marked only: nothing happens before the flush
    assert session.deleted == [author]
    session.flush()
    assert states(author) == DELETED
    assert inspect(author).was_deleted
    assert not Author.objects.filter(pk=author.pk).exists()

    session.commit()
    assert states(author) == DETACHED
    assert inspect(author).session is None
    assert inspect(author).was_deleted


def test_loaded_object_is_persistent_and_clean(session):
    author = loaded_author(session)
    assert states(author) == PERSISTENT
    assert not inspect(author).modified
    assert session.new == [] and session.dirty == [] and session.deleted == []


# -- add and add_all ---------------------------------------------------------------------


def test_add_cascades_to_related_objects_assigned_on_foreign_keys(session):
    publisher = Publisher(name="Ace")
    author = Author(name="Ursula", publisher=publisher)
    book = Book(title="The Dispossessed", author=author)

    session.add(book)
    assert states(author) == PENDING
    assert states(publisher) == PENDING
    assert set(map(id, session.new)) == {id(book), id(author), id(publisher)}

    session.flush()
    assert book.author_id == author.pk and author.publisher_id == publisher.pk
    row = Book.objects.select_related("author__publisher").get(pk=book.pk)
    assert row.author.name == "Ursula" and row.author.publisher.name == "Ace"


def test_add_does_not_cascade_into_an_object_of_another_session(session):
    other = Session()
    try:
        author = loaded_author(other)
        book = Book(title="Always Coming Home", author=author)
        session.add(book)
        assert inspect(author).session is other
        assert author not in session
    finally:
        other.close()


def test_add_all_adds_each_object_once(session):
    author = Author(name="Ursula")
    books = [Book(title=f"Book {i}", author=author) for i in range(3)]
    session.add_all(books + [author])
    assert len(session.new) == 4
    assert [obj for obj in session.new if obj is author] == [author]

    with CaptureQueriesContext(connection) as ctx:
        session.flush()
    inserts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2  # one multi-row INSERT per table
    assert Book.objects.filter(author_id=author.pk).count() == 3


def test_add_of_an_object_already_in_the_session_is_a_no_op(session):
    author = loaded_author(session)
    session.add(author)
    assert states(author) == PERSISTENT
    assert session.new == []


def test_add_of_a_detached_object_makes_it_persistent_with_its_changes(session):
    author = loaded_author(session)
    session.expunge(author)
    assert states(author) == DETACHED

    author.name = "Changed while detached"
    other = Session()
    try:
        other.add(author)
        assert states(author) == PERSISTENT
        assert other.get(Author, author.pk) is author
        other.flush()
        assert Author.objects.get(pk=author.pk).name == "Changed while detached"
    finally:
        other.close()


def test_add_of_a_non_model_object_raises_unmapped_instance_error(session):
    with pytest.raises(exc.UnmappedInstanceError, match="not a Django model instance"):
        session.add(object())
    with pytest.raises(exc.UnmappedInstanceError):
        session.add_all([Author(name="ok"), "not a model"])


def test_add_of_an_object_of_another_session_names_it_and_the_fix(session):
    other = Session()
    try:
        author = loaded_author(other)
        with pytest.raises(exc.InvalidRequestError) as info:
            session.add(author)
        message = str(info.value)
        assert f"Author(pk={author.pk})" in message
        assert "already attached" in message
        assert "expunge" in message and "merge" in message
        assert inspect(author).session is other
    finally:
        other.close()


def test_add_of_a_second_object_for_a_mapped_row_is_refused(session):
    author = loaded_author(session)
    copy = Author.objects.get(pk=author.pk)  # plain Django: a second Python object
    assert inspect(copy).detached  # Django loaded it: it has a row
    with pytest.raises(exc.InvalidRequestError, match=r"merge"):
        session.add(copy)
    built = Author(pk=author.pk, name=author.name)
    make_transient_to_detached(built)
    with pytest.raises(exc.InvalidRequestError, match=r"merge"):
        session.add(built)
    assert session.get(Author, author.pk) is author


def test_deleted_object_cannot_be_added_back(session):
    author = loaded_author(session)
    session.delete(author)
    session.flush()
    with pytest.raises(exc.InvalidRequestError, match="deleted"):
        session.add(author)


# -- expunge, expunge_all, close ------------------------------------------------------


def test_expunge_pending_makes_it_transient_and_nothing_is_inserted(session):
    author = Author(name="Gone")
    session.add(author)
    session.expunge(author)
    assert states(author) == TRANSIENT
    assert session.new == []
    session.flush()
    assert not Author.objects.filter(name="Gone").exists()


def test_expunge_persistent_detaches_it_and_drops_it_from_the_identity_map(session):
    author = loaded_author(session)
    session.expunge(author)
    assert states(author) == DETACHED
    assert author not in session
    assert (Author, author.pk, "default") not in session.identity_map
    again = session.get(Author, author.pk)
    assert again is not author and again.name == author.name


def test_expunge_discards_unflushed_changes_of_that_object(session):
    author = loaded_author(session, name="Before")
    author.name = "After"
    session.expunge(author)
    assert session.dirty == []
    session.flush()
    assert Author.objects.get(pk=author.pk).name == "Before"


def test_expunge_of_an_object_not_in_the_session_raises(session):
    with pytest.raises(exc.InvalidRequestError, match=r"Author\(pk=None\) is not present"):
        session.expunge(Author(name="stranger"))


def test_expunge_all_detaches_persistent_and_drops_pending(session):
    persistent = loaded_author(session)
    pending = Author(name="new")
    session.add(pending)
    session.expunge_all()
    assert states(persistent) == DETACHED
    assert states(pending) == TRANSIENT
    assert len(session.identity_map) == 0 and list(session) == []


def test_close_detaches_everything_and_the_session_is_usable_again(session):
    persistent = loaded_author(session)
    pending = Author(name="never written")
    session.add(pending)
    session.close()
    assert states(persistent) == DETACHED and states(pending) == TRANSIENT
    assert not session.in_transaction()
    assert not Author.objects.filter(name="never written").exists()

    again = session.get(Author, persistent.pk)
    assert states(again) == PERSISTENT and again is not persistent


def test_close_all_sessions_closes_every_session():
    first, second = Session(), Session()
    a = Author(name="a")
    first.add(a)
    b = loaded_author(second)
    close_all_sessions()
    assert object_session(a) is None and object_session(b) is None
    assert states(a) == TRANSIENT and states(b) == DETACHED
    assert not first.in_transaction() and not second.in_transaction()


def test_object_session(session):
    author = Author(name="x")
    assert object_session(author) is None
    session.add(author)
    assert object_session(author) is session
    session.expunge(author)
    assert object_session(author) is None


# -- delete ----------------------------------------------------------------------------


def test_delete_sends_delete_at_flush_and_cascades_to_children(session):
    author = loaded_author(session)
    book = Book.objects.create(title="child", author_id=author.pk)
    mapped_book = session.get(Book, book.pk)

    session.delete(author)
    assert Author.objects.filter(pk=author.pk).exists()  # nothing before the flush
    session.flush()
    assert not Author.objects.filter(pk=author.pk).exists()
    assert not Book.objects.filter(pk=book.pk).exists()
    assert states(author) == DELETED
    assert states(mapped_book) == DELETED  # removed by on_delete=CASCADE


def test_delete_twice_is_harmless(session):
    author = loaded_author(session)
    session.delete(author)
    session.delete(author)
    assert session.deleted == [author]


def test_delete_of_a_transient_object_raises(session):
    with pytest.raises(exc.InvalidRequestError, match="not persisted"):
        session.delete(Author(name="never saved"))


def test_delete_of_a_pending_object_raises_and_points_at_expunge(session):
    author = Author(name="pending")
    session.add(author)
    with pytest.raises(exc.InvalidRequestError, match="expunge"):
        session.delete(author)


# -- make_transient and make_transient_to_detached ---------------------------------------


def test_make_transient_forgets_the_row_but_keeps_the_values(session):
    author = loaded_author(session, name="Copy me")
    make_transient(author)
    assert states(author) == TRANSIENT
    assert author.name == "Copy me"
    assert len(session.identity_map) == 0

    author.pk = None
    session.add(author)
    session.flush()
    assert Author.objects.filter(name="Copy me").count() == 2


def test_make_transient_to_detached_then_add_maps_the_row_without_sql(session):
    pk = Author.objects.create(name="Known").pk
    author = Author(pk=pk, name="Known")
    make_transient_to_detached(author)
    assert states(author) == DETACHED
    session.add(author)
    assert states(author) == PERSISTENT
    with CaptureQueriesContext(connection) as ctx:
        assert session.get(Author, pk) is author
    assert ctx.captured_queries == []


def test_make_transient_to_detached_needs_a_primary_key():
    with pytest.raises(exc.InvalidRequestError, match="no primary key"):
        make_transient_to_detached(Author(name="no pk"))


def test_make_transient_to_detached_refuses_a_persistent_object(session):
    author = loaded_author(session)
    with pytest.raises(exc.InvalidRequestError, match="persistent, not transient"):
        make_transient_to_detached(author)


# -- new, dirty, deleted, is_modified --------------------------------------------------------


def test_new_dirty_deleted(session):
    pending = Author(name="pending")
    changed = loaded_author(session, name="changed")
    doomed = loaded_author(session, name="doomed")
    session.add(pending)
    changed.name = "changed!"
    session.delete(doomed)

    assert session.new == [pending]
    assert session.dirty == [changed]
    assert session.deleted == [doomed]

    session.flush()
    assert session.new == [] and session.dirty == [] and session.deleted == []


def test_dirty_lists_assignments_is_modified_nets_them(session):
    author = loaded_author(session, name="same")
    author.name = "same"
    assert session.dirty == [author]
    assert not session.is_modified(author)

    author.name = "other"
    assert session.is_modified(author)
    author.name = "same"
    assert not session.is_modified(author)

    with CaptureQueriesContext(connection) as ctx:
        session.flush()
    assert not [q for q in ctx.captured_queries if "UPDATE " in q["sql"]]
    assert session.dirty == []


def test_foreign_key_change_through_the_descriptor_is_tracked(session):
    author = loaded_author(session)
    other = loaded_author(session, name="Other")
    book = session.get(Book, Book.objects.create(title="b", author_id=author.pk).pk)
    book.author = other
    assert session.is_modified(book)
    assert inspect(book).attrs["author"].history == ((other.pk,), (), (author.pk,))
    session.flush()
    assert Book.objects.get(pk=book.pk).author_id == other.pk


# -- __contains__, __iter__, info -------------------------------------------------------------


def test_contains_and_iter(session):
    persistent = loaded_author(session)
    pending = Author(name="pending")
    session.add(pending)
    stranger = Author(name="stranger")

    assert persistent in session and pending in session
    assert stranger not in session
    assert {id(o) for o in session} == {id(persistent), id(pending)}
    assert len(list(session)) == 2


def test_object_in_another_session_is_not_in_this_one(session):
    other = Session()
    try:
        author = loaded_author(other)
        assert author in other and author not in session
    finally:
        other.close()


def test_info_is_a_per_session_dict():
    first = Session(info={"user": "alice"})
    second = Session()
    first.info["request_id"] = 7
    assert first.info == {"user": "alice", "request_id": 7}
    assert second.info == {}


# -- attribute history ---------------------------------------------------------------------


def test_history_of_pending_persistent_and_modified_attributes(session):
    author = Author(name="first")
    session.add(author)
    assert inspect(author).attrs["name"].history == (("first",), (), ())

    session.flush()
    history = inspect(author).attrs.name.history
    assert history == ((), ("first",), ())
    assert not history.has_changes()

    author.name = "second"
    history = inspect(author).attrs.name.history
    assert (history.added, history.unchanged, history.deleted) == (("second",), (), ("first",))
    assert history.has_changes()

    author.name = "third"  # the deleted value stays the loaded one
    assert inspect(author).attrs.name.history == (("third",), (), ("first",))

    session.flush()
    assert inspect(author).attrs.name.history == ((), ("third",), ())


def test_history_of_an_expired_attribute_is_empty(session):
    author = loaded_author(session)
    session.expire(author, ["name"])
    assert inspect(author).attrs.name.history == ((), (), ())
    assert inspect(author).expired_attributes == {"name"}


def test_attrs_rejects_an_unknown_name(session):
    author = loaded_author(session)
    with pytest.raises(KeyError):
        inspect(author).attrs["no_such_field"]
