"""get()/refresh() with_for_update: SELECT ... FOR UPDATE that really locks the row."""

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from sessionorm import Session
from tests.testapp.models import Author

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def try_lock_elsewhere(pk) -> bool:
    """Whether another connection can lock the row right now (NOWAIT)."""
    wrapper = connections["default"]
    raw = wrapper.get_new_connection(wrapper.get_connection_params())
    raw.autocommit = False
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT id FROM testapp_author WHERE id = %s FOR UPDATE NOWAIT", [pk])
        return True
    except Exception as exc:  # psycopg's LockNotAvailable, without importing the driver
        if "could not obtain lock" in str(exc):
            return False
        raise
    finally:
        raw.rollback()
        raw.close()


def test_get_with_for_update_locks_until_the_session_ends():
    pk = Author.objects.create(name="locked").pk
    with Session() as session:
        with CaptureQueriesContext(connection) as queries:
            author = session.get(Author, pk, with_for_update=True)
        assert author.name == "locked"
        assert queries.captured_queries[-1]["sql"].endswith("FOR UPDATE")
        assert not try_lock_elsewhere(pk)
        session.commit()
    assert try_lock_elsewhere(pk)


def test_get_with_for_update_options_reach_select_for_update():
    pk = Author.objects.create(name="x").pk
    with Session() as session:
        with CaptureQueriesContext(connection) as queries:
            session.get(Author, pk, with_for_update={"nowait": True})
        assert queries.captured_queries[-1]["sql"].endswith("FOR UPDATE NOWAIT")


def test_get_with_for_update_reloads_a_mapped_object():
    pk = Author.objects.create(name="before").pk
    with Session() as session:
        author = session.get(Author, pk)
        Author.objects.filter(pk=pk).update(name="after")
        assert session.get(Author, pk).name == "before"  # from the identity map
        assert session.get(Author, pk, with_for_update=True) is author
        assert author.name == "before"  # in-memory state kept, as SQLAlchemy does
        assert session.get(Author, pk, populate_existing=True).name == "after"
