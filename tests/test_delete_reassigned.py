"""on_delete rules see the flush's own updates: children moved away are not cascaded."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, inspect
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def test_child_moved_to_another_parent_survives_the_old_parents_delete():
    old = Author.objects.create(name="old")
    new = Author.objects.create(name="new")
    moved = Book.objects.create(title="moved", author=old)
    stays = Book.objects.create(title="stays", author=old)
    with Session() as session:
        book = session.get(Book, moved.pk)
        old_author, new_author = session.get(Author, old.pk), session.get(Author, new.pk)
        book.author = new_author
        session.delete(old_author)
        with CaptureQueriesContext(connection) as queries:
            session.flush()
        assert inspect(book).persistent
        sql = [q["sql"] for q in queries.captured_queries]
        assert sum('UPDATE "testapp_book"' in s for s in sql) == 1
        session.commit()
    assert list(Book.objects.values_list("title", "author__name")) == [("moved", "new")]
    assert not Book.objects.filter(pk=stays.pk).exists()  # still cascaded
