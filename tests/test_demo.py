"""The demo app: its command, its pages and its admin, through SessionMiddleware."""

from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from demo import sample_data
from demo.models import Author, Book, Publisher, Review
from sessionorm import Session

SESSION_MIDDLEWARE = "sessionorm.middleware.SessionMiddleware"


@pytest.fixture(autouse=True)
def session_middleware(settings):
    if SESSION_MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [settings.MIDDLEWARE[0], SESSION_MIDDLEWARE, *settings.MIDDLEWARE[1:]]


@pytest.fixture
def library(db):
    """The sample library (3 publishers, 10 authors, 50 books, 40 reviews)."""
    with Session() as session:
        sample_data.create(session)
        session.commit()


@pytest.fixture
def admin_client(client):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.login(username="boss", password="pw")
    return client


def text(response):
    """The page's HTML with runs of whitespace made one space."""
    return " ".join(response.content.decode().split())


def demo_data():
    out = StringIO()
    call_command("demo_data", stdout=out)
    return out.getvalue()


# -- the command -----------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_data_creates_the_library_and_the_superuser_once():
    assert demo_data() == (
        "Created 3 publishers, 10 authors, 50 books and 40 reviews; "
        "created the superuser admin (password admin).\n"
    )
    assert demo_data() == (
        "Sample data already present (10 authors, 50 books); the superuser admin already exists.\n"
    )
    assert (Publisher.objects.count(), Author.objects.count()) == (3, 10)
    assert (Book.objects.count(), Review.objects.count()) == (50, 40)
    assert get_user_model().objects.get(username="admin").check_password("admin")


@pytest.mark.django_db
def test_sample_data_keeps_its_relations(library):
    assert Author.objects.filter(publisher=None).count() == 3
    assert all(author.books.count() == 5 for author in Author.objects.all())
    assert set(Review.objects.values_list("stars", flat=True)) <= {1, 2, 3, 4, 5}


# -- the pages -------------------------------------------------------------------------


@pytest.mark.django_db
def test_index_lists_authors_with_one_object_per_row(client, library):
    page = text(client.get("/"))
    assert "10 authors, 50 books." in page
    assert "50 of those books point at the very same" in page
    assert "Ada Okafor" in page and "Maps of Rivers (Lindqvist)" in page


@pytest.mark.django_db(transaction=True)
def test_add_author_with_books_in_one_flush(client, library):
    response = client.post(
        "/authors/add/",
        {"name": "New Writer", "publisher": "", "books": "One | 100\nTwo\n\nThree | 300"},
    )
    assert response.status_code == 200
    assert "1 author and 3 books written by 2 SQL statements" in text(response)
    author = Author.objects.get(name="New Writer")
    assert sorted(author.books.values_list("title", "pages")) == [
        ("One", 100),
        ("Three", 300),
        ("Two", 0),
    ]


@pytest.mark.django_db
def test_add_author_form_errors_write_nothing(client, library):
    response = client.post("/authors/add/", {"name": "Nobody", "books": "Bad | many"})
    assert response.status_code == 200
    assert "pages must be a whole number" in text(response)
    assert not Author.objects.filter(name="Nobody").exists()


@pytest.mark.django_db(transaction=True)
def test_bulk_pages_updates_every_book_in_one_statement(client, library):
    before = dict(Book.objects.values_list("pk", "pages"))
    response = client.post("/books/pages/", {"bump": "1"})
    assert "50 books changed; the flush sent 1 SQL statement" in text(response)
    after = dict(Book.objects.values_list("pk", "pages"))
    assert after == {pk: pages + 10 for pk, pages in before.items()}


@pytest.mark.django_db
def test_bulk_pages_writes_only_changed_books(client, library):
    book = Book.objects.order_by("pk").first()
    response = client.post("/books/pages/", {f"pages-{book.pk}": book.pages + 1})
    assert "1 book changed; the flush sent 1 SQL statement" in text(response)
    book.refresh_from_db()
    assert Book.objects.filter(pages=book.pages, pk=book.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_delete_author_cascades(client, library):
    author = Author.objects.get(name="Ada Okafor")
    confirm = text(client.get(f"/authors/{author.pk}/delete/"))
    assert "5 books and 4 reviews go with the author" in confirm
    response = client.post(f"/authors/{author.pk}/delete/")
    assert response.status_code == 200
    assert not Author.objects.filter(pk=author.pk).exists()
    assert (Book.objects.count(), Review.objects.count()) == (45, 36)


@pytest.mark.django_db
def test_delete_unknown_author_is_404(client, library):
    assert client.post("/authors/999999/delete/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_dry_run_lists_pending_work_and_writes_nothing(client, library):
    page = text(client.get("/dry-run/"))
    assert "&lt;Author: A. Newcomer&gt;" in page
    assert "&lt;Author: Ada Okafor (revised)&gt;" in page
    assert "the author's name is “Ada Okafor” again" in page
    assert Author.objects.count() == 10 and Book.objects.count() == 50
    assert Review.objects.count() == 40
    assert not Author.objects.filter(name__endswith="(revised)").exists()


@pytest.mark.django_db
def test_dry_run_without_data(client):
    page = text(client.get("/dry-run/"))
    assert "Run <code>python manage.py demo_data</code> first" in page


# -- the admin -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_admin_adds_changes_and_deletes_authors_through_the_session(admin_client, library):
    publisher = Publisher.objects.get(name="Harbor Press")
    response = admin_client.post(
        "/admin/demo/author/add/",
        {
            "name": "Admin Author",
            "publisher": publisher.pk,
            "books-TOTAL_FORMS": "1",
            "books-INITIAL_FORMS": "0",
            "books-0-title": "Inline Book",
            "books-0-pages": "12",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    author = Author.objects.get(name="Admin Author")
    assert author.publisher == publisher
    assert list(author.books.values_list("title", flat=True)) == ["Inline Book"]
    assert LogEntry.objects.filter(object_id=str(author.pk)).exists()
    assert not connection.in_atomic_block

    response = admin_client.post(
        f"/admin/demo/author/{author.pk}/change/",
        {
            "name": "Renamed Author",
            "publisher": "",
            "books-TOTAL_FORMS": "1",
            "books-INITIAL_FORMS": "1",
            "books-0-id": author.books.get().pk,
            "books-0-author": author.pk,
            "books-0-title": "Inline Book",
            "books-0-pages": "12",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    author.refresh_from_db()
    assert (author.name, author.publisher) == ("Renamed Author", None)

    response = admin_client.post(f"/admin/demo/author/{author.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Author.objects.filter(pk=author.pk).exists()
    assert not Book.objects.filter(title="Inline Book").exists()
    assert not connection.in_atomic_block


@pytest.mark.django_db
def test_admin_changelist_and_bulk_delete(admin_client, library):
    assert admin_client.get("/admin/demo/author/").status_code == 200
    doomed = list(Author.objects.filter(publisher=None).values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/demo/author/",
        {"action": "delete_selected", "_selected_action": doomed, "post": "yes"},
    )
    assert response.status_code == 302
    assert Author.objects.count() == 7
