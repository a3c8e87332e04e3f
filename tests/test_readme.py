"""The README's quick start, run as written against the test models."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessionorm import Session, inspect
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def test_quick_start_sends_the_statements_it_promises():
    with Session() as session, CaptureQueriesContext(connection) as queries:
        author = Author(name="Ursula K. Le Guin")
        books = [Book(title=t, author=author) for t in ("The Dispossessed", "Lavinia")]
        session.add_all(books)
        assert inspect(author).pending and author.pk is None

        session.flush()
        inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
        assert len(inserts) == 2 and "testapp_author" in inserts[0]
        count = len(queries.captured_queries)
        assert session.get(Author, author.pk) is author
        assert len(queries.captured_queries) == count

        for book in session.query(Book).select_related("author"):
            assert book.author is author
            book.pages = 300

        session.delete(books[1])
        start = len(queries.captured_queries)
        session.commit()
        sent = [q["sql"] for q in queries.captured_queries[start:]]
        updates = [s for s in sent if 'UPDATE "testapp_book"' in s]
        book_deletes = [s for s in sent if s.startswith('DELETE FROM "testapp_book"')]
        assert len(updates) == 1 and len(book_deletes) == 1

    assert list(Book.objects.values_list("title", "pages")) == [("The Dispossessed", 300)]
