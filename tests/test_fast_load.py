"""Rows load without __init__'s per-field setattr, and stay what Django would build."""

import pytest
from django.db.models.signals import post_init

from sessionorm import Session, inspect
from sessionorm.instrumentation import model_info
from tests.testapp.models import Author, Book, BookProxy, Restaurant

pytestmark = pytest.mark.django_db


def test_loaded_objects_equal_what_djangos_init_builds():
    author = Author.objects.create(name="a")
    Book.objects.create(title="t", pages=3, author=author)
    model_info(Book)
    assert getattr(Book.from_db, "_sessionorm_hook", False)
    with Session() as session:
        [book] = session.query(Book)
        plain = Book.objects.get()
        fields = [f.attname for f in Book._meta.concrete_fields]
        assert [getattr(book, n) for n in fields] == [getattr(plain, n) for n in fields]
        assert (book._state.adding, book._state.db) == (False, "default")
        assert book.get_deferred_fields() == set()
        assert book.author.name == "a" and inspect(book).persistent
        book.pages = 4  # change tracking works on a fast-loaded object
        assert session.dirty == [book]


def test_partial_rows_leave_the_other_fields_deferred():
    author = Author.objects.create(name="a")
    Book.objects.create(title="t", pages=3, author=author)
    with Session() as session:
        [book] = session.query(Book).only("title")
        assert book.get_deferred_fields() == {"pages", "author_id", "created", "updated"}
        assert book.pages == 3  # Django's deferred loading still works


def test_post_init_receivers_get_djangos_path():
    Author.objects.create(name="a")
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Author)
    try:
        with Session() as session:
            [author] = session.query(Author)
        assert seen == [author]
    finally:
        post_init.disconnect(receiver, sender=Author)


def test_proxies_and_inherited_models_load_through_django():
    Author.objects.create(name="a")
    Book.objects.create(title="t", author=Author.objects.get())
    Restaurant.objects.create(name="r", serves_pizza=True)
    with Session() as session:
        [proxy] = session.query(BookProxy)
        [restaurant] = session.query(Restaurant)
        assert proxy.shout() == "T" and type(proxy) is BookProxy
        assert restaurant.name == "r" and restaurant.serves_pizza
