"""sessionmaker: a configured factory of sessions, and the ``with`` forms that end them."""

import pytest

from sessionorm import Session, exc, inspect, sessionmaker
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_factory_makes_sessions_with_its_arguments():
    factory = sessionmaker(autoflush=False, expire_on_commit=False, info={"app": "shop"})
    session = factory()
    assert isinstance(session, Session)
    assert session.autoflush is False and session.expire_on_commit is False
    assert session.info == {"app": "shop"}
    assert factory() is not session


def test_call_arguments_override_the_factorys():
    factory = sessionmaker(autoflush=False, using="default")
    session = factory(autoflush=True)
    assert session.autoflush is True
    assert session.using == "default"
    assert factory().autoflush is False  # the override did not stick


def test_each_session_gets_its_own_info_dict():
    factory = sessionmaker(info={"app": "shop"})
    first, second = factory(), factory()
    first.info["user"] = "alice"
    assert second.info == {"app": "shop"}
    assert factory().info == {"app": "shop"}


def test_configure_changes_later_sessions_only():
    factory = sessionmaker(autoflush=False)
    before = factory()
    factory.configure(autoflush=True, expire_on_commit=False)
    after = factory()
    assert before.autoflush is False and before.expire_on_commit is True
    assert after.autoflush is True and after.expire_on_commit is False


def test_class_argument_makes_sessions_of_that_class():
    class AppSession(Session):
        pass

    factory = sessionmaker(class_=AppSession)
    assert type(factory()) is AppSession
    assert "AppSession" in repr(factory)


def test_unknown_join_transaction_mode_is_refused_by_the_session():
    factory = sessionmaker(join_transaction_mode="sometimes")
    with pytest.raises(exc.InvalidRequestError, match="join_transaction_mode='sometimes'"):
        factory()


def test_repr_shows_the_arguments():
    assert repr(sessionmaker(autoflush=False)) == "sessionmaker(class_=Session, autoflush=False)"


# -- with factory.begin() -------------------------------------------------------------------


def test_begin_commits_on_success_and_closes():
    factory = sessionmaker()
    with factory.begin() as session:
        assert isinstance(session, Session)
        assert session.in_transaction()
        author = Author(name="Committed")
        session.add(author)
    assert Author.objects.filter(name="Committed").exists()
    assert inspect(author).detached
    assert not session.in_transaction()


def test_begin_rolls_back_on_error_and_reraises():
    factory = sessionmaker()
    with pytest.raises(Boom), factory.begin() as session:
        author = Author(name="Rolled back")
        session.add(author)
        session.flush()
        assert Author.objects.filter(name="Rolled back").exists()
        raise Boom
    assert not Author.objects.filter(name="Rolled back").exists()
    assert inspect(author).transient and author.pk is None
    assert not session.in_transaction()


def test_begin_uses_the_factorys_configuration():
    factory = sessionmaker(expire_on_commit=False)
    with factory.begin() as session:
        assert session.expire_on_commit is False


# -- with Session() ----------------------------------------------------------------------------


def test_with_session_closes_at_the_end():
    pk = Author.objects.create(name="Loaded").pk
    with Session() as session:
        author = session.get(Author, pk)
        pending = Author(name="Never committed")
        session.add(pending)
        session.flush()
        assert session.in_transaction()
    assert not session.in_transaction()
    assert inspect(author).detached and inspect(pending).transient
    assert not Author.objects.filter(name="Never committed").exists()
    assert len(session.identity_map) == 0


def test_with_session_closes_on_error_too():
    with pytest.raises(Boom), Session() as session:
        session.add(Author(name="x"))
        session.flush()
        raise Boom
    assert not session.in_transaction()
    assert not Author.objects.filter(name="x").exists()


def test_with_session_begin_commits_at_the_end():
    with Session() as session:
        with session.begin():
            session.add(Author(name="Inner commit"))
        assert not session.in_transaction()
        assert Author.objects.filter(name="Inner commit").exists()


def test_with_session_begin_rolls_back_on_error():
    with Session() as session:
        with pytest.raises(Boom), session.begin():
            session.add(Author(name="Undone"))
            session.flush()
            raise Boom
        assert not session.in_transaction()
        assert not Author.objects.filter(name="Undone").exists()


def test_objects_loaded_in_a_with_session_block_stay_readable_after_it():
    pk = Author.objects.create(name="Loaded").pk
    with Session() as session:
        author = session.get(Author, pk)
    assert inspect(author).detached
    assert author.name == "Loaded"


def test_close_makes_rolled_back_inserts_transient_and_keeps_loaded_values():
    pk = Author.objects.create(name="Loaded").pk
    with Session() as session:
        loaded = session.get(Author, pk)
        loaded.name = "Changed, never committed"
        new = Author(name="New")
        session.add(new)
        session.flush()
        assert new.pk is not None
    assert inspect(new).transient and new.pk is None
    assert inspect(loaded).detached and loaded.name == "Changed, never committed"
    assert Author.objects.get(pk=pk).name == "Loaded"
    assert not Author.objects.filter(name="New").exists()


def test_is_modified_is_true_for_a_pending_object():
    session = Session()
    author = Author(name="New")
    session.add(author)
    assert session.is_modified(author)
    session.flush()
    assert not session.is_modified(author)
    session.close()
