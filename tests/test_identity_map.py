"""The identity map's per-model counts, which let the flush skip scans."""

import gc

import pytest

from sessionorm import Session
from tests.testapp.models import Author, Book

pytestmark = pytest.mark.django_db


def test_has_model_follows_loads_expunges_and_garbage_collection():
    author = Author.objects.create(name="a")
    Book.objects.create(title="b", author=author)
    with Session() as session:
        identity = session.identity_map
        assert not identity.has_model(Author, "default")
        loaded = session.get(Author, author.pk)
        books = list(session.query(Book))
        assert identity.has_model(Author, "default") and identity.has_model(Book, "default")
        assert not identity.has_model(Author, "other")
        session.expunge(loaded)
        assert not identity.has_model(Author, "default")
        del books
        gc.collect()
        assert not identity.has_model(Book, "default") and len(identity) == 0


def test_has_model_counts_flushed_and_deleted_objects():
    with Session() as session:
        author = Author(name="new")
        session.add(author)
        session.flush()
        assert session.identity_map.has_model(Author, "default")
        session.delete(author)
        session.flush()
        assert not session.identity_map.has_model(Author, "default")
        session.rollback()  # inserted and deleted in one transaction: transient again
        assert not session.identity_map.has_model(Author, "default")
        assert author.pk is None and author not in session
