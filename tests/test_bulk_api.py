"""bulk_save_objects / bulk_insert_mappings / bulk_update_mappings: batched, no unit of work."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessionorm import inspect
from sessionorm.exc import InvalidRequestError
from tests.testapp.models import Author, Book, Restaurant

pytestmark = pytest.mark.django_db


def writes(queries):
    return [
        q["sql"].split(" (")[0].split(" SET")[0]
        for q in queries.captured_queries
        if q["sql"].startswith(("INSERT", "UPDATE", "COPY", "WITH"))
    ]


def test_bulk_save_objects_inserts_in_one_statement_without_the_identity_map(session):
    authors = [Author(name=f"a{i}") for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        session.bulk_save_objects(authors)
    assert writes(queries) == ['INSERT INTO "testapp_author"']
    assert all(a.pk is not None and not a._state.adding for a in authors)
    assert len(session.identity_map) == 0 and not inspect(authors[0]).persistent
    session.commit()
    assert Author.objects.count() == 5


def test_bulk_save_objects_updates_only_changed_columns_of_tracked_objects(session):
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(3)])
    loaded = list(session.query(Author).order_by("pk"))
    for a in loaded:
        a.name = a.name.upper()
    with CaptureQueriesContext(connection) as queries:
        session.bulk_save_objects(loaded)
    [statement] = [q["sql"] for q in queries.captured_queries if "UPDATE" in q["sql"]]
    assert '"name" = ' in statement and "publisher_id" not in statement
    assert session.dirty == []  # written: no longer pending
    session.commit()
    assert list(Author.objects.order_by("pk").values_list("name", flat=True)) == ["A0", "A1", "A2"]


def test_bulk_save_objects_writes_every_field_of_an_untracked_saved_object(session):
    author = Author.objects.create(name="old")
    copy = Author(pk=author.pk, name="new")
    copy._state.adding = False
    session.bulk_save_objects([copy])
    session.commit()
    assert Author.objects.get(pk=author.pk).name == "new"


def test_bulk_insert_mappings_with_return_defaults(session):
    mappings = [{"name": f"m{i}"} for i in range(4)]
    session.bulk_insert_mappings(Author, mappings, return_defaults=True)
    session.commit()
    assert {m["id"] for m in mappings} == set(Author.objects.values_list("pk", flat=True))


def test_bulk_insert_mappings_writes_every_table_of_an_inherited_model(session):
    session.bulk_insert_mappings(Restaurant, [{"name": "r", "serves_pizza": True}])
    session.commit()
    assert Restaurant.objects.get().name == "r"


def test_bulk_update_mappings_groups_rows_by_columns(session):
    author = Author.objects.create(name="a")
    books = Book.objects.bulk_create([Book(title=f"b{i}", author=author) for i in range(4)])
    mappings = [{"id": b.pk, "pages": 10 + i} for i, b in enumerate(books[:3])]
    mappings.append({"pk": books[3].pk, "title": "renamed", "pages": 99})
    with CaptureQueriesContext(connection) as queries:
        session.bulk_update_mappings(Book, mappings)
    assert len([q for q in queries.captured_queries if "UPDATE" in q["sql"]]) == 2
    session.commit()
    rows = dict(Book.objects.values_list("title", "pages"))
    assert rows == {"b0": 10, "b1": 11, "b2": 12, "renamed": 99}


def test_bulk_update_mappings_needs_the_key(session):
    with pytest.raises(InvalidRequestError, match="names no primary key"):
        session.bulk_update_mappings(Author, [{"name": "x"}])
