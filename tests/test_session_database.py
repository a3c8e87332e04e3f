"""Which database a session uses, and raw SQL inside its transaction.

get_bind/bind_model/binds/routers, connection(), execute(), scalar(), prepare()
and invalidate().
"""

import pytest
from django.db import IntegrityError, connections

from sessionorm import Session, identity_key, inspect
from sessionorm.exc import InvalidRequestError, PendingRollbackError
from tests.testapp.models import Author, Book, Publisher, Restaurant

pytestmark = pytest.mark.django_db(databases=["default", "other"], transaction=True)


class PublishersElsewhere:
    """A router that sends Publisher to the second database."""

    def db_for_write(self, model, **hints):
        return "other" if model is Publisher else None

    db_for_read = db_for_write


class TestBinds:
    def test_default_is_the_routers_choice(self, settings):
        settings.DATABASE_ROUTERS = [PublishersElsewhere()]
        session = Session()
        assert session.get_bind(Publisher) == "other"
        assert session.get_bind(Author) == "default"

    def test_binds_by_class_label_and_app(self):
        session = Session(binds={Publisher: "other", "testapp.Author": "other"})
        assert session.get_bind(Publisher) == "other"
        assert session.get_bind(Author) == "other"
        assert session.get_bind(Book) == "default"
        by_app = Session(binds={"testapp": "other"})
        assert by_app.get_bind(Book) == "other"

    def test_a_parent_class_binding_covers_its_subclasses(self):
        from tests.testapp.models import Place

        session = Session(binds={Place: "other"})
        assert session.get_bind(Restaurant) == "other"

    def test_using_applies_to_every_model(self):
        assert Session(using="other").get_bind(Author) == "other"

    def test_bind_model_changes_later_flushes(self):
        session = Session()
        session.bind_model(Author, "other")
        author = Author(name="moved")
        session.add(author)
        session.commit()
        assert inspect(author).key == identity_key(Author, author.pk, "other")
        assert Author.objects.using("other").filter(name="moved").exists()
        assert not Author.objects.filter(name="moved").exists()
        session.close()


class TestRawSQL:
    def test_execute_runs_in_the_sessions_transaction_after_autoflush(self):
        session = Session()
        session.add(Author(name="pending"))
        result = session.execute("SELECT name FROM testapp_author")
        assert result.fetchall() == [("pending",)] and result.columns == ["name"]
        assert session.in_transaction()
        session.rollback()
        assert not Author.objects.exists()

    def test_execute_reports_rowcount_of_writes(self):
        Author.objects.create(name="a")
        Author.objects.create(name="b")
        with Session() as session:
            result = session.execute("UPDATE testapp_author SET name = %s", ["z"])
            assert result.rowcount == 2 and result.rows == []
            session.commit()
        assert set(Author.objects.values_list("name", flat=True)) == {"z"}

    def test_scalar_returns_the_first_column_of_the_first_row_or_none(self):
        with Session() as session:
            assert session.scalar("SELECT COUNT(*) FROM testapp_author") == 0
            assert session.scalar("SELECT name FROM testapp_author") is None

    def test_execute_with_a_model_uses_that_models_database(self):
        Publisher.objects.using("other").create(name="far")
        with Session(binds={Publisher: "other"}) as session:
            count = session.scalar("SELECT COUNT(*) FROM testapp_publisher", model=Publisher)
            assert count == 1

    def test_connection_is_djangos_connection_inside_the_transaction(self):
        with Session() as session:
            connection = session.connection(Author)
            assert connection is connections["default"]
            assert connection.in_atomic_block and session.in_transaction()
            other = session.connection(using="other")
            assert other is connections["other"] and other.in_atomic_block


class TestPrepareAndInvalidate:
    def test_prepare_flushes_and_then_commit_finishes(self):
        session = Session()
        author = Author(name="prepared")
        session.add(author)
        session.prepare()
        assert inspect(author).persistent
        assert session.get_transaction().state.value == "prepared"
        with pytest.raises(InvalidRequestError, match="prepared"):
            session.begin_nested()
        session.commit()
        assert Author.objects.filter(name="prepared").exists()
        session.close()

    def test_invalidate_closes_the_connections_and_the_session(self):
        session = Session()
        session.add(Author(name="lost"))
        session.flush()
        connection = session.connection(Author)
        session.invalidate()
        assert not session.in_transaction() and len(session) == 0
        if connection.vendor == "postgresql":  # Django keeps in-memory SQLite open
            assert connection.connection is None
        assert not Author.objects.filter(name="lost").exists()


def test_pending_rollback_error_names_the_original_error():
    author = Author.objects.create(name="a")
    session = Session()
    session.add(Book(title=None, author_id=author.pk))  # NOT NULL: the INSERT fails
    with pytest.raises(IntegrityError):
        session.flush()
    assert not session.is_active
    with pytest.raises(PendingRollbackError, match="Original exception was: IntegrityError"):
        session.execute("SELECT 1")
    session.rollback()
    assert session.is_active and session.scalar("SELECT 1") == 1
    session.close()
