"""prefetch_related objects of a session query are the session's objects too."""

import pytest

from tests.testapp.models import Author, Book, Review

pytestmark = pytest.mark.django_db


def test_prefetched_children_are_the_sessions_objects(session):
    author = Author.objects.create(name="a")
    book_ids = [Book.objects.create(title=f"b{i}", author=author).pk for i in range(3)]
    known = session.get(Book, book_ids[0])
    authors = list(session.query(Author).prefetch_related("books"))
    books = list(authors[0].books.all())
    assert known in books and any(b is known for b in books)
    for book in books:
        assert session.get(Book, book.pk) is book


def test_nested_prefetch_reaches_the_sessions_objects(session):
    author = Author.objects.create(name="a")
    book = Book.objects.create(title="b", author=author)
    Review.objects.create(book=book, stars=5)
    [loaded] = session.query(Author).prefetch_related("books__reviews")
    [loaded_book] = loaded.books.all()
    [review] = loaded_book.reviews.all()
    assert session.get(Review, review.pk) is review
    assert session.get(Book, book.pk) is loaded_book


def test_prefetched_forward_foreign_key_is_the_sessions_object(session):
    author = Author.objects.create(name="a")
    Book.objects.create(title="b", author=author)
    mapped_author = session.get(Author, author.pk)
    [book] = session.query(Book).prefetch_related("author")
    assert book.author is mapped_author
